/** How long to wait before trying again, for uploads and downloads alike (transfer/balancer.py's backoff). */

/** Return the capped, jittered delay in seconds after *failures* failures (transfer/balancer.py's backoff_delay). */
export function backoffDelay(failures: number, random: () => number = Math.random): number {
  return Math.min(5, 0.25 * 2 ** Math.max(0, failures - 1)) * (0.5 + random() / 2);
}

/** Wait *seconds*, or less if *signal* aborts. */
export function pause(seconds: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, seconds * 1000);
    signal?.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve();
    });
  });
}
