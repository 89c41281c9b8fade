/**
 * The page's Service Worker: it streams a download to disk where the File System Access API is
 * missing, so a download is never whole in memory.
 *
 * Its scope is `/dl/` only: it controls no page, so the page's own requests (chunk PUTs and GETs)
 * never pass through it. The page opens a download (`open`, with a MessagePort) and then follows a
 * link to `/dl/{id}`; this worker answers that address with a ReadableStream fed by the port, under a
 * `Content-Disposition: attachment` so the browser saves it. The stream holds at most two chunks;
 * the page sends the next only when told (`ack`). The page closes the stream only after the whole
 * file checked out; on a failed check it errors the stream, so the browser's download fails and the
 * file never appears under its final name. Every other request goes to the network untouched.
 * SECURITY: plaintext passes through in memory only; the address is random and answers once.
 */
import { DOWNLOAD_PREFIX, type FromStream, type OpenMessage, type ToStream, type ToWorker } from "./save/protocol";

interface ExtendableEvent extends Event {
  waitUntil(promise: Promise<unknown>): void;
}
interface FetchEvent extends Event {
  readonly request: Request;
  respondWith(response: Response | Promise<Response>): void;
}
interface ExtendableMessageEvent extends Event {
  readonly data: unknown;
  readonly ports: readonly MessagePort[];
}
interface WorkerScope {
  readonly location: Location;
  skipWaiting(): Promise<void>;
  addEventListener(type: "install", listener: (event: ExtendableEvent) => void): void;
  addEventListener(type: "fetch", listener: (event: FetchEvent) => void): void;
  addEventListener(type: "message", listener: (event: ExtendableMessageEvent) => void): void;
}

const scope = self as unknown as WorkerScope;
const opened = new Map<string, { readonly message: OpenMessage; readonly stream: ReadableStream<Uint8Array> }>();
const ID = /^[0-9a-f]{32}$/;

/** Return a stream fed by *port*: a chunk is acknowledged once the stream has room for the next. */
function streamFrom(port: MessagePort): ReadableStream<Uint8Array> {
  const tell = (message: FromStream): void => port.postMessage(message);
  let owed = false;
  return new ReadableStream<Uint8Array>(
    {
      start(controller) {
        port.onmessage = (event: MessageEvent<ToStream>) => {
          const message = event.data;
          if (message.kind === "write") {
            controller.enqueue(message.data);
            if ((controller.desiredSize ?? 0) > 0) tell({ kind: "ack" });
            else owed = true;
          } else if (message.kind === "close") {
            controller.close();
            port.close();
          } else {
            controller.error(new Error(message.reason));
            port.close();
          }
        };
      },
      pull() {
        if (owed) {
          owed = false;
          tell({ kind: "ack" });
        }
      },
      cancel() {
        tell({ kind: "cancelled" });
        port.close();
      },
    },
    new CountQueuingStrategy({ highWaterMark: 2 }),
  );
}

/** Quote *name* for Content-Disposition: an ASCII fallback and the exact name (RFC 6266, RFC 5987). */
function disposition(name: string): string {
  const ascii = name.replace(/[^\x20-\x7e]|["\\]/g, "_");
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(name)}`;
}

scope.addEventListener("install", (event) => event.waitUntil(scope.skipWaiting()));

scope.addEventListener("message", (event) => {
  const message = event.data as ToWorker;
  const port = event.ports[0];
  if (message.kind !== "open" || port === undefined || !ID.test(message.id)) return;
  opened.set(message.id, { message, stream: streamFrom(port) });
  port.postMessage({ kind: "ready" } satisfies FromStream);
});

scope.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (url.origin !== scope.location.origin || !url.pathname.startsWith(DOWNLOAD_PREFIX)) return;
  const id = url.pathname.slice(DOWNLOAD_PREFIX.length);
  const download = opened.get(id);
  opened.delete(id);
  if (download === undefined) {
    event.respondWith(new Response("This download is over, or was never started here.", { status: 404 }));
    return;
  }
  const headers = {
    "Content-Type": "application/octet-stream",
    "Content-Disposition": disposition(download.message.name),
    "Content-Length": String(download.message.size),
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
  };
  event.respondWith(new Response(download.stream, { headers }));
});
