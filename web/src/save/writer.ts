/**
 * Where a download's plaintext goes: a FileWriter takes the chunks in order, then is closed once
 * the whole file checked out, or aborted, so that nothing is left under the file's name unless it
 * verified.
 *
 * - FileSystemWriter (the File System Access API, `showSaveFilePicker`): streamed to disk;
 *   its swap file becomes the file only at close, and is discarded on abort.
 * - StreamWriter (save/stream.ts, the page's Service Worker): for browsers without it, the file
 *   streams to the browser's download, which keeps it under a temporary name until the stream is
 *   closed after the check, and fails (removing it) when the stream is errored instead.
 * - BlobWriter: the last resort, for browsers with neither (no Service Worker, as in some private
 *   modes): the chunks are kept as Blob parts (the browser may page them out) and handed to the
 *   browser's download only after the check. Memory then grows with the file.
 */
import { StreamWriter } from "./stream";

export interface FileWriter {
  /** How the file is saved: shown on the page's body (`data-saver`) for tests and support. */
  readonly kind: "file-system" | "stream" | "blob" | "none";
  write(data: Uint8Array<ArrayBuffer>): Promise<void>;
  close(): Promise<void>;
  abort(): Promise<void>;
}

interface SavePicker {
  showSaveFilePicker(options: { suggestedName: string }): Promise<FileSystemFileHandle>;
}

export class FileSystemWriter implements FileWriter {
  readonly kind = "file-system";
  private constructor(private readonly stream: FileSystemWritableFileStream) {}

  static async open(handle: FileSystemFileHandle): Promise<FileSystemWriter> {
    return new FileSystemWriter(await handle.createWritable());
  }

  async write(data: Uint8Array<ArrayBuffer>): Promise<void> {
    await this.stream.write(data);
  }

  async close(): Promise<void> {
    await this.stream.close();
  }

  async abort(): Promise<void> {
    await this.stream.abort();
  }
}

export class BlobWriter implements FileWriter {
  readonly kind = "blob";
  private parts: Blob[] = [];

  constructor(
    private readonly name: string,
    private readonly type: string,
  ) {}

  async write(data: Uint8Array<ArrayBuffer>): Promise<void> {
    this.parts.push(new Blob([data]));
  }

  async close(): Promise<void> {
    const url = URL.createObjectURL(new Blob(this.parts, { type: "application/octet-stream" }));
    this.parts = [];
    const anchor = document.createElement("a");
    anchor.href = url;
    anchor.download = this.name;
    anchor.rel = "noreferrer";
    anchor.type = this.type;
    document.body.append(anchor);
    anchor.click();
    anchor.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
  }

  async abort(): Promise<void> {
    this.parts = [];
  }
}

/** Where a file will be saved: a file the person chose in the save dialog, or the browser's download. */
export type SaveTarget = { readonly kind: "file-system"; readonly handle: FileSystemFileHandle } | { readonly kind: "download" };

/**
 * Ask where to save *name*: the save dialog where the browser has one (call this first in a click
 * handler, while the click still counts as the person's gesture), otherwise the browser's
 * download. Resolves null if the person cancelled the dialog.
 */
export async function chooseTarget(name: string): Promise<SaveTarget | null> {
  const picker = (window as unknown as Partial<SavePicker>).showSaveFilePicker;
  if (typeof picker === "function") {
    try {
      return { kind: "file-system", handle: await picker.call(window, { suggestedName: name }) };
    } catch (error) {
      if (error instanceof DOMException && error.name === "AbortError") return null;
    }
  }
  return { kind: "download" };
}

/**
 * Open a writer to *target*: the chosen file, or the browser's download streamed through the
 * Service Worker where there is one (the Blob of last resort otherwise). A staged download opens
 * it only once the whole file checked out, so the browser's download starts then.
 */
export async function openTarget(target: SaveTarget, name: string, type: string, size: number): Promise<FileWriter> {
  let writer: FileWriter | null = null;
  if (target.kind === "file-system") writer = await FileSystemWriter.open(target.handle).catch(() => null);
  writer ??= (await StreamWriter.open(name, size)) ?? new BlobWriter(name, type);
  document.body.dataset.saver = writer.kind;
  return writer;
}

/** Choose where to save *name* and open a writer there at once (chooseTarget, then openTarget). */
export async function chooseWriter(name: string, type: string, size: number): Promise<FileWriter | null> {
  const target = await chooseTarget(name);
  return target === null ? null : openTarget(target, name, type, size);
}
