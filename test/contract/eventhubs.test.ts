import { connect } from "@brook/core";
import { eventHubsCapabilities } from "@brook/adapter-eventhubs";
import { runContractSuite } from "@brook/contract-tests";
import { describeEventHubs, eventHubsUrl, testServerHubManager, uniqueContainer } from "../eventhubs/backend.js";

// The test server and Azurite come from the root runner (BROOK_TEST_EVENTHUBS_*) or are started
// by this file. Hubs are created through the test server's control plane, passed as hubManager
// (the data plane cannot create them; in Azure that is ARM's job).
describeEventHubs("event hubs test server", (eh) => {
  runContractSuite({
    name: "eventhubs",
    connect: () => connect(eventHubsUrl(eh, uniqueContainer("contract")), { hubManager: testServerHubManager(eh.controlUrl) }),
    capabilities: eventHubsCapabilities(),
  });
});
