import { connect } from "@brook/core";
import { localCapabilities } from "@brook/local-broker";
import { runContractSuite } from "@brook/contract-tests";

runContractSuite({ name: "memory", connect: () => connect("memory:"), capabilities: localCapabilities(1024 * 1024) });
