/**
 * The buttons of each row of the file list and the dialogs behind them: download, make a link,
 * share with a user (showing their key's fingerprint to compare), delete. Text only, never HTML.
 */
import type { FilesApi } from "../api/files";
import type { UserKeys } from "../format/keys";
import type { OwnerCheck } from "../format/records";
import type { Pins } from "../share/pins";
import { type LookedUp, lookUp, makeLink, share } from "./actions";
import { StagedStore } from "../download/staged-store";
import { downloadOwn, ownStageId } from "./download";
import type { FileRow } from "./files";
import { element } from "../ui/elements";

export interface Context {
  readonly files: FilesApi;
  readonly keys: UserKeys;
  readonly pins: Pins;
  readonly server: string;
  readonly chunkWorker: string | undefined;
  readonly stageWorker: string | undefined;
  /** `origin|user name`: whose staged downloads to offer. */
  readonly owner: string;
  /** The check of the owners of files shared with the user, as the list last met them. */
  ownerCheck(): OwnerCheck | undefined;
  say(text: string, state: string): void;
  fail(text: string): void;
  clearProblem(): void;
  explain(error: unknown): string;
  refresh(): Promise<void>;
}

const STANDING: Record<LookedUp["status"], string> = {
  new: "You have not shared with them before: compare this fingerprint with the one they read out to you, then share.",
  seen: "This key was on a file they shared with you, but you have not compared it: compare it with them, then share.",
  pinned: "The same key as when you last shared with them.",
  changed: "Their key CHANGED since you last shared with them. Type the fingerprint they read out to you to share.",
};

function positive(input: HTMLInputElement): number | null {
  const value = Number(input.value);
  return input.value.trim() !== "" && Number.isSafeInteger(value) && value > 0 ? value : null;
}

export class FileActions {
  private readonly link = {
    dialog: element("link-dialog", HTMLDialogElement),
    file: element("link-file", HTMLElement),
    days: element("link-days", HTMLInputElement),
    max: element("link-max", HTMLInputElement),
    password: element("link-password", HTMLInputElement),
    make: element("link-make", HTMLButtonElement),
    made: element("link-made", HTMLElement),
    url: element("link-url", HTMLInputElement),
    copy: element("link-copy", HTMLButtonElement),
    copied: element("link-copied", HTMLElement),
  };
  private readonly sharing = {
    dialog: element("share-dialog", HTMLDialogElement),
    file: element("share-file", HTMLElement),
    user: element("share-user", HTMLInputElement),
    look: element("share-look", HTMLButtonElement),
    key: element("share-key", HTMLElement),
    fingerprint: element("share-fingerprint", HTMLOutputElement),
    standing: element("share-standing", HTMLElement),
    typed: element("share-typed", HTMLInputElement),
    go: element("share-do", HTMLButtonElement),
  };
  private row: FileRow | null = null;
  private looked: LookedUp | null = null;
  /** Files with a staged download (cut by a reload): their button resumes it. */
  private staged = new Set<string>();

  constructor(private readonly ctx: Context) {
    element("link-close", HTMLButtonElement).addEventListener("click", () => this.link.dialog.close());
    element("share-close", HTMLButtonElement).addEventListener("click", () => this.sharing.dialog.close());
    this.link.make.addEventListener("click", () => void this.makeLink());
    this.link.copy.addEventListener("click", () => {
      navigator.clipboard.writeText(this.link.url.value).then(
        () => (this.link.copied.textContent = "Copied."),
        () => (this.link.copied.textContent = "Copying was refused: select the link and copy it yourself."),
      );
    });
    this.sharing.look.addEventListener("click", () => void this.lookUp());
    this.sharing.go.addEventListener("click", () => void this.share());
  }

  /** Read which of the user's downloads were staged and cut short, so their rows offer to resume. */
  async loadStaged(): Promise<void> {
    const store = await StagedStore.open().catch(() => null);
    const all = (await store?.all().catch(() => [])) ?? [];
    const mine = all.filter((saved) => saved.staged > 0 && saved.id === ownStageId(this.ctx.owner, saved.fileId));
    this.staged = new Set(mine.map((saved) => saved.fileId));
  }

  /** Return the buttons of *row*. */
  buttons(row: FileRow): HTMLElement[] {
    if (row.size === null || row.problem !== null) return [];
    const download = this.staged.has(row.id)
      ? this.button("Resume download", `Resume the download of ${row.name}`, () => this.download(row))
      : this.button("Download", `Download ${row.name}`, () => this.download(row));
    if (row.owner !== null) return [download];
    return [
      download,
      this.button("Link…", `Make a link to ${row.name}`, () => this.openLink(row)),
      this.button("Share…", `Share ${row.name}`, () => this.openShare(row)),
      this.button("Delete", `Delete ${row.name}`, () => void this.remove(row)),
    ];
  }

  private button(text: string, label: string, action: () => void): HTMLButtonElement {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = text;
    b.setAttribute("aria-label", label);
    b.addEventListener("click", action);
    return b;
  }

  private download(row: FileRow): void {
    const ctx = this.ctx;
    ctx.clearProblem();
    ctx.say(`Downloading ${row.name}…`, "downloading");
    downloadOwn({
      files: ctx.files,
      keys: ctx.keys,
      fileId: row.id,
      owner: ctx.owner,
      workers: { chunks: ctx.chunkWorker, stage: ctx.stageWorker },
      onProgress: () => undefined,
      checkOwner: ctx.ownerCheck(),
      onUnstaged: (why) =>
        ctx.say(`Downloading ${row.name}… It streams straight to disk (${why}): a reload starts it over.`, "downloading"),
    }).then(
      (saved) => {
        ctx.say(saved ? `Downloaded and checked ${row.name}.` : "Download cancelled.", "downloaded");
        if (saved && this.staged.delete(row.id)) void ctx.refresh().catch(() => undefined);
      },
      (error: unknown) => {
        ctx.fail(ctx.explain(error));
        ctx.say(`${row.name} was not downloaded.`, "files");
      },
    );
  }

  private async remove(row: FileRow): Promise<void> {
    const ctx = this.ctx;
    if (!window.confirm(`Delete ${row.name}? Its links and shares stop working.`)) return;
    ctx.clearProblem();
    try {
      await ctx.files.remove(row.id);
      ctx.say(`Deleted ${row.name}.`, "deleted");
      await ctx.refresh();
    } catch (error) {
      ctx.fail(ctx.explain(error));
    }
  }

  private openLink(row: FileRow): void {
    this.row = row;
    this.link.file.textContent = row.name;
    this.link.made.hidden = true;
    this.link.url.value = "";
    this.link.password.value = "";
    this.link.copied.textContent = "";
    this.link.dialog.showModal();
  }

  private async makeLink(): Promise<void> {
    const { ctx, link, row } = this;
    if (row === null) return;
    link.make.disabled = true;
    ctx.clearProblem();
    try {
      const choice = { expiresInDays: positive(link.days), maxDownloads: positive(link.max), password: link.password.value || null };
      link.url.value = await makeLink(ctx.files, ctx.keys, ctx.server, row.id, choice);
      link.password.value = "";
      link.made.hidden = false;
      link.url.select();
    } catch (error) {
      link.dialog.close();
      ctx.fail(ctx.explain(error));
    } finally {
      link.make.disabled = false;
    }
  }

  private openShare(row: FileRow): void {
    this.row = row;
    this.looked = null;
    this.sharing.file.textContent = row.name;
    this.sharing.user.value = "";
    this.sharing.typed.value = "";
    this.sharing.key.hidden = true;
    this.sharing.dialog.showModal();
  }

  private async lookUp(): Promise<void> {
    const { ctx, sharing } = this;
    try {
      const who = await lookUp(ctx.files, ctx.pins, sharing.user.value.trim());
      this.looked = who;
      sharing.fingerprint.value = who.fingerprint;
      sharing.standing.textContent = STANDING[who.status];
      sharing.key.dataset.status = who.status;
      sharing.key.hidden = false;
    } catch (error) {
      sharing.key.hidden = false;
      sharing.fingerprint.value = "";
      sharing.standing.textContent = ctx.explain(error);
    }
  }

  private async share(): Promise<void> {
    const { ctx, sharing, looked, row } = this;
    if (looked === null || row === null) return;
    try {
      await share(ctx.files, ctx.keys, ctx.pins, row.id, looked, sharing.typed.value.trim() || null);
      sharing.dialog.close();
      ctx.say(`Shared ${row.name} with ${looked.name}.`, "shared");
    } catch (error) {
      sharing.standing.textContent = ctx.explain(error);
    }
  }
}
