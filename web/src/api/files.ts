/**
 * The owner's side of a file's life, the same calls as the Python client (client/server_api.py):
 * create a pending record, ask for put or get tickets, finalize with the receipts, read one
 * record, delete. SECURITY: tickets are bearer capabilities; nothing here logs them.
 */
import type { FileRecord } from "../format/records";
import type { Account } from "./account";
import { ApiError, NETWORK } from "./http";
import { type TicketAnswer, type LiveFileserver, readTickets } from "./links";

/** `POST /api/files`: the layout, the sealed key, its commitment and a placeholder metadata blob. */
export interface CreateFile {
  readonly shard: string;
  readonly size: number;
  readonly chunk_size: number;
  readonly chunk_count: number;
  readonly metadata: string;
  readonly sealed_key: string;
  readonly key_commitment: string;
  readonly format: number;
  readonly expires_in?: number;
  /** 128 random bits for this one create (newCreateId): the server makes one file per owner and id. */
  readonly create_id?: string;
}

/** Times a create carrying a create_id is sent again when its answer was lost (as CREATE_RESENDS in Python). */
export const CREATE_RESENDS = 2;

/** A fresh create id: 16 random bytes as 32 lowercase hex digits. */
export function newCreateId(): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Whether a failed call may have acted unseen: no answer at all, or a proxy's bare 502/504 for a dead instance. */
function answerLost(err: unknown): err is ApiError {
  return err instanceof ApiError && (err.code === NETWORK || err.code === "http_502" || err.code === "http_504");
}

export interface CreateLink {
  readonly protected: boolean;
  readonly expires_in?: number;
  readonly max_downloads?: number;
}

export interface FinalizedChunk {
  readonly index: number;
  readonly hash: string;
  readonly size: number;
  readonly receipts: readonly string[];
}

/** A put ticket (one covers every chunk of the file), the shard's live writers and the copies it keeps. */
export interface PutTickets {
  readonly ticket: string;
  readonly fileservers: readonly LiveFileserver[];
  /** How many fileservers each chunk goes to: the answer's `copies` when the server says, else 1. */
  readonly copies: number;
}

function object(value: unknown, what: string): Record<string, unknown> {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new ApiError("bad_answer", 0, `the server sent a malformed ${what}`);
  }
  return value as Record<string, unknown>;
}

/** Read the copy count of a ticket answer (top level, or its shard's); 1 when absent or malformed. */
export function copiesOf(body: Record<string, unknown>): number {
  const shard = body.shard !== null && typeof body.shard === "object" ? (body.shard as Record<string, unknown>) : {};
  const value = body.copies ?? shard.copies;
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 1 && value <= 8 ? value : 1;
}

export class FilesApi {
  constructor(private readonly account: Account) {}

  /**
   * Record a pending file. With a create_id, a create whose answer was lost is sent again, up to
   * CREATE_RESENDS times, each resend logged: the server answers the file that id made, never a second.
   */
  async create(body: CreateFile): Promise<FileRecord> {
    for (let sent = 0; ; sent++) {
      try {
        return object(await this.account.call("POST", "/api/files", body), "file record");
      } catch (err) {
        if (body.create_id === undefined || sent >= CREATE_RESENDS || !answerLost(err)) throw err;
        console.warn(`file create resent (${sent + 1} of ${CREATE_RESENDS}) after ${err.code}`);
      }
    }
  }

  async get(fileId: string): Promise<FileRecord> {
    return object(await this.account.call("GET", `/api/files/${fileId}`), "file record");
  }

  async putTickets(fileId: string): Promise<PutTickets> {
    const body = object(await this.account.call("POST", `/api/files/${fileId}/tickets`, { op: "put" }), "put ticket");
    const first = Array.isArray(body.tickets) ? object(body.tickets[0], "ticket") : {};
    if (typeof first.ticket !== "string") throw new ApiError("bad_answer", 0, "the server sent no put ticket");
    return { ticket: first.ticket, fileservers: readTickets(body).fileservers, copies: copiesOf(body) };
  }

  async getTickets(fileId: string): Promise<TicketAnswer> {
    return readTickets(await this.account.call("POST", `/api/files/${fileId}/tickets`, { op: "get" }));
  }

  async finalize(fileId: string, chunks: readonly FinalizedChunk[], metadata: string): Promise<void> {
    await this.account.call("POST", `/api/files/${fileId}/finalize`, { chunks, metadata });
  }

  /** `POST /api/files/{id}/links`: the server keeps a link's limits; its key stays in the page. */
  async createLink(fileId: string, body: CreateLink): Promise<Record<string, unknown>> {
    return object(await this.account.call("POST", `/api/files/${fileId}/links`, body), "link");
  }

  /** `PUT /api/files/{id}/shares/{name}`: the box, and the public key it was made for. */
  async putShare(fileId: string, name: string, shareKey: string, publicKey: string): Promise<void> {
    await this.account.call("PUT", `/api/files/${fileId}/shares/${encodeURIComponent(name)}`, {
      share_key: shareKey,
      public_key: publicKey,
    });
  }

  /** `GET /api/users/{name}/public-key`: base64url, not yet checked against the pins. */
  async publicKey(name: string): Promise<string> {
    const body = object(await this.account.call("GET", `/api/users/${encodeURIComponent(name)}/public-key`), "public key");
    if (typeof body.public_key !== "string") throw new ApiError("bad_answer", 0, "the server sent no public key");
    return body.public_key;
  }

  async remove(fileId: string): Promise<void> {
    await this.account.call("DELETE", `/api/files/${fileId}`);
  }
}
