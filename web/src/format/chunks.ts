/**
 * One chunk of a file: sealed under the file key, bound to its file and place, named by its hash.
 *
 * `ad = "coffer chunk v1" || file id (16) || index (8, big-endian) || last (1)`, so a chunk moved
 * to another position or file, or standing last when it is not, fails to open (format/chunks.py).
 * SECURITY: every function here handles keys or plaintext; none of them logs.
 */
import { openSealed, randomBytes, seal } from "./aead";
import { type Bytes, concat, toHex, uint64, utf8, uuidBytes, view } from "./encoding";
import { IntegrityError } from "./errors";
import { CHUNK_OVERHEAD, NONCE_BYTES } from "./sizes";

export const CHUNK_AD = utf8("coffer chunk v1");

/** Return the associated data that binds a chunk to its file, its position, and whether it ends the file. */
export function chunkAd(fileId: string, index: number, last: boolean): Bytes {
  return concat(CHUNK_AD, uuidBytes(fileId), uint64(index), Uint8Array.of(last ? 1 : 0));
}

/** Encrypt one chunk; *nonce* is for test vectors only (random otherwise). */
export async function sealChunk(
  key: CryptoKey,
  fileId: string,
  index: number,
  last: boolean,
  plaintext: Uint8Array,
  nonce?: Uint8Array,
): Promise<Bytes> {
  return seal(nonce ?? randomBytes(NONCE_BYTES), plaintext, chunkAd(fileId, index, last), key);
}

/** Decrypt one chunk, or throw IntegrityError naming it. */
export async function openChunk(
  key: CryptoKey,
  fileId: string,
  index: number,
  last: boolean,
  blob: Uint8Array,
): Promise<Bytes> {
  if (blob.length < CHUNK_OVERHEAD) {
    throw new IntegrityError(`chunk ${index} is too short to be a Coffer chunk`);
  }
  try {
    return await openSealed(blob, chunkAd(fileId, index, last), key);
  } catch {
    throw new IntegrityError(
      `chunk ${index} does not decrypt: it was altered, moved or truncated (or the file key is wrong)`,
    );
  }
}

/** Return a chunk's name: the SHA-256 of all its sealed bytes, in hex (WebCrypto, one shot per chunk). */
export async function chunkHash(blob: Uint8Array): Promise<string> {
  return toHex(new Uint8Array(await crypto.subtle.digest("SHA-256", view(blob))));
}
