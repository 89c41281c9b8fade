// What the format's whole-file SHA-256 costs the page: the incremental SHA-256s the page could
// feed a file in pieces (hash-wasm's, which the page uses, and libsodium's, which it used; both
// WebAssembly without the CPU's SHA instructions) against WebCrypto's one-shot digest (native,
// but it cannot be fed a file in pieces), over the same 8 MiB chunks. Each is given in MB per
// second of wall time and per second of this process's CPU time: on a busy machine the first is
// the machine's load, the second what the hash costs. Usage: node test/hash-speed.mjs [MiB]
import { createSHA256 } from "hash-wasm";
import sodium from "libsodium-wrappers-sumo";

await sodium.ready;
const total = Number(process.argv[2] ?? 256);
const chunk = new Uint8Array(8 * 1024 * 1024);
for (let i = 0; i < chunk.length; i += 65536) crypto.getRandomValues(chunk.subarray(i, i + 65536));
const rounds = total / 8;
const cpuMs = () => {
  const used = process.cpuUsage();
  return (used.user + used.system) / 1000;
};
const rate = (ms) => ((total * 1.048576) / (ms / 1000)).toFixed(0);

async function measure(name, run) {
  const [wall, cpu] = [performance.now(), cpuMs()];
  await run();
  return `${name} ${rate(performance.now() - wall)} / ${rate(cpuMs() - cpu)}`;
}

const hasher = await createSHA256();
const found = [
  await measure("hash-wasm incremental", () => {
    hasher.init();
    for (let i = 0; i < rounds; i++) hasher.update(chunk);
    hasher.digest();
  }),
  await measure("libsodium incremental", () => {
    const state = sodium.crypto_hash_sha256_init();
    for (let i = 0; i < rounds; i++) sodium.crypto_hash_sha256_update(state, chunk);
    sodium.crypto_hash_sha256_final(state);
  }),
  await measure("WebCrypto one-shot", async () => {
    for (let i = 0; i < rounds; i++) await crypto.subtle.digest("SHA-256", chunk);
  }),
];
console.log(`${total} MiB, MB/s of wall time / of CPU time: ${found.join(", ")}`);
