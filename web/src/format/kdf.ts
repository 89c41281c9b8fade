/**
 * Turn a password into the auth key and the master key, as format/kdf.py does.
 *
 * `root = Argon2id(password, salt)`, then BLAKE2b-256 keyed by root over two labels.
 * SECURITY: both results are secrets; the auth key is only ever sent to log in.
 */
import { type Bytes, own, utf8 } from "./encoding";
import { PasswordUnusable } from "./errors";
import { lib } from "./sodium";

export const OPSLIMIT = 3;
export const MEMLIMIT = 64 * 1024 * 1024;
export const SALT_BYTES = 16;
export const AUTH_LABEL = utf8("coffer auth key v1");
export const MASTER_LABEL = utf8("coffer master key v1");

export interface KdfParams {
  readonly salt: Uint8Array;
  readonly opslimit: number;
  readonly memlimit: number;
}

export interface PasswordKeys {
  readonly authKey: Bytes;
  readonly masterKey: Bytes;
}

/** Return Argon2id's 32-byte root for *password*. SECURITY: a secret. */
export function passwordRoot(password: string, params: KdfParams): Bytes {
  if (params.opslimit < OPSLIMIT || params.memlimit < MEMLIMIT) {
    // SECURITY: a server handing out a cheap setting could then guess the password from the auth key.
    throw new PasswordUnusable("the server asked for password hashing below Coffer's minimum: refusing to log in");
  }
  const sodium = lib();
  return own(
    sodium.crypto_pwhash(
      32,
      utf8(password),
      params.salt,
      params.opslimit,
      params.memlimit,
      sodium.crypto_pwhash_ALG_ARGON2ID13,
    ),
  );
}

/** Return BLAKE2b-256 keyed by *key* over *label*. */
export function keyedHash(key: Uint8Array, label: Uint8Array): Bytes {
  return own(lib().crypto_generichash(32, label, key));
}

/** Derive the auth key and the master key from *password*. SECURITY: the result is secret. */
export function derive(password: string, params: KdfParams): PasswordKeys {
  const root = passwordRoot(password, params);
  return { authKey: keyedHash(root, AUTH_LABEL), masterKey: keyedHash(root, MASTER_LABEL) };
}
