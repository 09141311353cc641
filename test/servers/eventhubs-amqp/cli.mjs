// Process entry of the Event Hubs test server:
//   node test/servers/eventhubs-amqp/cli.mjs [--port N] [--control-port N]
// Prints one JSON line {"port","controlPort","connectionString"} once both ports listen, runs
// until SIGTERM/SIGINT, then closes its sockets and exits.
import { startEventHubsServer } from "./server.mjs";

const arg = (name) => {
  const i = process.argv.indexOf(name);
  return i === -1 ? 0 : Number(process.argv[i + 1]);
};
const server = await startEventHubsServer({ port: arg("--port"), controlPort: arg("--control-port") });
process.stdout.write(`${JSON.stringify({ port: server.port, controlPort: server.controlPort, connectionString: server.connectionString() })}\n`);
const stop = async () => {
  await server.close().catch(() => undefined);
  process.exit(0);
};
process.once("SIGTERM", stop);
process.once("SIGINT", stop);
