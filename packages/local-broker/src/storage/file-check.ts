/**
 * `brook check` and `brook repair` (FORMAT.md §9): open a data directory, CRC-scan every
 * segment of every partition and the metadata, and list what is damaged, torn or skipped.
 * With `skipDamaged`, every damaged range is skipped explicitly (a `skipped` entry each,
 * logged and reported) so readers can move past it.
 */
import { BrookError } from "@brook/core/base";
import { openFileStore, type FileStore, type StoreLogger } from "./file-store.js";
import type { FilePartitionLog } from "./file-partition-log.js";

export interface CheckFinding {
  kind: "damaged" | "torn" | "skipped" | "note";
  what: string;
  detail: string;
}

export interface CheckReport {
  findings: CheckFinding[];
  topics: number;
  partitions: number;
  segments: number;
  bytes: number;
  /** damaged ranges not skipped */
  damaged: number;
}

export interface CheckOptions {
  /** skip every damaged range explicitly (`brook repair --skip-damaged`) */
  skipDamaged?: boolean;
  /** hears what opening the directory logs */
  logger?: StoreLogger;
}

export async function checkDirectory(dir: string, options: CheckOptions = {}): Promise<CheckReport> {
  const findings: CheckFinding[] = [];
  const report = (line: string): void => {
    const m = /^skipped (.*?): (.*)$/.exec(line);
    findings.push({ kind: "skipped", what: m?.[1] ?? line, detail: m?.[2] ?? "" });
  };
  const outer = options.logger;
  const logger: StoreLogger = {
    warn: (message, fields) => {
      if (/adopting segment files/.test(message)) findings.push({ kind: "note", what: String(fields?.["partition"] ?? ""), detail: message });
      outer?.warn(message, fields);
    },
    error: (message, fields) => {
      if (/^torn tail/.test(message)) findings.push({ kind: "torn", what: String(fields?.["file"]), detail: `${message}: ${JSON.stringify(fields)}` });
      else if (/rebuilt from its directory/.test(message)) findings.push({ kind: "note", what: String(fields?.["topic"]), detail: message });
      outer?.error(message, fields);
    },
  };
  const result: CheckReport = { findings, topics: 0, partitions: 0, segments: 0, bytes: 0, damaged: 0 };
  let store: FileStore;
  try {
    store = await openFileStore(dir, { logger, ...(options.skipDamaged === true ? { repair: { skipDamaged: true, report } } : {}) });
  } catch (err) {
    if (!(err instanceof BrookError && err.code === "CORRUPT_DATA")) throw err;
    findings.push({ kind: "damaged", what: "metadata", detail: err.message });
    result.damaged++;
    return result;
  }
  try {
    for (const [topic, config] of store.metadata.topics()) {
      result.topics++;
      for (let p = 0; p < config.partitions; p++) {
        result.partitions++;
        const what = `topic "${topic}" partition ${p}`;
        let log: FilePartitionLog;
        try {
          log = (await store.openPartition(topic, p)) as FilePartitionLog;
        } catch (err) {
          if (!(err instanceof BrookError && err.code === "CORRUPT_DATA")) throw err;
          findings.push({ kind: "damaged", what, detail: err.message });
          result.damaged++;
          continue;
        }
        try {
          const ranges = await log.verify();
          if (options.skipDamaged === true && ranges.some((r) => !r.skipped)) await log.skipDamagedRanges();
          for (const r of log.damagedRanges()) {
            const detail = `offsets ${r.from}–${r.to - 1} (${r.reason})`;
            if (r.skipped) {
              if (!findings.some((f) => f.kind === "skipped" && f.what === what && f.detail === detail)) findings.push({ kind: "skipped", what, detail });
            } else {
              findings.push({ kind: "damaged", what, detail });
              result.damaged++;
            }
          }
        } catch (err) {
          if (!(err instanceof BrookError && err.code === "CORRUPT_DATA")) throw err;
          findings.push({ kind: "damaged", what, detail: err.message });
          result.damaged++;
        }
        result.segments += log.segmentCount;
        result.bytes += log.sizeBytes();
        for (const group of store.metadata.groups()) {
          const committed = store.metadata.committed(group, topic).get(p);
          if (committed !== undefined && committed > log.endOffset) {
            findings.push({ kind: "note", what, detail: `group "${group}" committed ${committed}, past the end of the log (${log.endOffset}): it would skip the records appended there next` });
          }
        }
      }
    }
  } finally {
    await store.close();
  }
  return result;
}

/** The report as FORMAT.md §9 prints it, one line per finding, then the `ok` line. */
export function formatCheckReport(r: CheckReport): string[] {
  const lines = r.findings.map((f) => `${f.kind.padEnd(8)} ${f.what}: ${f.detail}`);
  lines.push(`ok       ${r.topics} topics, ${r.partitions} partitions, ${r.segments} segments, ${r.bytes} bytes, ${r.damaged} damaged ranges`);
  return lines;
}
