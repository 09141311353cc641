import type { Command } from "commander";
import { integer, withClient } from "./client.js";
import { listingFormat, stdout, table, type ListingFormat } from "./output.js";

const plural = (n: number | undefined, word: string): string => `${n ?? "?"} ${word}${n === 1 ? "" : "s"}`;

export function registerTopics(program: Command): void {
  const topics = program.command("topics").description("create, list, describe and delete topics");

  topics
    .command("create <name>")
    .description("create a topic")
    .option("--partitions <n>", "number of partitions", integer("--partitions", 1, 10_000), 1)
    .option("--retention-ms <ms>", "how long records are kept", integer("--retention-ms", 1))
    .option("--if-not-exists", "succeed when the topic exists (and say so, with its partitions)")
    .action(async (name: string, options: { partitions: number; retentionMs?: number; ifNotExists?: boolean }, command: Command) => {
      await withClient(command, async ({ broker, bounded }) => {
        if (options.ifNotExists === true && (await bounded(broker.admin.topicExists(name), "topics create"))) {
          const d = await bounded(broker.admin.describeTopic(name), "topics describe");
          const differs = d.partitions !== undefined && d.partitions !== options.partitions ? `, not ${options.partitions} as asked` : "";
          await stdout().write(`topic ${name} already exists (${plural(d.partitions, "partition")}${differs})\n`);
          return;
        }
        await bounded(
          broker.admin.createTopic(name, {
            partitions: options.partitions,
            ...(options.retentionMs === undefined ? {} : { retentionMs: options.retentionMs }),
            ifNotExists: options.ifNotExists === true,
          }),
          "topics create",
        );
        await stdout().write(`created topic ${name} (${plural(options.partitions, "partition")})\n`);
      });
    });

  topics
    .command("list")
    .description("list topics, one per line")
    .option("-o, --output <format>", "text or json", listingFormat, "text")
    .action(async (options: { output: ListingFormat }, command: Command) => {
      await withClient(command, async ({ broker, bounded }) => {
        const names = await bounded(broker.admin.listTopics(), "topics list");
        await stdout().write(options.output === "json" ? `${JSON.stringify(names)}\n` : names.map((n) => `${n}\n`).join(""));
      });
    });

  topics
    .command("describe <name>")
    .description("partitions, retention and (local broker) offsets of a topic")
    .option("-o, --output <format>", "text or json", listingFormat, "text")
    .action(async (name: string, options: { output: ListingFormat }, command: Command) => {
      await withClient(command, async ({ broker, api, bounded }) => {
        const d = await bounded(broker.admin.describeTopic(name), "topics describe");
        const detail = api === undefined ? undefined : await bounded(api.describeTopic(name), "topics describe");
        const partitions = detail?.partitions.map((p) => ({ partition: p.partition, start: p.start, end: p.end, records: p.end - p.start, bytes: p.bytes }));
        if (options.output === "json") {
          await stdout().write(`${JSON.stringify({ name: d.name, partitions: d.partitions ?? null, retentionMs: d.retentionMs ?? null, ...(partitions === undefined ? {} : { offsets: partitions }) })}\n`);
          return;
        }
        const retention = d.retentionMs === undefined ? "-" : `${d.retentionMs} ms`;
        let text = `topic ${d.name}: ${plural(d.partitions, "partition")}, retention ${retention}\n`;
        if (partitions !== undefined) {
          text += `${table(["partition", "start", "end", "records", "bytes"], partitions.map((p) => [p.partition, p.start, p.end, p.records, p.bytes].map(String)))}\n`;
        }
        await stdout().write(text);
      });
    });

  topics
    .command("delete <name>")
    .description("delete a topic and its records")
    .action(async (name: string, _options: unknown, command: Command) => {
      await withClient(command, async ({ broker, bounded }) => {
        await bounded(broker.admin.deleteTopic(name), "topics delete");
        await stdout().write(`deleted topic ${name}\n`);
      });
    });
}
