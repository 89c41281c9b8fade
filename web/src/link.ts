/**
 * The link page, `/s/{link id}#{key}`: download a shared file with no account.
 *
 * 1. Read the link (`GET /api/links/{id}`, which counts nothing) and open the key in the fragment
 *    (asking for the password of a locked link), hold it to the record's commitment, open the
 *    metadata and check the record against it: a cut or changed link, or a wrong password,
 *    fails before anything counts.
 * 2. On "Download": ask where to save, start the download (counted once), fetch, open and check
 *    every chunk, check the whole file, and only then let the file appear under its name. The
 *    chunks are staged on the way (download/staged.ts): opened again after a reload or in a new
 *    tab, the same link offers "Resume download" and fetches only the chunks missing, renewing the
 *    same download rather than counting another.
 * SECURITY: the fragment is read from `location` only, never sent, stored or logged.
 */
import { type TicketAnswer, LinkApi } from "./api/links";
import { ApiError, NETWORK } from "./api/http";
import { Downloader } from "./download/downloader";
import { chunkOpener } from "./download/opener";
import { type StagedSource, downloadStaged, stagedDownload, sweepStaged } from "./download/staged";
import { FormatError } from "./format/errors";
import { isLocked, type LinkRef, openFragment, parseLink } from "./format/links";
import { safeName } from "./format/metadata";
import { type FileRecord, type Layout, type OpenedFile, checkLayout, openWithKey } from "./format/records";
import { ready } from "./format/sodium";
import { openLinkKey, usePasswordWorker } from "./passwords/hashing";
import { codeOf, explain } from "./link/messages";
import { LinkView } from "./link/view";
import { humanSize } from "./ui/sizes";
import { registerSaver } from "./save/stream";
import { chooseTarget, openTarget } from "./save/writer";

const view = new LinkView();

function fail(error: unknown): void {
  view.fail(explain(error), codeOf(error));
  view.say("The file cannot be downloaded with this link.", "error");
}

async function main(): Promise<void> {
  await ready();
  const ref = parseLink(window.location.href);
  if (!ref.fragment) openFragment("", ref.linkId, null); // throws LinkKeyMissing before any request
  const api = new LinkApi(ref.server, ref.linkId);
  const { file } = await api.read();
  if (file.state !== "complete") {
    throw new FormatError("the file behind this link is not available any more");
  }
  if (!isLocked(ref.fragment)) {
    await opened(api, ref, file, null);
    return;
  }
  view.say("This link is locked with a password.", "locked");
  view.unlock.hidden = false;
  view.password.focus();
  view.unlock.addEventListener("submit", (event) => {
    event.preventDefault();
    view.clearProblem();
    view.say("Unlocking…", "unlocking");
    // Argon2id runs in the password worker: the page keeps drawing meanwhile.
    opened(api, ref, file, view.password.value).then(
      () => {
        view.unlock.hidden = true;
      },
      (error: unknown) => {
        view.fail(explain(error), codeOf(error));
        view.say("This link is locked with a password.", "locked");
      },
    );
  });
}

async function opened(api: LinkApi, ref: LinkRef, file: FileRecord, password: string | null): Promise<void> {
  const key = await openLinkKey(ref.fragment, ref.linkId, password);
  const open = await openWithKey(file, key, "the link's key");
  const layout = checkLayout(file, open.metadata);
  const name = safeName(open.metadata.name, "download");
  view.name.textContent = name;
  view.size.textContent = humanSize(open.metadata.size);
  view.file.hidden = false;
  const staged = await stagedDownload(stageId(ref));
  if (staged !== null && staged.fileId === layout.fileId && staged.staged > 0) {
    view.download.textContent = "Resume download";
    view.progress.value = staged.staged / Math.max(1, staged.chunks);
    view.say(`Ready to resume: ${staged.staged} of ${staged.chunks} parts were downloaded before.`, "ready");
  } else {
    view.say("Ready to download.", "ready");
  }
  view.download.addEventListener("click", () => void download(api, ref, open, layout, name));
}

/** The key of this link's staged download. SECURITY: the link id only, never the fragment. */
function stageId(ref: LinkRef): string {
  return `link|${ref.linkId}`;
}

/**
 * Tickets for the link's download: the first call counts one download, or, after a reload, renews
 * the download started before (*download*); one the server no longer renews counts a new one.
 */
function linkSource(api: LinkApi, download: string | null): StagedSource {
  let started = download;
  let resumed = download !== null;
  return {
    get download() {
      return started;
    },
    async tickets(lacking: readonly string[]): Promise<TicketAnswer> {
      if (resumed && started !== null) {
        resumed = false;
        try {
          return await api.renew(started, lacking);
        } catch (error) {
          if (!(error instanceof ApiError) || error.code === NETWORK) throw error;
          started = null; // expired or refused: count a new download
        }
      }
      if (started === null) {
        const answer = await api.start();
        started = answer.download;
        return answer;
      }
      return api.renew(started, lacking);
    },
  };
}

async function download(api: LinkApi, ref: LinkRef, open: OpenedFile, layout: Layout, name: string): Promise<void> {
  view.clearProblem();
  const target = await chooseTarget(name);
  if (target === null) return;
  view.download.disabled = true;
  view.say("Downloading…", "downloading");
  const progress = ({ bytes, total }: { bytes: number; total: number }): void => {
    view.progress.value = total === 0 ? 1 : bytes / total;
  };
  const chunks = view.workerUrl("chunks");
  try {
    const unstaged = await downloadStaged({
      id: stageId(ref),
      opened: open,
      layout,
      source: (download) => linkSource(api, download),
      workers: { chunks, stage: view.workerUrl("stage") },
      target,
      name,
      onProgress: progress,
    });
    if (unstaged !== null) {
      if (unstaged.kind === "no-room") {
        view.say(
          `Downloading… The browser has room for ${humanSize(Math.max(0, unstaged.free))} of the ${humanSize(unstaged.needed)} needed to keep this download if the page is closed: it streams straight to disk instead, and a reload starts it over.`,
          "downloading",
        );
      }
      const writer = await openTarget(target, name, open.metadata.type, open.metadata.size);
      await new Downloader(linkSource(api, null), chunkOpener(chunks), progress).run(open, layout, writer);
    }
    view.progress.value = 1;
    view.download.textContent = "Download";
    view.say(`Downloaded and checked ${name}.`, "done");
  } catch (error) {
    fail(error);
    view.download.disabled = false;
  }
}

void sweepStaged();
registerSaver();
usePasswordWorker(view.workerUrl("kdf"));
main().catch(fail);
