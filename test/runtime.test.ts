// The root runner (scripts/test-all.mjs) runs this whole suite once per Node runtime (20, 24)
// and names the one under test in BROOK_TEST_NODE_VERSION. Everything must run on it: jest's
// workers, children spawned with process.execPath (CLI, crash children, the demo) and children
// spawned by name through PATH (`node`, `npx tsc`). Skipped when a file is run alone.
import { spawnSync } from "node:child_process";
import { expect, test } from "@jest/globals";

const expected = process.env.BROOK_TEST_NODE_VERSION;
const underRunner = expected === undefined ? test.skip : test;

underRunner("jest's worker runs on the runtime under test", () => {
  expect(process.version).toBe(expected);
});

underRunner("a child spawned with process.execPath runs on the runtime under test", () => {
  const r = spawnSync(process.execPath, ["-p", "process.version"], { encoding: "utf8", timeout: 30_000 });
  expect(r.stdout.trim()).toBe(expected);
});

underRunner("a child spawned as plain `node` from PATH runs on the runtime under test", () => {
  const r = spawnSync("node", ["-p", "process.version"], { encoding: "utf8", timeout: 30_000 });
  expect(r.stdout.trim()).toBe(expected);
});
