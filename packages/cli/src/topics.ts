import type { Command } from "commander";
import { integer, table, withClient } from "./client.js";

export function registerTopics(program: Command): void {
  const topics = program.command("topics").description("create, list, describe and delete topics");

  topics
    .command("create <name>")
    .description("create a topic")
    .option("--partitions <n>", "number of partitions", integer("--partitions", 1, 10_000), 1)
    .option("--retention-ms <ms>", "how long records are kept", integer("--retention-ms", 1))
    .option("--if-not-exists", "succeed when the topic exists")
    .action(async (name: string, options: { partitions: number; retentionMs?: number; ifNotExists?: boolean }, command: Command) => {
      await withClient(command, async ({ broker }) => {
        await broker.admin.createTopic(name, {
          partitions: options.partitions,
          ...(options.retentionMs === undefined ? {} : { retentionMs: options.retentionMs }),
          ifNotExists: options.ifNotExists === true,
        });
        process.stdout.write(`created topic ${name} (${options.partitions} partition${options.partitions === 1 ? "" : "s"})\n`);
      });
    });

  topics
    .command("list")
    .description("list topics, one per line")
    .action(async (_options: unknown, command: Command) => {
      await withClient(command, async ({ broker }) => {
        for (const name of await broker.admin.listTopics()) process.stdout.write(`${name}\n`);
      });
    });

  topics
    .command("describe <name>")
    .description("partitions, retention and (brook://) offsets of a topic")
    .action(async (name: string, _options: unknown, command: Command) => {
      await withClient(command, async ({ broker, api }) => {
        const d = await broker.admin.describeTopic(name);
        const retention = d.retentionMs === undefined ? "-" : `${d.retentionMs} ms`;
        process.stdout.write(`topic ${d.name}: ${d.partitions ?? "?"} partitions, retention ${retention}\n`);
        if (api === undefined) return;
        const detail = await api.describeTopic(name);
        const rows = [["partition", "start", "end", "records", "bytes"]];
        for (const p of detail.partitions) rows.push([String(p.partition), String(p.start), String(p.end), String(p.end - p.start), String(p.bytes)]);
        process.stdout.write(`${table(rows)}\n`);
      });
    });

  topics
    .command("delete <name>")
    .description("delete a topic and its records")
    .action(async (name: string, _options: unknown, command: Command) => {
      await withClient(command, async ({ broker }) => {
        await broker.admin.deleteTopic(name);
        process.stdout.write(`deleted topic ${name}\n`);
      });
    });
}
