/**
 * A user's key pair, its private key wrapped for the server, file keys sealed to their owner,
 * and key commitments (format/keys.py).
 * SECURITY: every function here handles keys; none of them logs.
 */
import { randomBytes } from "./aead";
import { type Bytes, concat, own, sameBytes, utf8 } from "./encoding";
import { IntegrityError, KeyMismatch } from "./errors";
import { lib } from "./sodium";

export const KEY_BYTES = 32;
export const PUBLIC_KEY_BYTES = 32;
export const COMMITMENT_LABEL = utf8("coffer key commitment v1");
export const COMMITMENT_BYTES = 32;
const SECRETBOX_NONCE_BYTES = 24;

/** A user's X25519 key pair. SECURITY: `private` is a secret. */
export interface UserKeys {
  readonly private: Bytes;
  readonly public: Bytes;
}

/** Return a fresh random file key. SECURITY: a secret. */
export function newFileKey(): Bytes {
  return randomBytes(KEY_BYTES);
}

/** Make a new key pair on this client. */
export function generateUserKeys(): UserKeys {
  const pair = lib().crypto_box_keypair();
  return { private: own(pair.privateKey), public: own(pair.publicKey) };
}

/** Encrypt the private key under the master key: `nonce (24) || secretbox`; *nonce* for test vectors only. */
export function wrapPrivateKey(masterKey: Uint8Array, keys: UserKeys, nonce?: Uint8Array): Bytes {
  const n = nonce ?? randomBytes(SECRETBOX_NONCE_BYTES);
  return concat(n, lib().crypto_secretbox_easy(keys.private, n, masterKey));
}

/** Open the wrapped private key and check it matches *publicKey*; IntegrityError otherwise (wrong password). */
export function unwrapPrivateKey(masterKey: Uint8Array, wrapped: Uint8Array, publicKey: Uint8Array): UserKeys {
  const sodium = lib();
  let privateKey: Bytes;
  try {
    privateKey = own(
      sodium.crypto_secretbox_open_easy(
        wrapped.subarray(SECRETBOX_NONCE_BYTES),
        wrapped.subarray(0, SECRETBOX_NONCE_BYTES),
        masterKey,
      ),
    );
  } catch {
    throw new IntegrityError("your private key does not decrypt: wrong password, or the stored key was altered");
  }
  const keys = { private: privateKey, public: own(sodium.crypto_scalarmult_base(privateKey)) };
  if (!sameBytes(keys.public, publicKey)) {
    throw new IntegrityError("your stored public key does not match your private key");
  }
  return keys;
}

/** Seal *fileKey* to the owner's public key (a sealed box: only the private key opens it). */
export function sealFileKey(publicKey: Uint8Array, fileKey: Uint8Array): Bytes {
  return own(lib().crypto_box_seal(fileKey, publicKey));
}

/** Open a file key sealed to *keys*; IntegrityError if it does not open or is not a key. */
export function openFileKey(keys: UserKeys, sealed: Uint8Array): Bytes {
  let key: Bytes;
  try {
    key = own(lib().crypto_box_seal_open(sealed, keys.public, keys.private));
  } catch {
    throw new IntegrityError("the file key does not open with your private key");
  }
  if (key.length !== KEY_BYTES) {
    throw new IntegrityError(`the sealed file key is ${key.length} bytes, not ${KEY_BYTES}`);
  }
  return key;
}

/** Refuse a public key of the wrong length; *what* names it for the user. */
export function checkPublicKey(publicKey: Uint8Array, what: string): void {
  if (publicKey.length !== PUBLIC_KEY_BYTES) {
    throw new IntegrityError(
      `${what} is ${publicKey.length} bytes, not ${PUBLIC_KEY_BYTES}: the server sent a malformed key`,
    );
  }
}

/** Return the commitment to *fileKey* that the file's record carries: BLAKE2b-256 keyed by the key. */
export function keyCommitment(fileKey: Uint8Array): Bytes {
  if (fileKey.length !== KEY_BYTES) {
    throw new Error(`a file key is ${KEY_BYTES} bytes, not ${fileKey.length}`);
  }
  return own(lib().crypto_generichash(COMMITMENT_BYTES, COMMITMENT_LABEL, fileKey));
}

/**
 * Refuse *fileKey* unless the record's *commitment* is to it; *what* names the key for the user.
 * SECURITY: run before the key opens anything; a record with no commitment is refused too.
 */
export function checkKeyCommitment(fileKey: Uint8Array, commitment: Uint8Array, what: string): void {
  if (commitment.length !== COMMITMENT_BYTES) {
    const found = commitment.length === 0 ? "has no key commitment" : `has a ${commitment.length}-byte key commitment`;
    throw new IntegrityError(
      `this file's record ${found}, so ${what} cannot be checked against it: the server altered the record, ` +
        "or an older Coffer client uploaded the file; ask the owner to upload it again",
    );
  }
  if (fileKey.length !== KEY_BYTES || !sameBytes(keyCommitment(fileKey), commitment)) {
    throw new KeyMismatch(
      `${what} does not match this file: the key was changed or cut on its way to you, ` +
        "or the file's record was altered; ask for it again",
    );
  }
}
