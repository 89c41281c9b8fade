/**
 * Upload one File as client/upload.py does:
 *
 * 1. a random file key; `POST /api/files` with the layout, the key sealed to the owner's public
 *    key, its commitment, and a placeholder metadata blob of the right length (the real one needs
 *    the whole plaintext's SHA-256, known only at the end; the record must exist first, since its
 *    id is bound into every chunk);
 * 2. the File read slice by slice in order, each chunk hashed and sealed in the worker, stored by
 *    the ChunkSender on the shard's live fileservers, `inFlight` chunks at once;
 * 3. `POST /api/files/{id}/finalize` with every chunk's receipts and the real metadata.
 *
 * Memory: at most `inFlight` chunks are read ahead of the fileservers, whatever the file's size.
 * What was stored is in the plan (`done`), so a paused or interrupted upload sends only the rest.
 * SECURITY: the file key leaves this page only sealed to its owner; `UploadPlan.rawKey` is a secret.
 */
import { type FilesApi, type FinalizedChunk, newCreateId } from "../api/files";
import { importKey, randomBytes } from "../format/aead";
import { type Bytes, b64encode } from "../format/encoding";
import { type UserKeys, keyCommitment, newFileKey, sealFileKey } from "../format/keys";
import { type Metadata, sealMetadata } from "../format/metadata";
import * as sizes from "../format/sizes";
import { ChunkSender, type StoredChunk } from "./sender";
import type { ChunkSealer } from "./sealer";

export const IN_FLIGHT = 4;
const PLACEHOLDER_ID = "00000000-0000-4000-8000-000000000000";
const FORMAT_VERSION = 1;

export interface UploadOptions {
  readonly shard: string;
  /** Plaintext bytes per chunk; each sealed chunk is 28 bytes more. */
  readonly chunkSize: number;
  readonly inFlight: number;
  /** Fileservers per chunk; null: as many as the server's ticket answer says (1 if it says nothing). */
  readonly copies: number | null;
  readonly expiresIn: number | null;
}

export const DEFAULT_OPTIONS: UploadOptions = {
  shard: "default",
  chunkSize: sizes.DEFAULT_CHUNK_SIZE,
  inFlight: IN_FLIGHT,
  copies: null,
  expiresIn: null,
};

/** One upload's record: enough to go on after a pause or a reload. SECURITY: `rawKey` opens the file. */
export interface UploadPlan {
  readonly fileId: string;
  readonly rawKey: Bytes;
  readonly shard: string;
  readonly chunkSize: number;
  readonly size: number;
  readonly done: Map<number, StoredChunk>;
  /** Set for a plan restored after a reload: its chunks are checked on their fileservers before the rest is sent. */
  confirm?: boolean;
}

export interface Progress {
  /** Plaintext bytes of the file stored (or found stored) so far. */
  readonly bytes: number;
  readonly total: number;
}

function metadataOf(file: File, sha256: string): Metadata {
  return {
    name: file.name,
    size: file.size,
    type: file.type || "application/octet-stream",
    mtime: file.lastModified / 1000,
    sha256,
  };
}

/** Create the file's pending record (step 1) and return the plan of its upload. */
export async function createUpload(api: FilesApi, keys: UserKeys, file: File, options: UploadOptions): Promise<UploadPlan> {
  const count = sizes.chunkCount(file.size, options.chunkSize);
  const rawKey = newFileKey(); // SECURITY: leaves this page only sealed
  const key = await importKey(rawKey);
  const placeholder = randomBytes((await sealMetadata(key, PLACEHOLDER_ID, metadataOf(file, "0".repeat(64)))).length);
  const record = await api.create({
    shard: options.shard,
    size: sizes.fileCiphertextSize(file.size, count),
    chunk_size: sizes.ciphertextSize(options.chunkSize),
    chunk_count: count,
    metadata: b64encode(placeholder),
    sealed_key: b64encode(sealFileKey(keys.public, rawKey)),
    key_commitment: b64encode(keyCommitment(rawKey)),
    format: FORMAT_VERSION,
    ...(options.expiresIn === null ? {} : { expires_in: options.expiresIn }),
    create_id: newCreateId(), // makes the create safe to resend when its answer is lost
  });
  if (typeof record.id !== "string") throw new Error("the server's new file record has no id");
  return { fileId: record.id, rawKey, shard: options.shard, chunkSize: options.chunkSize, size: file.size, done: new Map() };
}

export class Uploader {
  constructor(
    private readonly api: FilesApi,
    /** A fresh sealer per run: its whole-file hash starts over with each run. */
    private readonly makeSealer: () => ChunkSealer,
    private readonly options: UploadOptions,
    private readonly onProgress: (progress: Progress) => void = () => undefined,
    private readonly onStored: (index: number, chunk: StoredChunk) => void = () => undefined,
  ) {}

  /** Send every chunk of *file* not yet in `plan.done`, then finalize; *signal* pauses or cancels. */
  async run(plan: UploadPlan, file: File, signal: AbortSignal): Promise<void> {
    const sealer = this.makeSealer();
    try {
      await this.send(plan, file, signal, sealer);
    } finally {
      sealer.close();
    }
  }

  private async send(plan: UploadPlan, file: File, signal: AbortSignal, sealer: ChunkSealer): Promise<void> {
    const count = sizes.chunkCount(plan.size, plan.chunkSize);
    const key = await importKey(plan.rawKey);
    const sender = new ChunkSender(plan.shard, plan.fileId, () => this.api.putTickets(plan.fileId), this.options.copies);
    await sender.connect();
    if (plan.confirm === true) {
      await sender.confirm(plan.done, signal);
      plan.confirm = false;
    }
    // One failing chunk stops the others: they would only add to what must be resent.
    const stop = new AbortController();
    const both = AbortSignal.any([signal, stop.signal]);
    let bytes = 0;
    let failure: unknown = null;
    const active = new Set<Promise<void>>();
    this.onProgress({ bytes, total: plan.size });
    for (let index = 0; index < count; index++) {
      const length = sizes.chunkPlainLength(index, plan.chunkSize, plan.size);
      while (active.size >= this.options.inFlight) await Promise.race(active);
      if (failure !== null) throw failure;
      signal.throwIfAborted();
      const offset = sizes.chunkOffset(index, plan.chunkSize);
      const plain = new Uint8Array(await file.slice(offset, offset + length).arrayBuffer());
      if (plain.length !== length) throw new Error(`${file.name} changed while it was being uploaded: upload it again`);
      if (plan.done.has(index)) {
        await sealer.hashOnly(plain);
        bytes += length;
        this.onProgress({ bytes, total: plan.size });
        continue;
      }
      const spec = { key, fileId: plan.fileId, index, last: index === count - 1 };
      const moving = sealer
        .seal(plain, spec)
        .then(({ blob, hash }) => sender.send(index, hash, blob, both))
        .then(
          (stored) => {
            plan.done.set(index, stored);
            this.onStored(index, stored);
            bytes += length;
            this.onProgress({ bytes, total: plan.size });
          },
          (error: unknown) => {
            failure ??= error;
            stop.abort();
          },
        );
      active.add(moving);
      void moving.finally(() => active.delete(moving));
    }
    await Promise.all(active);
    if (failure !== null) throw failure;
    signal.throwIfAborted();
    const sha256 = await sealer.finish();
    const metadata = await sealMetadata(key, plan.fileId, metadataOf(file, sha256));
    await this.api.finalize(plan.fileId, finalized(plan), b64encode(metadata));
  }
}

/** Return the finalize body's chunk list, in order. */
function finalized(plan: UploadPlan): FinalizedChunk[] {
  return [...plan.done.entries()]
    .sort(([a], [b]) => a - b)
    .map(([index, c]) => ({ index, hash: c.hash, size: c.size, receipts: [...c.receipts] }));
}
