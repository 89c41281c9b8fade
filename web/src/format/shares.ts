/**
 * File keys boxed from owner to recipient, and the fingerprints people compare (format/shares.py).
 * SECURITY: every function here handles keys or trust; none of them logs.
 */
import { randomBytes } from "./aead";
import { type Bytes, concat, own, sameBytes, toHex, utf8, uuidBytes } from "./encoding";
import { FingerprintMalformed, IntegrityError } from "./errors";
import { KEY_BYTES, type UserKeys, checkPublicKey } from "./keys";
import { lib } from "./sodium";

export const SHARE_LABEL = utf8("coffer share v1");
export const FINGERPRINT_LABEL = utf8("coffer fingerprint v1");
export const SHARE_NONCE_BYTES = 24;
export const SHARE_PLAINTEXT_BYTES = SHARE_LABEL.length + 16 + KEY_BYTES;
export const SHARE_KEY_BYTES = SHARE_NONCE_BYTES + 16 + SHARE_PLAINTEXT_BYTES;
export const FINGERPRINT_BYTES = 16;

/**
 * Box *fileKey* from *owner* to *recipientPublic*, bound to *fileId*; *nonce* is for test vectors only.
 * SECURITY: crypto_box, not a sealed box, so only the owner can make a box that opens as theirs.
 */
export function sealShareKey(
  owner: UserKeys,
  recipientPublic: Uint8Array,
  fileId: string,
  fileKey: Uint8Array,
  nonce?: Uint8Array,
): Bytes {
  if (fileKey.length !== KEY_BYTES) {
    throw new Error(`a file key is ${KEY_BYTES} bytes, not ${fileKey.length}`);
  }
  checkPublicKey(recipientPublic, "the recipient's public key");
  const n = nonce ?? randomBytes(SHARE_NONCE_BYTES);
  const plaintext = concat(SHARE_LABEL, uuidBytes(fileId), fileKey);
  return concat(n, lib().crypto_box_easy(plaintext, n, recipientPublic, owner.private));
}

/** Open a file key shared with *me* by the owner of *ownerPublic*; IntegrityError on any failure. */
export function openShareKey(me: UserKeys, ownerPublic: Uint8Array, fileId: string, box: Uint8Array): Bytes {
  checkPublicKey(ownerPublic, "the owner's public key");
  if (box.length !== SHARE_KEY_BYTES) {
    throw new IntegrityError(
      `the file key shared with you is ${box.length} bytes, not ${SHARE_KEY_BYTES}: it was cut or altered`,
    );
  }
  let plain: Bytes;
  try {
    plain = own(
      lib().crypto_box_open_easy(
        box.subarray(SHARE_NONCE_BYTES),
        box.subarray(0, SHARE_NONCE_BYTES),
        ownerPublic,
        me.private,
      ),
    );
  } catch {
    throw new IntegrityError(
      "the file key shared with you does not open: it was altered, or the file's owner did not box it to you",
    );
  }
  if (!sameBytes(plain.subarray(0, SHARE_LABEL.length), SHARE_LABEL)) {
    throw new IntegrityError("the box shared with you holds no Coffer file key: its label is not 'coffer share v1'");
  }
  if (!sameBytes(plain.subarray(SHARE_LABEL.length, SHARE_LABEL.length + 16), uuidBytes(fileId))) {
    throw new IntegrityError("the file key shared with you was made for another file: the server moved it to this one");
  }
  return plain.slice(SHARE_LABEL.length + 16);
}

function grouped(digits: string): string {
  return (digits.match(/.{1,4}/g) ?? []).join(" ");
}

/** Return the fingerprint people compare to know a public key is its owner's: `a1b2 c3d4 …`. */
export function fingerprint(publicKey: Uint8Array): string {
  checkPublicKey(publicKey, "the public key");
  return grouped(toHex(lib().crypto_generichash(FINGERPRINT_BYTES, concat(FINGERPRINT_LABEL, publicKey), null)));
}

/** Return a typed fingerprint in the grouped form, ignoring spaces and case; FingerprintMalformed otherwise. */
export function parseFingerprint(typed: string): string {
  const compact = typed.replace(/\s+/g, "").toLowerCase();
  if (!/^[0-9a-f]{32}$/.test(compact)) {
    throw new FingerprintMalformed("that is not a fingerprint: expected 32 hex digits (spaces allowed)");
  }
  return grouped(compact);
}

/** Tell whether the fingerprint a person typed is *publicKey*'s, ignoring spaces and case. */
export function sameFingerprint(typed: string, publicKey: Uint8Array): boolean {
  return typed.replace(/\s+/g, "").toLowerCase() === fingerprint(publicKey).replace(/ /g, "");
}
