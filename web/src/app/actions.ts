/**
 * What the owner does with a file besides downloading it, as the CLI does (client/sharing.py):
 * make a link (the server keeps its limits, the fragment made here its key, plain or locked with a
 * password), and share with a user (the file key boxed to their public key once the pins accept
 * it). Both start from the owner's own record, opened and held to its key commitment.
 * SECURITY: file keys and link URLs live in memory only; nothing here logs.
 */
import type { FilesApi } from "../api/files";
import { ApiError } from "../api/http";
import { type Bytes, b64decode, b64encode } from "../format/encoding";
import { type UserKeys, openFileKey } from "../format/keys";
import { linkUrl, lockedFragment, plainFragment } from "../format/links";
import { openWithKey } from "../format/records";
import { fingerprint, sameFingerprint, sealShareKey } from "../format/shares";
import type { KeyStatus, Pins } from "../share/pins";

interface OwnKey {
  readonly fileId: string;
  readonly rawKey: Bytes;
}

/** Open the key of a complete file of the user's own, checked against the record's commitment. */
async function ownKey(files: FilesApi, keys: UserKeys, fileId: string, doing: string): Promise<OwnKey> {
  const record = await files.get(fileId);
  if (record.access === "shared") {
    throw new ApiError("not_owner", 403, `this file is shared with you: only its owner can ${doing} it`);
  }
  if (record.state !== "complete") {
    throw new ApiError("not_complete", 0, "this file's upload has not finished: finish it first");
  }
  const rawKey = openFileKey(keys, b64decode(String(record.sealed_key ?? "")));
  await openWithKey(record, rawKey, "your sealed file key"); // SECURITY: the commitment, before the key is handed on
  return { fileId, rawKey };
}

export interface LinkChoice {
  readonly expiresInDays: number | null;
  readonly maxDownloads: number | null;
  readonly password: string | null;
}

/** Make a link to *fileId* and return its URL, which carries the key after '#'. */
export async function makeLink(
  files: FilesApi,
  keys: UserKeys,
  server: string,
  fileId: string,
  choice: LinkChoice,
): Promise<string> {
  const own = await ownKey(files, keys, fileId, "make links of");
  const answer = await files.createLink(own.fileId, {
    protected: choice.password !== null,
    ...(choice.expiresInDays === null ? {} : { expires_in: choice.expiresInDays * 86400 }),
    ...(choice.maxDownloads === null ? {} : { max_downloads: choice.maxDownloads }),
  });
  const linkId = String(answer.id);
  const fragment = choice.password === null ? plainFragment(own.rawKey) : lockedFragment(own.rawKey, linkId, choice.password);
  return linkUrl(server, linkId, fragment);
}

/** A user's public key as the server gives it, its fingerprint, and how it stands against the pins. */
export interface LookedUp {
  readonly name: string;
  readonly publicKey: Bytes;
  readonly fingerprint: string;
  readonly status: KeyStatus;
}

export async function lookUp(files: FilesApi, pins: Pins, name: string): Promise<LookedUp> {
  const publicKey = b64decode(await files.publicKey(name));
  return { name, publicKey, fingerprint: fingerprint(publicKey), status: await pins.status(name, publicKey) };
}

/**
 * Share *fileId* with *who*. A changed key is refused unless *typed* (the fingerprint the person
 * compared out of band) is that key's; the key is pinned after the first share, or after one
 * accepted by a typed fingerprint.
 */
export async function share(
  files: FilesApi,
  keys: UserKeys,
  pins: Pins,
  fileId: string,
  who: LookedUp,
  typed: string | null,
): Promise<void> {
  // SECURITY: the key must be the pinned one, or the one compared out of band, before the file key is boxed to it.
  if (typed !== null && !sameFingerprint(typed, who.publicKey)) {
    throw new ApiError(
      "key_changed",
      0,
      `The server gives ${who.name} a key with fingerprint ${who.fingerprint}, not the one you typed: check what you typed; ` +
        `if it is what ${who.name} read out to you, the server is not handing out their real key, and nothing was shared`,
    );
  }
  if (who.status === "changed" && typed === null) {
    throw new ApiError(
      "key_changed",
      0,
      `${who.name}'s key changed since you last shared with them: ask them for their fingerprint, type it, and share again`,
    );
  }
  const own = await ownKey(files, keys, fileId, "share");
  const box = sealShareKey(keys, who.publicKey, own.fileId, own.rawKey);
  await files.putShare(own.fileId, who.name, b64encode(box), b64encode(who.publicKey));
  if (who.status !== "pinned" || typed !== null) await pins.pin(who.name, who.publicKey);
}
