/**
 * What a file is, sealed under its key (format/metadata.py): canonical JSON with `v`, name, size,
 * type, mtime and the plaintext's SHA-256, sealed with `ad = "coffer metadata v1" || file id`.
 * SECURITY: every function here handles keys or plaintext; none of them logs.
 */
import { openSealed, randomBytes, seal } from "./aead";
import { type Bytes, canonicalJson, concat, utf8, uuidBytes } from "./encoding";
import { IntegrityError } from "./errors";
import { CHUNK_OVERHEAD, NONCE_BYTES } from "./sizes";

export const VERSION = 1;
export const METADATA_AD = utf8("coffer metadata v1");
const SHA256_HEX = /^[0-9a-f]{64}$/;

export interface Metadata {
  readonly name: string;
  readonly size: number;
  readonly type: string;
  readonly mtime: number;
  readonly sha256: string;
}

export function metadataAd(fileId: string): Bytes {
  return concat(METADATA_AD, uuidBytes(fileId));
}

/** Return the canonical JSON text of *metadata*, as it is sealed. */
export function metadataJson(metadata: Metadata): string {
  const { name, size, type, mtime, sha256 } = metadata;
  return canonicalJson({ v: VERSION, name, size, type, mtime, sha256 });
}

/** Seal *metadata* under the file key, bound to *fileId*; *nonce* is for test vectors only. */
export async function sealMetadata(
  key: CryptoKey,
  fileId: string,
  metadata: Metadata,
  nonce?: Uint8Array,
): Promise<Bytes> {
  return seal(nonce ?? randomBytes(NONCE_BYTES), utf8(metadataJson(metadata)), metadataAd(fileId), key);
}

/** Open and check sealed metadata; IntegrityError if it does not open or is not well formed. */
export async function openMetadata(key: CryptoKey, fileId: string, blob: Uint8Array): Promise<Metadata> {
  if (blob.length < CHUNK_OVERHEAD) {
    throw new IntegrityError("the file's metadata is too short to be sealed metadata");
  }
  let data: unknown;
  try {
    data = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(await openSealed(blob, metadataAd(fileId), key)));
  } catch {
    throw new IntegrityError("the file's metadata does not decrypt: it was altered, or the key is wrong");
  }
  return checked(data);
}

function checked(data: unknown): Metadata {
  // Whoever holds the file key (a sharer, later) wrote this: check its shape like any input.
  if (data === null || typeof data !== "object" || Array.isArray(data)) {
    throw new IntegrityError("the file's metadata is not a JSON object");
  }
  const fields = data as Record<string, unknown>;
  if (fields.v !== VERSION) {
    throw new IntegrityError(`unknown metadata version ${JSON.stringify(fields.v)}: this page reads version ${VERSION}`);
  }
  const { name, size, type, mtime, sha256 } = fields;
  if (typeof name !== "string" || typeof type !== "string" || !Number.isSafeInteger(size) || (size as number) < 0) {
    throw new IntegrityError("the file's metadata has a malformed name, type or size");
  }
  if (typeof mtime !== "number" || !Number.isFinite(mtime)) {
    throw new IntegrityError("the file's metadata has a malformed mtime");
  }
  if (typeof sha256 !== "string" || !SHA256_HEX.test(sha256)) {
    throw new IntegrityError("the file's metadata has a malformed sha256");
  }
  return { name, size: size as number, type, mtime, sha256 };
}

/** Return the last component of a name from metadata, never a path. SECURITY: it is remote input. */
export function safeName(name: string, fallback: string): string {
  const base = (name.replace(/\\/g, "/").split("/").pop() ?? "").replace(/\0/g, "");
  return base === "" || base === "." || base === ".." ? fallback : base;
}
