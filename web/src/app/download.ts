/**
 * Download one of the user's files (their own, or one shared with them) from the app page, with the link page's downloader: the
 * record opened with the user's key and checked against its sealed metadata, tickets from the
 * file (`op: get`), every chunk and the whole file checked before it is saved. The chunks are
 * staged on the way (download/staged.ts), so a download cut by a reload resumes once the user
 * signs in again and downloads the file again ("Resume download").
 */
import { FilesApi } from "../api/files";
import { Downloader, type Progress } from "../download/downloader";
import { chunkOpener } from "../download/opener";
import { downloadStaged } from "../download/staged";
import type { UserKeys } from "../format/keys";
import { safeName } from "../format/metadata";
import { type OwnerCheck, checkLayout, openRecord } from "../format/records";
import { chooseTarget, openTarget } from "../save/writer";
import { humanSize } from "../ui/sizes";

export interface OwnDownload {
  readonly files: FilesApi;
  readonly keys: UserKeys;
  readonly fileId: string;
  /** `origin|user name`: whose staged downloads these are. */
  readonly owner: string;
  readonly workers: { readonly chunks: string | undefined; readonly stage: string | undefined };
  readonly onProgress: (progress: Progress) => void;
  readonly checkOwner?: OwnerCheck;
  /** Told when the file cannot be staged and streams unstaged instead (a reload then starts it over). */
  readonly onUnstaged?: (why: string) => void;
}

/** The key of the user's staged download of *fileId*. SECURITY: ids only, never a key. */
export function ownStageId(owner: string, fileId: string): string {
  return `own|${owner}|${fileId}`;
}

/** Return false if the person cancelled the save dialog. */
export async function downloadOwn(job: OwnDownload): Promise<boolean> {
  const { files, fileId } = job;
  const record = await files.get(fileId);
  // SECURITY: the file key is opened from the user's keys each time, never kept for a resume.
  const opened = await openRecord(record, job.keys, job.checkOwner);
  const layout = checkLayout(record, opened.metadata);
  const name = safeName(opened.metadata.name, fileId);
  const target = await chooseTarget(name);
  if (target === null) return false;
  const source = () => ({ download: null, tickets: () => files.getTickets(fileId) });
  const unstaged = await downloadStaged({
    id: ownStageId(job.owner, fileId),
    opened,
    layout,
    source,
    workers: job.workers,
    target,
    name,
    onProgress: job.onProgress,
  });
  if (unstaged === null) return true;
  if (unstaged.kind === "no-room") {
    job.onUnstaged?.(`the browser has room for ${humanSize(Math.max(0, unstaged.free))} of the ${humanSize(unstaged.needed)} needed to keep it`);
  }
  const writer = await openTarget(target, name, opened.metadata.type, opened.metadata.size);
  await new Downloader(source(), chunkOpener(job.workers.chunks), job.onProgress).run(opened, layout, writer);
  return true;
}
