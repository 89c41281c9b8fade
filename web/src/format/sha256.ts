/**
 * The whole plaintext's SHA-256, computed while the file streams through.
 *
 * WebCrypto's digest is one-shot, fine for a chunk but not for a 1 GiB file, so this uses
 * libsodium's incremental crypto_hash_sha256 (spec/format-v1.md section 7). Feed chunks in order.
 */
import { toHex } from "./encoding";
import { lib } from "./sodium";

export class StreamingSha256 {
  private readonly state = lib().crypto_hash_sha256_init();
  private done = false;

  update(data: Uint8Array): void {
    if (this.done) {
      throw new Error("the hash was already finished");
    }
    lib().crypto_hash_sha256_update(this.state, data);
  }

  /** Return the hex digest; the hash takes nothing more after. */
  hexdigest(): string {
    this.done = true;
    return toHex(lib().crypto_hash_sha256_final(this.state));
  }
}
