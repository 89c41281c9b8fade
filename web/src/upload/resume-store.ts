/**
 * Unfinished uploads kept in IndexedDB, so a reload, a closed tab or a lost network resumes them.
 *
 * SECURITY: the file key is stored only as the server's record holds it: sealed to the owner's
 * public key (a libsodium sealed box). Opening it needs the private key, which exists only in the
 * memory of a signed-in page, so the stored state reveals nothing the server's record does not;
 * a key derived from the master key would be a second wrapping of the same secret to get right,
 * for no gain. The key is checked against the record's commitment when it is opened again.
 */
import { UPLOADS, database, request } from "../store/db";
import type { StoredChunk } from "./sender";
import type { Fingerprint } from "./fingerprint";

export interface SavedUpload {
  readonly fileId: string;
  /** `origin|user name`: whose upload, on which server. */
  readonly owner: string;
  readonly shard: string;
  readonly chunkSize: number;
  readonly fingerprint: Fingerprint;
  /** The file key sealed to the owner's public key, base64url. SECURITY: never the key itself. */
  readonly sealedKey: string;
  readonly done: ReadonlyArray<readonly [number, StoredChunk]>;
  readonly savedAt: number;
}

export class ResumeStore {
  private constructor(private readonly db: IDBDatabase) {}

  /** Open the store; null where the browser keeps no IndexedDB (a private window may not). */
  static async open(): Promise<ResumeStore | null> {
    const db = await database();
    return db === null ? null : new ResumeStore(db);
  }

  private store(mode: IDBTransactionMode): IDBObjectStore {
    return this.db.transaction(UPLOADS, mode).objectStore(UPLOADS);
  }

  async list(owner: string): Promise<SavedUpload[]> {
    const all = (await request(this.store("readonly").getAll())) as SavedUpload[];
    return all.filter((saved) => saved.owner === owner).sort((a, b) => a.savedAt - b.savedAt);
  }

  async put(saved: SavedUpload): Promise<void> {
    await request(this.store("readwrite").put(saved));
  }

  async remove(fileId: string): Promise<void> {
    await request(this.store("readwrite").delete(fileId));
  }
}
