/**
 * GET one chunk from one fileserver with its ticket (CORS), and say how it went, as transfer/http.py does:
 * a ChunkFailure whose `kind` tells the caller to renew the ticket, try another fileserver, or stop.
 * SECURITY: the ticket travels in the Authorization header only, never in a URL.
 */
import { errorOf } from "../api/http";

export type FailureKind = "ticket" | "elsewhere" | "refused";

export class ChunkFailure extends Error {
  constructor(
    readonly kind: FailureKind,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "ChunkFailure";
  }
}

const TICKET_CODES = new Set(["ticket_expired", "ticket_revoked"]);

export function chunkUrl(base: string, shard: string, fileId: string, hash: string): string {
  return `${base}/api/chunks/${encodeURIComponent(shard)}/${fileId}/${hash}`;
}

export async function getChunk(url: string, ticket: string, size: number, signal?: AbortSignal): Promise<Uint8Array<ArrayBuffer>> {
  let response: Response;
  try {
    response = await fetch(url, {
      method: "GET",
      headers: { Authorization: `Ticket ${ticket}` },
      credentials: "omit",
      referrerPolicy: "no-referrer",
      cache: "no-store",
      signal: signal ?? null,
    });
  } catch {
    throw new ChunkFailure("elsewhere", "network", "the fileserver could not be reached");
  }
  if (response.ok) {
    let body: Uint8Array<ArrayBuffer>;
    try {
      body = new Uint8Array(await response.arrayBuffer());
    } catch {
      throw new ChunkFailure("elsewhere", "network", "the connection to the fileserver broke during the chunk");
    }
    if (body.length !== size) {
      throw new ChunkFailure("elsewhere", "size_mismatch", `the fileserver sent ${body.length} bytes, not ${size}`);
    }
    return body;
  }
  const error = errorOf(response.status, await response.json().catch(() => null));
  if (response.status === 401 && TICKET_CODES.has(error.code)) {
    throw new ChunkFailure("ticket", error.code, error.message);
  }
  if (response.status >= 500 || response.status === 404 || response.status === 429 || response.status === 507) {
    throw new ChunkFailure("elsewhere", error.code, error.message);
  }
  throw new ChunkFailure("refused", error.code, error.message);
}

/** Classify a fileserver's refusal as transfer/http.py does; the body is its error JSON. */
async function failureOf(response: Response): Promise<ChunkFailure> {
  const error = errorOf(response.status, await response.json().catch(() => null));
  if (response.status === 401 && TICKET_CODES.has(error.code)) {
    return new ChunkFailure("ticket", error.code, error.message);
  }
  if (response.status >= 500 || response.status === 404 || response.status === 429 || RETRY_ELSEWHERE.has(error.code)) {
    return new ChunkFailure("elsewhere", error.code, error.message);
  }
  return new ChunkFailure("refused", error.code, error.message);
}

const RETRY_ELSEWHERE = new Set([
  "shard_not_served",
  "shard_read_only",
  "shard_write_only",
  "size_mismatch",
  "hash_mismatch",
  "upload_exceeds_declared",
]);

/**
 * PUT one sealed chunk with the file's put ticket; return the fileserver's receipt for it.
 * The body is sent as is (the same bytes on every attempt); an answer for another chunk or size
 * counts as a failing fileserver.
 */
export async function putChunk(
  url: string,
  ticket: string,
  hash: string,
  blob: Uint8Array<ArrayBuffer>,
  signal?: AbortSignal,
): Promise<string> {
  let response: Response;
  try {
    response = await fetch(url, {
      method: "PUT",
      headers: { Authorization: `Ticket ${ticket}`, "Content-Type": "application/octet-stream" },
      // A Blob, not the typed array: under DevTools (Playwright) a typed-array body is copied into the
      // request record on the page's thread, some two seconds per 8 MiB chunk (docs/web.md, measured).
      body: new Blob([blob]),
      credentials: "omit",
      referrerPolicy: "no-referrer",
      cache: "no-store",
      signal: signal ?? null,
    });
  } catch (error) {
    if (signal?.aborted) throw error;
    throw new ChunkFailure("elsewhere", "network", "the fileserver could not be reached");
  }
  if (!response.ok) throw await failureOf(response);
  const answer: unknown = await response.json().catch(() => null);
  const fields = (answer !== null && typeof answer === "object" ? answer : {}) as Record<string, unknown>;
  if (typeof fields.receipt !== "string" || fields.chunk !== hash || fields.size !== blob.length) {
    throw new ChunkFailure("elsewhere", "bad_answer", "the fileserver answered for another chunk or size");
  }
  return fields.receipt;
}

/** HEAD one chunk with a ticket; return its size, or null if the fileserver lacks it or does not answer. */
export async function headChunk(url: string, ticket: string, signal?: AbortSignal): Promise<number | null> {
  try {
    const response = await fetch(url, {
      method: "HEAD",
      headers: { Authorization: `Ticket ${ticket}` },
      credentials: "omit",
      referrerPolicy: "no-referrer",
      cache: "no-store",
      signal: signal ?? null,
    });
    const length = Number(response.headers.get("Content-Length") ?? "");
    return response.ok && Number.isSafeInteger(length) ? length : null;
  } catch (error) {
    if (signal?.aborted) throw error;
    return null;
  }
}
