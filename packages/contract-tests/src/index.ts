import { describe, expect, test } from "@jest/globals";
import { apiCases } from "./api.js";
import { atLeastOnceCases } from "./at-least-once.js";
import { createContractContext, type ContractBackend } from "./context.js";
import { deliveryCases } from "./delivery.js";
import { failureCases } from "./failure.js";
import { idempotencyCases } from "./idempotency.js";
import { lifecycleCases } from "./lifecycle.js";
import { orderingCases } from "./ordering.js";
import { positionCases } from "./positions.js";
import { publishCases } from "./publish.js";
import { seekCases } from "./seek.js";

export type { ContractBackend } from "./context.js";
export { gate, sleep, uniqueTopic, waitFor } from "./helpers.js";
export { runDedupeStoreSuite } from "./dedupe-store.js";

/**
 * The universal suite: every backend's jest file calls this with a way to connect. Cases that a
 * backend cannot support are skipped by capability, and the skip names the capability. The
 * cases live in one module per concern; README.md lists them.
 */
export function runContractSuite(backend: ContractBackend): void {
  const ctx = createContractContext(backend);

  if (backend.capabilities !== undefined) {
    const declared = backend.capabilities;
    test("the broker reports the capabilities the suite was told", () => {
      expect(ctx.caps).toEqual(declared);
    });
  }

  describe(`contract suite: ${backend.name}`, () => {
    describe("delivery", () => deliveryCases(ctx));
    describe("ordering", () => orderingCases(ctx));
    describe("failure", () => failureCases(ctx));
    describe("at-least-once", () => atLeastOnceCases(ctx));
    describe("idempotency", () => idempotencyCases(ctx));
    describe("seek", () => seekCases(ctx));
    describe("publish", () => publishCases(ctx));
    describe("lifecycle", () => lifecycleCases(ctx));
    describe("api", () => apiCases(ctx));
    describe("positions", () => positionCases(ctx));
  });
}
