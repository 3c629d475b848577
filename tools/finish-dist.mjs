// Turns the web app's build (frontend/dist.tmp as scripts/build-frontend leaves it) into what
// the server embeds: every asset but index.html under /assets/ with its content's hash in its
// name (so a browser may keep it a year), index.html pointing at those names, and a brotli and
// a gzip copy of each file beside it (so the server sends them as they are, compressed once
// here at the highest settings rather than at every request).
//
//   node tools/finish-dist.mjs <dist dir>
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { brotliCompressSync, constants, gzipSync } from "node:zlib";
import { transformSync } from "esbuild";

/** Script as small as it can be sent: wasm-bindgen's glue is written to be read. (The
 * style sheet is minified the same way, below.) */
const minified = (js) => transformSync(js, { minify: true, format: "esm", target: "es2022" }).code;

const dist = process.argv[2];
if (!dist) {
  console.error("usage: node tools/finish-dist.mjs <dist dir>");
  process.exit(2);
}

const hashOf = (bytes) => createHash("sha256").update(bytes).digest("hex").slice(0, 16);

/** Moves `from` (relative to dist) to assets/<stem>-<hash>.<ext>; returns the new URL path. */
function hashed(from, bytes) {
  const name = from.split("/").pop();
  const dot = name.indexOf(".");
  const target = `assets/${name.slice(0, dot)}-${hashOf(bytes)}${name.slice(dot)}`;
  writeFileSync(join(dist, target), bytes);
  rmSync(join(dist, from));
  return `/${target}`;
}

function replaceAll(text, pairs) {
  for (const [from, to] of pairs) {
    if (!text.includes(from)) throw new Error(`expected a reference to ${from}`);
    text = text.split(from).join(to);
  }
  return text;
}

mkdirSync(join(dist, "assets"), { recursive: true });
// Leaves first: what a file names must have its final name before that file is hashed.
const pkg = (name) => join(dist, "pkg", name);
const wasm = hashed("pkg/frontend_bg.wasm", readFileSync(pkg("frontend_bg.wasm")));
// The lazy routes' pieces (and the code they share), fetched by __wasm_split.js relative to
// itself, so all of them sit in /assets/ beside it.
let splitLoader = readFileSync(pkg("__wasm_split.js"), "utf8");
for (const name of readdirSync(join(dist, "pkg")).filter((n) => n !== "frontend_bg.wasm" && n.endsWith(".wasm"))) {
  const url = hashed(`pkg/${name}`, readFileSync(pkg(name)));
  splitLoader = replaceAll(splitLoader, [[`"./${name}"`, `"./${url.split("/").pop()}"`]]);
}
// frontend.js and __wasm_split.js import each other, so neither can be named after the
// other's final bytes: both are named after everything they stand for together. Only the
// import statements change; the glue's table of imports keeps the name the wasm asks for.
let glueText = readFileSync(pkg("frontend.js"), "utf8");
const pair = hashOf(Buffer.from(glueText + splitLoader + wasm));
const glueName = `frontend-${pair}.js`;
const loaderName = `__wasm_split-${pair}.js`;
glueText = replaceAll(glueText, [['from "./__wasm_split.js"', `from "./${loaderName}"`]]);
splitLoader = replaceAll(splitLoader, [['from "./frontend.js"', `from "./${glueName}"`]]);
writeFileSync(join(dist, "assets", glueName), minified(glueText));
writeFileSync(join(dist, "assets", loaderName), minified(splitLoader));
const glue = `/assets/${glueName}`;
rmSync(join(dist, "pkg"), { recursive: true, force: true });
const css = hashed(
  "style.css",
  Buffer.from(transformSync(readFileSync(join(dist, "style.css"), "utf8"), { loader: "css", minify: true }).code),
);
const boot = hashed(
  "boot.js",
  Buffer.from(
    minified(replaceAll(readFileSync(join(dist, "boot.js"), "utf8"), [
      ["/pkg/frontend.js", glue],
      ["/pkg/frontend_bg.wasm", wasm],
    ])),
  ),
);
writeFileSync(
  join(dist, "index.html"),
  replaceAll(readFileSync(join(dist, "index.html"), "utf8"), [
    ["/style.css", css],
    ["/boot.js", boot],
    ["/pkg/frontend.js", glue],
    ["/pkg/frontend_bg.wasm", wasm],
  ]),
);

function files(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : [path];
  });
}

let total = { raw: 0, br: 0 };
for (const path of files(dist)) {
  const bytes = readFileSync(path);
  const br = brotliCompressSync(bytes, {
    params: {
      [constants.BROTLI_PARAM_QUALITY]: constants.BROTLI_MAX_QUALITY,
      [constants.BROTLI_PARAM_SIZE_HINT]: bytes.length,
    },
  });
  const gz = gzipSync(bytes, { level: 9 });
  // A copy no smaller than the file is not worth a lookup.
  if (br.length < bytes.length) writeFileSync(`${path}.br`, br);
  if (gz.length < bytes.length) writeFileSync(`${path}.gz`, gz);
  total.raw += bytes.length;
  total.br += Math.min(br.length, bytes.length);
  console.log(`${relative(dist, path).padEnd(40)} ${String(bytes.length).padStart(9)} B, brotli ${br.length} B, gzip ${gz.length} B`);
}
console.log(`all assets: ${total.raw} B, ${total.br} B with brotli`);
