/**
 * `brook serve`'s fast path (serve-fast.ts): it parses exactly what commander parses or hands the
 * arguments to commander, and the built bin's serve process does not load what a server does not
 * need (commander, the other commands, the @brook/core client machinery, OpenTelemetry, cloud
 * adapters, the CRC addon before a record is checked). Structural checks, not timings.
 */
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { waitFor } from "@brook/contract-tests";
import { createProgram } from "./cli.js";
import { parseServeArgs, type ParsedServe } from "./serve-fast.js";

const root = join(__dirname, "..", "..", "..");
const main = join(root, "packages/cli/dist/main.js");
const dir = mkdtempSync(join(tmpdir(), "brook-serve-fast-"));

beforeAll(() => {
  const build = spawnSync("npx", ["tsc", "-b", "packages/cli"], { cwd: root, encoding: "utf8" });
  if (build.status !== 0 && !existsSync(main)) throw new Error(`tsc -b packages/cli failed:\n${build.stdout}${build.stderr}`);
}, 180_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** What commander's `brook serve` hands its action for `args` (the action replaced), or the usage error. */
async function viaCommander(args: string[], env: NodeJS.ProcessEnv): Promise<ParsedServe | "usage error"> {
  const saved = { BROOK_TOKEN: process.env.BROOK_TOKEN, BROOK_PUSH_TOKEN: process.env.BROOK_PUSH_TOKEN };
  for (const name of Object.keys(saved)) delete process.env[name];
  Object.assign(process.env, env);
  try {
    const program = createProgram().configureOutput({ writeErr: () => {}, writeOut: () => {} });
    let parsed: ParsedServe | undefined;
    program.commands
      .find((c) => c.name() === "serve")!
      .action((options, command) => {
        const token = command.optsWithGlobals().token ?? process.env.BROOK_TOKEN;
        parsed = { options, token, pushTokenFromEnv: command.getOptionValueSource("pushToken") === "env" };
      });
    await program.parseAsync(["node", "brook", "serve", ...args]);
    return parsed!;
  } catch {
    return "usage error";
  } finally {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  }
}

describe("parseServeArgs", () => {
  const taken: Array<[string[], NodeJS.ProcessEnv]> = [
    [[], {}],
    [["--port", "0", "--kafka-port", "0"], {}],
    [["--port=9092", "--host", "0.0.0.0", "--token", "s3cret", "--url", "memory:", "--timeout", "50"], {}],
    [["--dir", "/tmp/x", "--fsync", "always", "--session-timeout-ms", "100", "--handshake-timeout-ms", "3600000", "--max-connections", "1"], {}],
    [["--push", "t:g=http://127.0.0.1:1/p", "--push", "u:h=http://127.0.0.1:1/q", "--push-header", "A: b", "--push-header", "C: d", "--push-timeout-ms", "600000",
      "--push-attempts", "1", "--push-min-delay-ms", "0", "--push-max-delay-ms", "5", "--push-dead-letter", "dl", "--push-ordering", "none", "--push-max-in-flight", "3"], {}],
    [["--push", "t:g=http://x/"], { BROOK_PUSH_TOKEN: "from-env", BROOK_TOKEN: "server-token" }],
    [["--push-token", "flag"], { BROOK_PUSH_TOKEN: "from-env" }],
    [["--token="], {}],
  ];
  test.each(taken)("takes %j (env %j) and gives what commander gives", async (args, env) => {
    const fast = parseServeArgs(args, env);
    expect(fast).toBeDefined();
    expect(fast).toEqual(await viaCommander(args, env));
  });

  const left: string[][][] = [
    [["--help"]],
    [["-h"]],
    [["--port", "65536"]],
    [["--port", "1.5"]],
    [["--port", ""]],
    [["--port"]],
    [["--port", "1", "--port", "2"]],
    [["--session-timeout-ms", "99"]],
    [["--fsync", "sometimes"]],
    [["--push-ordering", "random"]],
    [["--host", "-x"]],
    [["--kafka"]],
    [["--", "--port", "1"]],
    [["extra"]],
  ];
  test.each(left)("leaves %j to commander", (args) => {
    expect(parseServeArgs(args, {})).toBeUndefined();
  });

  test("what it leaves, commander rejects or answers with help (the fast path has no messages of its own)", async () => {
    // (a repeated option and a value starting with "-" commander takes: the fast path just leaves them to it)
    const rejected = [["--port", "65536"], ["--port", "1.5"], ["--port", ""], ["--port"], ["--session-timeout-ms", "99"], ["--fsync", "sometimes"], ["--push-ordering", "random"], ["--kafka"], ["--", "--port", "1"], ["extra"]];
    for (const args of rejected) {
      expect(parseServeArgs(args, {})).toBeUndefined();
      expect({ args, r: await viaCommander(args, {}) }).toEqual({ args, r: "usage error" });
    }
  });
});

/** Spawns the built bin's `brook serve …` with a module hook recording every URL and CJS file it loads; stops it once it listens. */
async function loadedBy(args: string[]): Promise<string[]> {
  const out = join(dir, `loaded-${args.join("_").replace(/\W/g, "")}.txt`);
  writeFileSync(out, "");
  const hooks = join(dir, "hooks.mjs");
  writeFileSync(hooks, `import { appendFileSync } from "node:fs";\nexport async function load(url, context, next) { appendFileSync(${JSON.stringify(out)}, url + "\\n"); return next(url, context); }\n`);
  const preload = join(dir, "preload.mjs");
  writeFileSync(
    preload,
    `import { register, createRequire } from "node:module";\nimport { appendFileSync } from "node:fs";\nregister(${JSON.stringify(pathToFileURL(hooks).href)});\n` +
      // CommonJS loaded by require (createRequire) does not pass the ESM hooks on Node 20: list require's cache at exit
      `const require = createRequire(import.meta.url);\nprocess.on("exit", () => appendFileSync(${JSON.stringify(out)}, Object.keys(require.cache).map((f) => "cjs:" + f + "\\n").join("")));\n`,
  );
  const child = spawn(process.execPath, ["--import", pathToFileURL(preload).href, main, "serve", ...args], { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => (stderr += d));
  const exited = new Promise((resolve) => child.once("exit", resolve));
  try {
    await waitFor(() => /listening on brook:\/\//.test(stdout) || child.exitCode !== null, 30_000, `brook serve to listen (${stdout}${stderr})`);
    expect(stdout).toMatch(/listening on brook:\/\//);
  } finally {
    child.kill("SIGTERM");
    await exited;
  }
  return readFileSync(out, "utf8").split("\n").filter((l) => l !== "");
}

/** Nothing a server needs: the CLI's other commands and commander, core's client machinery, OpenTelemetry, adapters, the CRC addon. */
const NEVER = [
  /\/commander\//,
  /\/packages\/cli\/dist\/(cli|client|bench|tail|publish|topics|groups|group-admin|storage|mirror|outbox|output|adapters|format)\.js$/,
  /\/packages\/core\/dist\/(index|spi|publisher|tracing|metrics|schema-codec|push|codec|registry|retry|dedupe|broker-skeleton)\.js$/,
  /\/packages\/core\/dist\/subscription\/(index|managed-subscription|message-stream)\.js$/,
  /\/packages\/local-broker\/dist\/(index|broker|subscriber)\.js$/,
  /\/packages\/local-broker\/dist\/client\//,
  /\/packages\/(adapter-[a-z]+|mirror|dedupe-[a-z]+)\//,
  /@opentelemetry|kafkajs|@google-cloud|@aws-sdk|@azure|p-retry|cli-table3|cli-progress/,
  /@node-rs[+/]crc32/,
];

describe("the built bin's brook serve loads only the server side", () => {
  test("brook serve --port 0 --kafka-port 0", async () => {
    const loaded = await loadedBy(["--port", "0", "--kafka-port", "0"]);
    // the hook saw the serve path (so an empty list cannot pass)
    expect(loaded.some((u) => u.endsWith("/packages/cli/dist/serve-run.js"))).toBe(true);
    expect(loaded.some((u) => u.endsWith("/packages/local-broker/dist/server-entry.js"))).toBe(true);
    expect(loaded.some((u) => u.endsWith("/packages/kafka-wire/dist/index.js"))).toBe(true);
    expect(loaded.filter((u) => NEVER.some((re) => re.test(u)))).toEqual([]);
  }, 60_000);

  test("brook serve --port 0 (no Kafka protocol: kafka-wire not loaded either)", async () => {
    const loaded = await loadedBy(["--port", "0"]);
    expect(loaded.some((u) => u.endsWith("/packages/local-broker/dist/server-entry.js"))).toBe(true);
    expect(loaded.filter((u) => NEVER.some((re) => re.test(u)) || /\/kafka-wire\//.test(u))).toEqual([]);
  }, 60_000);

  test("a serve invocation the fast path leaves (--port 65536) still gets commander's one-line usage error", () => {
    const r = spawnSync(process.execPath, [main, "serve", "--port", "65536"], { cwd: root, encoding: "utf8", timeout: 30_000 });
    expect({ status: r.status, stderr: r.stderr.trim() }).toEqual({ status: 2, stderr: expect.stringMatching(/^error INVALID_ARGUMENT: .*--port must be an integer from 0 to 65535$/) });
  });

  test("a server error on the fast path prints the same one-line form and exits 1", () => {
    const r = spawnSync(process.execPath, [main, "serve", "--port", "0", "--fsync", "always"], { cwd: root, encoding: "utf8", timeout: 30_000 });
    expect({ status: r.status, stderr: r.stderr.trim() }).toEqual({ status: 1, stderr: "error INVALID_ARGUMENT: --fsync needs --dir (the in-memory store has nothing to sync)" });
  });
});
