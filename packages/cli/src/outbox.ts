import { BrookError } from "@brook/core";

import type { Command } from "commander";
import { integer } from "./client.js";

interface RelayOptions {
  db: string;
  to: string;
  table?: string;
  pollMs?: number;
  batch?: number;
  once?: boolean;
}

/**
 * `brook outbox relay --db postgres://… --to <broker url>`: runs an OutboxRelay of
 * @brook/dedupe-postgres until SIGINT/SIGTERM (or, with --once, until the outbox is drained).
 * Several of these may run against one outbox: they share its keys, each key in order.
 */
export function registerOutbox(program: Command): void {
  const outbox = program.command("outbox").description("the PostgreSQL transactional outbox (@brook/dedupe-postgres)");
  outbox
    .command("relay")
    .description("publish the outbox's pending rows to a broker, in order per key, and mark them sent")
    .requiredOption("--db <url>", "the outbox's PostgreSQL, postgres://user@host:port/db (env BROOK_OUTBOX_DB)", process.env.BROOK_OUTBOX_DB)
    .requiredOption("--to <url>", "the broker to publish to: memory:, local:./dir, brook://…, kafka://…, pubsub://…")
    .option("--table <name>", "the outbox table (default brook_outbox)")
    .option("--poll-ms <ms>", "poll this often when no NOTIFY arrives", integer("--poll-ms", 1))
    .option("--batch <n>", "rows per round at most", integer("--batch", 1))
    .option("--once", "publish what is pending, then exit (prints the count)")
    .action(async (options: RelayOptions) => {
      // Loaded when the command runs: other commands do not load pg.
      const { OutboxRelay } = await import("@brook/dedupe-postgres");
      const relay = new OutboxRelay({
        db: options.db,
        to: options.to,
        ...(options.table === undefined ? {} : { table: options.table }),
        ...(options.pollMs === undefined ? {} : { pollIntervalMs: options.pollMs }),
        ...(options.batch === undefined ? {} : { batchSize: options.batch }),
        onError: (e: BrookError) => process.stderr.write(`warn ${e.code}: ${e.message}\n`),
      });
      try {
        if (options.once === true) {
          process.stdout.write(`${await relay.drain()} published\n`);
          return;
        }
        await relay.start();
        process.stderr.write(`outbox relay: ${options.table ?? "brook_outbox"} -> ${options.to} (Ctrl-C to stop)\n`);
        await new Promise<void>((resolve) => {
          process.once("SIGINT", resolve);
          process.once("SIGTERM", resolve);
        });
      } finally {
        await relay.close();
      }
    });
}
