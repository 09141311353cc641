import { createInterface } from "node:readline";
import { BrookError, type OutgoingMessage } from "@brook/core";
import { InvalidArgumentError, type Command } from "commander";
import { withClient } from "./client.js";

interface PublishOptions {
  key?: string;
  header: Record<string, string>;
  idempotencyKey?: string;
}

function header(value: string, previous: Record<string, string>): Record<string, string> {
  const eq = value.indexOf("=");
  if (eq <= 0) throw new InvalidArgumentError(`--header expects name=value, got "${value}"`);
  return { ...previous, [value.slice(0, eq)]: value.slice(eq + 1) };
}

async function* stdinLines(): AsyncGenerator<string> {
  const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
  for await (const line of lines) if (line.length > 0) yield line;
}

export function registerPublish(program: Command): void {
  program
    .command("publish <topic> [messages...]")
    .description("publish each argument (or, without any, each line of stdin) as a UTF-8 message")
    .option("--key <key>", "key of every message (same key: same partition, in order)")
    .option("--header <name=value>", "a header on every message (repeatable)", header, {})
    .option("--idempotency-key <key>", "idempotency key (only with a single message)")
    .action(async (topic: string, messages: string[], options: PublishOptions, command: Command) => {
      if (options.idempotencyKey !== undefined && messages.length !== 1) {
        throw new BrookError("INVALID_ARGUMENT", "--idempotency-key needs exactly one message argument");
      }
      const toMessage = (data: string): OutgoingMessage<string> => ({
        data,
        headers: options.header,
        ...(options.key === undefined ? {} : { key: options.key }),
        ...(options.idempotencyKey === undefined ? {} : { idempotencyKey: options.idempotencyKey }),
      });
      await withClient(command, async ({ broker }) => {
        const publisher = broker.publisher<string>(topic, { codec: "string" });
        let published = 0;
        let failed: BrookError | undefined;
        const send = async (batch: string[], print: boolean): Promise<void> => {
          const results = await publisher.publishBatch(batch.map(toMessage));
          for (const r of results) {
            if (!r.ok) {
              failed ??= r.error;
              continue;
            }
            published += 1;
            if (print) process.stdout.write(`${r.position.partition}/${r.position.offset}${r.duplicate ? " (duplicate)" : ""}\n`);
          }
        };
        if (messages.length > 0) {
          await send(messages, true);
        } else {
          let batch: string[] = [];
          for await (const line of stdinLines()) {
            batch.push(line);
            if (batch.length === 1_000) {
              await send(batch, false);
              batch = [];
            }
          }
          if (batch.length > 0) await send(batch, false);
          process.stdout.write(`published ${published} message${published === 1 ? "" : "s"} to ${topic}\n`);
        }
        await publisher.close();
        if (failed !== undefined) {
          throw published === 0 ? failed : new BrookError(failed.code, `${failed.message} (the other ${published} were published)`, { cause: failed });
        }
      });
    });
}
