import { randomBytes } from "node:crypto";
import { BrookError, type Broker, type StartFrom } from "@brook/core";
import type { EngineApi } from "@brook/local-broker/engine";
import { InvalidArgumentError, type Command } from "commander";
import { integer, withClient, type Client } from "./client.js";
import { outputFormatter, tailOutput, templateFormatter, type RecordFormatter, type TailOutput, type TailRecord } from "./format.js";
import { stdout } from "./output.js";
import { parseTime } from "./time.js";

interface TailOptions {
  from?: "earliest" | "latest" | Date;
  offset?: number;
  partition?: number;
  group?: string;
  count?: number;
  headers?: boolean;
  output: TailOutput;
  format?: RecordFormatter;
  exitAtEnd?: boolean;
}

/** Records per FETCH, and how long an idle FETCH waits on the broker (the group-less reader). */
const FETCH_RECORDS = 500;
const FETCH_WAIT_MS = 1_000;
/** Tries, and the pause between them, at deleting a throwaway group after its member left. */
const REMOVE_ATTEMPTS = 5;
const REMOVE_RETRY_MS = 500;

function from(value: string): "earliest" | "latest" | Date {
  if (value === "earliest" || value === "latest") return value;
  return parseTime(value, "--from");
}

function offset(value: string): number {
  const n = Number(value);
  if (value.trim() === "" || !Number.isSafeInteger(n)) throw new InvalidArgumentError(`--offset must be an offset (0, 1187) or, negative, that many before the end (-10), got "${value}"`);
  return n;
}

/** Ends the tail: Ctrl-C, SIGTERM, a closed stdout, --count, the end (--exit-at-end) or a failure. */
class Stop {
  private readonly controller = new AbortController();
  failure: BrookError | undefined;
  readonly done: Promise<void>;

  constructor() {
    this.done = new Promise((resolve) => this.controller.signal.addEventListener("abort", () => resolve(), { once: true }));
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  stop(failure?: BrookError): void {
    if (failure !== undefined) this.failure ??= failure;
    this.controller.abort();
  }
}

/** Prints records and counts them against --count. */
class Printer {
  private seen = 0;

  constructor(
    private readonly format: RecordFormatter,
    private readonly count: number | undefined,
    private readonly stopper: Stop,
  ) {}

  /** false once --count is reached (later records are not printed) */
  get wantsMore(): boolean {
    return (this.count === undefined || this.seen < this.count) && !this.stopper.signal.aborted;
  }

  async print(r: TailRecord): Promise<void> {
    if (!this.wantsMore) return;
    this.seen += 1;
    await stdout().write(this.format(r));
    if (this.count !== undefined && this.seen >= this.count) this.stopper.stop();
  }
}

export function registerTail(program: Command): void {
  program
    .command("tail <topic>")
    .description("print messages as they arrive (until Ctrl-C, --count or --exit-at-end); without --group it reads without joining any group")
    .option("--from <where>", "earliest, latest (default), or a time: ISO 8601, ms since the epoch, or relative (-15m, -2h, -1d)", from)
    .option("--offset <n>", "start at this offset in each partition read (negative: that many before the end)", offset)
    .option("--partition <n>", "read only this partition", integer("--partition", 0))
    .option("--group <group>", "consume as this group (its position is committed and stays)")
    .option("--count <n>", "exit after this many messages", integer("--count", 1))
    .option("-e, --exit-at-end", "exit once every partition read is at its end as of the start")
    .option("-o, --output <format>", "text (partition/offset key value), json (one object per line) or hex (value as hex)", tailOutput, "text")
    .option("-f, --format <template>", "print each message with this template, e.g. '%k %v %p %o %T %h{name}' (see README)", templateFormatter)
    .option("--headers", "text and hex output: add the headers as JSON")
    .action(async (topic: string, options: TailOptions, command: Command) => {
      if (options.from !== undefined && options.offset !== undefined) throw new BrookError("INVALID_ARGUMENT", "--from and --offset exclude each other");
      if (options.format !== undefined && options.output !== "text") throw new BrookError("INVALID_ARGUMENT", "--format and --output json|hex exclude each other");
      const format = options.format ?? outputFormatter(options.output, options.headers === true);
      await withClient(command, async (client) => {
        const stopper = new Stop();
        const printer = new Printer(format, options.count, stopper);
        const onSignal = (): void => stopper.stop();
        process.on("SIGINT", onSignal);
        process.on("SIGTERM", onSignal);
        const onClosed = (): void => stopper.stop();
        stdout().closed.addEventListener("abort", onClosed, { once: true });
        try {
          if (client.api !== undefined && options.group === undefined) {
            await readWithoutGroup(client, client.api, topic, options, printer, stopper);
          } else {
            await readAsGroup(client, topic, options, printer, stopper);
          }
        } finally {
          process.off("SIGINT", onSignal);
          process.off("SIGTERM", onSignal);
          stdout().closed.removeEventListener("abort", onClosed);
        }
        if (stopper.failure !== undefined) throw stopper.failure;
      });
    });
}

/**
 * The local broker (memory:, local:, brook://) without --group: FETCH from each partition
 * directly, like kcat's simple consumer, so no group (and no committed offset) is left behind.
 */
async function readWithoutGroup(client: Client, api: EngineApi, topic: string, options: TailOptions, printer: Printer, stopper: Stop): Promise<void> {
  const details = await client.bounded(api.describeTopic(topic), "describe topic");
  const partitions = details.partitions.filter((p) => options.partition === undefined || p.partition === options.partition);
  if (partitions.length === 0) {
    throw new BrookError("INVALID_ARGUMENT", `--partition ${options.partition}: topic "${topic}" has partitions 0 to ${details.partitions.length - 1}`);
  }
  const startOf = async (p: (typeof partitions)[number]): Promise<number> => {
    if (options.offset !== undefined) {
      const at = options.offset < 0 ? Math.max(p.start, p.end + options.offset) : options.offset;
      if (at < p.start || at > p.end) throw new BrookError("OUT_OF_RANGE", `--offset ${options.offset}: partition ${p.partition} of "${topic}" holds offsets ${p.start} to ${p.end} (its end)`);
      return at;
    }
    const where = options.from ?? "latest";
    if (where === "earliest") return p.start;
    if (where === "latest") return p.end;
    return client.bounded(api.offsetForTime(topic, p.partition, where.getTime()), "offset for time");
  };
  await Promise.all(
    partitions.map(async (p) => {
      let next = await startOf(p);
      const end = p.end;
      while (printer.wantsMore) {
        if (options.exitAtEnd === true && next >= end) return;
        let fetched;
        try {
          fetched = await api.fetch(topic, p.partition, next, FETCH_RECORDS, options.exitAtEnd === true ? 0 : FETCH_WAIT_MS, stopper.signal);
        } catch (err) {
          const error = err as BrookError;
          if (error.code === "OUT_OF_RANGE") {
            // Retention removed what we were about to read: go on from the log's start, and say so.
            const now = (await api.describeTopic(topic)).partitions[p.partition];
            if (now !== undefined && next < now.start) {
              process.stderr.write(`warning: partition ${p.partition}: offsets ${next} to ${now.start - 1} were removed by retention before they were read\n`);
              next = now.start;
              continue;
            }
          }
          stopper.stop(error instanceof BrookError ? error : new BrookError("INTERNAL", String(err), { cause: err }));
          return;
        }
        if (stopper.signal.aborted) return;
        for (const r of fetched.records) {
          if (!printer.wantsMore) return;
          if (options.exitAtEnd === true && r.offset >= end) return;
          await printer.print({
            topic,
            partition: String(p.partition),
            offset: String(r.offset),
            key: r.key === undefined ? undefined : r.key.toString("utf8"),
            value: r.value,
            headers: r.headers,
            timestamp: new Date(r.timestamp),
            idempotencyKey: r.idempotencyKey,
          });
          next = r.offset + 1;
        }
      }
    }),
  );
  stopper.stop();
}

/** The log offsets a backend's admin offers beyond the contract (the Kafka adapter's extras). */
interface LogOffsets {
  partitionOffsets(topic: string): Promise<Array<{ partition: string; start: string; end: string }>>;
  partitionOffsetsAt(topic: string, time: Date): Promise<Array<{ partition: number; offset: string }>>;
}

function hasLogOffsets(admin: object): admin is LogOffsets {
  const a = admin as Partial<LogOffsets>;
  return typeof a.partitionOffsets === "function" && typeof a.partitionOffsetsAt === "function";
}

/** Where each partition starts (from --offset, --from or latest), and the end now of each one read (--partition). */
async function logRange(client: Client, log: LogOffsets, topic: string, options: TailOptions): Promise<{ starts: Map<string, string>; ends: Map<string, string> }> {
  const offsets = await client.bounded(log.partitionOffsets(topic), "read partition offsets");
  const read = offsets.filter((o) => options.partition === undefined || o.partition === String(options.partition));
  if (read.length === 0) throw new BrookError("INVALID_ARGUMENT", `--partition ${options.partition}: topic "${topic}" has partitions 0 to ${offsets.length - 1}`);
  const at = options.from instanceof Date ? new Map((await client.bounded(log.partitionOffsetsAt(topic, options.from), "find offsets for --from")).map((o) => [o.partition, o.offset])) : undefined;
  const starts = new Map<string, string>();
  for (const o of offsets) {
    let start: bigint;
    if (!read.includes(o)) start = BigInt(o.end); // not printed (--partition): nothing to fetch
    else if (options.offset !== undefined) {
      start = options.offset < 0 ? BigInt(o.end) + BigInt(options.offset) : BigInt(options.offset);
      if (start < BigInt(o.start)) start = options.offset < 0 ? BigInt(o.start) : start;
      if (start < BigInt(o.start) || start > BigInt(o.end)) {
        throw new BrookError("OUT_OF_RANGE", `--offset ${options.offset}: partition ${o.partition} of "${topic}" holds offsets ${o.start} to ${o.end} (its end)`);
      }
    } else if (at !== undefined) start = BigInt(at.get(Number(o.partition)) ?? o.end);
    else start = BigInt(options.from === "earliest" ? o.start : o.end);
    starts.set(String(o.partition), String(start));
  }
  return { starts, ends: new Map(read.map((o) => [String(o.partition), o.end])) };
}

/** What a backend offers to remove a throwaway group (extras of the Kafka and Pub/Sub admins). */
interface GroupRemoval {
  deleteGroup?(group: string): Promise<void>;
  deleteSubscription?(name: string): Promise<void>;
}

/**
 * --group, or another backend: subscribe. Without --group the group is a throwaway one that
 * is deleted afterwards where the backend can (Kafka's group, Pub/Sub's subscription).
 */
async function readAsGroup(client: Client, topic: string, options: TailOptions, printer: Printer, stopper: Stop): Promise<void> {
  const { broker } = client;
  const throwaway = options.group === undefined;
  const log = hasLogOffsets(broker.admin) ? broker.admin : undefined;
  if (options.exitAtEnd === true && (!throwaway || log === undefined)) {
    throw new BrookError(
      "UNSUPPORTED",
      throwaway
        ? `--exit-at-end needs partition offsets to stop at: the local broker (memory:, local:, brook://) and Kafka have them, ${client.url} has not`
        : "--exit-at-end reads without a group (a group starts where it last committed, with no end to stop at); drop --group",
    );
  }
  if (!throwaway && options.partition !== undefined) {
    throw new BrookError("INVALID_ARGUMENT", "--partition with --group: the group would commit the other partitions' messages unread; drop --group to read one partition");
  }
  if (options.offset !== undefined && options.offset < 0 && (log === undefined || !throwaway)) {
    throw new BrookError("UNSUPPORTED", `--offset ${options.offset} (from the end) needs partition offsets: the local broker and Kafka have them; on ${client.url} give an absolute offset or --from`);
  }
  const group = options.group ?? `brook-tail-${randomBytes(4).toString("hex")}`;
  // With the log's offsets (Kafka): where each partition read starts, and the end to stop at (-e).
  const range = log === undefined || !throwaway ? undefined : await logRange(client, log, topic, options);
  const startFrom = range === undefined ? await startFromOptions(broker, topic, options, client) : { positions: [...range.starts].map(([partition, offset]) => ({ partition, offset })) };
  /** partitions still short of the end they had at the start (--exit-at-end) */
  const pending = new Set<string>();
  if (options.exitAtEnd === true && range !== undefined) {
    for (const [p, end] of range.ends) if (BigInt(range.starts.get(p)!) < BigInt(end)) pending.add(p);
    if (pending.size === 0) return;
  }
  const subscription = await client.bounded(
    broker.subscribe<Uint8Array>(topic, {
      group,
      codec: "bytes",
      ordering: "partition",
      startFrom,
      handler: async (m) => {
        // Past --count, messages are left unacknowledged (uncommitted) for the group's next reader.
        if (!printer.wantsMore) return new Promise<void>(() => undefined);
        if (options.partition !== undefined && m.position.partition !== String(options.partition)) return;
        const end = options.exitAtEnd === true ? range?.ends.get(m.position.partition) : undefined;
        if (end !== undefined && BigInt(m.position.offset) >= BigInt(end)) return; // written after the start
        await printer.print({
          topic,
          partition: m.position.partition,
          offset: m.position.offset,
          key: m.key,
          value: m.data,
          headers: m.headers,
          timestamp: m.publishTime,
          idempotencyKey: m.idempotencyKey,
        });
        if (end !== undefined && BigInt(m.position.offset) + 1n >= BigInt(end)) {
          pending.delete(m.position.partition);
          if (pending.size === 0) stopper.stop();
        }
      },
    }),
    "subscribe",
  );
  subscription.on("error", (err) => {
    if (err.code === "TOPIC_NOT_FOUND" || err.code === "UNAUTHENTICATED") stopper.stop(err);
  });
  try {
    await stopper.done;
    // A turn later, so the last printed message is settled (and committed by close) first.
    await new Promise((resolve) => setImmediate(resolve));
  } finally {
    await subscription.close({ drain: false });
    if (throwaway) await removeThrowaway(broker, group, (subscription as { subscriptionName?: string }).subscriptionName);
  }
}

async function startFromOptions(broker: Broker, topic: string, options: TailOptions, client: Client): Promise<StartFrom> {
  if (options.offset !== undefined) {
    const partitions =
      options.partition !== undefined ? [options.partition] : Array.from({ length: (await client.bounded(broker.admin.describeTopic(topic), "describe topic")).partitions ?? 0 }, (_, i) => i);
    if (partitions.length === 0) throw new BrookError("UNSUPPORTED", `--offset needs partitions; ${client.url} has none`);
    return { positions: partitions.map((p) => ({ partition: String(p), offset: String(options.offset) })) };
  }
  const where = options.from ?? "latest";
  return where instanceof Date ? { time: where } : where;
}

async function removeThrowaway(broker: Broker, group: string, subscriptionName: string | undefined): Promise<void> {
  const admin = broker.admin as GroupRemoval;
  const remove =
    subscriptionName !== undefined && admin.deleteSubscription !== undefined
      ? () => admin.deleteSubscription!(subscriptionName)
      : admin.deleteGroup !== undefined
        ? () => admin.deleteGroup!(group)
        : undefined;
  if (remove === undefined) {
    process.stderr.write(`warning: the throwaway group ${group} stays on ${broker.url} (this backend cannot delete groups)\n`);
    return;
  }
  // The member's leave may still be settling on the broker (Kafka: NON_EMPTY_GROUP): a few tries.
  for (let attempt = 1; ; attempt++) {
    try {
      await remove();
      return;
    } catch (err) {
      if (attempt >= REMOVE_ATTEMPTS) {
        process.stderr.write(`warning: could not delete the throwaway group ${group}: ${(err as Error).message}\n`);
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, REMOVE_RETRY_MS));
    }
  }
}
