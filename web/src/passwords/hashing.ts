/**
 * Hash a password with Argon2id in the password worker (src/workers/kdf.ts), so the page never
 * freezes for the second it takes; where no worker starts, the same format functions run here.
 * SECURITY: the password and what it derives travel only between this page's own threads.
 */
import type { Bytes } from "../format/encoding";
import {
  BadInput,
  FormatError,
  LinkKeyMissing,
  LinkMalformed,
  LinkPasswordNeeded,
  LinkPasswordWrong,
  PasswordUnusable,
} from "../format/errors";
import { type KdfParams, type PasswordKeys, derive } from "../format/kdf";
import { openFragment } from "../format/links";
import type { KdfReply, KdfRequest } from "../workers/kdf";

let workerUrl: string | undefined;

/** Name the password worker's script (the page's data-workers `kdf`), once at start. */
export function usePasswordWorker(url: string | undefined): void {
  workerUrl = url;
}

/** The format error a worker's code stands for, so the page explains it as it would its own. */
const ERRORS: Readonly<Record<string, new (message: string) => FormatError>> = {
  link_password_wrong: LinkPasswordWrong,
  link_malformed: LinkMalformed,
  link_key_missing: LinkKeyMissing,
  link_password_needed: LinkPasswordNeeded,
  usage: PasswordUnusable,
};

function ask(request: KdfRequest): Promise<KdfReply> | null {
  if (!workerUrl || typeof Worker === "undefined") return null;
  let worker: Worker;
  try {
    worker = new Worker(workerUrl, { type: "module", name: "coffer-kdf" });
  } catch {
    return null;
  }
  return new Promise<KdfReply>((resolve, reject) => {
    worker.onmessage = (event: MessageEvent<KdfReply>) => resolve(event.data);
    worker.onerror = () => reject(new Error("the password worker stopped: reload the page and try again"));
    worker.postMessage(request);
  }).finally(() => worker.terminate());
}

function failed(reply: { error: string; code: string }): Error {
  const Kind = ERRORS[reply.code];
  if (Kind !== undefined) return new Kind(reply.error);
  return reply.code === "worker" ? new Error(reply.error) : new BadInput(reply.error);
}

/** Derive the auth key and master key from *password* (Argon2id, then BLAKE2b). SECURITY: secret. */
export async function deriveKeys(password: string, params: KdfParams): Promise<PasswordKeys> {
  const asked = ask({ op: "derive", password, ...params });
  if (asked === null) return derive(password, params);
  const reply = await asked;
  if ("error" in reply) throw failed(reply);
  if (!("authKey" in reply)) throw new Error("the password worker sent no keys");
  return { authKey: reply.authKey as Bytes, masterKey: reply.masterKey as Bytes };
}

/** Return the file key a link's fragment carries, unlocking a locked one with *password* off the main thread. */
export async function openLinkKey(fragment: string, linkId: string, password: string | null): Promise<Bytes> {
  const asked = password ? ask({ op: "fragment", fragment, linkId, password }) : null;
  if (asked === null) return openFragment(fragment, linkId, password);
  const reply = await asked;
  if ("error" in reply) throw failed(reply);
  if (!("key" in reply)) throw new Error("the password worker sent no key");
  return reply.key as Bytes;
}
