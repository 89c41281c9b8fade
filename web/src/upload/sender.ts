/**
 * Store one sealed chunk on `copies` distinct fileservers with failover, by the CLI's policy
 * (client/sender.py over transfer/failover.py): each copy goes where the balancer expects it to
 * finish first, never to a fileserver that already holds a copy; a fileserver that fails is cooled
 * down and the chunk goes elsewhere at once; only when every candidate is cooling is the live list
 * asked for again and the attempt delayed (capped exponential backoff with jitter); a refused
 * ticket is renewed once per chunk; `maxAttempts` failures end the upload.
 * SECURITY: the put ticket is a bearer capability, kept in memory only.
 */
import { ApiError } from "../api/http";
import type { PutTickets } from "../api/files";
import { pause, backoffDelay } from "../transfer/backoff";
import { Balancer } from "../transfer/balancer";
import { ChunkFailure, chunkUrl, headChunk, putChunk } from "../transfer/chunks";

export interface StoredChunk {
  readonly hash: string;
  readonly size: number;
  readonly receipts: readonly string[];
  /** The ids of the fileservers that gave the receipts, to check after a reload that they still hold it. */
  readonly holders: readonly string[];
}

export const MAX_ATTEMPTS = 8;

export class ChunkSender {
  readonly balancer = new Balancer();
  private ticket = "";
  private generation = 0;
  private renewing: Promise<void> | null = null;
  private refreshedAt = -Infinity;
  copies: number;

  /** *fetchTickets* asks the server for the put ticket and live writers; *copies* overrides the server's count. */
  constructor(
    private readonly shard: string,
    private readonly fileId: string,
    private readonly fetchTickets: () => Promise<PutTickets>,
    private readonly copiesAsked: number | null = null,
    private readonly maxAttempts: number = MAX_ATTEMPTS,
  ) {
    this.copies = copiesAsked ?? 1;
  }

  /** Fetch the first ticket and live list (again after a pause). */
  async connect(): Promise<void> {
    await this.renew(this.generation);
  }

  private async renew(seen: number): Promise<void> {
    if (this.generation !== seen) return;
    if (this.renewing === null) {
      this.renewing = (async () => {
        const answer = await this.fetchTickets();
        this.ticket = answer.ticket;
        this.balancer.update(answer.fileservers);
        this.copies = this.copiesAsked ?? answer.copies;
        this.generation += 1;
        this.refreshedAt = performance.now();
      })().finally(() => {
        this.renewing = null;
      });
    }
    await this.renewing;
  }

  /** Store chunk *index*, sealed as *blob* and named *hash*; the same bytes go to every fileserver. */
  async send(index: number, hash: string, blob: Uint8Array<ArrayBuffer>, signal: AbortSignal): Promise<StoredChunk> {
    const holders = new Set<string>();
    const receipts: string[] = [];
    let failures = 0;
    let renewed = false;
    while (receipts.length < this.copies) {
      signal.throwIfAborted();
      const fs = this.balancer.choose([], holders);
      if (fs === null) {
        throw new ApiError(
          "no_fileserver",
          0,
          `chunk ${index} needs ${this.copies} fileservers of shard "${this.shard}" but only ${receipts.length} ` +
            "live one(s) could take it: check the fileservers, then resume the upload",
        );
      }
      const seen = this.generation;
      const started = performance.now();
      this.balancer.started(fs.id);
      try {
        const url = chunkUrl(fs.url, this.shard, this.fileId, hash);
        receipts.push(await putChunk(url, this.ticket, hash, blob, signal));
        holders.add(fs.id);
        this.balancer.finished(fs.id, blob.length, (performance.now() - started) / 1000);
      } catch (error) {
        if (signal.aborted) {
          this.balancer.released(fs.id);
          throw error;
        }
        this.balancer.failed(fs.id);
        if (!(error instanceof ChunkFailure)) throw error;
        if (error.kind === "ticket" && !renewed) {
          renewed = true;
          await this.renew(seen);
          continue;
        }
        if (error.kind !== "elsewhere") throw new ApiError(error.code, 0, error.message);
        failures += 1;
        if (failures >= this.maxAttempts) {
          throw new ApiError(
            "transfer_failed",
            0,
            `chunk ${index} could not be stored after ${failures} attempts; last: ${error.message}. ` +
              "Check the fileservers, then resume the upload",
          );
        }
        await this.afterFailure(failures, holders, signal);
      }
    }
    return { hash, size: blob.length, receipts, holders: [...holders] };
  }

  /**
   * Keep the chunks of *done* that enough of their recorded fileservers still hold (HEAD with the
   * put ticket, as client/upload.py's `_confirmed`): after a reload, a fileserver may have lost one.
   */
  async confirm(done: Map<number, StoredChunk>, signal: AbortSignal): Promise<void> {
    const listed = new Map(this.balancer.listed().map((fs) => [fs.id, fs.url]));
    const check = async (index: number, chunk: StoredChunk): Promise<void> => {
      const kept = await Promise.all(
        chunk.holders.map(async (id, i) => {
          const url = listed.get(id);
          if (url === undefined) return null;
          const size = await headChunk(chunkUrl(url, this.shard, this.fileId, chunk.hash), this.ticket, signal);
          return size === chunk.size ? { id, receipt: chunk.receipts[i] ?? "" } : null;
        }),
      );
      const held = kept.flatMap((k) => (k === null || k.receipt === "" ? [] : [k]));
      if (held.length < this.copies) done.delete(index);
      else done.set(index, { ...chunk, holders: held.map((k) => k.id), receipts: held.map((k) => k.receipt) });
    };
    const entries = [...done.entries()];
    for (let i = 0; i < entries.length; i += 8) {
      await Promise.all(entries.slice(i, i + 8).map(([index, chunk]) => check(index, chunk)));
    }
  }

  /** When every candidate is cooling, ask for the live list again (at most once a second), then back off. */
  private async afterFailure(failures: number, holders: ReadonlySet<string>, signal: AbortSignal): Promise<void> {
    if (!this.balancer.allCooling(holders)) return;
    if (performance.now() - this.refreshedAt >= 1000) {
      await this.renew(this.generation).catch(() => undefined);
    }
    if (this.balancer.allCooling(holders)) await pause(backoffDelay(failures), signal);
  }
}
