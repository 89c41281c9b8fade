/**
 * A server's file record as the page reads it before moving a byte: opened and checked (format/records.py).
 *
 * The record (chunk list, sizes, holders) is not authenticated; the metadata sealed under the
 * file key is. `checkLayout` holds one to the other, so a shortened, padded or resized chunk
 * list fails before any transfer; chunks swapped in place fail to open at their position.
 */
import { importKey } from "./aead";
import { b64decode, isId } from "./encoding";
import { IntegrityError } from "./errors";
import { type UserKeys, checkKeyCommitment, openFileKey } from "./keys";
import { type Metadata, openMetadata } from "./metadata";
import { openShareKey } from "./shares";
import * as sizes from "./sizes";
import { recordVersion } from "./version";

/** A file record as the server sends it; every field is checked before use. */
export type FileRecord = Readonly<Record<string, unknown>>;

/** Checks that a public key the server gave for a user is theirs (the pins); throws otherwise. */
export type OwnerCheck = (owner: string, publicKey: Uint8Array) => void;

/** A file record with its key and metadata opened. SECURITY: `key` opens the file. */
export interface OpenedFile {
  readonly record: FileRecord;
  readonly fileId: string;
  readonly key: CryptoKey;
  readonly metadata: Metadata;
}

export interface ChunkRef {
  readonly index: number;
  readonly hash: string;
  /** Ciphertext bytes. */
  readonly size: number;
  readonly holders: readonly string[];
}

/** A complete file's chunks, checked against its sealed metadata. */
export interface Layout {
  readonly fileId: string;
  readonly shard: string;
  /** Plaintext bytes. */
  readonly size: number;
  readonly plainChunkSize: number;
  readonly chunks: readonly ChunkRef[];
}

/** Open the file key (the owner's sealed key, or a recipient's share box) and then the metadata. */
export async function openRecord(record: FileRecord, keys: UserKeys, checkOwner?: OwnerCheck): Promise<OpenedFile> {
  const fileId = recordId(record);
  recordVersion(record);
  if (record.access !== "shared") {
    return openWithKey(record, openFileKey(keys, decodedField(record, "sealed_key", fileId)), "your sealed file key");
  }
  const owner = record.owner;
  if (checkOwner === undefined || typeof owner !== "string" || !owner) {
    throw new IntegrityError(`file ${fileId} is shared with you, but its owner's key cannot be checked`);
  }
  const ownerPublic = decodedField(record, "owner_public_key", fileId);
  checkOwner(owner, ownerPublic); // SECURITY: the pinned key, before it authenticates anything
  const key = openShareKey(keys, ownerPublic, fileId, decodedField(record, "share_key", fileId));
  return openWithKey(record, key, `the key ${owner} shared with you`);
}

/**
 * Check *rawKey* against the record's key commitment, then open the metadata with it.
 * SECURITY: the commitment comes first, and a record without one is refused.
 */
export async function openWithKey(record: FileRecord, rawKey: Uint8Array, what: string): Promise<OpenedFile> {
  const fileId = recordId(record);
  recordVersion(record);
  const commitment = decodedField(record, "key_commitment", fileId);
  const blob = decodedField(record, "metadata", fileId);
  if (commitment.length === 0) {
    throw new IntegrityError(
      `file ${fileId} was uploaded before Coffer recorded key commitments, so its key cannot be checked: ` +
        "its owner must upload it again",
    );
  }
  checkKeyCommitment(rawKey, commitment, what);
  const key = await importKey(rawKey);
  return { record, fileId, key, metadata: await openMetadata(key, fileId, blob) };
}

function decodedField(record: FileRecord, name: string, fileId: string): Uint8Array {
  const value = record[name] ?? "";
  try {
    if (typeof value !== "string") {
      throw new Error("not text");
    }
    return b64decode(value);
  } catch {
    throw new IntegrityError(`the record of file ${fileId} carries a malformed ${name}`);
  }
}

function recordId(record: FileRecord): string {
  const id = record.id;
  if (typeof id !== "string" || !isId(id)) {
    throw new IntegrityError("the server sent a file record whose id is not a UUID");
  }
  return id;
}

function integer(value: unknown): number {
  return typeof value === "number" && Number.isSafeInteger(value) ? value : -1;
}

/** Hold the server's record to the sealed metadata; throw IntegrityError where they disagree. */
export function checkLayout(record: FileRecord, metadata: Metadata): Layout {
  const fileId = recordId(record);
  recordVersion(record);
  const count = integer(record.chunk_count);
  const plainChunk = sizes.plainSize(integer(record.chunk_size));
  if (plainChunk < 1) {
    throw new IntegrityError(`the server's record of file ${fileId} has an impossible chunk size`);
  }
  const expected = sizes.chunkCount(metadata.size, plainChunk);
  if (count !== expected || integer(record.size) !== sizes.fileCiphertextSize(metadata.size, expected)) {
    throw new IntegrityError(
      `the server's record of file ${fileId} does not match its sealed metadata ` +
        `(${expected} chunks of a ${metadata.size}-byte file): the record was altered`,
    );
  }
  const listed = record.chunks;
  if (!Array.isArray(listed) || listed.length !== expected) {
    throw new IntegrityError(
      `the server's record of file ${fileId} lists a wrong number of chunks: chunks were dropped or added`,
    );
  }
  const chunks = listed.map((item: unknown, position: number): ChunkRef => {
    const entry = (item !== null && typeof item === "object" ? item : {}) as Record<string, unknown>;
    if (entry.index !== position) {
      throw new IntegrityError(`the server's record of file ${fileId} lists its chunks out of sequence`);
    }
    const size = sizes.ciphertextSize(sizes.chunkPlainLength(position, plainChunk, metadata.size));
    if (entry.size !== size) {
      throw new IntegrityError(
        `chunk ${position} of file ${fileId} is recorded as ${String(entry.size)} bytes but must be ${size}: ` +
          "the record was altered",
      );
    }
    if (typeof entry.hash !== "string" || !/^[0-9a-f]{64}$/.test(entry.hash)) {
      throw new IntegrityError(`chunk ${position} of file ${fileId} has a malformed hash`);
    }
    const holders = Array.isArray(entry.fileservers) ? entry.fileservers.map(String) : [];
    return { index: position, hash: entry.hash, size, holders };
  });
  return { fileId, shard: String(record.shard), size: metadata.size, plainChunkSize: plainChunk, chunks };
}
