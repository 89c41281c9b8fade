/** How big a file's chunks and ciphertext are: the one place for that arithmetic (format/sizes.py). */

export const NONCE_BYTES = 12;
export const TAG_BYTES = 16;
export const CHUNK_OVERHEAD = NONCE_BYTES + TAG_BYTES;
export const DEFAULT_CHUNK_SIZE = 8 * 1024 * 1024;

export function ciphertextSize(plainSize: number): number {
  return plainSize + CHUNK_OVERHEAD;
}

export function plainSize(cipherSize: number): number {
  return cipherSize - CHUNK_OVERHEAD;
}

/** Return how many chunks a file of *plain* bytes takes; an empty file still has one. */
export function chunkCount(plain: number, chunkSize: number): number {
  return Math.max(1, Math.ceil(plain / chunkSize));
}

export function fileCiphertextSize(plain: number, count: number): number {
  return plain + CHUNK_OVERHEAD * count;
}

export function chunkOffset(index: number, plainChunkSize: number): number {
  return index * plainChunkSize;
}

export function chunkPlainLength(index: number, plainChunkSize: number, fileSize: number): number {
  return Math.min(plainChunkSize, fileSize - chunkOffset(index, plainChunkSize));
}
