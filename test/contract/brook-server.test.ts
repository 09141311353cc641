import { afterAll, beforeAll } from "@jest/globals";
import { connect, silentLogger } from "@brook/core";
import { localCapabilities, startServer, type BrookServer } from "@brook/local-broker";
import { LogEngine, MemoryStore } from "@brook/local-broker/engine";
import { runContractSuite } from "@brook/contract-tests";

// The whole contract through a `brook serve` server (in this process, on a free port, with a token).
let engine: LogEngine;
let server: BrookServer;

beforeAll(async () => {
  engine = await LogEngine.open(new MemoryStore());
  server = await startServer({ engine, port: 0, token: "contract-token", logger: silentLogger });
});

runContractSuite({
  name: "brook-server",
  connect: () => connect(`brook://127.0.0.1:${server.port}?token=contract-token`),
  // Over the wire the broker keeps the engine's capabilities (maxMessageBytes from HELLO_OK).
  capabilities: localCapabilities(1024 * 1024),
});

// Declared after the suite so it runs after the suite's own afterAll has closed its broker.
afterAll(async () => {
  await server?.close();
  await engine?.close();
});
