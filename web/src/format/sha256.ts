/**
 * The whole plaintext's SHA-256, computed while the file streams through.
 *
 * WebCrypto's digest is one-shot, fine for a chunk but not for a 1 GiB file, so this uses an
 * incremental SHA-256 in WebAssembly (spec/format-v1.md section 7). It is hash-wasm's, not
 * libsodium's: both lack the CPU's SHA instructions, but hash-wasm's took about a fifth less CPU
 * for the same bytes (`node web/test/hash-speed.mjs`: some 310-330 MB per CPU-second against
 * 245-270), and this hash is the slowest step of every transfer. One WebAssembly instance, loaded
 * by the format's `ready()`, serves every hash: each keeps its own state (`save`/`load`, a few
 * hundred bytes), so hashes can be made and fed without awaiting. Feed chunks in order.
 */
import { type IHasher, createSHA256 } from "hash-wasm";

let shared: IHasher | null = null;

/** Load the WebAssembly SHA-256 (once); the format's `ready()` awaits it. */
export async function loadSha256(): Promise<void> {
  shared ??= await createSHA256();
}

function hasher(): IHasher {
  if (shared === null) {
    throw new Error("the SHA-256 is not loaded yet: await ready() before using the format");
  }
  return shared;
}

export class StreamingSha256 {
  private state: Uint8Array;
  private done = false;

  constructor() {
    this.state = hasher().init().save();
  }

  update(data: Uint8Array): void {
    if (this.done) {
      throw new Error("the hash was already finished");
    }
    const h = hasher();
    h.load(this.state);
    h.update(data);
    this.state = h.save();
  }

  /** Return the hex digest; the hash takes nothing more after. */
  hexdigest(): string {
    this.done = true;
    return hasher().load(this.state).digest("hex");
  }
}
