/**
 * The link API, the same calls as the Python client's link download (client/link_download.py):
 * `GET /api/links/{id}` (counts nothing), `POST /api/links/{id}/downloads` (counts one download,
 * answers tickets), `POST /api/links/{id}/tickets` (renewals for that download).
 */
import type { FileRecord } from "../format/records";
import { ApiError, requestJson } from "./http";

export interface LiveFileserver {
  readonly id: string;
  readonly url: string;
  readonly active_transfers: number;
}

/** Tickets by chunk hash and the shard's live fileservers. SECURITY: tickets are bearer capabilities. */
export interface TicketAnswer {
  readonly tickets: ReadonlyMap<string, string>;
  readonly fileservers: readonly LiveFileserver[];
  readonly download: string | null;
}

export interface PublicLink {
  readonly id: string;
  readonly protected: boolean;
  readonly state: string;
  readonly expires_at: number | null;
}

function object(value: unknown, what: string): Record<string, unknown> {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new ApiError("bad_answer", 0, `the server sent a malformed ${what}`);
  }
  return value as Record<string, unknown>;
}

/** Read a ticket answer (a file's or a link's: one shape). */
export function readTickets(value: unknown): TicketAnswer {
  const body = object(value, "ticket answer");
  const byHash = new Map<string, string>();
  for (const item of Array.isArray(body.tickets) ? body.tickets : []) {
    const t = object(item, "ticket");
    const chunks = Array.isArray(t.chunks) ? t.chunks : [];
    if (typeof t.ticket === "string") {
      chunks.forEach((h) => byHash.set(String(h), t.ticket as string));
    }
  }
  const fileservers = (Array.isArray(body.fileservers) ? body.fileservers : []).map((item): LiveFileserver => {
    const fs = object(item, "fileserver");
    return {
      id: String(fs.id),
      url: String(fs.url).replace(/\/+$/, ""),
      active_transfers: typeof fs.active_transfers === "number" ? fs.active_transfers : 0,
    };
  });
  return { tickets: byHash, fileservers, download: typeof body.download === "string" ? body.download : null };
}

export class LinkApi {
  constructor(
    private readonly server: string,
    private readonly linkId: string,
  ) {}

  private url(tail: string): string {
    return `${this.server}/api/links/${this.linkId}${tail}`;
  }

  /** Return the link's state and its file's record; counts nothing. */
  async read(): Promise<{ link: PublicLink; file: FileRecord }> {
    const body = object(await requestJson("GET", this.url("")), "link");
    const link = object(body.link, "link");
    return {
      link: {
        id: String(link.id),
        protected: link.protected === true,
        state: String(link.state),
        expires_at: typeof link.expires_at === "number" ? link.expires_at : null,
      },
      file: object(body.file, "file record"),
    };
  }

  /** Count one download and return its first tickets. */
  async start(): Promise<TicketAnswer> {
    return readTickets(await requestJson("POST", this.url("/downloads"), {}));
  }

  /** Renew tickets for a started download, for the chunks still lacking. */
  async renew(download: string, lacking: readonly string[]): Promise<TicketAnswer> {
    const body: Record<string, unknown> = { download };
    if (lacking.length > 0) {
      body.chunks = lacking.slice(0, 8192);
    }
    return readTickets(await requestJson("POST", this.url("/tickets"), body));
  }
}
