// Build the page: bundle each entry with esbuild under a content-hashed name and write the HTML
// pages that load them. Usage: node build.mjs [--out DIR] [--tests]
//   --out DIR  where to write (default: dist, which the server serves)
//   --tests    also build the format's vector page (vectors.html), for tests/web only
//   --readable not minified, so a profile names the page's own functions
import { build } from "esbuild";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const outIndex = args.indexOf("--out");
const out = path.resolve(outIndex >= 0 ? args[outIndex + 1] : path.join(here, "dist"));
const withTests = args.includes("--tests");
const minify = !args.includes("--readable");

// page file -> the entry it loads; the HTML has {{script}} where the hashed bundle goes.
const pages = { "index.html": "src/app.ts", "link.html": "src/link.ts" };
if (withTests) pages["vectors.html"] = "test/vectors.ts";
const workers = ["src/workers/chunks.ts", "src/workers/seal.ts", "src/workers/kdf.ts", "src/workers/stage.ts"];

await rm(out, { recursive: true, force: true });
await mkdir(path.join(out, "assets"), { recursive: true });
const entries = [...new Set([...Object.values(pages), ...workers])].map((p) => path.join(here, p));
const result = await build({
  entryPoints: entries,
  bundle: true,
  format: "esm",
  target: "es2022",
  minify,
  sourcemap: false,
  legalComments: "none",
  outdir: path.join(out, "assets"),
  entryNames: "[name]-[hash]",
  metafile: true,
  logLevel: "warning",
});

// The Service Worker keeps one name at the root: its address is its identity, and its scope must be "/".
await build({
  entryPoints: [path.join(here, "src/sw.ts")],
  bundle: true,
  format: "iife",
  target: "es2022",
  minify,
  legalComments: "none",
  outfile: path.join(out, "sw.js"),
  logLevel: "warning",
});

// entry source -> its hashed asset path, as the page will ask for it
const assets = {};
for (const [file, meta] of Object.entries(result.metafile.outputs)) {
  if (meta.entryPoint) assets[path.resolve(meta.entryPoint)] = "/assets/" + path.basename(file);
}
const workerUrls = Object.fromEntries(workers.map((w) => [path.basename(w, ".ts"), assets[path.join(here, w)]]));
const css = await readFile(path.join(here, "pages", "style.css"), "utf8");
const cssName = `style-${(await import("node:crypto")).createHash("sha256").update(css).digest("hex").slice(0, 8)}.css`;
await writeFile(path.join(out, "assets", cssName), css);
for (const [page, entry] of Object.entries(pages)) {
  const template = await readFile(path.join(here, "pages", page), "utf8");
  const html = template
    .replaceAll("{{script}}", assets[path.join(here, entry)])
    .replaceAll("{{style}}", "/assets/" + cssName)
    .replaceAll("{{workers}}", JSON.stringify(workerUrls).replaceAll('"', "&quot;"));
  await writeFile(path.join(out, page), html);
}
console.log(`built the web page into ${path.relative(process.cwd(), out) || "."}`);
