/**
 * Pick the fileserver for the next chunk, by the CLI's policy (transfer/balancer.py), reduced to
 * what one page needs: the next chunk goes where it is expected to finish first,
 * `(in flight + 1) / throughput` (an unmeasured fileserver counts at the mean), ties to the lower
 * reported load, then to a fixed random rank; a fileserver that failed cools down, exponentially
 * in its failures, and is skipped while another candidate is healthy.
 */
import type { LiveFileserver } from "../api/links";

interface Observed {
  info: LiveFileserver;
  inFlight: number;
  throughput: number | null;
  failures: number;
  coolUntil: number;
  rank: number;
}

const DEFAULT_THROUGHPUT = 50e6;
const COOLDOWN_BASE = 0.5;
const COOLDOWN_CAP = 30;

export class Balancer {
  private readonly servers = new Map<string, Observed>();

  constructor(private readonly now: () => number = () => performance.now() / 1000) {}

  /** Take the live list the server sent; keep what was measured of those still listed. */
  update(listed: readonly LiveFileserver[]): void {
    const keep = new Set(listed.map((s) => s.id));
    for (const id of [...this.servers.keys()]) {
      if (!keep.has(id)) this.servers.delete(id);
    }
    for (const info of listed) {
      const seen = this.servers.get(info.id);
      if (seen) seen.info = info;
      else
        this.servers.set(info.id, { info, inFlight: 0, throughput: null, failures: 0, coolUntil: 0, rank: Math.random() });
    }
  }

  /** Return the best fileserver among *among* (all if empty), not in *exclude*; null if none is listed. */
  choose(among: readonly string[], exclude: ReadonlySet<string>): LiveFileserver | null {
    const candidates = [...this.servers.values()].filter(
      (o) => (among.length === 0 || among.includes(o.info.id)) && !exclude.has(o.info.id),
    );
    if (candidates.length === 0) return null;
    const now = this.now();
    const healthy = candidates.filter((o) => o.coolUntil <= now);
    const pool = healthy.length > 0 ? healthy : candidates;
    const measured = [...this.servers.values()].flatMap((o) => (o.throughput === null ? [] : [o.throughput]));
    const mean = measured.length ? measured.reduce((a, b) => a + b, 0) / measured.length : DEFAULT_THROUGHPUT;
    const score = (o: Observed): [number, number, number] => [
      (o.inFlight + 1) / (o.throughput ?? mean),
      o.info.active_transfers,
      o.rank,
    ];
    pool.sort((a, b) => {
      const [x, y] = [score(a), score(b)];
      return x[0] - y[0] || x[1] - y[1] || x[2] - y[2];
    });
    return pool[0]?.info ?? null;
  }

  /** Return the fileservers listed now. */
  listed(): LiveFileserver[] {
    return [...this.servers.values()].map((o) => o.info);
  }

  /** Say whether every listed fileserver not in *exclude* is cooling down (or none is left). */
  allCooling(exclude: ReadonlySet<string>): boolean {
    const now = this.now();
    return ![...this.servers.values()].some((o) => !exclude.has(o.info.id) && o.coolUntil <= now);
  }

  /** Return how many are listed, not counting *exclude*. */
  count(exclude: ReadonlySet<string> = new Set()): number {
    return [...this.servers.keys()].filter((id) => !exclude.has(id)).length;
  }

  started(id: string): void {
    const o = this.servers.get(id);
    if (o) o.inFlight += 1;
  }

  finished(id: string, bytes: number, seconds: number): void {
    const o = this.servers.get(id);
    if (!o) return;
    o.inFlight = Math.max(0, o.inFlight - 1);
    o.failures = 0;
    o.coolUntil = 0;
    const rate = bytes / Math.max(seconds, 1e-3);
    o.throughput = o.throughput === null ? rate : 0.7 * o.throughput + 0.3 * rate;
  }

  /** A transfer stopped by the page (paused, cancelled): neither a success nor the fileserver's fault. */
  released(id: string): void {
    const o = this.servers.get(id);
    if (o) o.inFlight = Math.max(0, o.inFlight - 1);
  }

  failed(id: string): void {
    const o = this.servers.get(id);
    if (!o) return;
    o.inFlight = Math.max(0, o.inFlight - 1);
    o.failures += 1;
    o.coolUntil = this.now() + Math.min(COOLDOWN_CAP, COOLDOWN_BASE * 2 ** (o.failures - 1));
  }
}
