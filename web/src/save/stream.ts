/**
 * The streamed download for browsers without the File System Access API: the page's Service
 * Worker (src/sw.ts) answers a download address with a stream this writer feeds, so the browser
 * writes the file to disk as it arrives and the page holds at most a chunk or two.
 *
 * The browser keeps the partial file under a temporary name until the stream ends: the stream
 * is closed only after the whole file checked out, and errored (the download fails) otherwise.
 */
import { DOWNLOAD_PREFIX, type FromStream, type ToStream, type ToWorker } from "./protocol";
import type { FileWriter } from "./writer";

const SCRIPT = "/sw.js";
const READY_WITHIN_MS = 4000;
const PING_EVERY_MS = 10_000;

/**
 * The worker's scope is the download addresses only (`/dl/`), never the page: a Service Worker
 * that controlled the page would be handed every request it makes, chunk PUTs included, and each
 * request's body (8 MiB) would stay alive in the worker until its garbage collector ran, which its
 * tiny heap seldom asks for: measured, a 1 GB upload then held about 1 GB in the browser.
 */
const SCOPE = DOWNLOAD_PREFIX;
let registering: Promise<ServiceWorkerRegistration | null> | null = null;

/** Register the page's Service Worker early, so it is active by the time a download starts. */
export function registerSaver(): void {
  if (!("serviceWorker" in navigator)) return;
  registering = navigator.serviceWorker.register(SCRIPT, { scope: SCOPE }).catch(() => null);
}

/** Resolve once *worker* is activated (or has become redundant). */
function activated(worker: ServiceWorker): Promise<void> {
  return new Promise((resolve) => {
    const check = (): void => {
      if (worker.state === "activated" || worker.state === "redundant") resolve();
    };
    worker.addEventListener("statechange", check);
    check();
  });
}

/** Return the active Service Worker, or null if there is none within a few seconds. */
async function activeWorker(): Promise<ServiceWorker | null> {
  if (registering === null) registerSaver();
  const found = (async () => {
    const registration = await registering;
    if (registration === null || registration === undefined) return null;
    const pending = registration.installing ?? registration.waiting;
    if (registration.active === null && pending !== null) await activated(pending);
    return registration.active;
  })();
  const timeout = new Promise<null>((resolve) => setTimeout(() => resolve(null), READY_WITHIN_MS));
  return Promise.race([found, timeout]).catch(() => null);
}

function randomId(): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
}

export class StreamWriter implements FileWriter {
  readonly kind = "stream";
  private waiting: { resolve: () => void; reject: (error: Error) => void } | null = null;
  private cancelled = false;
  private readonly ping: ReturnType<typeof setInterval>;

  private constructor(
    private readonly port: MessagePort,
    worker: ServiceWorker,
  ) {
    port.onmessage = (event: MessageEvent<FromStream>) => {
      if (event.data.kind === "cancelled") {
        this.cancelled = true;
        this.waiting?.reject(new DOMException("the download was cancelled in the browser", "AbortError"));
      } else if (event.data.kind === "ack") {
        this.waiting?.resolve();
      }
      if (event.data.kind !== "ready") this.waiting = null;
    };
    // The browser stops an idle Service Worker; a message to it now and then keeps it serving the stream.
    this.ping = setInterval(() => worker.postMessage({ kind: "ping" } satisfies ToWorker), PING_EVERY_MS);
  }

  /** Open a streamed download of *size* bytes saved as *name*; null where no Service Worker is active. */
  static async open(name: string, size: number): Promise<StreamWriter | null> {
    const worker = await activeWorker();
    if (worker === null) return null;
    const channel = new MessageChannel();
    const id = randomId();
    const ready = new Promise<boolean>((resolve) => {
      channel.port1.onmessage = (event: MessageEvent<FromStream>) => resolve(event.data.kind === "ready");
      setTimeout(() => resolve(false), READY_WITHIN_MS);
    });
    worker.postMessage({ kind: "open", id, name, size } satisfies ToWorker, [channel.port2]);
    if (!(await ready)) {
      channel.port1.close();
      return null;
    }
    const writer = new StreamWriter(channel.port1, worker);
    const anchor = document.createElement("a");
    anchor.href = DOWNLOAD_PREFIX + id;
    // No `download` attribute: Chromium sends such a request past the Service Worker. The worker's
    // answer is an attachment, so following the link starts a download and the page stays.
    anchor.rel = "noreferrer";
    document.body.append(anchor);
    anchor.click();
    anchor.remove();
    return writer;
  }

  write(data: Uint8Array<ArrayBuffer>): Promise<void> {
    if (this.cancelled) return Promise.reject(new DOMException("the download was cancelled in the browser", "AbortError"));
    // The buffer is handed over, not copied, when the view covers all of it.
    const whole = data.byteOffset === 0 && data.byteLength === data.buffer.byteLength;
    const own = whole ? data : data.slice();
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject };
      this.post({ kind: "write", data: own }, [own.buffer]);
    });
  }

  async close(): Promise<void> {
    this.post({ kind: "close" }, []);
    this.stop();
  }

  async abort(): Promise<void> {
    this.post({ kind: "abort", reason: "the file failed its check or could not be downloaded" }, []);
    this.stop();
  }

  private post(message: ToStream, transfer: Transferable[]): void {
    this.port.postMessage(message, transfer);
  }

  private stop(): void {
    clearInterval(this.ping);
    this.port.close();
  }
}
