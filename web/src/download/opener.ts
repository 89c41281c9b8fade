/**
 * Open chunks and hash the whole plaintext in a Web Worker (src/workers/chunks.ts), so neither
 * decryption nor the file's SHA-256 blocks the page. Where a worker cannot start, the same
 * functions run on the main thread. One opener per download.
 */
import { openChunk } from "../format/chunks";
import { FormatError, IntegrityError } from "../format/errors";
import type { OpenReply, OpenRequest } from "../workers/chunks";
import { OrderedHash } from "./ordered-hash";

export interface ChunkOpener {
  /** Open chunk *index*; resolve once it and every chunk before it are in the file's hash. */
  open(key: CryptoKey, fileId: string, index: number, last: boolean, blob: Uint8Array<ArrayBuffer>): Promise<Uint8Array<ArrayBuffer>>;
  /** Return the SHA-256 (hex) of the *count* chunks opened. */
  digest(count: number): Promise<string>;
  close(): void;
}

/** A worker that stopped: not the fileserver's fault, and its hash is lost, so the download stops. */
export class OpenerStopped extends Error {}

class WorkerOpener implements ChunkOpener {
  private next = 0;
  private broken = false;
  private readonly waiting = new Map<number, (reply: OpenReply) => void>();

  constructor(private readonly worker: Worker) {
    worker.onmessage = (event: MessageEvent<OpenReply>) => {
      this.waiting.get(event.data.id)?.(event.data);
      this.waiting.delete(event.data.id);
    };
    worker.onerror = () => {
      this.broken = true;
      for (const [id, answer] of this.waiting) answer({ id, error: "the chunk worker stopped", code: "worker" });
      this.waiting.clear();
    };
  }

  private ask(build: (id: number) => OpenRequest, transfer: Transferable[]): Promise<OpenReply> {
    if (this.broken) return Promise.reject(new OpenerStopped("the page's chunk worker stopped: reload the page and try again"));
    const id = this.next++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, (reply) => {
        if (!("error" in reply)) resolve(reply);
        else if (reply.code === "worker") reject(new OpenerStopped(`${reply.error}: reload the page and try again`));
        else reject(reply.code === "integrity" ? new IntegrityError(reply.error) : new FormatError(reply.error));
      });
      this.worker.postMessage(build(id), transfer);
    });
  }

  async open(key: CryptoKey, fileId: string, index: number, last: boolean, blob: Uint8Array<ArrayBuffer>): Promise<Uint8Array<ArrayBuffer>> {
    const reply = await this.ask((id) => ({ kind: "open", id, key, fileId, index, last, blob }), [blob.buffer]);
    if (!("plain" in reply)) throw new Error("the chunk worker sent no plaintext");
    return reply.plain;
  }

  async digest(count: number): Promise<string> {
    const reply = await this.ask((id) => ({ kind: "digest", id, count }), []);
    if (!("sha256" in reply)) throw new Error("the chunk worker sent no file hash");
    return reply.sha256;
  }

  close(): void {
    this.worker.terminate();
  }
}

class PageOpener implements ChunkOpener {
  private readonly hash = new OrderedHash();

  async open(key: CryptoKey, fileId: string, index: number, last: boolean, blob: Uint8Array<ArrayBuffer>): Promise<Uint8Array<ArrayBuffer>> {
    const plain = await openChunk(key, fileId, index, last, blob);
    await this.hash.feed(index, plain);
    return plain;
  }

  async digest(count: number): Promise<string> {
    return this.hash.hexdigest(count);
  }

  close(): void {}
}

/** Return an opener backed by the worker at *url* (from the page's data-workers), or one in the page. */
export function chunkOpener(url: string | undefined): ChunkOpener {
  if (!url || typeof Worker === "undefined") return new PageOpener();
  try {
    return new WorkerOpener(new Worker(url, { type: "module", name: "coffer-chunks" }));
  } catch {
    return new PageOpener();
  }
}
