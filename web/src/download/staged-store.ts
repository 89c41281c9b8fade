/**
 * Staged downloads kept in IndexedDB (store `downloads`), so a download cut by a reload or a
 * closed tab resumes: which file, where its sealed chunks are staged (a file of the Origin Private
 * File System, see stage.ts), and how many chunks, from the first, are staged and checked.
 *
 * SECURITY: nothing here opens the file. The key is not stored: a link page takes it from the
 * link's fragment again, the app page from the user's keys after sign-in. The staged chunks are
 * ciphertext, as the fileservers hold them. The link's download id is kept so a resume renews
 * that download's tickets instead of counting another download; it grants what the link grants.
 */
import { DOWNLOADS, database, request } from "../store/db";
import { removeStaged, stagedNames } from "./stage";

/** How long an abandoned staged download is kept: the server's retention of a file. */
export const STAGE_RETENTION_MS = 30 * 24 * 3600 * 1000;

export interface StagedDownload {
  /** `link|{link id}` or `own|{origin|user}|{file id}`. */
  readonly id: string;
  readonly fileId: string;
  /** The staged file's name in the OPFS directory `downloads`: random, not the file's. */
  readonly stage: string;
  /** Ciphertext bytes of the whole file, and its chunks. */
  readonly bytes: number;
  readonly chunks: number;
  /** Chunks 0 … staged-1 are on disk and opened once. */
  readonly staged: number;
  /** A link download's id, to renew its tickets after a reload. */
  readonly download: string | null;
  readonly savedAt: number;
}

export class StagedStore {
  private constructor(private readonly db: IDBDatabase) {}

  /** Open the store; null where the browser keeps no IndexedDB. */
  static async open(): Promise<StagedStore | null> {
    const db = await database();
    return db === null ? null : new StagedStore(db);
  }

  private store(mode: IDBTransactionMode): IDBObjectStore {
    return this.db.transaction(DOWNLOADS, mode).objectStore(DOWNLOADS);
  }

  async get(id: string): Promise<StagedDownload | null> {
    return ((await request(this.store("readonly").get(id))) as StagedDownload | undefined) ?? null;
  }

  async all(): Promise<StagedDownload[]> {
    return (await request(this.store("readonly").getAll())) as StagedDownload[];
  }

  async put(saved: StagedDownload): Promise<void> {
    await request(this.store("readwrite").put(saved));
  }

  /** Forget *saved* and delete its staged file. */
  async remove(saved: StagedDownload): Promise<void> {
    await request(this.store("readwrite").delete(saved.id));
    await removeStaged(saved.stage);
  }

  /**
   * Delete what was abandoned: staged downloads untouched for STAGE_RETENTION_MS (or *whose*
   * returns true for), and staged files no record names (a record is written before its file).
   */
  async sweep(now: number, whose: (saved: StagedDownload) => boolean = () => false): Promise<void> {
    const all = await this.all();
    const kept = new Set<string>();
    for (const saved of all) {
      if (now - saved.savedAt > STAGE_RETENTION_MS || whose(saved)) await this.remove(saved);
      else kept.add(saved.stage);
    }
    for (const name of await stagedNames()) if (!kept.has(name)) await removeStaged(name);
  }
}
