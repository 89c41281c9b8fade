/**
 * The chunk worker: opens downloaded chunks off the main thread, so the page never freezes.
 *
 * Messages in: `{ id, key, fileId, index, last, blob }` (the CryptoKey is cloned, still not
 * extractable; the blob's buffer is transferred). Out: `{ id, plain }` with the plaintext's
 * buffer transferred, or `{ id, error, code }`. SECURITY: plaintext and keys stay in memory only.
 */
import { openChunk } from "../format/chunks";
import { FormatError } from "../format/errors";

export interface OpenRequest {
  readonly id: number;
  readonly key: CryptoKey;
  readonly fileId: string;
  readonly index: number;
  readonly last: boolean;
  readonly blob: Uint8Array<ArrayBuffer>;
}

export type OpenReply =
  | { readonly id: number; readonly plain: Uint8Array<ArrayBuffer> }
  | { readonly id: number; readonly error: string; readonly code: string };

const scope = self as unknown as {
  onmessage: ((event: MessageEvent<OpenRequest>) => void) | null;
  postMessage(message: OpenReply, transfer: Transferable[]): void;
};

scope.onmessage = (event) => {
  const { id, key, fileId, index, last, blob } = event.data;
  openChunk(key, fileId, index, last, blob).then(
    (plain) => scope.postMessage({ id, plain }, [plain.buffer]),
    (error: unknown) => {
      const code = error instanceof FormatError ? error.code : "integrity";
      scope.postMessage({ id, error: error instanceof Error ? error.message : String(error), code }, []);
    },
  );
};
