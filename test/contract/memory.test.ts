import { connect } from "@brook/core";
import "@brook/local-broker";
import { runContractSuite } from "@brook/contract-tests";

runContractSuite({ name: "memory", connect: () => connect("memory:") });
