/**
 * Hand chunks to the upload's worker (src/workers/seal.ts) in file order: each is hashed into the
 * whole-file SHA-256 and, unless already stored, sealed; the plaintext's buffer is transferred,
 * never copied. Where a worker cannot start, the same functions run in the page.
 */
import { chunkHash, sealChunk } from "../format/chunks";
import { StreamingSha256 } from "../format/sha256";
import type { SealReply, SealRequest, SealSpec } from "../workers/seal";

export interface Sealed {
  readonly blob: Uint8Array<ArrayBuffer>;
  readonly hash: string;
}

export interface ChunkSealer {
  /** Hash *plain* into the file's SHA-256, then seal it as *spec* says. */
  seal(plain: Uint8Array<ArrayBuffer>, spec: SealSpec): Promise<Sealed>;
  /** Hash *plain* only: a chunk a fileserver already holds. */
  hashOnly(plain: Uint8Array<ArrayBuffer>): Promise<void>;
  /** Return the SHA-256 of everything hashed, in hex, and start over. */
  finish(): Promise<string>;
  close(): void;
}

class WorkerSealer implements ChunkSealer {
  private next = 0;
  private readonly waiting = new Map<number, (reply: SealReply) => void>();

  constructor(private readonly worker: Worker) {
    worker.onmessage = (event: MessageEvent<SealReply>) => {
      this.waiting.get(event.data.id)?.(event.data);
      this.waiting.delete(event.data.id);
    };
    worker.onerror = () => {
      for (const [id, answer] of this.waiting) answer({ id, error: "the upload's worker stopped" });
      this.waiting.clear();
    };
  }

  private ask(build: (id: number) => SealRequest, transfer: Transferable[]): Promise<SealReply> {
    const id = this.next++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, (reply) => ("error" in reply ? reject(new Error(reply.error)) : resolve(reply)));
      this.worker.postMessage(build(id), transfer);
    });
  }

  async seal(plain: Uint8Array<ArrayBuffer>, spec: SealSpec): Promise<Sealed> {
    const reply = await this.ask((id) => ({ id, kind: "chunk", plain, seal: spec }), [plain.buffer]);
    if (!("blob" in reply)) throw new Error("the upload's worker sent no sealed chunk");
    return { blob: reply.blob, hash: reply.hash };
  }

  async hashOnly(plain: Uint8Array<ArrayBuffer>): Promise<void> {
    await this.ask((id) => ({ id, kind: "chunk", plain, seal: null }), [plain.buffer]);
  }

  async finish(): Promise<string> {
    const reply = await this.ask((id) => ({ id, kind: "finish" }), []);
    if (!("sha256" in reply)) throw new Error("the upload's worker sent no file hash");
    return reply.sha256;
  }

  close(): void {
    this.worker.terminate();
  }
}

class PageSealer implements ChunkSealer {
  private hash = new StreamingSha256();

  async seal(plain: Uint8Array<ArrayBuffer>, spec: SealSpec): Promise<Sealed> {
    this.hash.update(plain);
    const blob = await sealChunk(spec.key, spec.fileId, spec.index, spec.last, plain);
    return { blob, hash: await chunkHash(blob) };
  }

  async hashOnly(plain: Uint8Array<ArrayBuffer>): Promise<void> {
    this.hash.update(plain);
  }

  async finish(): Promise<string> {
    const digest = this.hash.hexdigest();
    this.hash = new StreamingSha256();
    return digest;
  }

  close(): void {}
}

/** Return a sealer backed by the worker at *url* (from the page's data-workers), or one in the page. */
export function chunkSealer(url: string | undefined): ChunkSealer {
  if (!url || typeof Worker === "undefined") return new PageSealer();
  try {
    return new WorkerSealer(new Worker(url, { type: "module", name: "coffer-seal" }));
  } catch {
    return new PageSealer();
  }
}
