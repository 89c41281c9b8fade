/**
 * Share links, `{server}/s/{link id}#{fragment}`, and the file key in the fragment (format/links.py).
 *
 * `v1.k.` + base64url(file key), or `v1.p.` + base64url(salt || nonce || XChaCha20-Poly1305(file key))
 * locked with a password (Argon2id at the login cost, then BLAKE2b-256 keyed by root over
 * "coffer link key v1"; ad = "coffer link v1" || link id).
 * SECURITY: a fragment is a key, or a key locked by a password that can be guessed offline:
 * never log one, never put it in a request, and no error message here repeats it.
 */
import { randomBytes } from "./aead";
import { type Bytes, b64decode, b64encode, concat, isId, own, utf8, uuidBytes } from "./encoding";
import { LinkKeyMissing, LinkMalformed, LinkPasswordNeeded, LinkPasswordWrong, PasswordUnusable } from "./errors";
import { MEMLIMIT, OPSLIMIT, SALT_BYTES, keyedHash, passwordRoot } from "./kdf";
import { KEY_BYTES } from "./keys";
import { lib } from "./sodium";

export const PLAIN_PREFIX = "v1.k.";
export const LOCKED_PREFIX = "v1.p.";
export const LINK_KEY_LABEL = utf8("coffer link key v1");
export const LINK_AD = utf8("coffer link v1");
export const LINK_NONCE_BYTES = 24;
export const LOCKED_BYTES = SALT_BYTES + LINK_NONCE_BYTES + KEY_BYTES + 16;
export const PLAIN_KEY_CHARS = 43;
export const LOCKED_KEY_CHARS = 118;
const MAX_FRAGMENT_CHARS = 512;
const FRAGMENT_CHARS = /^[A-Za-z0-9._-]*$/;
const ASK_WHOLE = "ask the sender for the whole link, or copy it again whole";
const LAYOUT = "a share link looks like https://SERVER/s/LINK-ID#KEY";

/** A parsed share link. SECURITY: `fragment` holds the file key. */
export interface LinkRef {
  readonly server: string;
  readonly linkId: string;
  readonly fragment: string;
}

/** Tell whether opening *fragment* needs a password. */
export function isLocked(fragment: string): boolean {
  return fragment.startsWith(LOCKED_PREFIX);
}

/** Return the URL to hand out: `{server}/s/{linkId}#{fragment}` (no '#' when *fragment* is ''). */
export function linkUrl(server: string, linkId: string, fragment: string): string {
  if (!FRAGMENT_CHARS.test(fragment)) {
    throw new Error("a link fragment is made of base64url characters and dots only");
  }
  const ref = parseLink(`${server.replace(/\/+$/, "")}/s/${linkId}`);
  return `${ref.server}/s/${ref.linkId}` + (fragment ? `#${fragment}` : "");
}

const SPLIT = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#]*)([^?#]*)(?:\?(.*))?$/;
const NETLOC = /^(\[[0-9A-Fa-f:.]+\]|[^:[\]@]*)(?::([0-9]*))?$/;
const LINK_PATH = /^((?:\/[^/]+)*)\/s\/([^/]+)\/?$/;

/** Split a share link into server, link id and fragment; LinkMalformed if it is not one. */
export function parseLink(url: string): LinkRef {
  const text = url.trim();
  const cut = text.indexOf("#");
  const before = cut < 0 ? text : text.slice(0, cut);
  const fragment = cut < 0 ? "" : text.slice(cut + 1);
  // Whitespace, control characters and anything outside printable ASCII or Unicode letters.
  if (/[\s\p{C}]/u.test(text)) {
    throw new LinkMalformed("the link contains spaces or line breaks: copy it again as one line");
  }
  const parts = SPLIT.exec(before);
  if (!parts) {
    throw new LinkMalformed(`that is not a share link: ${LAYOUT}`);
  }
  const [, scheme = "", netloc = "", path = "", query] = parts;
  if (!["http", "https"].includes(scheme.toLowerCase())) {
    throw new LinkMalformed(`that is not a share link: ${LAYOUT}`);
  }
  if (netloc.includes("@")) {
    throw new LinkMalformed(`the link has a user name before its host, which no Coffer link has: ${ASK_WHOLE}`);
  }
  const host = NETLOC.exec(netloc);
  const port = host?.[2];
  if (!host || !host[1] || (port !== undefined && port !== "" && Number(port) > 65535)) {
    throw new LinkMalformed(`that is not a share link: its host or port is malformed; ${LAYOUT}`);
  }
  if (query) {
    throw new LinkMalformed(`the link has a '?' part, which no Coffer link has: ${LAYOUT}`);
  }
  const where = LINK_PATH.exec(path);
  if (!where) {
    throw new LinkMalformed(`that is not a share link: its path must end in /s/LINK-ID; ${LAYOUT}`);
  }
  const linkId = checkedLinkId(where[2] ?? "");
  return { server: `${scheme.toLowerCase()}://${netloc}${where[1] ?? ""}`, linkId, fragment };
}

function checkedLinkId(linkId: string): string {
  if (!isId(linkId)) {
    throw new LinkMalformed(`that is not a link id (a lowercase UUID, as the server makes them): ${ASK_WHOLE}`);
  }
  return linkId;
}

function linkAd(linkId: string): Bytes {
  return concat(LINK_AD, uuidBytes(checkedLinkId(linkId)));
}

/** Derive the key that locks a link's file key from its password. SECURITY: a secret. */
export function linkWrapKey(password: string, salt: Uint8Array): Bytes {
  return keyedHash(passwordRoot(password, { salt, opslimit: OPSLIMIT, memlimit: MEMLIMIT }), LINK_KEY_LABEL);
}

/** Return the fragment that carries *fileKey* as it is. */
export function plainFragment(fileKey: Uint8Array): string {
  if (fileKey.length !== KEY_BYTES) {
    throw new Error(`a file key is ${KEY_BYTES} bytes, not ${fileKey.length}`);
  }
  return PLAIN_PREFIX + b64encode(fileKey);
}

/** Return the fragment that carries *fileKey* locked with *password*; *salt*, *nonce* for test vectors only. */
export function lockedFragment(
  fileKey: Uint8Array,
  linkId: string,
  password: string,
  salt?: Uint8Array,
  nonce?: Uint8Array,
): string {
  if (fileKey.length !== KEY_BYTES) {
    throw new Error(`a file key is ${KEY_BYTES} bytes, not ${fileKey.length}`);
  }
  if (!password) {
    throw new PasswordUnusable("a link password cannot be empty: choose one, or make the link without a password");
  }
  const s = salt ?? randomBytes(SALT_BYTES);
  const n = nonce ?? randomBytes(LINK_NONCE_BYTES);
  const sealed = lib().crypto_aead_xchacha20poly1305_ietf_encrypt(
    fileKey,
    linkAd(linkId),
    null,
    n,
    linkWrapKey(password, s),
  );
  return LOCKED_PREFIX + b64encode(concat(s, n, sealed));
}

/**
 * Return the file key a link's *fragment* carries, unlocking it with *password* if it is locked.
 * The checks run in the order of spec section 15, so each person gets the right message; the key
 * must still pass the record's key commitment before it is used.
 */
export function openFragment(fragment: string, linkId: string, password: string | null): Bytes {
  checkedLinkId(linkId);
  if (!fragment) {
    throw new LinkKeyMissing(
      "the link has no key after '#': some apps cut off the part after '#' when they pass a link on; " + ASK_WHOLE,
    );
  }
  if (fragment.length > MAX_FRAGMENT_CHARS || !FRAGMENT_CHARS.test(fragment)) {
    throw new LinkMalformed(`the part after '#' is not a Coffer link key: it was changed on the way; ${ASK_WHOLE}`);
  }
  if (fragment.startsWith(PLAIN_PREFIX)) {
    return decoded(fragment.slice(PLAIN_PREFIX.length), PLAIN_KEY_CHARS, "key");
  }
  if (fragment.startsWith(LOCKED_PREFIX)) {
    return unlock(decoded(fragment.slice(LOCKED_PREFIX.length), LOCKED_KEY_CHARS, "locked key"), linkId, password);
  }
  const version = fragment.split(".", 1)[0] ?? "";
  if (/^v[0-9]+$/.test(version) && version !== "v1") {
    throw new LinkMalformed(`the link's key is in format ${version}, which this page cannot read: reload it, or ask the administrator to update Coffer`);
  }
  throw new LinkMalformed(`the part after '#' is not a Coffer link key: it was changed on the way; ${ASK_WHOLE}`);
}

function decoded(body: string, chars: number, what: string): Bytes {
  if (body.length !== chars) {
    throw new LinkMalformed(
      `the ${what} after '#' is ${body.length} characters where ${chars} are expected: ` +
        `it was cut or changed on the way; ${ASK_WHOLE}`,
    );
  }
  try {
    return b64decode(body);
  } catch {
    throw new LinkMalformed(`the ${what} after '#' is not base64url: it was changed on the way; ${ASK_WHOLE}`);
  }
}

function unlock(locked: Uint8Array, linkId: string, password: string | null): Bytes {
  if (!password) {
    throw new LinkPasswordNeeded("this link's key is locked with a password: ask the sender for the password");
  }
  const salt = locked.subarray(0, SALT_BYTES);
  const nonce = locked.subarray(SALT_BYTES, SALT_BYTES + LINK_NONCE_BYTES);
  try {
    return own(
      lib().crypto_aead_xchacha20poly1305_ietf_decrypt(
        null,
        locked.subarray(SALT_BYTES + LINK_NONCE_BYTES),
        linkAd(linkId),
        nonce,
        linkWrapKey(password, salt),
      ),
    );
  } catch {
    throw new LinkPasswordWrong(
      "the password is wrong, or the link was changed: check the password with the sender, " +
        "and that you have the whole link",
    );
  }
}
