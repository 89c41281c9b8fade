/**
 * Bytes as text, the way the protocol writes them: unpadded canonical base64url, lowercase hex,
 * UUIDs as their 16 bytes in written order, canonical JSON (protocol.encoding on the Python side).
 */
import { lib } from "./sodium";

const ENCODER = new TextEncoder();

/** A byte array backed by a plain ArrayBuffer, as WebCrypto takes them. */
export type Bytes = Uint8Array<ArrayBuffer>;

/** Return the UTF-8 bytes of *text*, exactly as typed (no normalisation). */
export function utf8(text: string): Bytes {
  return ENCODER.encode(text);
}

/** Copy *data* into a fresh ArrayBuffer-backed array (libsodium's results may sit in its heap). */
export function own(data: Uint8Array): Bytes {
  const copy = new Uint8Array(data.length);
  copy.set(data);
  return copy;
}

/**
 * Return *data* itself when an ArrayBuffer backs it (what WebCrypto takes), else a copy: a view
 * passes without copying a chunk's megabytes, as a Python memoryview would.
 */
export function view(data: Uint8Array): Bytes {
  return data.buffer instanceof ArrayBuffer ? (data as Bytes) : own(data);
}

/** Join byte strings. */
export function concat(...parts: Uint8Array[]): Bytes {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

export function toHex(data: Uint8Array): string {
  return Array.from(data, (b) => b.toString(16).padStart(2, "0")).join("");
}

export function fromHex(text: string): Bytes {
  if (!/^(?:[0-9a-f]{2})*$/.test(text)) {
    throw new Error("not lowercase hex");
  }
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) {
    out[i] = parseInt(text.slice(2 * i, 2 * i + 2), 16);
  }
  return out;
}

/** Encode as unpadded base64url. */
export function b64encode(data: Uint8Array): string {
  const sodium = lib();
  return sodium.to_base64(data, sodium.base64_variants.URLSAFE_NO_PADDING);
}

/** Decode canonical unpadded base64url; throw on anything else (padding, '+', '/', stray low bits). */
export function b64decode(text: string): Bytes {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) {
    throw new Error("not unpadded base64url");
  }
  const sodium = lib();
  const data = own(sodium.from_base64(text, sodium.base64_variants.URLSAFE_NO_PADDING));
  if (b64encode(data) !== text) {
    throw new Error("not canonical base64url");
  }
  return data;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const COFFER_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** Tell whether *text* is a Coffer id: a lowercase version-4 UUID. */
export function isId(text: string): boolean {
  return COFFER_ID.test(text);
}

/** Return a UUID's 16 bytes in the order its hex digits are written. */
export function uuidBytes(id: string): Bytes {
  if (!UUID.test(id)) {
    throw new Error("not a UUID");
  }
  return fromHex(id.replace(/-/g, "").toLowerCase());
}

/** Return a big-endian 8-byte unsigned integer. */
export function uint64(value: number): Bytes {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt(value), false);
  return out;
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Return canonical JSON: keys sorted, no whitespace, every non-ASCII UTF-16 unit escaped as \uXXXX. */
export function canonicalJson(value: Json): string {
  return JSON.stringify(sorted(value)).replace(
    /[\u0080-\uffff]/g,
    (ch) => "\\u" + ch.charCodeAt(0).toString(16).padStart(4, "0"),
  );
}

function sorted(value: Json): Json {
  if (Array.isArray(value)) {
    return value.map(sorted);
  }
  if (value !== null && typeof value === "object") {
    const out: { [key: string]: Json } = {};
    for (const key of Object.keys(value).sort()) {
      out[key] = sorted(value[key] as Json);
    }
    return out;
  }
  return value;
}

/** Compare two byte strings in constant time for equal lengths (libsodium's memcmp). */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && lib().memcmp(a, b);
}
