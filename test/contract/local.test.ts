import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll } from "@jest/globals";
import { connect } from "@brook/core";
import { localCapabilities } from "@brook/local-broker";
import { runContractSuite } from "@brook/contract-tests";

const dir = mkdtempSync(join(tmpdir(), "brook-contract-local-"));
runContractSuite({ name: "local (durable, fsync always)", connect: () => connect(`local:${dir}?fsync=always`), capabilities: localCapabilities(1024 * 1024) });
// Declared after the suite so it runs after the suite closes its broker.
afterAll(() => rmSync(dir, { recursive: true, force: true }));
