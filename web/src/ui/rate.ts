/** Speed and time left of a transfer, as the pages show them. */
import { humanSize } from "./sizes";

/** Return *seconds* as a person reads a duration: "12 s", "3 min 5 s", "2 h 10 min". */
export function humanDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

/**
 * Measure bytes per second over a sliding window of the last few seconds, so a pause or a slow
 * start does not weigh on the figure for ever.
 */
export class RateMeter {
  private samples: Array<[number, number]> = [];

  constructor(
    private readonly windowSeconds = 5,
    private readonly now: () => number = () => performance.now() / 1000,
  ) {}

  /** Forget what was measured (a pause or a new run). */
  reset(): void {
    this.samples = [];
  }

  /** Note that *bytes* in total were moved by now. */
  note(bytes: number): void {
    const t = this.now();
    this.samples.push([t, bytes]);
    while (this.samples.length > 2 && (this.samples[0]?.[0] ?? t) < t - this.windowSeconds) this.samples.shift();
  }

  /** Return bytes per second, or null before two samples. */
  rate(): number | null {
    const first = this.samples[0];
    const last = this.samples[this.samples.length - 1];
    if (!first || !last || last[0] - first[0] < 0.05) return null;
    return (last[1] - first[1]) / (last[0] - first[0]);
  }

  /** Return "4.1 MB of 10.0 MB · 2.3 MB/s · 3 s left" for *bytes* of *total*. */
  describe(bytes: number, total: number): string {
    const parts = [`${humanSize(bytes)} of ${humanSize(total)}`];
    const rate = this.rate();
    if (rate !== null && rate > 0) {
      parts.push(`${humanSize(rate)}/s`, `${humanDuration((total - bytes) / rate)} left`);
    }
    return parts.join(" · ");
  }
}
