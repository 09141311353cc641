import { randomBytes } from "node:crypto";
import { BrookError, type ReceivedMessage, type StartFrom } from "@brook/core";
import { InvalidArgumentError, type Command } from "commander";
import { integer, withClient } from "./client.js";

interface TailOptions {
  from: StartFrom;
  group?: string;
  count?: number;
  headers?: boolean;
}

function startFrom(value: string): StartFrom {
  if (value === "earliest" || value === "latest") return value;
  const time = new Date(value);
  if (Number.isNaN(time.getTime())) throw new InvalidArgumentError(`--from expects earliest, latest or an ISO time such as 2026-01-31T12:00:00Z, got "${value}"`);
  return { time };
}

function format(m: ReceivedMessage<Uint8Array>, withHeaders: boolean): string {
  const value = Buffer.from(m.data).toString("utf8");
  const headers = withHeaders && Object.keys(m.headers).length > 0 ? ` ${JSON.stringify(m.headers)}` : "";
  return `${m.position.partition}/${m.position.offset} ${m.key ?? "-"} ${value}${headers}\n`;
}

export function registerTail(program: Command): void {
  program
    .command("tail <topic>")
    .description("print messages as they arrive: partition/offset key value (until Ctrl-C or --count)")
    .option("--from <where>", "earliest, latest or an ISO time (applies when the group has no committed position)", startFrom, "latest")
    .option("--group <group>", "consume as this group (its position is committed); default: a throwaway group")
    .option("--count <n>", "exit after this many messages", integer("--count", 1))
    .option("--headers", "print headers as JSON")
    .action(async (topic: string, options: TailOptions, command: Command) => {
      await withClient(command, async ({ broker }) => {
        let seen = 0;
        let finish: () => void = () => undefined;
        const finished = new Promise<void>((resolve) => (finish = resolve));
        const group = options.group ?? `brook-tail-${randomBytes(4).toString("hex")}`;
        const subscription = await broker.subscribe<Uint8Array>(topic, {
          group,
          codec: "bytes",
          ordering: "partition",
          startFrom: options.from,
          handler: (m) => {
            // Past --count, messages are left unacknowledged (uncommitted) for the group's next reader.
            if (options.count !== undefined && seen >= options.count) return new Promise<void>(() => undefined);
            process.stdout.write(format(m, options.headers === true));
            seen += 1;
            // A turn later, so this message is settled (and committed by close) first.
            if (options.count !== undefined && seen >= options.count) setImmediate(finish);
          },
        });
        let failure: BrookError | undefined;
        subscription.on("error", (err) => {
          if (err.code === "TOPIC_NOT_FOUND" || err.code === "UNAUTHENTICATED") {
            failure = err;
            finish();
          }
        });
        const onSignal = (): void => finish();
        process.on("SIGINT", onSignal);
        process.on("SIGTERM", onSignal);
        try {
          await finished;
        } finally {
          process.off("SIGINT", onSignal);
          process.off("SIGTERM", onSignal);
          await subscription.close({ drain: false });
        }
        if (failure !== undefined) throw failure;
      });
    });
}
