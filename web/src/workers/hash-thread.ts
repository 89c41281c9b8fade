/**
 * The whole plaintext's SHA-256 on a thread of its own, so the chunk workers' other work (WebCrypto's
 * copies of every chunk in and out, messages) never waits for it, nor it for them.
 *
 * Format v1 hashes the whole plaintext with SHA-256 (spec/format-v1.md section 7). WebCrypto hashes
 * only in one shot, so the page feeds libsodium's incremental SHA-256, a WebAssembly build without
 * the CPU's SHA instructions: at some 120-150 MB/s on one core it is the slowest step of a transfer,
 * and the one step that cannot be split over threads. So it gets a thread to itself: a chunk worker
 * (src/workers/seal.ts, src/workers/chunks.ts) starts a second copy of its own script named
 * HASH_THREAD, which serves the hash (`serveHash`), and hands it each plaintext, transferred, not
 * copied. Where a worker cannot start one (browsers without nested workers), the hash runs in the
 * chunk worker itself, as before.
 *
 * Messages in: `{ id, index, data }` (chunk *index*'s plaintext, its buffer transferred), answered
 * `{ id, data }` with the buffer transferred back once it and every chunk before it are in the hash;
 * `{ id, count }`, answered `{ id, sha256 }` (and the hash starts over). Errors: `{ id, error }`.
 * SECURITY: plaintext stays in memory only, between this page's own threads.
 */
import { OrderedHash } from "../download/ordered-hash";
import { ready } from "../format/sodium";

/** The name a chunk worker gives the copy of its script that is to serve the hash. */
export const HASH_THREAD = "coffer-hash";

type HashRequest =
  | { readonly id: number; readonly index: number; readonly data: Uint8Array<ArrayBuffer> }
  | { readonly id: number; readonly count: number };

type HashReply =
  | { readonly id: number; readonly data: Uint8Array<ArrayBuffer> }
  | { readonly id: number; readonly sha256: string }
  | { readonly id: number; readonly error: string };

interface Port {
  onmessage: ((event: MessageEvent) => void) | null;
  postMessage(message: unknown, transfer: Transferable[]): void;
}

/** The hash thread stopped (it could not start, or failed): not a chunk's fault, so no other copy will help. */
export class HashThreadStopped extends Error {}

/** The whole-file hash as a chunk worker sees it: fed chunks by position, in any order. */
export interface FileHash {
  /** Hash chunk *index*; resolve with its bytes once it and every chunk before it are in the hash. */
  feed(index: number, data: Uint8Array<ArrayBuffer>): Promise<Uint8Array<ArrayBuffer>>;
  /** Return the hex digest of the *count* chunks fed, and start over. */
  hexdigest(count: number): Promise<string>;
}

/** Return true if this worker was started to serve the hash. */
export function isHashThread(): boolean {
  return (self as unknown as { name?: string }).name === HASH_THREAD;
}

/** Serve the hash on this worker's own thread: messages are taken in the order they arrive. */
export function serveHash(): void {
  const scope = self as unknown as Port;
  const loaded = ready();
  let hash: OrderedHash | null = null;
  const answer = async (request: HashRequest): Promise<HashReply> => {
    hash ??= new OrderedHash();
    if ("count" in request) {
      const done = hash;
      hash = null;
      return { id: request.id, sha256: done.hexdigest(request.count) };
    }
    await hash.feed(request.index, request.data);
    return { id: request.id, data: request.data };
  };
  // Set at once, not after libsodium loads: a message that came before would be lost.
  scope.onmessage = (event: MessageEvent<HashRequest>) => {
    const request = event.data;
    loaded
      .then(() => answer(request))
      .then(
        (reply) => scope.postMessage(reply, "data" in reply ? [reply.data.buffer] : []),
        (error: unknown) => {
          const message = error instanceof Error ? error.message : String(error);
          scope.postMessage({ id: request.id, error: message } satisfies HashReply, []);
        },
      );
  };
}

class ThreadHash implements FileHash {
  private next = 0;
  private stopped = false;
  private readonly waiting = new Map<number, (reply: HashReply) => void>();

  constructor(private readonly worker: Worker) {
    worker.onmessage = (event: MessageEvent<HashReply>) => {
      this.waiting.get(event.data.id)?.(event.data);
      this.waiting.delete(event.data.id);
    };
    worker.onerror = () => {
      this.stopped = true;
      for (const [id, answer] of this.waiting) answer({ id, error: "the hash thread stopped" });
      this.waiting.clear();
    };
  }

  private ask(request: HashRequest, transfer: Transferable[]): Promise<HashReply> {
    if (this.stopped) return Promise.reject(new HashThreadStopped("the hash thread stopped"));
    return new Promise((resolve, reject) => {
      this.waiting.set(request.id, (reply) => {
        if (!("error" in reply)) resolve(reply);
        else reject(this.stopped ? new HashThreadStopped(reply.error) : new Error(reply.error));
      });
      this.worker.postMessage(request, transfer);
    });
  }

  async feed(index: number, data: Uint8Array<ArrayBuffer>): Promise<Uint8Array<ArrayBuffer>> {
    const reply = await this.ask({ id: this.next++, index, data }, [data.buffer]);
    if (!("data" in reply)) throw new Error("the hash thread sent no chunk back");
    return reply.data;
  }

  async hexdigest(count: number): Promise<string> {
    const reply = await this.ask({ id: this.next++, count }, []);
    if (!("sha256" in reply)) throw new Error("the hash thread sent no file hash");
    return reply.sha256;
  }
}

class LocalHash implements FileHash {
  private hash: OrderedHash | null = null;

  async feed(index: number, data: Uint8Array<ArrayBuffer>): Promise<Uint8Array<ArrayBuffer>> {
    await ready();
    this.hash ??= new OrderedHash();
    await this.hash.feed(index, data);
    return data;
  }

  async hexdigest(count: number): Promise<string> {
    await ready();
    const done = this.hash ?? new OrderedHash();
    this.hash = null;
    return done.hexdigest(count);
  }
}

/** Start the hash thread from this worker's own script, or hash here where no worker can be started. */
export function fileHash(): FileHash {
  if (typeof Worker === "undefined") return new LocalHash();
  try {
    return new ThreadHash(new Worker(self.location.href, { type: "module", name: HASH_THREAD }));
  } catch {
    return new LocalHash();
  }
}
