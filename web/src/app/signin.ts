/**
 * Sign in as the Python client does (client/coffer.py `login`): prelogin for the salt and cost,
 * Argon2id to the auth key and master key, a session with the auth key, then the user's private
 * key unwrapped with the master key and held to the stored public key.
 * SECURITY: the password and the master key never leave this page; the server gets the auth key only.
 */
import { Account, prelogin } from "../api/account";
import { b64decode, b64encode } from "../format/encoding";
import { randomBytes } from "../format/aead";
import { MEMLIMIT, OPSLIMIT, SALT_BYTES } from "../format/kdf";
import { type UserKeys, unwrapPrivateKey, wrapPrivateKey } from "../format/keys";
import { deriveKeys } from "../passwords/hashing";

export interface SignedIn {
  readonly account: Account;
  readonly name: string;
  readonly keys: UserKeys;
}

export async function signIn(server: string, username: string, password: string): Promise<SignedIn> {
  const params = await prelogin(server, username);
  const derived = await deriveKeys(password, { salt: b64decode(params.salt), opslimit: params.opslimit, memlimit: params.memlimit });
  const account = await Account.login(server, username, b64encode(derived.authKey));
  const me = await account.me();
  // SECURITY: a server that swapped the public key is caught here, before anything is sealed to it.
  const keys = unwrapPrivateKey(derived.masterKey, b64decode(me.wrappedPrivateKey), b64decode(me.publicKey));
  return { account, name: me.name, keys };
}

/**
 * Change the password as `coffer passwd` does (client/coffer.py `change_password`): prove the old
 * one with its auth key, a new salt, and the same key pair wrapped under the new master key.
 * SECURITY: both passwords and master keys stay in this page; the server ends the other sessions.
 */
export async function changePassword(server: string, signedIn: SignedIn, old: string, fresh: string): Promise<void> {
  const params = await prelogin(server, signedIn.name);
  const before = await deriveKeys(old, { salt: b64decode(params.salt), opslimit: params.opslimit, memlimit: params.memlimit });
  const salt = randomBytes(SALT_BYTES);
  const after = await deriveKeys(fresh, { salt, opslimit: OPSLIMIT, memlimit: MEMLIMIT });
  await signedIn.account.call("POST", "/api/auth/password", {
    auth_key: b64encode(before.authKey),
    salt: b64encode(salt),
    opslimit: OPSLIMIT,
    memlimit: MEMLIMIT,
    new_auth_key: b64encode(after.authKey),
    wrapped_private_key: b64encode(wrapPrivateKey(after.masterKey, signedIn.keys)),
  });
}
