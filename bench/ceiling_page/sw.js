// The download half of the browser's limit: the file's chunks fetched IN_FLIGHT at a time and
// handed in order to the stream the browser saves, with room for two, as the page's worker has.
"use strict";

const CHUNK = 8 * 1024 * 1024;
const IN_FLIGHT = 4;

self.addEventListener("install", (event) => event.waitUntil(self.skipWaiting()));
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (!url.pathname.startsWith("/dl/")) return;
  const size = Number(url.searchParams.get("size"));
  const name = decodeURIComponent(url.pathname.slice("/dl/".length));
  const count = Math.ceil(size / CHUNK);
  const pending = [];
  let next = 0;
  const fetchChunk = async (i) => {
    const range = `bytes=${i * CHUNK}-${Math.min(size, (i + 1) * CHUNK) - 1}`;
    const response = await fetch(`/files/${encodeURIComponent(name)}`, { headers: { Range: range }, cache: "no-store" });
    if (response.status !== 206) throw new Error(`GET chunk ${i}: ${response.status}`);
    return response.arrayBuffer();
  };
  const stream = new ReadableStream(
    {
      start() {
        for (; next < Math.min(IN_FLIGHT, count); next++) pending.push(fetchChunk(next));
      },
      async pull(controller) {
        if (pending.length === 0) return controller.close();
        const bytes = await pending.shift(); // a failed chunk errors the stream: the download fails
        if (next < count) pending.push(fetchChunk(next++));
        controller.enqueue(new Uint8Array(bytes));
      },
    },
    new CountQueuingStrategy({ highWaterMark: 2 }),
  );
  const headers = { "Content-Type": "application/octet-stream", "Content-Disposition": `attachment; filename="${name}"` };
  event.respondWith(new Response(stream, { headers }));
});
