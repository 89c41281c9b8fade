// What the format's whole-file SHA-256 costs the page: libsodium's incremental SHA-256 (its
// WebAssembly build, as the page runs it) against WebCrypto's one-shot digest (native, but it
// cannot be fed a file in pieces), over the same 8 MiB chunks. Usage: node test/hash-speed.mjs [MiB]
import sodium from "libsodium-wrappers-sumo";

await sodium.ready;
const total = Number(process.argv[2] ?? 256);
const chunk = new Uint8Array(8 * 1024 * 1024);
for (let i = 0; i < chunk.length; i += 65536) crypto.getRandomValues(chunk.subarray(i, i + 65536));
const rounds = total / 8;
const rate = (ms) => ((total * 1.048576) / (ms / 1000)).toFixed(0);

let started = performance.now();
const state = sodium.crypto_hash_sha256_init();
for (let i = 0; i < rounds; i++) sodium.crypto_hash_sha256_update(state, chunk);
sodium.crypto_hash_sha256_final(state);
const incremental = performance.now() - started;

started = performance.now();
for (let i = 0; i < rounds; i++) await crypto.subtle.digest("SHA-256", chunk);
const oneShot = performance.now() - started;
console.log(`${total} MiB: libsodium incremental SHA-256 ${rate(incremental)} MB/s, WebCrypto SHA-256 ${rate(oneShot)} MB/s`);
