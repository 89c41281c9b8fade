/**
 * The signed-in user's side of the API: prelogin and login, the user's keys, and the file list.
 * SECURITY: the session token is a bearer credential kept in memory only (a reload signs out);
 * it travels in the Authorization header, never in a URL.
 */
import type { FileRecord } from "../format/records";
import { ApiError, requestJson } from "./http";

export interface Prelogin {
  readonly salt: string;
  readonly opslimit: number;
  readonly memlimit: number;
}

export interface Me {
  readonly name: string;
  readonly publicKey: string;
  readonly wrappedPrivateKey: string;
}

function fields(value: unknown, what: string): Record<string, unknown> {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new ApiError("bad_answer", 0, `the server sent a malformed ${what}`);
  }
  return value as Record<string, unknown>;
}

function text(value: unknown, what: string): string {
  if (typeof value !== "string") throw new ApiError("bad_answer", 0, `the server sent a malformed ${what}`);
  return value;
}

export async function prelogin(server: string, username: string): Promise<Prelogin> {
  const body = fields(await requestJson("POST", `${server}/api/auth/prelogin`, { username }), "prelogin answer");
  return {
    salt: text(body.salt, "salt"),
    opslimit: Number(body.opslimit),
    memlimit: Number(body.memlimit),
  };
}

/** A session of one user on one server. */
export class Account {
  private constructor(
    private readonly server: string,
    private readonly token: string,
  ) {}

  /** Open a session with the password's auth key (base64url). */
  static async login(server: string, username: string, authKey: string): Promise<Account> {
    const body = fields(
      await requestJson("POST", `${server}/api/auth/login`, { username, auth_key: authKey }),
      "login answer",
    );
    return new Account(server, text(body.token, "session token"));
  }

  /** Send one call of this session (the token in the Authorization header); answer its JSON body. */
  call(method: string, path: string, body?: unknown): Promise<unknown> {
    return requestJson(method, `${this.server}${path}`, body, { Authorization: `Bearer ${this.token}` });
  }

  async me(): Promise<Me> {
    const body = fields(await this.call("GET", "/api/me"), "account");
    if (typeof body.public_key !== "string" || typeof body.wrapped_private_key !== "string") {
      throw new ApiError(
        "keys_missing",
        0,
        "this account has no key pair yet: sign in once with the coffer command, which makes it",
      );
    }
    return { name: text(body.name, "name"), publicKey: body.public_key, wrappedPrivateKey: body.wrapped_private_key };
  }

  /** Return every file of the user (or, if *shared*, every file shared with them), page by page, oldest first. */
  async files(shared = false): Promise<FileRecord[]> {
    const all: FileRecord[] = [];
    let after: string | null = null;
    const base = shared ? "limit=500&shared=true" : "limit=500";
    do {
      const query: string = after === null ? base : `${base}&after=${encodeURIComponent(after)}`;
      const page = fields(await this.call("GET", `/api/files?${query}`), "file list");
      const listed = Array.isArray(page.files) ? page.files : [];
      listed.forEach((record) => all.push(fields(record, "file record")));
      after = typeof page.next === "string" ? page.next : null;
    } while (after !== null);
    return all;
  }

  async logout(): Promise<void> {
    await this.call("POST", "/api/auth/logout").catch(() => undefined);
  }
}
