/**
 * Open chunks in a Web Worker (src/workers/chunks.ts), so decryption never blocks the page.
 * Where a worker cannot start, chunks open on the main thread with the same function.
 */
import { openChunk } from "../format/chunks";
import { FormatError, IntegrityError } from "../format/errors";
import type { OpenReply, OpenRequest } from "../workers/chunks";

export interface ChunkOpener {
  open(key: CryptoKey, fileId: string, index: number, last: boolean, blob: Uint8Array<ArrayBuffer>): Promise<Uint8Array<ArrayBuffer>>;
  close(): void;
}

class WorkerOpener implements ChunkOpener {
  private next = 0;
  private broken = false;
  private readonly waiting = new Map<number, (reply: OpenReply) => void>();

  constructor(private readonly worker: Worker) {
    worker.onmessage = (event: MessageEvent<OpenReply>) => {
      this.waiting.get(event.data.id)?.(event.data);
      this.waiting.delete(event.data.id);
    };
    // A worker that fails to load (or dies) fails what it held; those chunks are fetched again and opened here.
    worker.onerror = () => {
      this.broken = true;
      for (const [id, answer] of this.waiting) answer({ id, error: "the chunk worker stopped", code: "worker" });
      this.waiting.clear();
    };
  }

  open(key: CryptoKey, fileId: string, index: number, last: boolean, blob: Uint8Array<ArrayBuffer>): Promise<Uint8Array<ArrayBuffer>> {
    if (this.broken) return openChunk(key, fileId, index, last, blob);
    const id = this.next++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, (reply) => {
        if ("plain" in reply) resolve(reply.plain);
        else if (reply.code === "worker") reject(new Error(reply.error));
        else reject(reply.code === "integrity" ? new IntegrityError(reply.error) : new FormatError(reply.error));
      });
      const request: OpenRequest = { id, key, fileId, index, last, blob };
      this.worker.postMessage(request, [blob.buffer]);
    });
  }

  close(): void {
    this.worker.terminate();
  }
}

const inPage: ChunkOpener = { open: openChunk, close: () => undefined };

/** Return an opener backed by the worker at *url* (from the page's data-workers), or the in-page one. */
export function chunkOpener(url: string | undefined): ChunkOpener {
  if (!url || typeof Worker === "undefined") return inPage;
  try {
    return new WorkerOpener(new Worker(url, { type: "module", name: "coffer-chunks" }));
  } catch {
    return inPage;
  }
}
