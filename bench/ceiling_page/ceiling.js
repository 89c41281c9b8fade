// The browser's limit for the app page's two data paths, with no Coffer code and no crypto
// (bench/browser_ceiling.py drives it). Chunk size and chunks in flight are the page's own.
"use strict";

const CHUNK = 8 * 1024 * 1024;
const IN_FLIGHT = 4;

async function inLanes(count, one) {
  let next = 0;
  const lane = async () => {
    while (next < count) await one(next++);
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, lane));
}

// Up: each chunk read from the chosen file into memory, then sent as a Blob body, as the page
// sends a sealed chunk it holds in memory. Returns the seconds it took.
window.upload = async () => {
  const file = document.getElementById("file").files[0];
  const started = performance.now();
  await inLanes(Math.ceil(file.size / CHUNK), async (i) => {
    const bytes = new Uint8Array(await file.slice(i * CHUNK, (i + 1) * CHUNK).arrayBuffer());
    const response = await fetch(`/up/${i}`, { method: "PUT", body: new Blob([bytes]) });
    if (!response.ok) throw new Error(`PUT chunk ${i}: ${response.status}`);
  });
  return (performance.now() - started) / 1000;
};

// Down, the network alone: the chunks of the file served as *name* fetched into memory and dropped.
window.fetchOnly = async (name, size) => {
  const started = performance.now();
  await inLanes(Math.ceil(size / CHUNK), async (i) => {
    const range = `bytes=${i * CHUNK}-${Math.min(size, (i + 1) * CHUNK) - 1}`;
    const response = await fetch(`/files/${encodeURIComponent(name)}`, { headers: { Range: range }, cache: "no-store" });
    if (response.status !== 206) throw new Error(`GET chunk ${i}: ${response.status}`);
    await response.arrayBuffer();
  });
  return (performance.now() - started) / 1000;
};

// Down to disk: the Service Worker answers /dl/{name} with a stream it fills from /files/{name}, as
// the page saves a file where the File System Access API is missing. The caller waits for the file.
window.download = (name, size) => {
  const anchor = document.createElement("a");
  anchor.href = `/dl/${encodeURIComponent(name)}?size=${size}`;
  document.body.append(anchor);
  anchor.click();
  anchor.remove();
};

window.ready = navigator.serviceWorker.register("sw.js", { scope: "/dl/" }).then(async (registration) => {
  while (registration.active?.state !== "activated") await new Promise((resolve) => setTimeout(resolve, 50));
  return true;
});
