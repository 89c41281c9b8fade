/**
 * The password worker: Argon2id (about a second, 64 MiB) off the page's main thread, so the page
 * keeps drawing while a password is hashed, and the 64 MiB go with the worker when it ends.
 *
 * One request per worker. In: `{ op: "derive", password, salt, opslimit, memlimit }` (sign-in,
 * password change) or `{ op: "fragment", fragment, linkId, password }` (a locked link). Out:
 * `{ authKey, masterKey }`, `{ key }`, or `{ error, code }` with the format error's code.
 * SECURITY: passwords and the keys made from them stay in memory, between this page's own threads.
 */
import { FormatError } from "../format/errors";
import { derive } from "../format/kdf";
import { openFragment } from "../format/links";
import { ready } from "../format/sodium";

export type KdfRequest =
  | { readonly op: "derive"; readonly password: string; readonly salt: Uint8Array; readonly opslimit: number; readonly memlimit: number }
  | { readonly op: "fragment"; readonly fragment: string; readonly linkId: string; readonly password: string | null };

export type KdfReply =
  | { readonly authKey: Uint8Array<ArrayBuffer>; readonly masterKey: Uint8Array<ArrayBuffer> }
  | { readonly key: Uint8Array<ArrayBuffer> }
  | { readonly error: string; readonly code: string };

const scope = self as unknown as {
  onmessage: ((event: MessageEvent<KdfRequest>) => void) | null;
  postMessage(message: KdfReply): void;
};

function answer(request: KdfRequest): KdfReply {
  if (request.op === "derive") {
    const { authKey, masterKey } = derive(request.password, request);
    return { authKey, masterKey };
  }
  return { key: openFragment(request.fragment, request.linkId, request.password) };
}

scope.onmessage = (event) => {
  ready().then(
    () => {
      try {
        scope.postMessage(answer(event.data));
      } catch (error) {
        const code = error instanceof FormatError ? error.code : "worker";
        scope.postMessage({ error: error instanceof Error ? error.message : String(error), code });
      }
    },
    () => scope.postMessage({ error: "libsodium did not load in the password worker", code: "worker" }),
  );
};
