/**
 * The stage worker: keeps one download's sealed chunks in a file of the Origin Private File System
 * (`downloads/{name}`), so a download cut by a reload or a closed tab resumes from what it holds.
 *
 * It runs in a worker because only a worker may open a file's synchronous access handle, the one
 * way to write to the middle of an OPFS file and have it on disk at once (a writable stream of the
 * page commits only when closed). Each write is flushed before it is acknowledged, so the page
 * records a chunk as staged only once it is durable.
 *
 * Messages in: `open` (the file's name; `create` or not), `write` (a chunk's bytes at an offset,
 * their buffer transferred and handed back), `read` (bytes at an offset, their buffer transferred),
 * `close`. Answers `{ id, size }`, `{ id, data }` or `{ id, error }`. One file per worker.
 * SECURITY: what is staged is ciphertext, as the fileservers hold it: the file key never comes here.
 */
export const STAGE_DIRECTORY = "downloads";

export type StageRequest =
  | { readonly kind: "open"; readonly id: number; readonly name: string; readonly create: boolean }
  | { readonly kind: "write"; readonly id: number; readonly offset: number; readonly data: Uint8Array<ArrayBuffer> }
  | { readonly kind: "read"; readonly id: number; readonly offset: number; readonly length: number }
  | { readonly kind: "close"; readonly id: number };

export type StageReply =
  | { readonly id: number; readonly size: number }
  | { readonly id: number; readonly data: Uint8Array<ArrayBuffer> }
  | { readonly id: number; readonly error: string; readonly code: string };

interface SyncHandle {
  read(buffer: Uint8Array, options: { at: number }): number;
  write(buffer: Uint8Array, options: { at: number }): number;
  flush(): void;
  getSize(): number;
  close(): void;
}

const scope = self as unknown as {
  onmessage: ((event: MessageEvent<StageRequest>) => void) | null;
  postMessage(message: StageReply, transfer: Transferable[]): void;
};

let handle: SyncHandle | null = null;

function opened(): SyncHandle {
  if (handle === null) throw new Error("no staged file is open");
  return handle;
}

async function serve(request: StageRequest): Promise<StageReply> {
  switch (request.kind) {
    case "open": {
      const root = await navigator.storage.getDirectory();
      const dir = await root.getDirectoryHandle(STAGE_DIRECTORY, { create: true });
      const file = await dir.getFileHandle(request.name, { create: request.create });
      const access = (file as unknown as { createSyncAccessHandle(): Promise<SyncHandle> }).createSyncAccessHandle;
      handle = await access.call(file);
      return { id: request.id, size: handle.getSize() };
    }
    case "write": {
      const h = opened();
      let at = 0;
      while (at < request.data.length) at += h.write(request.data.subarray(at), { at: request.offset + at });
      h.flush();
      return { id: request.id, data: request.data };
    }
    case "read": {
      const data = new Uint8Array(request.length);
      const got = opened().read(data, { at: request.offset });
      return { id: request.id, data: got === data.length ? data : data.slice(0, got) };
    }
    case "close":
      handle?.close();
      handle = null;
      return { id: request.id, size: 0 };
  }
}

scope.onmessage = (event) => {
  serve(event.data).then(
    (reply) => scope.postMessage(reply, "data" in reply ? [reply.data.buffer] : []),
    (error: unknown) => {
      const code = error instanceof DOMException ? error.name : "stage";
      scope.postMessage({ id: event.data.id, error: error instanceof Error ? error.message : String(error), code }, []);
    },
  );
};
