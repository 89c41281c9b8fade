/**
 * The page's side of a staged download's file in the Origin Private File System: the sealed chunks
 * at their offsets, written and read back by the stage worker (src/workers/stage.ts), and the
 * files' clean-up, which needs no worker.
 */
import type { StageReply, StageRequest } from "../workers/stage";
import { STAGE_DIRECTORY } from "../workers/stage";

/** The staged file could not be opened, written or read: the download goes on unstaged or stops. */
export class StageError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
  }
}

type Ask = { [K in StageRequest["kind"]]: Omit<Extract<StageRequest, { kind: K }>, "id"> }[StageRequest["kind"]];

export class StagedFile {
  private next = 0;
  private readonly waiting = new Map<number, (reply: StageReply) => void>();

  private constructor(
    private readonly worker: Worker,
    /** Bytes the file held when opened. */
    public size: number,
  ) {
    worker.onmessage = (event: MessageEvent<StageReply>) => {
      this.waiting.get(event.data.id)?.(event.data);
      this.waiting.delete(event.data.id);
    };
    worker.onerror = () => {
      for (const [id, answer] of this.waiting) answer({ id, error: "the stage worker stopped", code: "worker" });
      this.waiting.clear();
    };
  }

  /** Open (or with *create*, make) the staged file *name*; null where the browser has no OPFS or worker for it. */
  static async open(workerUrl: string | undefined, name: string, create: boolean): Promise<StagedFile | null> {
    if (!workerUrl || typeof Worker === "undefined" || !navigator.storage?.getDirectory) return null;
    const worker = new Worker(workerUrl, { type: "module", name: "coffer-stage" });
    const file = new StagedFile(worker, 0);
    try {
      const reply = await file.ask({ kind: "open", name, create }, []);
      file.size = "size" in reply ? reply.size : 0;
      return file;
    } catch (error) {
      worker.terminate();
      if (error instanceof StageError && error.code === "NotFoundError") return null;
      throw error;
    }
  }

  private ask(message: Ask, transfer: Transferable[]): Promise<StageReply> {
    const id = this.next++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, (reply) => {
        if ("error" in reply) reject(new StageError(`the staged download could not be kept: ${reply.error}`, reply.code));
        else resolve(reply);
      });
      this.worker.postMessage({ ...message, id } as StageRequest, transfer);
    });
  }

  /** Write *data* at *offset*, durably; resolve with the same bytes, handed back. */
  async write(offset: number, data: Uint8Array<ArrayBuffer>): Promise<Uint8Array<ArrayBuffer>> {
    const whole = data.byteOffset === 0 && data.byteLength === data.buffer.byteLength;
    const own = whole ? data : data.slice();
    const reply = await this.ask({ kind: "write", offset, data: own }, [own.buffer]);
    if (!("data" in reply)) throw new StageError("the stage worker sent no bytes back", "stage");
    return reply.data;
  }

  async read(offset: number, length: number): Promise<Uint8Array<ArrayBuffer>> {
    const reply = await this.ask({ kind: "read", offset, length }, []);
    if (!("data" in reply)) throw new StageError("the stage worker sent no bytes", "stage");
    return reply.data;
  }

  /** Let go of the file (it stays on disk) and stop the worker. */
  async close(): Promise<void> {
    await this.ask({ kind: "close" }, []).catch(() => undefined);
    this.worker.terminate();
  }
}

async function directory(): Promise<FileSystemDirectoryHandle | null> {
  if (!navigator.storage?.getDirectory) return null;
  const root = await navigator.storage.getDirectory();
  return root.getDirectoryHandle(STAGE_DIRECTORY, { create: true });
}

/** Delete the staged file *name*; one another tab still has open is left for a later sweep. */
export async function removeStaged(name: string): Promise<void> {
  const dir = await directory().catch(() => null);
  await dir?.removeEntry(name).catch(() => undefined);
}

/** Return the names of every staged file. */
export async function stagedNames(): Promise<string[]> {
  const dir = await directory().catch(() => null);
  if (dir === null) return [];
  const names: string[] = [];
  for await (const name of (dir as unknown as { keys(): AsyncIterable<string> }).keys()) names.push(name);
  return names;
}
