/**
 * The page's one IndexedDB database: `uploads` (unfinished uploads, by file id), `pins` (other
 * users' key fingerprints, by `server|account|user`) and `downloads` (staged downloads, by
 * `link|{link id}` or `own|{origin|user}|{file id}`). Null where the browser keeps none.
 */
export const UPLOADS = "uploads";
export const PINS = "pins";
export const DOWNLOADS = "downloads";

export function request<T>(req: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error ?? new Error("IndexedDB failed"));
  });
}

let opened: Promise<IDBDatabase | null> | null = null;

/** Open the database once per page; later calls share it. */
export function database(): Promise<IDBDatabase | null> {
  opened ??= (async () => {
    if (typeof indexedDB === "undefined") return null;
    try {
      const opening = indexedDB.open("coffer", 2);
      opening.onupgradeneeded = () => {
        const db = opening.result;
        if (!db.objectStoreNames.contains(UPLOADS)) db.createObjectStore(UPLOADS, { keyPath: "fileId" });
        if (!db.objectStoreNames.contains(PINS)) db.createObjectStore(PINS, { keyPath: "id" });
        if (!db.objectStoreNames.contains(DOWNLOADS)) db.createObjectStore(DOWNLOADS, { keyPath: "id" });
      };
      // A tab still holding an older version open blocks the upgrade: this page then keeps no state
      // rather than wait, and a page of this version closes its connection when a newer one asks.
      const blocked = new Promise<null>((resolve) => (opening.onblocked = () => resolve(null)));
      const db = await Promise.race([request(opening), blocked]);
      if (db !== null) db.onversionchange = () => db.close();
      return db;
    } catch {
      return null;
    }
  })();
  return opened;
}
