import { randomBytes } from "node:crypto";
import type { Command } from "commander";
import { integer, withClient } from "./client.js";

interface BenchOptions {
  messages: number;
  size: number;
  batch: number;
  partitions: number;
  publishers: number;
}

function rate(label: string, count: number, bytes: number, ms: number): string {
  const perSecond = Math.round((count / ms) * 1000);
  const mib = (bytes / ms) * 1000 / (1024 * 1024);
  return `${label.padEnd(8)} ${String(count).padStart(9)} msgs  ${String(Math.round(ms)).padStart(7)} ms  ${perSecond.toLocaleString("en-US").padStart(11)} msg/s  ${mib.toFixed(1).padStart(7)} MiB/s\n`;
}

export function registerBench(program: Command): void {
  program
    .command("bench")
    .description("publish N messages with publishBatch, then consume them; prints msg/s (uses a throwaway topic)")
    .option("--messages <n>", "how many messages", integer("--messages", 1), 200_000)
    .option("--size <bytes>", "message size", integer("--size", 1), 100)
    .option("--batch <n>", "messages per publishBatch call", integer("--batch", 1), 1_000)
    .option("--partitions <n>", "partitions of the bench topic", integer("--partitions", 1, 10_000), 4)
    .option("--publishers <n>", "publishers working at once on the one connection", integer("--publishers", 1, 1_000), 4)
    .action(async (options: BenchOptions, command: Command) => {
      await withClient(command, async ({ broker, url }) => {
        const topic = `brook-bench-${randomBytes(4).toString("hex")}`;
        await broker.admin.createTopic(topic, { partitions: options.partitions });
        try {
          process.stdout.write(`bench on ${url}: ${options.messages} messages of ${options.size} bytes, ${options.partitions} partitions\n`);
          const payload = new Uint8Array(randomBytes(options.size));
          const batch = Array.from({ length: Math.min(options.batch, options.messages) }, () => ({ data: payload }));
          let remaining = options.messages;
          let failed = 0;
          const started = performance.now();
          await Promise.all(
            Array.from({ length: options.publishers }, async () => {
              const publisher = broker.publisher<Uint8Array>(topic, { codec: "bytes" });
              while (remaining > 0) {
                const n = Math.min(remaining, batch.length);
                remaining -= n;
                const results = await publisher.publishBatch(n === batch.length ? batch : batch.slice(0, n));
                for (const r of results) if (!r.ok) failed += 1;
              }
              await publisher.close();
            }),
          );
          const published = performance.now() - started;
          process.stdout.write(rate("publish", options.messages, options.messages * options.size, published));
          if (failed > 0) process.stdout.write(`${failed} publishes failed\n`);

          let consumed = 0;
          let done: () => void = () => undefined;
          const all = new Promise<void>((resolve) => (done = resolve));
          const consumeStart = performance.now();
          const subscription = await broker.subscribe<Uint8Array>(topic, {
            group: "bench",
            codec: "bytes",
            startFrom: "earliest",
            maxInFlight: 4_096,
            batchHandler: (messages) => {
              consumed += messages.length;
              if (consumed >= options.messages - failed) done();
            },
          });
          await all;
          const consumedMs = performance.now() - consumeStart;
          await subscription.close({ drain: true });
          process.stdout.write(rate("consume", consumed, consumed * options.size, consumedMs));
        } finally {
          await broker.admin.deleteTopic(topic).catch(() => undefined);
        }
      });
    });
}
