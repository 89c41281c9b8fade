/**
 * AES-256-GCM through WebCrypto: `nonce (12) || ciphertext || tag (16)`, the layout of chunks and metadata.
 *
 * WebCrypto has AES-GCM everywhere (in software where the CPU lacks AES instructions), and
 * returns `ciphertext || tag` already, so a blob is the nonce followed by its answer.
 * SECURITY: every function here handles keys or plaintext; none of them logs.
 */
import { type Bytes, own, view } from "./encoding";
import { NONCE_BYTES } from "./sizes";

/** Import a raw 32-byte file key for AES-GCM; not extractable. SECURITY: the key stays in the CryptoKey. */
export async function importKey(raw: Uint8Array): Promise<CryptoKey> {
  return crypto.subtle.importKey("raw", own(raw), "AES-GCM", false, ["encrypt", "decrypt"]);
}

/** Return `nonce || AES-256-GCM(plaintext, ad) || tag`. */
export async function seal(nonce: Uint8Array, plaintext: Uint8Array, ad: Uint8Array, key: CryptoKey): Promise<Bytes> {
  const sealed = await crypto.subtle.encrypt(
    { name: "AES-GCM", iv: own(nonce), additionalData: own(ad), tagLength: 128 },
    key,
    view(plaintext),
  );
  const blob = new Uint8Array(NONCE_BYTES + sealed.byteLength);
  blob.set(nonce, 0);
  blob.set(new Uint8Array(sealed), NONCE_BYTES);
  return blob;
}

/** Open `nonce || ciphertext || tag`; rejects (a DOMException) if it does not authenticate. */
export async function openSealed(blob: Uint8Array, ad: Uint8Array, key: CryptoKey): Promise<Bytes> {
  const plain = await crypto.subtle.decrypt(
    { name: "AES-GCM", iv: own(blob.subarray(0, NONCE_BYTES)), additionalData: own(ad), tagLength: 128 },
    key,
    view(blob.subarray(NONCE_BYTES)),
  );
  return new Uint8Array(plain);
}

/** Return fresh random bytes from the system's CSPRNG. */
export function randomBytes(count: number): Bytes {
  return crypto.getRandomValues(new Uint8Array(count));
}
