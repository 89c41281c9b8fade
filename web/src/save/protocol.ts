/**
 * The messages between the page and its Service Worker (src/sw.ts) for a streamed download.
 *
 * The page posts `open` to the worker with a MessagePort; over that port it then sends `write`
 * (each chunk's buffer transferred), and `close` once the whole file checked out, or `abort`.
 * The worker answers `ready` once the download's address answers, `ack` when it can take the next
 * chunk (so at most a chunk or two wait in memory), and `cancelled` when the browser's download
 * was cancelled.
 */
export const DOWNLOAD_PREFIX = "/dl/";

export interface OpenMessage {
  readonly kind: "open";
  readonly id: string;
  readonly name: string;
  readonly size: number;
}

export interface PingMessage {
  readonly kind: "ping";
}

export type ToWorker = OpenMessage | PingMessage;

export type ToStream =
  | { readonly kind: "write"; readonly data: Uint8Array<ArrayBuffer> }
  | { readonly kind: "close" }
  | { readonly kind: "abort"; readonly reason: string };

export type FromStream = { readonly kind: "ready" } | { readonly kind: "ack" } | { readonly kind: "cancelled" };
