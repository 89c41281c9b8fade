/**
 * libsodium's JavaScript build (the "sumo" variant: Argon2id and the streaming SHA-256 are only there).
 *
 * Its WebAssembly module is compiled when the library loads, so every caller awaits `ready()`
 * once before using `lib()`; the format's synchronous functions then call it directly.
 */
import sodium from "libsodium-wrappers-sumo";

export type Sodium = typeof sodium;

let loaded = false;

/** Load libsodium (once); resolve when its functions may be called. */
export async function ready(): Promise<Sodium> {
  await sodium.ready;
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
