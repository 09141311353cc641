/**
 * `brook mirror`: copies topics between any two broker URLs (at least once, keys, headers and
 * idempotency keys carried) and `brook mirror translate` moves a consumer group to the copy.
 * Both go through @brook/mirror; see its README for the migration step by step.
 */
import { BrookError } from "@brook/core";
import type { MirrorProgress, TranslateOptions, TranslateResult } from "@brook/mirror";

/** Loaded when a mirror command runs, so other commands do not load it. */
const mirrorPackage = (): Promise<typeof import("@brook/mirror")> => import("@brook/mirror");
import type { Command } from "commander";
import { cliLogger } from "./client.js";
import { table } from "./output.js";

/** Plain progress lines when stdout is not a terminal: one per this many ms. */
const PLAIN_PROGRESS_MS = 5_000;

interface MirrorFlags {
  from?: string;
  to?: string;
  topic?: string[];
  toTopic?: string;
  group?: string;
  once?: boolean;
  syncEvery?: string;
  deadLetterTopic?: string;
  createTopic?: boolean;
}

export function registerMirror(program: Command): void {
  const command = program
    .command("mirror")
    .description("copy topics from one broker URL to another, at least once, and record where each message went (Ctrl-C drains and commits)")
    // Checked in runMirror: commander would demand a parent's required options of "translate" too.
    .option("--from <url>", "source broker URL (required)")
    .option("--to <url>", "target broker URL (required)")
    .option("--topic <topic...>", "source topic(s) (required)")
    .option("--to-topic <topic>", "target topic (one source topic only; default: the same name)")
    .option("--group <group>", "the mirror's group on the source (default brook-mirror.<target topic>)")
    .option("--once", "stop when everything the source held at the start is copied")
    .option("--sync-every <n>", "write the position map every n messages (or every second)", "1000")
    .option("--dead-letter-topic <topic>", "target topic recording messages the target cannot hold (too large)")
    .option("--create-topic", "create the target topic with the source's partitions when missing")
    .action(async (flags: MirrorFlags) => runMirror(flags));

  // "brook mirror translate --from …": mirror parses the options both know, so translate reads
  // them from its parent (commander's optsWithGlobals) and checks them itself.
  command
    .command("translate")
    .description("move a consumer group to the mirror's copy: at or before its source position, never past it")
    .option("--dry-run", "print the plan, change nothing")
    .addHelpText("after", "\nTakes --from <url> --to <url> --topic <topic> --group <group> [--to-topic <topic>] as brook mirror does.")
    .action(async (_flags: unknown, sub: Command) => {
      const all = sub.optsWithGlobals<MirrorFlags & { dryRun?: boolean }>();
      const [from, to, topics, group] = required(all);
      if (group === undefined) throw new BrookError("INVALID_ARGUMENT", "required option '--group <group>' not specified");
      if (topics.length !== 1) throw new BrookError("INVALID_ARGUMENT", `--topic: translate takes one topic, got ${topics.length}`);
      const options: TranslateOptions = { from, to, topic: topics[0]!, group, logger: cliLogger };
      if (all.toTopic !== undefined) options.toTopic = all.toTopic;
      if (all.dryRun === true) options.dryRun = true;
      printTranslation(await (await mirrorPackage()).translate(options));
    });
}

function required(flags: MirrorFlags): [string, string, string[], string | undefined] {
  if (flags.from === undefined) throw new BrookError("INVALID_ARGUMENT", "required option '--from <url>' not specified");
  if (flags.to === undefined) throw new BrookError("INVALID_ARGUMENT", "required option '--to <url>' not specified");
  if (flags.topic === undefined) throw new BrookError("INVALID_ARGUMENT", "required option '--topic <topic>' not specified");
  return [flags.from, flags.to, flags.topic, flags.group];
}

async function runMirror(flags: MirrorFlags): Promise<void> {
  const [from, to, topics] = required(flags);
  const syncEvery = Number(flags.syncEvery);
  if (!Number.isSafeInteger(syncEvery) || syncEvery < 1) throw new BrookError("INVALID_ARGUMENT", `--sync-every: expected a whole number ≥ 1, got "${flags.syncEvery}"`);
  const stop = new AbortController();
  const onSignal = (): void => {
    if (stop.signal.aborted) process.exit(130); // a second Ctrl-C: leave now, the source redelivers
    process.stderr.write("\ndraining: finishing the batch in hand, committing on the source, writing the position map (Ctrl-C again to quit at once)\n");
    stop.abort();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  const tty = process.stdout.isTTY === true;
  let lastPlain = 0;
  try {
    const { mirror } = await mirrorPackage();
    const result = await mirror({
      from,
      to,
      topics,
      ...(flags.toTopic === undefined ? {} : { toTopic: flags.toTopic }),
      ...(flags.group === undefined ? {} : { group: flags.group }),
      ...(flags.deadLetterTopic === undefined ? {} : { deadLetterTopic: flags.deadLetterTopic }),
      once: flags.once === true,
      createTopic: flags.createTopic === true,
      syncEvery: { messages: syncEvery },
      signal: stop.signal,
      logger: cliLogger,
      onProgress: (p) => {
        if (tty) process.stdout.write(`\r\x1b[K${progressLine(p)}`);
        else if (p.done || Date.now() - lastPlain >= PLAIN_PROGRESS_MS) {
          lastPlain = Date.now();
          process.stdout.write(`${progressLine(p)}\n`);
        }
      },
    });
    if (tty) process.stdout.write("\n");
    process.stdout.write(
      `mirrored ${result.mirrored} message${result.mirrored === 1 ? "" : "s"} in ${(result.elapsedMs / 1000).toFixed(1)} s` +
        `${result.deadLettered > 0 ? `, ${result.deadLettered} too large (dead-lettered)` : ""}, ${result.checkpoints} position-map checkpoint${result.checkpoints === 1 ? "" : "s"}\n`,
    );
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}

export function progressLine(p: MirrorProgress): string {
  const lag = p.topics
    .flatMap((t) => t.partitions.map((q) => `${p.topics.length > 1 ? `${t.topic}/` : ""}${q.partition}=${q.lag === undefined ? "?" : q.lag}`))
    .join(" ");
  const eta = p.etaSeconds === undefined ? "" : ` ETA ${formatSeconds(p.etaSeconds)}`;
  return `mirrored ${p.mirrored} (${Math.round(p.rate)} msg/s) lag ${lag || "-"}${p.remaining === undefined ? "" : ` remaining ${p.remaining}`}${eta}${p.done ? " done" : ""}`;
}

function formatSeconds(s: number): string {
  if (s < 60) return `${Math.ceil(s)}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${Math.ceil(s % 60)}s`;
  return `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m`;
}

export function printTranslation(r: TranslateResult): void {
  const rows = [["partition", "source position", "copied before start", "may see again"]];
  for (const p of r.partitions) {
    const at = p.committed ?? (p.settledBefore === undefined ? "-" : `settled before ${p.settledBefore.toISOString()}`);
    const again =
      p.mayRepeat !== undefined
        ? String(p.mayRepeat)
        : p.repeatWindow !== undefined
          ? `those published ${p.repeatWindow.from === undefined ? "" : `from ${p.repeatWindow.from.toISOString()} `}to ${p.repeatWindow.to.toISOString()}`
          : "unknown";
    rows.push([p.partition, at, p.mark ?? "-", again]);
  }
  process.stdout.write(`group ${r.group}: ${r.topic} → ${r.toTopic}\n${table(rows[0]!, rows.slice(1))}\n`);
  if (r.rewound === undefined) process.stdout.write("plus an unknown number of target messages before the checkpoint, kept there by the target's publish dedupe\n");
  else if (r.rewound > 0) process.stdout.write(`plus ${r.rewound} target message(s) before the checkpoint, kept there by the target's publish dedupe\n`);
  const start = "positions" in r.start ? r.start.positions.map((p) => `${p.partition}@${p.offset}`).join(" ") : `time ${r.start.time.toISOString()}`;
  process.stdout.write(`start on the target: ${start}${r.checkpoint === undefined ? " (no checkpoint early enough: the target's beginning)" : ""}\n`);
  process.stdout.write(r.applied ? `set: group ${r.group} starts there on the target\n` : "dry run: nothing changed\n");
}
