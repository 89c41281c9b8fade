/**
 * The chunk worker: opens downloaded chunks and hashes the whole plaintext in file order, off the
 * main thread, so the page never freezes.
 *
 * The whole-file SHA-256 runs on a thread of its own (src/workers/hash-thread.ts: a second copy of
 * this script), so opening never waits for it. Messages in: `{ kind: "open", id, key, fileId,
 * index, last, blob }` (the CryptoKey is cloned, still not extractable; the blob's buffer is
 * transferred), answered `{ id, plain }` with the plaintext's buffer transferred once it and every
 * chunk before it are in the file's hash; then `{ kind: "digest", id, count }`, answered `{ id,
 * sha256 }`. Errors: `{ id, error, code }`. One download per worker.
 * SECURITY: plaintext and keys stay in memory only.
 */
import { openChunk } from "../format/chunks";
import { FormatError } from "../format/errors";
import { type FileHash, HashThreadStopped, fileHash, isHashThread, serveHash } from "./hash-thread";

export type OpenRequest =
  | {
      readonly kind: "open";
      readonly id: number;
      readonly key: CryptoKey;
      readonly fileId: string;
      readonly index: number;
      readonly last: boolean;
      readonly blob: Uint8Array<ArrayBuffer>;
    }
  | { readonly kind: "digest"; readonly id: number; readonly count: number };

export type OpenReply =
  | { readonly id: number; readonly plain: Uint8Array<ArrayBuffer> }
  | { readonly id: number; readonly sha256: string }
  | { readonly id: number; readonly error: string; readonly code: string };

const scope = self as unknown as {
  onmessage: ((event: MessageEvent<OpenRequest>) => void) | null;
  postMessage(message: OpenReply, transfer: Transferable[]): void;
};

async function handle(request: OpenRequest, hash: FileHash): Promise<OpenReply> {
  if (request.kind === "digest") return { id: request.id, sha256: await hash.hexdigest(request.count) };
  const { id, key, fileId, index, last, blob } = request;
  const plain = await openChunk(key, fileId, index, last, blob);
  return { id, plain: await hash.feed(index, plain) };
}

function serveOpening(): void {
  const hash = fileHash();
  scope.onmessage = (event) => {
    handle(event.data, hash).then(
      (reply) => scope.postMessage(reply, "plain" in reply ? [reply.plain.buffer] : []),
      (error: unknown) => {
        const code = error instanceof FormatError ? error.code : error instanceof HashThreadStopped ? "worker" : "integrity";
        scope.postMessage({ id: event.data.id, error: error instanceof Error ? error.message : String(error), code }, []);
      },
    );
  };
}

if (isHashThread()) serveHash();
else serveOpening();
