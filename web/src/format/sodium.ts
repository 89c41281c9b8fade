/**
 * libsodium's JavaScript build (the "sumo" variant: Argon2id is only there).
 *
 * Its WebAssembly module is compiled when the library loads, so every caller awaits `ready()`
 * once before using `lib()`; the format's synchronous functions then call it directly.
 */
import sodium from "libsodium-wrappers-sumo";
import { loadSha256 } from "./sha256";

export type Sodium = typeof sodium;

let loaded = false;

/** Load libsodium and the incremental SHA-256 (once); resolve when the format's functions may be called. */
export async function ready(): Promise<Sodium> {
  await Promise.all([sodium.ready, loadSha256()]);
  loaded = true;
  return sodium;
}

/** Return the loaded library; a programming error if `ready()` was not awaited first. */
export function lib(): Sodium {
  if (!loaded) {
    throw new Error("libsodium is not loaded yet: await ready() before using the format");
  }
  return sodium;
}
