/**
 * The upload's worker: hash the whole plaintext in order and seal chunks, so the page never
 * blocks on either (the main thread only reads slices of the File and draws).
 *
 * Messages are handled in the order they arrive, and the hash is fed synchronously on arrival,
 * so the page posts every chunk in file order, sealing it or (already stored, on a resume) only
 * hashing it. In: `{ id, kind: "chunk", plain, seal?: { key, fileId, index, last } }` with the
 * plaintext's buffer transferred, or `{ id, kind: "finish" }`. Out: `{ id, blob, hash }` (the
 * sealed chunk's buffer transferred), `{ id }` for a chunk only hashed, `{ id, sha256 }`, or
 * `{ id, error }`. SECURITY: plaintext and keys stay in memory only.
 */
import { chunkHash, sealChunk } from "../format/chunks";
import { StreamingSha256 } from "../format/sha256";
import { ready } from "../format/sodium";

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

const loading = ready();
let hash: StreamingSha256 | null = null;
let hashed: Promise<unknown> = Promise.resolve();

/** Feed the whole-file hash in arrival order (or finish it); sealing need not wait for other chunks. */
function inOrder(request: SealRequest): Promise<string | null> {
  const step = hashed.then(async () => {
    await loading;
    hash ??= new StreamingSha256();
    if (request.kind === "finish") {
      const digest = hash.hexdigest();
      hash = null;
      return digest;
    }
    hash.update(request.plain);
    return null;
  });
  hashed = step.catch(() => undefined);
  return step;
}

async function handle(request: SealRequest): Promise<SealReply> {
  const digest = await inOrder(request);
  if (request.kind === "finish") return { id: request.id, sha256: digest ?? "" };
  if (request.seal === null) return { id: request.id, hashed: true };
  const { key, fileId, index, last } = request.seal;
  const blob = await sealChunk(key, fileId, index, last, request.plain);
  return { id: request.id, blob, hash: await chunkHash(blob) };
}

scope.onmessage = (event) => {
  handle(event.data).then(
    (reply) => scope.postMessage(reply, "blob" in reply ? [reply.blob.buffer] : []),
    (error: unknown) =>
      scope.postMessage({ id: event.data.id, error: error instanceof Error ? error.message : String(error) }, []),
  );
};
