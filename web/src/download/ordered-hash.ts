/**
 * The whole plaintext's SHA-256 over chunks that open out of order: each chunk is held until
 * every chunk before it was hashed, then hashed in file order. Runs in the chunk worker, so the
 * page's main thread never hashes; memory is bounded by the chunks in flight.
 */
import { StreamingSha256 } from "../format/sha256";

export class OrderedHash {
  private next = 0;
  private readonly hash = new StreamingSha256();
  private readonly held = new Map<number, { readonly plain: Uint8Array; readonly hashed: () => void }>();

  /** Resolve once chunk *index* (and every chunk before it) is in the hash. */
  feed(index: number, plain: Uint8Array): Promise<void> {
    if (index < this.next || this.held.has(index)) {
      return Promise.reject(new Error(`chunk ${index} was already hashed`));
    }
    return new Promise((resolve) => {
      this.held.set(index, { plain, hashed: resolve });
      for (let chunk = this.held.get(this.next); chunk !== undefined; chunk = this.held.get(this.next)) {
        this.held.delete(this.next);
        this.hash.update(chunk.plain);
        this.next += 1;
        chunk.hashed();
      }
    });
  }

  /** Return the hex digest of the *count* chunks fed; a programming error if any is missing. */
  hexdigest(count: number): string {
    if (this.next !== count) throw new Error(`only ${this.next} of ${count} chunks were hashed`);
    return this.hash.hexdigest();
  }
}
