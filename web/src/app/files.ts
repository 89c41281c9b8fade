/**
 * The user's files as the list shows them: each record opened with the user's key (names and sizes
 * are sealed; the server never sees them), then sorted and filtered here.
 */
import type { UserKeys } from "../format/keys";
import { safeName } from "../format/metadata";
import { type FileRecord, type OwnerCheck, openRecord } from "../format/records";

export interface FileRow {
  readonly id: string;
  readonly name: string;
  /** Plaintext bytes, or null when the upload is not finished (its metadata is sealed at the end). */
  readonly size: number | null;
  readonly expiresAt: number | null;
  readonly state: string;
  /** Why the record did not open, when it did not. */
  readonly problem: string | null;
  /** Who shared the file with the user; null for the user's own. */
  readonly owner: string | null;
}

export type SortKey = "name" | "size" | "expiry";

function number(value: unknown): number | null {
  return typeof value === "number" && Number.isFinite(value) ? value : null;
}

/**
 * Open every record (a shared one after *checkOwner* accepts its owner's key); a record that does
 * not open is listed with the reason, never hidden.
 */
export async function fileRows(records: readonly FileRecord[], keys: UserKeys, checkOwner?: OwnerCheck): Promise<FileRow[]> {
  return Promise.all(
    records.map(async (record): Promise<FileRow> => {
      const id = String(record.id);
      const owner = record.access === "shared" ? String(record.owner ?? "") : null;
      const base = { id, owner, expiresAt: number(record.expires_at), state: String(record.state) };
      if (record.state !== "complete") {
        return { ...base, name: "(upload not finished)", size: null, problem: null };
      }
      try {
        const opened = await openRecord(record, keys, checkOwner);
        return { ...base, name: safeName(opened.metadata.name, id), size: opened.metadata.size, problem: null };
      } catch (error) {
        return { ...base, name: id, size: null, problem: error instanceof Error ? error.message : String(error) };
      }
    }),
  );
}

/** Return the rows whose name holds *filter* (case-insensitive), sorted by *key*. */
export function shownRows(rows: readonly FileRow[], filter: string, key: SortKey): FileRow[] {
  const needle = filter.trim().toLowerCase();
  const kept = rows.filter((row) => row.name.toLowerCase().includes(needle));
  const by: Record<SortKey, (a: FileRow, b: FileRow) => number> = {
    name: (a, b) => a.name.localeCompare(b.name),
    size: (a, b) => (a.size ?? -1) - (b.size ?? -1),
    expiry: (a, b) => (a.expiresAt ?? Infinity) - (b.expiresAt ?? Infinity),
  };
  return kept.sort((a, b) => by[key](a, b) || a.id.localeCompare(b.id));
}
