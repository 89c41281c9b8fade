/**
 * Where a download's plaintext goes: a FileWriter takes the chunks in order, then is closed once
 * the whole file checked out, or aborted, so that nothing is left under the file's name unless it
 * verified.
 *
 * - FileSystemWriter (the File System Access API, `showSaveFilePicker`): streamed to disk;
 *   its swap file becomes the file only at close, and is discarded on abort.
 * - BlobWriter: for browsers without it, the chunks are kept as Blob parts (the browser may page
 *   them out) and handed to the browser's download only after the check. A Service Worker
 *   stream is the streamed path for those browsers; it will be another FileWriter.
 */
export interface FileWriter {
  write(data: Uint8Array<ArrayBuffer>): Promise<void>;
  close(): Promise<void>;
  abort(): Promise<void>;
}

interface SavePicker {
  showSaveFilePicker(options: { suggestedName: string }): Promise<FileSystemFileHandle>;
}

export class FileSystemWriter implements FileWriter {
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

/**
 * Ask where to save *name*: the save dialog where the browser has one (call this first in a click
 * handler, while the click still counts as the person's gesture), otherwise the browser's download.
 * Resolves null if the person cancelled the dialog.
 */
export async function chooseWriter(name: string, type: string): Promise<FileWriter | null> {
  const picker = (window as unknown as Partial<SavePicker>).showSaveFilePicker;
  if (typeof picker !== "function") return new BlobWriter(name, type);
  try {
    return await FileSystemWriter.open(await picker.call(window, { suggestedName: name }));
  } catch (error) {
    if (error instanceof DOMException && error.name === "AbortError") return null;
    return new BlobWriter(name, type);
  }
}
