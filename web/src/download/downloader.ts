/**
 * Download a checked layout: fetch chunks from the shard's fileservers (several in flight, spread
 * by the balancer, moved to another holder when one fails), open each in the worker at the
 * position it belongs to (which also hashes the whole plaintext in order), write them in order,
 * and check the plaintext's size and SHA-256 against the sealed metadata before the writer is
 * closed (client/download.py's steps 3 and 4).
 *
 * A lost network does not end a download: a chunk whose fetch got no answer at all waits (capped,
 * jittered backoff while every fileserver is cooling) and is asked for again, chunk by chunk, for
 * up to NETWORK_PATIENCE_S; what was written stays written.
 *
 * With a ChunkStage (staged.ts) each chunk fetched is also kept on disk before it is opened, and
 * the chunks the stage already holds (a download resumed after a reload) are read back from it
 * instead of fetched, opened and hashed again; a staged chunk that no longer opens is fetched.
 */
import { ApiError, NETWORK } from "../api/http";
import type { TicketAnswer } from "../api/links";
import { FormatError, IntegrityError } from "../format/errors";
import type { Layout, OpenedFile } from "../format/records";
import type { FileWriter } from "../save/writer";
import { backoffDelay, pause } from "../transfer/backoff";
import { Balancer } from "../transfer/balancer";
import { ChunkFailure, chunkUrl, getChunk } from "../transfer/chunks";
import type { ChunkOpener } from "./opener";

/** Where tickets come from: the first call starts the download, later ones renew for the chunks lacking. */
export interface TicketSource {
  tickets(lacking: readonly string[]): Promise<TicketAnswer>;
}

/** Where a staged download keeps its sealed chunks (staged.ts). */
export interface ChunkStage {
  /** Chunks 0 … held-1 are staged: read back, not fetched. */
  readonly held: number;
  read(index: number): Promise<Uint8Array<ArrayBuffer>>;
  /** Keep chunk *index* durably; resolve with its bytes, handed back. */
  keep(index: number, blob: Uint8Array<ArrayBuffer>): Promise<Uint8Array<ArrayBuffer>>;
  /** Chunks 0 … count-1 are kept and opened: record it. */
  kept(count: number): Promise<void>;
}

export interface Progress {
  readonly bytes: number;
  readonly total: number;
}

export const IN_FLIGHT = 4;
const MAX_ATTEMPTS = 6;
/** How long a chunk keeps asking while no fileserver answers at all (offline), before the download stops. */
export const NETWORK_PATIENCE_S = 300;

export class Downloader {
  private readonly balancer = new Balancer();
  private tickets: ReadonlyMap<string, string> = new Map();
  private generation = 0;
  private renewing: Promise<void> | null = null;
  private readonly done = new Set<number>();
  private layout: Layout | null = null;
  private stage: ChunkStage | null = null;

  constructor(
    private readonly source: TicketSource,
    private readonly opener: ChunkOpener,
    private readonly onProgress: (progress: Progress) => void = () => undefined,
  ) {}

  async run(opened: OpenedFile, layout: Layout, writer: FileWriter, stage: ChunkStage | null = null): Promise<void> {
    this.layout = layout;
    this.stage = stage;
    try {
      await this.renew(this.generation);
      let written = 0;
      const pending = new Map<number, Promise<Uint8Array<ArrayBuffer>>>();
      const ask = (index: number): void => {
        if (index >= layout.chunks.length) return;
        const chunk = this.fetchOpen(opened, layout, index);
        chunk.catch(() => undefined); // awaited in order below; a later chunk may fail before its turn
        pending.set(index, chunk);
      };
      for (let i = 0; i < IN_FLIGHT; i++) ask(i);
      for (let index = 0; index < layout.chunks.length; index++) {
        const plain = await (pending.get(index) as Promise<Uint8Array<ArrayBuffer>>);
        pending.delete(index);
        ask(index + IN_FLIGHT);
        written += plain.length;
        await writer.write(plain);
        await stage?.kept(index + 1);
        this.done.add(index);
        this.onProgress({ bytes: written, total: layout.size });
      }
      const sha256 = await this.opener.digest(layout.chunks.length);
      if (written !== opened.metadata.size || sha256 !== opened.metadata.sha256) {
        throw new IntegrityError("the downloaded file does not match its recorded size and SHA-256");
      }
      await writer.close();
    } catch (error) {
      await writer.abort().catch(() => undefined);
      throw error;
    } finally {
      this.opener.close();
    }
  }

  private async renew(seen: number): Promise<void> {
    if (this.generation !== seen) return;
    if (this.renewing === null) {
      this.renewing = (async () => {
        const chunks = this.layout?.chunks ?? [];
        const lacking = chunks.filter((c) => !this.done.has(c.index)).map((c) => c.hash);
        const answer = await this.source.tickets(lacking);
        this.tickets = answer.tickets;
        this.balancer.update(answer.fileservers);
        this.generation += 1;
      })().finally(() => {
        this.renewing = null;
      });
    }
    await this.renewing;
  }

  private async fetchOpen(opened: OpenedFile, layout: Layout, index: number): Promise<Uint8Array<ArrayBuffer>> {
    const chunk = layout.chunks[index];
    if (chunk === undefined) throw new IntegrityError(`chunk ${index} is not in the file's record`);
    const failed = new Set<string>();
    let lastError: unknown = null;
    let integrity: IntegrityError | null = null;
    let attempts = 0;
    let outages = 0;
    const since = performance.now();
    const last = index === layout.chunks.length - 1;
    if (this.stage !== null && index < this.stage.held) {
      const staged = await this.stage.read(index);
      try {
        if (staged.length === chunk.size) return await this.opener.open(opened.key, layout.fileId, index, last, staged);
      } catch (error) {
        if (!(error instanceof FormatError)) throw error;
      }
      console.warn(`staged chunk ${index} did not open: fetching it again`);
    }
    while (attempts < MAX_ATTEMPTS) {
      const fs = this.balancer.choose(chunk.holders, failed) ?? this.balancer.choose([], failed);
      if (fs === null) break;
      const seen = this.generation;
      const started = performance.now();
      this.balancer.started(fs.id);
      let blob: Uint8Array<ArrayBuffer>;
      try {
        blob = await getChunk(
          chunkUrl(fs.url, layout.shard, layout.fileId, chunk.hash),
          this.tickets.get(chunk.hash) ?? "",
          chunk.size,
        );
      } catch (error) {
        this.balancer.failed(fs.id);
        lastError = error;
        if (error instanceof ChunkFailure && error.kind === "refused") {
          throw new ApiError(error.code, 0, error.message);
        }
        if (error instanceof ChunkFailure && error.code === NETWORK) {
          // No answer at all: offline, or this fileserver is down. Another holder is tried at once;
          // when every one is cooling, wait and ask again, for as long as the patience lasts.
          if ((performance.now() - since) / 1000 > NETWORK_PATIENCE_S) break;
          outages += 1;
          if (this.balancer.allCooling(failed)) await pause(backoffDelay(outages));
          continue;
        }
        attempts += 1;
        if (error instanceof ChunkFailure && error.kind === "ticket") await this.renewOrWait(seen, ++outages);
        else failed.add(fs.id);
        continue;
      }
      this.balancer.finished(fs.id, blob.length, (performance.now() - started) / 1000);
      if (this.stage !== null) blob = await this.stage.keep(index, blob);
      try {
        return await this.opener.open(opened.key, layout.fileId, index, last, blob);
      } catch (error) {
        // A bad copy or a wrong record: try another fileserver that holds the chunk.
        if (!(error instanceof FormatError)) throw error;
        failed.add(fs.id);
        lastError = error;
        if (error instanceof IntegrityError) integrity = error;
        attempts += 1;
      }
    }
    // A copy that failed its check, and no other copy to be had: the check failed, whatever the last error.
    if (integrity !== null) throw integrity;
    throw new ApiError(
      "no_fileserver",
      0,
      `no fileserver holding chunk ${index} answered: ${lastError instanceof Error ? lastError.message : "none is live"}`,
    );
  }

  /** Renew the tickets; while the server cannot be reached (offline), wait and let the chunk ask again. */
  private async renewOrWait(seen: number, outages: number): Promise<void> {
    try {
      await this.renew(seen);
    } catch (error) {
      if (!(error instanceof ApiError && error.code === NETWORK)) throw error;
      await pause(backoffDelay(outages));
    }
  }
}
