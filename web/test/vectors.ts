/**
 * Run every vector of spec/vectors/format-v1.json through the page's format module, in the browser.
 *
 * The results land in `window.cofferVectors` (and a summary in the status line) for the pytest
 * test that drives this page in Chromium (tests/web/test_vectors.py). Each vector is named
 * `section/index`, so that test can hold the names to the file and a vector skipped here fails there.
 */
import vectors from "../../spec/vectors/format-v1.json";
import { importKey } from "../src/format/aead";
import { chunkAd, chunkHash, openChunk, sealChunk } from "../src/format/chunks";
import { concat, fromHex, toHex, utf8 } from "../src/format/encoding";
import { FormatError } from "../src/format/errors";
import { derive, keyedHash, passwordRoot } from "../src/format/kdf";
import {
  checkKeyCommitment,
  keyCommitment,
  openFileKey,
  unwrapPrivateKey,
  wrapPrivateKey,
} from "../src/format/keys";
import { linkUrl, linkWrapKey, lockedFragment, openFragment, parseLink, plainFragment } from "../src/format/links";
import { metadataJson, openMetadata, sealMetadata } from "../src/format/metadata";
import { StreamingSha256 } from "../src/format/sha256";
import { fingerprint, openShareKey, sameFingerprint, sealShareKey } from "../src/format/shares";
import { chunkCount, fileCiphertextSize } from "../src/format/sizes";
import { ready } from "../src/format/sodium";

export interface VectorResult {
  name: string;
  ok: boolean;
  detail: string;
}

declare global {
  interface Window {
    cofferVectors?: VectorResult[];
  }
}

type Check = () => void | Promise<void>;

function expect(condition: boolean, what: string): void {
  if (!condition) {
    throw new Error(what);
  }
}

function sameHex(actual: Uint8Array, hex: string, what: string): void {
  expect(toHex(actual) === hex, `${what}: ${toHex(actual)} != ${hex}`);
}

async function fails(code: string, attempt: () => unknown): Promise<void> {
  try {
    await attempt();
  } catch (error) {
    const got = error instanceof FormatError ? error.code : String(error);
    expect(got === code, `failed with ${got}, not ${code}`);
    return;
  }
  throw new Error(`did not fail (expected ${code})`);
}

function checks(): [string, Check][] {
  const out: [string, Check][] = [];
  const v = vectors;
  v.kdf.forEach((k, i) =>
    out.push([
      `kdf/${i}`,
      () => {
        const params = { salt: fromHex(k.salt), opslimit: k.opslimit, memlimit: k.memlimit };
        sameHex(utf8(k.password), k.password_utf8, "password_utf8");
        sameHex(passwordRoot(k.password, params), k.root, "root");
        const keys = derive(k.password, params);
        sameHex(keys.authKey, k.auth_key, "auth_key");
        sameHex(keys.masterKey, k.master_key, "master_key");
      },
    ]),
  );
  out.push([
    "user_keys",
    () => {
      const u = v.user_keys;
      const keys = { private: fromHex(u.private_key), public: fromHex(u.public_key) };
      sameHex(wrapPrivateKey(fromHex(u.master_key), keys, fromHex(u.nonce)), u.wrapped, "wrapped");
      const opened = unwrapPrivateKey(fromHex(u.master_key), fromHex(u.wrapped), keys.public);
      sameHex(opened.private, u.private_key, "unwrapped");
    },
  ]);
  out.push([
    "sealed_file_key",
    () => {
      const s = v.sealed_file_key;
      const keys = { private: fromHex(s.private_key), public: fromHex(s.public_key) };
      sameHex(openFileKey(keys, fromHex(s.sealed)), s.file_key, "file_key");
    },
  ]);
  v.chunks.forEach((c, i) =>
    out.push([
      `chunks/${i}`,
      async () => {
        const key = await importKey(fromHex(c.key));
        sameHex(chunkAd(c.file_id, c.index, c.last), c.ad, "ad");
        const blob = await sealChunk(key, c.file_id, c.index, c.last, fromHex(c.plaintext), fromHex(c.nonce));
        sameHex(blob, c.blob, "blob");
        expect((await chunkHash(blob)) === c.hash, "hash");
        sameHex(await openChunk(key, c.file_id, c.index, c.last, fromHex(c.blob)), c.plaintext, "opened");
      },
    ]),
  );
  v.chunk_rejections.forEach((c, i) =>
    out.push([
      `chunk_rejections/${i}`,
      async () => {
        const key = await importKey(fromHex(c.key));
        await fails("integrity", () => openChunk(key, c.file_id, c.index, c.last, fromHex(c.blob)));
      },
    ]),
  );
  v.metadata.forEach((m, i) =>
    out.push([
      `metadata/${i}`,
      async () => {
        const key = await importKey(fromHex(m.key));
        expect(metadataJson(m.metadata) === m.plaintext, `canonical JSON: ${metadataJson(m.metadata)}`);
        sameHex(await sealMetadata(key, m.file_id, m.metadata, fromHex(m.nonce)), m.blob, "blob");
        const opened = await openMetadata(key, m.file_id, fromHex(m.blob));
        const fields = ["name", "size", "type", "mtime", "sha256"] as const;
        fields.forEach((field) => expect(opened[field] === m.metadata[field], `opened metadata: ${field}`));
      },
    ]),
  );
  out.push(["file", () => checkFile()]);
  v.key_commitment.forEach((k, i) =>
    out.push([
      `key_commitment/${i}`,
      async () => {
        expect(new TextDecoder().decode(utf8(k.label)) === "coffer key commitment v1", "label");
        sameHex(keyCommitment(fromHex(k.file_key)), k.commitment, "commitment");
        checkKeyCommitment(fromHex(k.file_key), fromHex(k.commitment), "the key");
        const other = v.key_commitment[(i + 1) % v.key_commitment.length];
        if (other !== undefined) {
          await fails("key_mismatch", () =>
            checkKeyCommitment(fromHex(k.file_key), fromHex(other.commitment), "the key"),
          );
        }
      },
    ]),
  );
  out.push(["share_key", () => checkShareKey()]);
  v.share_key.rejections.forEach((r, i) =>
    out.push([
      `share_key.rejections/${i}`,
      () =>
        fails(r.error, () =>
          openShareKey(
            { private: fromHex(r.recipient_private_key), public: fromHex(r.recipient_public_key) },
            fromHex(r.owner_public_key),
            r.file_id,
            fromHex(r.share_key),
          ),
        ),
    ]),
  );
  v.fingerprint.forEach((f, i) =>
    out.push([
      `fingerprint/${i}`,
      () => {
        const key = fromHex(f.public_key);
        expect(fingerprint(key) === f.fingerprint, `fingerprint ${fingerprint(key)}`);
        sameHex(concat(utf8("coffer fingerprint v1"), key), f.message, "message");
        f.typed_matching.forEach((t) => expect(sameFingerprint(t, key), `should match: ${t}`));
        f.typed_not_matching.forEach((t) => expect(!sameFingerprint(t, key), `should not match: ${t}`));
      },
    ]),
  );
  out.push(...linkChecks());
  return out;
}

async function checkFile(): Promise<void> {
  const f = vectors.file;
  const key = await importKey(fromHex(f.key));
  const plain = fromHex(f.plaintext);
  const count = chunkCount(plain.length, f.chunk_size);
  expect(count === f.chunks.length && count === f.server_record.chunk_count, "chunk count");
  expect(fileCiphertextSize(plain.length, count) === f.server_record.size, "ciphertext size");
  expect(f.chunk_size + 28 === f.server_record.chunk_size, "record chunk size");
  const whole = new StreamingSha256();
  for (const c of f.chunks) {
    const piece = plain.subarray(c.index * f.chunk_size, (c.index + 1) * f.chunk_size);
    whole.update(piece);
    const blob = await sealChunk(key, f.file_id, c.index, c.last, piece, fromHex(c.nonce));
    sameHex(blob, c.blob, `chunk ${c.index}`);
    expect((await chunkHash(blob)) === c.hash, `hash ${c.index}`);
  }
  expect(whole.hexdigest() === f.metadata.sha256, "whole-file SHA-256");
  sameHex(await sealMetadata(key, f.file_id, f.metadata, fromHex(f.metadata_nonce)), f.metadata_blob, "metadata");
  const opened = await openMetadata(key, f.file_id, fromHex(f.metadata_blob));
  expect(opened.size === plain.length && opened.name === f.metadata.name, "opened metadata");
}

function checkShareKey(): void {
  const s = vectors.share_key;
  const owner = { private: fromHex(s.owner_private_key), public: fromHex(s.owner_public_key) };
  const recipient = { private: fromHex(s.recipient_private_key), public: fromHex(s.recipient_public_key) };
  sameHex(concat(utf8("coffer share v1"), fromHex(s.file_id.replace(/-/g, "")), fromHex(s.file_key)), s.plaintext, "plaintext");
  const box = sealShareKey(owner, recipient.public, s.file_id, fromHex(s.file_key), fromHex(s.nonce));
  sameHex(box, s.share_key, "share_key");
  const key = openShareKey(recipient, owner.public, s.file_id, box);
  sameHex(key, s.file_key, "opened");
  checkKeyCommitment(key, fromHex(s.key_commitment), "the shared key");
}

function linkChecks(): [string, Check][] {
  const l = vectors.links;
  const out: [string, Check][] = [
    [
      "links.plain",
      () => {
        const p = l.plain;
        expect(plainFragment(fromHex(p.file_key)) === p.fragment, "fragment");
        expect(linkUrl(p.server, p.link_id, p.fragment) === p.url, "url");
        const key = openFragment(p.fragment, p.link_id, null);
        sameHex(key, p.file_key, "opened");
        checkKeyCommitment(key, fromHex(p.key_commitment), "the link's key");
      },
    ],
    [
      "links.password",
      () => {
        const p = l.password;
        sameHex(utf8(p.password), p.password_utf8, "password_utf8");
        const salt = fromHex(p.salt);
        sameHex(passwordRoot(p.password, { salt, opslimit: p.opslimit, memlimit: p.memlimit }), p.root, "root");
        sameHex(keyedHash(fromHex(p.root), utf8("coffer link key v1")), p.wrap_key, "wrap_key");
        sameHex(linkWrapKey(p.password, salt), p.wrap_key, "wrap_key from the password");
        sameHex(concat(utf8("coffer link v1"), fromHex(p.link_id.replace(/-/g, ""))), p.ad, "ad");
        const fragment = lockedFragment(fromHex(p.file_key), p.link_id, p.password, salt, fromHex(p.nonce));
        expect(fragment === p.fragment, "fragment");
        expect(linkUrl(p.server, p.link_id, fragment) === p.url, "url");
        const key = openFragment(p.fragment, p.link_id, p.password);
        sameHex(key, p.file_key, "opened");
        checkKeyCommitment(key, fromHex(p.key_commitment), "the link's key");
      },
    ],
  ];
  l.rejections.forEach((r, i) =>
    out.push([
      `links.rejections/${i}`,
      () =>
        fails(r.error, () =>
          checkKeyCommitment(openFragment(r.fragment, r.link_id, r.password), fromHex(r.key_commitment), "the key"),
        ),
    ]),
  );
  l.urls.forEach((u, i) =>
    out.push([
      `links.urls/${i}`,
      () => {
        const ref = parseLink(u.url);
        expect(ref.server === u.server, `server ${ref.server}`);
        expect(ref.linkId === u.link_id, "link id");
        expect(ref.fragment === u.fragment, "fragment");
      },
    ]),
  );
  l.malformed_urls.forEach((u, i) =>
    out.push([`links.malformed_urls/${i}`, () => fails(u.error, () => parseLink(u.url))]),
  );
  return out;
}

async function run(): Promise<void> {
  const status = document.getElementById("status");
  await ready();
  const results: VectorResult[] = [];
  for (const [name, check] of checks()) {
    try {
      await check();
      results.push({ name, ok: true, detail: "" });
    } catch (error) {
      results.push({ name, ok: false, detail: error instanceof Error ? error.message : String(error) });
    }
  }
  const passed = results.filter((r) => r.ok).length;
  window.cofferVectors = results;
  if (status) {
    status.textContent = `${passed} of ${results.length} vectors pass`;
  }
}

void run();
