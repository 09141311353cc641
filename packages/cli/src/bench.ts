import { randomBytes } from "node:crypto";
import { createRequire } from "node:module";
import type cliProgress from "cli-progress";
import type * as Hdr from "hdr-histogram-js";
import { BrookError } from "@brook/core";
import type { Command } from "commander";
import { integer, withClient } from "./client.js";
import { colorEnabled, listingFormat, stdout, table, type ListingFormat } from "./output.js";

interface BenchOptions {
  messages: number;
  size: number;
  batch: number;
  partitions: number;
  publishers: number;
  output: ListingFormat;
}

interface PhaseResult {
  messages: number;
  ms: number;
  messagesPerSecond: number;
  mibPerSecond: number;
}

// Loaded when `brook bench` runs, not at every command's start (`brook serve` counts its start-up).
const lazyRequire = createRequire(import.meta.url);

/** How often progress is reported when stderr is not a terminal (one plain line each). */
const PLAIN_PROGRESS_MS = 1_000;

/**
 * Live progress on stderr (stdout keeps the results): a bar on a terminal, a plain line a
 * second otherwise (logs, CI). Stopped in `finally`, so its timer never outlives the phase.
 */
class Progress {
  private readonly bar: cliProgress.SingleBar | undefined;
  private readonly timer: NodeJS.Timeout | undefined;
  private value = 0;
  private readonly started = performance.now();

  constructor(
    private readonly label: string,
    private readonly total: number,
  ) {
    if (process.stderr.isTTY === true) {
      const progressBars = lazyRequire("cli-progress") as typeof cliProgress;
      this.bar = new progressBars.SingleBar(
        {
          format: `${label.padEnd(8)} {bar} {percentage}% | {value}/{total} | {rate} msg/s | {duration_formatted}`,
          stream: process.stderr,
          hideCursor: true,
          clearOnComplete: true,
          barsize: 30,
        },
        colorEnabled(process.stderr) ? progressBars.Presets.shades_classic : progressBars.Presets.legacy,
      );
      this.bar.start(total, 0, { rate: "0" });
    } else {
      this.timer = setInterval(() => this.printLine(), PLAIN_PROGRESS_MS);
      this.timer.unref();
    }
  }

  add(n: number): void {
    this.value += n;
    this.bar?.update(this.value, { rate: this.rate().toLocaleString("en-US") });
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.bar?.stop();
  }

  private rate(): number {
    const ms = performance.now() - this.started;
    return ms <= 0 ? 0 : Math.round((this.value / ms) * 1000);
  }

  private printLine(): void {
    const pct = this.total === 0 ? 100 : Math.floor((this.value / this.total) * 100);
    process.stderr.write(`${this.label}: ${this.value}/${this.total} (${pct}%) ${this.rate().toLocaleString("en-US")} msg/s\n`);
  }
}

function phase(count: number, bytes: number, ms: number): PhaseResult {
  return { messages: count, ms: Math.round(ms), messagesPerSecond: Math.round((count / ms) * 1000), mibPerSecond: Number((((bytes / ms) * 1000) / (1024 * 1024)).toFixed(1)) };
}

function rateRow(label: string, r: PhaseResult): string[] {
  return [label, String(r.messages), `${r.ms} ms`, `${r.messagesPerSecond.toLocaleString("en-US")} msg/s`, `${r.mibPerSecond.toFixed(1)} MiB/s`];
}

/** Resolves on Ctrl-C / SIGTERM, so the bench stops early and still deletes its topic. */
function interruption(): { interrupted: Promise<void>; isInterrupted: () => boolean; dispose: () => void } {
  let interrupted = false;
  let resolve: () => void = () => undefined;
  const promise = new Promise<void>((r) => (resolve = r));
  const onSignal = (): void => {
    interrupted = true;
    resolve();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  return {
    interrupted: promise,
    isInterrupted: () => interrupted,
    dispose: () => {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
    },
  };
}

export function registerBench(program: Command): void {
  program
    .command("bench")
    .description("publish N messages with publishBatch, then consume them: msg/s and publish latency percentiles (on a throwaway topic, deleted at the end or on Ctrl-C)")
    .option("--messages <n>", "how many messages", integer("--messages", 1), 200_000)
    .option("--size <bytes>", "message size", integer("--size", 1), 100)
    .option("--batch <n>", "messages per publishBatch call", integer("--batch", 1), 1_000)
    .option("--partitions <n>", "partitions of the bench topic", integer("--partitions", 1, 10_000), 4)
    .option("--publishers <n>", "publishers working at once on the one connection", integer("--publishers", 1, 1_000), 4)
    .option("-o, --output <format>", "text (tables) or json (one object: rates and latency percentiles in ms)", listingFormat, "text")
    .action(async (options: BenchOptions, command: Command) => {
      await withClient(command, async ({ broker, url, bounded }) => {
        const topic = `brook-bench-${randomBytes(4).toString("hex")}`;
        const stop = interruption();
        await bounded(broker.admin.createTopic(topic, { partitions: options.partitions }), "create the bench topic");
        try {
          // With --output json, stdout holds the result object only; this line goes to stderr.
          const intro = `bench on ${url}: ${options.messages} messages of ${options.size} bytes, ${options.partitions} partitions, topic ${topic}\n`;
          if (options.output === "json") process.stderr.write(intro);
          else await stdout().write(intro);
          const payload = new Uint8Array(randomBytes(options.size));
          const batch = Array.from({ length: Math.min(options.batch, options.messages) }, () => ({ data: payload }));
          // Publish latency per publishBatch call, in microseconds (1 µs to 1 h, 3 significant digits).
          const latency = (lazyRequire("hdr-histogram-js") as typeof Hdr).build({ lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: 3 });
          let remaining = options.messages;
          let failed = 0;
          const progress = new Progress("publish", options.messages);
          const started = performance.now();
          try {
            await Promise.all(
              Array.from({ length: options.publishers }, async () => {
                const publisher = broker.publisher<Uint8Array>(topic, { codec: "bytes" });
                try {
                  while (remaining > 0 && !stop.isInterrupted()) {
                    const n = Math.min(remaining, batch.length);
                    remaining -= n;
                    const callStarted = performance.now();
                    const results = await publisher.publishBatch(n === batch.length ? batch : batch.slice(0, n));
                    latency.recordValue(Math.max(1, Math.round((performance.now() - callStarted) * 1000)));
                    for (const r of results) if (!r.ok) failed += 1;
                    progress.add(n);
                  }
                } finally {
                  await publisher.close();
                }
              }),
            );
          } finally {
            progress.stop();
          }
          if (stop.isInterrupted()) throw new BrookError("CLOSED", `interrupted; deleted the bench topic ${topic}`);
          const published = performance.now() - started;
          const publishResult = phase(options.messages, options.messages * options.size, published);
          if (failed > 0) process.stderr.write(`warning: ${failed} publishes failed\n`);

          let consumed = 0;
          let done: () => void = () => undefined;
          const all = new Promise<void>((resolve) => (done = resolve));
          const consumeProgress = new Progress("consume", options.messages - failed);
          const consumeStart = performance.now();
          const subscription = await bounded(
            broker.subscribe<Uint8Array>(topic, {
              group: "bench",
              codec: "bytes",
              startFrom: "earliest",
              maxInFlight: 4_096,
              batchHandler: (messages) => {
                consumed += messages.length;
                consumeProgress.add(messages.length);
                if (consumed >= options.messages - failed) done();
              },
            }),
            "subscribe",
          );
          try {
            await Promise.race([all, stop.interrupted]);
          } finally {
            consumeProgress.stop();
            await subscription.close({ drain: !stop.isInterrupted() });
          }
          if (stop.isInterrupted()) throw new BrookError("CLOSED", `interrupted; deleted the bench topic ${topic}`);
          const consumedMs = performance.now() - consumeStart;
          const consumeResult = phase(consumed, consumed * options.size, consumedMs);
          const ms = (p: number): number => Number((latency.getValueAtPercentile(p) / 1000).toFixed(2));
          if (options.output === "json") {
            const publishLatencyMs = { p50: ms(50), p90: ms(90), p99: ms(99), "p99.9": ms(99.9), max: ms(100) };
            const result = { url, topic, size: options.size, partitions: options.partitions, batch: batch.length, failed, publish: publishResult, consume: consumeResult, publishLatencyMs };
            await stdout().write(`${JSON.stringify(result)}\n`);
            return;
          }
          const us = (p: number): string => `${ms(p).toFixed(2)} ms`;
          const rows = [rateRow("publish", publishResult), rateRow("consume", consumeResult)];
          await stdout().write(
            `${table(["phase", "messages", "time", "rate", "throughput"], rows)}\n\n` +
              `publish latency per publishBatch of ${batch.length} (${latency.totalCount} calls)\n` +
              `${table(["p50", "p90", "p99", "p99.9", "max"], [[us(50), us(90), us(99), us(99.9), us(100)]])}\n`,
          );
        } finally {
          stop.dispose();
          await broker.admin.deleteTopic(topic).catch(() => undefined);
        }
      });
    });
}
