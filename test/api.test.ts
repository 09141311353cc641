/** The application API around connect(): signals, and no runtime warnings under load. */
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { expect, test } from "@jest/globals";
import { connect, silentLogger } from "@brook/core";
import { registerBackend } from "@brook/core/spi";
import "@brook/local-broker";
import { uniqueTopic, waitFor } from "@brook/contract-tests";

test("connect() with an aborted signal is ABORTED; a broker that opens after the abort is closed again", async () => {
  await expect(connect("memory:", { signal: AbortSignal.abort() })).rejects.toMatchObject({ code: "ABORTED" });
  let closed = false;
  let open!: () => void;
  registerBackend("slowtest", () => new Promise((resolve) => {
    open = () => resolve({ close: async () => void (closed = true) } as never);
  }));
  const controller = new AbortController();
  const pending = connect("slowtest://x", { signal: controller.signal });
  await waitFor(() => open !== undefined, 5_000, "the factory to be called");
  controller.abort();
  await expect(pending).rejects.toMatchObject({ code: "ABORTED" });
  open();
  await waitFor(() => closed, 5_000, "the late broker to be closed");
});

test("fifty messages retrying at once print no MaxListenersExceededWarning (a child process on the built packages: jest's sandbox hides process warnings)", async () => {
  const root = join(__dirname, "..");
  const script = `
    import { connect, silentLogger } from ${JSON.stringify(pathToFileURL(join(root, "packages/core/dist/index.js")).href)};
    import ${JSON.stringify(pathToFileURL(join(root, "packages/local-broker/dist/index.js")).href)};
    const broker = await connect("memory:", { logger: silentLogger });
    await broker.admin.createTopic("t", { partitions: 1 });
    const attempts = new Map();
    await broker.subscribe("t", { group: "g", startFrom: "earliest", ordering: "none", retry: { maxAttempts: 3, minDelayMs: 100, maxDelayMs: 200 },
      handler: (m) => { const n = (attempts.get(m.data) ?? 0) + 1; attempts.set(m.data, n); if (n < 2) throw new Error("once"); } });
    await broker.publisher("t").publishBatch(Array.from({ length: 50 }, (_, i) => ({ data: i })));
    for (let i = 0; i < 100 && !(attempts.size === 50 && [...attempts.values()].every((n) => n === 2)); i++) await new Promise((r) => setTimeout(r, 50));
    console.log("retried", [...attempts.values()].filter((n) => n === 2).length);
    await broker.close();
  `;
  const result = spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8", timeout: 30_000 });
  expect(result.stdout).toContain("retried 50");
  expect(result.stderr).not.toContain("MaxListenersExceededWarning");
});
