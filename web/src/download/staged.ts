/**
 * A resumable download: the sealed chunks are staged in the Origin Private File System as they
 * arrive (stage.ts), each opened and the whole file hashed as before (downloader.ts), and the
 * progress recorded in IndexedDB (staged-store.ts). A reload or a closed tab loses nothing staged:
 * the same download started again reads the staged chunks back, opens and hashes them again (the
 * whole-file hash cannot be saved), and fetches only the rest. Once the whole file checked out it
 * is opened once more, chunk by chunk, out of the stage into the saver the person chose (their
 * file, or the browser's download), and the staged copy is deleted.
 *
 * Never whole in memory: the stage is read and written a chunk at a time. Nothing reaches the
 * file's name unless every chunk and the whole file checked out; a failed check deletes the stage.
 * SECURITY: the stage holds ciphertext only, and the record no key (see staged-store.ts).
 */
import { Downloader, type ChunkStage, type Progress, type TicketSource } from "./downloader";
import { chunkOpener } from "./opener";
import { openChunk } from "../format/chunks";
import { FormatError, IntegrityError } from "../format/errors";
import type { Layout, OpenedFile } from "../format/records";
import { type FileWriter, type SaveTarget, openTarget } from "../save/writer";
import { StagedFile } from "./stage";
import { type StagedDownload, StagedStore } from "./staged-store";

/** Room left beyond the file itself, so a staged download does not fill the browser's quota to the byte. */
const QUOTA_MARGIN = 64 * 1024 * 1024;

/** Tickets for one download; a link download's id, once started, is kept to renew after a reload. */
export interface StagedSource extends TicketSource {
  readonly download: string | null;
}

export interface StagedPlan {
  /** The record's key: `link|{link id}` or `own|{origin|user}|{file id}`. */
  readonly id: string;
  readonly opened: OpenedFile;
  readonly layout: Layout;
  /** Make the ticket source, given the download id kept from before a reload (or null). */
  readonly source: (download: string | null) => StagedSource;
  readonly workers: { readonly chunks: string | undefined; readonly stage: string | undefined };
  readonly target: SaveTarget;
  readonly name: string;
  readonly onProgress: (progress: Progress) => void;
}

/** Why a download was not staged: no OPFS, IndexedDB or worker here; or not room enough in the browser's quota. */
export type Unstaged = { readonly kind: "unavailable" } | { readonly kind: "no-room"; readonly needed: number; readonly free: number };

/** Return the staged download kept as *id*, if any: the page offers to resume it. */
export async function stagedDownload(id: string): Promise<StagedDownload | null> {
  const store = await StagedStore.open().catch(() => null);
  return store === null ? null : store.get(id).catch(() => null);
}

/** Delete abandoned staged downloads (and, with *whose*, those it picks): run when a page opens, and at sign-out. */
export async function sweepStaged(whose?: (saved: StagedDownload) => boolean): Promise<void> {
  const store = await StagedStore.open().catch(() => null);
  await store?.sweep(Date.now(), whose).catch(() => undefined);
}

function randomName(): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Return the free room in the browser's quota for this origin, or Infinity where it does not say. */
async function freeRoom(): Promise<number> {
  const estimate = await navigator.storage?.estimate?.().catch(() => null);
  if (!estimate || estimate.quota === undefined) return Infinity;
  return estimate.quota - (estimate.usage ?? 0);
}

/**
 * Download *plan* through the stage and save it; resolve null when done, or Unstaged (before any
 * ticket was asked for) when the caller should stream the file unstaged instead.
 */
export async function downloadStaged(plan: StagedPlan): Promise<Unstaged | null> {
  const unstaged = await stagedRun(plan);
  document.body.dataset.staged = unstaged === null ? "staged" : unstaged.kind; // for tests and support
  return unstaged;
}

async function stagedRun(plan: StagedPlan): Promise<Unstaged | null> {
  const store = await StagedStore.open().catch(() => null);
  if (store === null || !plan.workers.stage) return { kind: "unavailable" };
  const { layout } = plan;
  const offsets: number[] = [];
  let bytes = 0;
  for (const chunk of layout.chunks) {
    offsets.push(bytes);
    bytes += chunk.size;
  }
  let saved = await store.get(plan.id);
  if (saved !== null && (saved.fileId !== layout.fileId || saved.bytes !== bytes || saved.chunks !== layout.chunks.length)) {
    await store.remove(saved);
    saved = null;
  }
  if (saved === null) {
    const free = await freeRoom();
    if (free < bytes + QUOTA_MARGIN) return { kind: "no-room", needed: bytes, free };
    saved = { id: plan.id, fileId: layout.fileId, stage: randomName(), bytes, chunks: layout.chunks.length, staged: 0, download: null, savedAt: Date.now() };
    await store.put(saved); // the record before the file: a file no record names is abandoned
  }
  const file = await StagedFile.open(plan.workers.stage, saved.stage, true).catch(() => null);
  if (file === null) {
    await store.remove(saved);
    return { kind: "unavailable" };
  }
  try {
    const held = file.size >= (offsets[saved.staged] ?? bytes) ? saved.staged : 0;
    await fetchToStage(plan, store, saved, file, offsets, held);
    await saveFromStage(plan, file, offsets);
  } catch (error) {
    await file.close();
    if (error instanceof IntegrityError || error instanceof FormatError) await store.remove(saved);
    throw error;
  }
  await file.close();
  await store.remove(saved);
  return null;
}

/** A writer that drops the plaintext: while staging, only the stage keeps the file. */
class Discard implements FileWriter {
  readonly kind = "none";
  async write(): Promise<void> {}
  async close(): Promise<void> {}
  async abort(): Promise<void> {}
}

async function fetchToStage(
  plan: StagedPlan,
  store: StagedStore,
  saved: StagedDownload,
  file: StagedFile,
  offsets: readonly number[],
  held: number,
): Promise<void> {
  const { layout } = plan;
  const source = plan.source(saved.download);
  let record = saved;
  const stage: ChunkStage = {
    held,
    read: (index) => file.read(offsets[index] ?? 0, layout.chunks[index]?.size ?? 0),
    keep: (index, blob) => file.write(offsets[index] ?? 0, blob),
    async kept(count) {
      record = { ...record, staged: Math.max(record.staged, count), download: source.download, savedAt: Date.now() };
      await store.put(record);
    },
  };
  await new Downloader(source, chunkOpener(plan.workers.chunks), plan.onProgress).run(plan.opened, layout, new Discard(), stage);
}

/**
 * Open the staged chunks once more, in order, into the saver. Each chunk's tag is checked again
 * (AES-GCM, by WebCrypto, which works off the page's thread), so the bytes saved are the ones that
 * checked out; the whole-file hash was checked over those same chunks and is not computed twice.
 */
async function saveFromStage(plan: StagedPlan, file: StagedFile, offsets: readonly number[]): Promise<void> {
  const { layout, opened } = plan;
  const writer = await openTarget(plan.target, plan.name, opened.metadata.type, opened.metadata.size);
  try {
    let written = 0;
    for (const chunk of layout.chunks) {
      const blob = await file.read(offsets[chunk.index] ?? 0, chunk.size);
      const plain = await openChunk(opened.key, layout.fileId, chunk.index, chunk.index === layout.chunks.length - 1, blob);
      written += plain.length;
      await writer.write(plain);
    }
    if (written !== opened.metadata.size) throw new IntegrityError("the staged file does not match its recorded size");
    await writer.close();
  } catch (error) {
    await writer.abort().catch(() => undefined);
    throw error;
  }
}
