// Shared by the Pub/Sub test files: the emulator's host. The root runner (scripts/test-all.mjs)
// starts one emulator for the whole run and passes BROOK_TEST_PUBSUB_HOST; a file run on its
// own starts its own emulator in beforeAll and stops it (by pid) in afterAll.
//
// The emulator is started through the harness's CLI (`node scripts/backends/pubsub.mjs start`)
// rather than by importing startPubSubEmulator: the harness has a top-level `await` in its CLI
// section, which jest's CommonJS transform cannot compile. The CLI prints the host and stops
// the emulator on SIGTERM.
import { afterAll, beforeAll, describe } from "@jest/globals";
import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";

const skipPubSub = (process.env.BROOK_SKIP_BACKENDS ?? "").split(",").includes("pubsub");

/**
 * A describe() block for Pub/Sub tests with the emulator around it: the emulator is ready
 * before the body's beforeAll hooks and stopped after its afterAll hooks (brokers closed first).
 * Skipped when BROOK_SKIP_BACKENDS names "pubsub" (the root runner then starts no emulator, and
 * these tests must not start one either).
 */
export function describePubSub(name: string, body: (emulator: EmulatorHandle) => void): void {
  (skipPubSub ? describe.skip : describe)(name, () => {
    const emulator = useEmulator();
    describe("on the emulator", () => body(emulator));
  });
}

export interface EmulatorHandle {
  /** "127.0.0.1:<port>", valid once beforeAll has run */
  host: string;
}

const HARNESS = join(__dirname, "../../scripts/backends/pubsub.mjs");

export function useEmulator(): EmulatorHandle {
  const handle: EmulatorHandle = { host: process.env.BROOK_TEST_PUBSUB_HOST ?? "" };
  let child: ChildProcess | undefined;
  beforeAll(async () => {
    if (handle.host !== "") return;
    child = spawn(process.execPath, [HARNESS, "start"], {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, CLOUD_PUBSUB_EMULATOR_OPTS: "-Xmx256m" },
    });
    handle.host = await readHost(child, 90_000);
  }, 100_000);
  afterAll(async () => {
    if (child === undefined || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child!.once("exit", resolve));
    child.kill("SIGTERM"); // by pid: the harness stops the emulator, then exits
    await exited;
  }, 30_000);
  return handle;
}

function readHost(child: ChildProcess, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = "";
    let err = "";
    const timer = setTimeout(() => fail(new Error(`pubsub emulator did not start within ${timeoutMs} ms:\n${err}`)), timeoutMs);
    const fail = (e: Error): void => {
      clearTimeout(timer);
      child.kill("SIGTERM");
      reject(e);
    };
    child.stderr!.on("data", (chunk: Buffer) => (err += chunk.toString()));
    child.stdout!.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      const line = /^(\S+:\d+)\s*$/m.exec(out);
      if (line !== null) {
        clearTimeout(timer);
        resolve(line[1]!);
      }
    });
    child.once("exit", (code) => fail(new Error(`pubsub emulator harness exited (code ${String(code)}) before it was ready:\n${err}`)));
  });
}

export function pubsubUrl(handle: EmulatorHandle, params = ""): string {
  return `pubsub://brook-test?emulatorHost=${handle.host}${params}`;
}
