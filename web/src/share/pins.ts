/**
 * Other users' public keys, remembered by fingerprint per server and account, as the CLI's
 * known_keys.json (client/pins.py) but in this browser's IndexedDB: trust on first use.
 *
 * A key *pinned* was shared to after the person compared its fingerprint; a key *seen* was met
 * only on a file someone shared with this account. Either one, once known, makes a different key
 * for that name "changed", refused until the person types the fingerprint the other user reads
 * out to them. SECURITY: a seen key is never pinned by being seen, or a server that planted a
 * share "from frank" under a key pair it made would have that key trusted for shares to frank.
 */
import { fingerprint, sameFingerprint } from "../format/shares";
import { PINS, database, request } from "../store/db";

export type KeyStatus = "new" | "seen" | "pinned" | "changed";

interface PinRow {
  readonly id: string;
  readonly kind: "pinned" | "seen";
  readonly fingerprint: string;
}

export class Pins {
  /** *account* is `server|user name`: whose pins these are. */
  constructor(private readonly account: string) {}

  private id(name: string): string {
    return `${this.account}|${name}`;
  }

  private async row(name: string): Promise<PinRow | undefined> {
    const db = await database();
    if (db === null) return undefined;
    return (await request(db.transaction(PINS, "readonly").objectStore(PINS).get(this.id(name)))) as PinRow | undefined;
  }

  private async write(name: string, kind: PinRow["kind"], publicKey: Uint8Array): Promise<void> {
    const db = await database();
    if (db === null) return;
    const row: PinRow = { id: this.id(name), kind, fingerprint: fingerprint(publicKey) };
    await request(db.transaction(PINS, "readwrite").objectStore(PINS).put(row));
  }

  /** Say how *publicKey* stands for *name*: new, seen, pinned (the same) or changed. */
  async status(name: string, publicKey: Uint8Array): Promise<KeyStatus> {
    const row = await this.row(name);
    if (row === undefined) return "new";
    if (!sameFingerprint(row.fingerprint, publicKey)) return "changed";
    return row.kind;
  }

  /** Pin *publicKey* for *name*, replacing an earlier pin or seen key. SECURITY: only after a share the person checked. */
  async pin(name: string, publicKey: Uint8Array): Promise<void> {
    await this.write(name, "pinned", publicKey);
  }

  /** Remember the key of a file's owner as seen, if nothing is known of *name* yet. */
  async see(name: string, publicKey: Uint8Array): Promise<KeyStatus> {
    const status = await this.status(name, publicKey);
    if (status === "new") await this.write(name, "seen", publicKey);
    return status;
  }
}
