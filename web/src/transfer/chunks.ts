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
    const body = new Uint8Array(await response.arrayBuffer());
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
