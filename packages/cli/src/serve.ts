import { InvalidArgumentError, Option, type Command } from "commander";
import type { FsyncPolicy } from "@brook/local-broker/server";
import { integer, type GlobalOptions } from "./client.js";
import { runServe, type ServeOptions } from "./serve-run.js";

export { pushConfigs } from "./serve-run.js";

/** A repeatable option (no default, so --help shows none). */
const collect = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value];

function pushOrdering(value: string): "key" | "partition" | "none" {
  if (value !== "key" && value !== "partition" && value !== "none") throw new InvalidArgumentError("--push-ordering must be key, partition or none");
  return value;
}

function fsyncPolicy(value: string): FsyncPolicy {
  if (value !== "never" && value !== "interval" && value !== "always") throw new InvalidArgumentError("--fsync must be never, interval or always");
  return value;
}

export function registerServe(program: Command): void {
  program
    .command("serve")
    .description("run the local broker as a server (brook://host:port); --token (or BROOK_TOKEN) makes clients authenticate")
    .option("--dir <path>", "data directory of the durable store (default: an in-memory store)")
    .option("--fsync <policy>", "with --dir: never, interval (default) or always", fsyncPolicy)
    .option("--port <port>", "TCP port (0 picks a free one)", integer("--port", 0, 65535), 7654)
    .option("--host <host>", "address to listen on", "127.0.0.1")
    .option("--session-timeout-ms <ms>", "evict group members silent this long", integer("--session-timeout-ms", 100), 10_000)
    .option("--handshake-timeout-ms <ms>", "close a connection that has not authenticated this long after connecting (default 10000)", integer("--handshake-timeout-ms", 10, 3_600_000))
    .option("--max-connections <n>", "connections open at once; one more is refused with UNAVAILABLE (default 1024)", integer("--max-connections", 1))
    .option("--kafka-port <port>", "also speak Kafka's wire protocol on this port, same log and groups (0 picks a free one)", integer("--kafka-port", 0, 65535))
    .option(
      "--push <topic:group=url>",
      "push subscription (repeatable): POST each message of group to url as a Pub/Sub push envelope; 2xx acks, else retried with back-off, then dead-lettered; the topic must exist",
      collect,
    )
    .addOption(new Option("--push-token <token>", "sent to push endpoints as Authorization: Bearer <token>").env("BROOK_PUSH_TOKEN"))
    .option("--push-header <name:value>", "extra request header for push endpoints (repeatable)", collect)
    .option("--push-timeout-ms <ms>", "a push not answered this long is a failed attempt (default 30000)", integer("--push-timeout-ms", 1, 600_000))
    .option("--push-attempts <n>", "attempts per message before dead-lettering (default 5)", integer("--push-attempts", 1, 1_000_000))
    .option("--push-min-delay-ms <ms>", "first back-off after a failed push; doubles per attempt (default 100)", integer("--push-min-delay-ms", 0))
    .option("--push-max-delay-ms <ms>", "longest back-off between attempts (default 30000)", integer("--push-max-delay-ms", 0))
    .option("--push-dead-letter <topic>", "topic a message goes to after its last failed push (must exist); without it, it is logged and skipped")
    .option("--push-ordering <mode>", "key (default: one key's messages pushed one at a time, in order), partition or none", pushOrdering)
    .option("--push-max-in-flight <n>", "pushes outstanding at once per subscription (default 256)", integer("--push-max-in-flight", 1))
    .action(async (options: ServeOptions, command: Command) => {
      const token = command.optsWithGlobals<GlobalOptions>().token ?? process.env.BROOK_TOKEN;
      await runServe(options, token, command.getOptionValueSource("pushToken") === "env");
    });
}
