/**
 * Meet the owners of the files shared with the user against the pins, before any of their records
 * is opened: a key met for the first time is remembered as *seen* (never pinned by being seen), a
 * key that differs from the one known is refused. openRecord takes the result as its owner check.
 * SECURITY: the check runs before an owner's key authenticates anything.
 */
import { b64decode } from "../format/encoding";
import { IntegrityError } from "../format/errors";
import type { FileRecord, OwnerCheck } from "../format/records";
import { fingerprint } from "../format/shares";
import type { Pins } from "./pins";

function keyOf(record: FileRecord): Uint8Array | null {
  try {
    const key = typeof record.owner_public_key === "string" ? b64decode(record.owner_public_key) : null;
    return key !== null && key.length === 32 ? key : null;
  } catch {
    return null;
  }
}

export async function ownerCheck(pins: Pins, records: readonly FileRecord[]): Promise<OwnerCheck> {
  const accepted = new Map<string, string>();
  const refused = new Set<string>();
  for (const record of records) {
    const owner = record.owner;
    const key = keyOf(record);
    if (record.access !== "shared" || typeof owner !== "string" || key === null) continue;
    if ((await pins.see(owner, key)) === "changed") refused.add(owner);
    else if (!accepted.has(owner)) accepted.set(owner, fingerprint(key));
  }
  return (owner, publicKey) => {
    if (refused.has(owner) || publicKey.length !== 32 || accepted.get(owner) !== fingerprint(publicKey)) {
      throw new IntegrityError(
        `${owner}'s key is not the one this browser knew for them: compare fingerprints with ${owner} ` +
          "(their coffer fingerprint) before trusting a file from them",
      );
    }
  };
}
