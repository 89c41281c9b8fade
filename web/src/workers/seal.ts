/**
 * The upload's worker: seal chunks and hash the whole plaintext in order, so the page never
 * blocks on either (the main thread only reads slices of the File and draws).
 *
 * The whole-file SHA-256 runs on a thread of its own (src/workers/hash-thread.ts: a second copy of
 * this script), so sealing never waits for it. Messages are taken in the order they arrive and
 * each chunk is handed to the hash in that order, so the page posts every chunk in file order,
 * sealing it or (already stored, on a resume) only hashing it. In: `{ id, kind: "chunk", plain,
 * seal?: { key, fileId, index, last } }` with the plaintext's buffer transferred, or `{ id, kind:
 * "finish" }`. Out, once the chunk is sealed and in the hash: `{ id, blob, hash }` (the sealed
 * chunk's buffer transferred), `{ id, hashed: true }` for a chunk only hashed, `{ id, sha256 }`, or
 * `{ id, error }`. SECURITY: plaintext and keys stay in memory only.
 */
import { chunkHash, sealChunk } from "../format/chunks";
import { type FileHash, fileHash, isHashThread, serveHash } from "./hash-thread";

export interface SealSpec {
  readonly key: CryptoKey;
  readonly fileId: string;
  readonly index: number;
  readonly last: boolean;
}

export type SealRequest =
  | { readonly id: number; readonly kind: "chunk"; readonly plain: Uint8Array<ArrayBuffer>; readonly seal: SealSpec | null }
  | { readonly id: number; readonly kind: "finish" };

export type SealReply =
  | { readonly id: number; readonly blob: Uint8Array<ArrayBuffer>; readonly hash: string }
  | { readonly id: number; readonly sha256: string }
  | { readonly id: number; readonly hashed: true }
  | { readonly id: number; readonly error: string };

const scope = self as unknown as {
  onmessage: ((event: MessageEvent<SealRequest>) => void) | null;
  postMessage(message: SealReply, transfer: Transferable[]): void;
};

/** The chunks handed to the hash since the last finish: the next one's position in the file. */
let fed = 0;

async function handle(request: SealRequest, hash: FileHash): Promise<SealReply> {
  if (request.kind === "finish") {
    const count = fed;
    fed = 0;
    return { id: request.id, sha256: await hash.hexdigest(count) };
  }
  const { plain, seal } = request;
  // WebCrypto copies the plaintext when encrypt() is called (the Web Crypto API's "get a copy of the
  // bytes"), so its buffer can go on to the hash thread at once, moved rather than copied again.
  const sealing = seal === null ? null : sealChunk(seal.key, seal.fileId, seal.index, seal.last, plain);
  const hashed = hash.feed(fed++, plain);
  hashed.catch(() => undefined); // awaited below, after the sealing, which may fail first
  if (sealing === null) {
    await hashed;
    return { id: request.id, hashed: true };
  }
  const blob = await sealing;
  const name = await chunkHash(blob);
  await hashed;
  return { id: request.id, blob, hash: name };
}

function serveSealing(): void {
  const hash = fileHash();
  scope.onmessage = (event) => {
    // Fed to the hash in arrival order: handle() reaches hash.feed before its first await.
    handle(event.data, hash).then(
      (reply) => scope.postMessage(reply, "blob" in reply ? [reply.blob.buffer] : []),
      (error: unknown) =>
        scope.postMessage({ id: event.data.id, error: error instanceof Error ? error.message : String(error) }, []),
    );
  };
}

if (isHashThread()) serveHash();
else serveSealing();
