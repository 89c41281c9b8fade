/**
 * Download one of the user's files (their own, or one shared with them) from the app page, with the link page's downloader: the
 * record opened with the user's key and checked against its sealed metadata, tickets from the
 * file (`op: get`), every chunk and the whole file checked before it is saved.
 */
import { FilesApi } from "../api/files";
import { Downloader, type Progress } from "../download/downloader";
import { chunkOpener } from "../download/opener";
import type { UserKeys } from "../format/keys";
import { safeName } from "../format/metadata";
import { type OwnerCheck, checkLayout, openRecord } from "../format/records";
import { chooseWriter } from "../save/writer";

/** Return false if the person cancelled the save dialog. */
export async function downloadOwn(
  files: FilesApi,
  keys: UserKeys,
  fileId: string,
  workerUrl: string | undefined,
  onProgress: (progress: Progress) => void,
  checkOwner?: OwnerCheck,
): Promise<boolean> {
  const record = await files.get(fileId);
  const opened = await openRecord(record, keys, checkOwner);
  const layout = checkLayout(record, opened.metadata);
  const writer = await chooseWriter(safeName(opened.metadata.name, fileId), opened.metadata.type, opened.metadata.size);
  if (writer === null) return false;
  const source = { tickets: () => files.getTickets(fileId) };
  await new Downloader(source, chunkOpener(workerUrl), onProgress).run(opened, layout, writer);
  return true;
}
