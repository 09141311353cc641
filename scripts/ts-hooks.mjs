// Node module hooks that run the workspace's TypeScript sources directly (no build step), for
// child processes spawned by tests and for benchmark scripts: `.ts` files are transpiled with
// @swc/core (types stripped, nothing checked), `@brook/<pkg>` resolves to
// packages/<pkg>/src/index.ts and a path `…/x.js` resolves to `…/x.ts` when only that
// exists — the same mapping as jest.config.mjs. Registered by ./ts-register.mjs:
//   node --import ./scripts/ts-register.mjs some-script.mjs
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { transformSync } from "@swc/core";

const root = new URL("../", import.meta.url);

export async function resolve(specifier, context, nextResolve) {
  const pkg = /^@brook\/([a-z-]+)$/.exec(specifier);
  if (pkg !== null) {
    const url = new URL(`packages/${pkg[1]}/src/index.ts`, root);
    if (existsSync(fileURLToPath(url))) return { url: url.href, shortCircuit: true };
  }
  const pathLike = specifier.startsWith("./") || specifier.startsWith("../") || specifier.startsWith("/") || specifier.startsWith("file:");
  if (pathLike && specifier.endsWith(".js") && context.parentURL?.startsWith("file:")) {
    const js = new URL(specifier, context.parentURL);
    const ts = new URL(`${specifier.slice(0, -3)}.ts`, context.parentURL);
    if (!existsSync(fileURLToPath(js)) && existsSync(fileURLToPath(ts))) return { url: ts.href, shortCircuit: true };
  }
  return nextResolve(specifier, context);
}

// Transpiled output is cached by content hash, so repeated child processes start faster.
const cacheDir = fileURLToPath(new URL("node_modules/.cache/brook-ts-hooks/", root));

export async function load(url, context, nextLoad) {
  if (!url.startsWith("file:") || !url.endsWith(".ts")) return nextLoad(url, context);
  const filename = fileURLToPath(url);
  const source = readFileSync(filename, "utf8");
  const cached = `${cacheDir}${createHash("sha1").update(filename).update("\0").update(source).digest("hex")}.js`;
  if (existsSync(cached)) return { format: "module", source: readFileSync(cached, "utf8"), shortCircuit: true };
  const { code } = transformSync(source, {
    filename,
    jsc: { parser: { syntax: "typescript" }, target: "es2022" },
    module: { type: "es6" },
    sourceMaps: "inline",
  });
  try {
    mkdirSync(cacheDir, { recursive: true });
    const tmp = `${cached}.${process.pid}.tmp`;
    writeFileSync(tmp, code);
    renameSync(tmp, cached);
  } catch {
    // a cache that cannot be written only costs speed
  }
  return { format: "module", source: code, shortCircuit: true };
}
