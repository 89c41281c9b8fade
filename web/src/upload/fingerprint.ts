/**
 * Tell whether a file chosen again is the one an unfinished upload was reading: its name, size and
 * last-modified time, and the SHA-256 of its first chunk (so a file of the same name and size,
 * edited within the same second, is still told apart where it counts: at its start).
 */
import { toHex } from "../format/encoding";

export interface Fingerprint {
  readonly name: string;
  readonly size: number;
  readonly lastModified: number;
  /** SHA-256 of the first chunk's plaintext, in hex. */
  readonly firstChunk: string;
}

export async function fingerprint(file: File, chunkSize: number): Promise<Fingerprint> {
  const first = await file.slice(0, Math.min(chunkSize, file.size)).arrayBuffer();
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", first));
  return { name: file.name, size: file.size, lastModified: file.lastModified, firstChunk: toHex(digest) };
}

/** Return the first difference between *was* and *now* in words, or null if they are the same file. */
export function difference(was: Fingerprint, now: Fingerprint): string | null {
  if (was.name !== now.name) return `it is named ${now.name}, not ${was.name}`;
  if (was.size !== now.size) return "its size is not the same";
  if (was.lastModified !== now.lastModified) return "it was changed since the upload started";
  if (was.firstChunk !== now.firstChunk) return "its content is not the same";
  return null;
}
