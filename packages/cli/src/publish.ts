import { createReadStream } from "node:fs";
import { createInterface } from "node:readline";
import type { Readable } from "node:stream";
import { BrookError, type OutgoingMessage } from "@brook/core";
import { InvalidArgumentError, type Command } from "commander";
import { withClient } from "./client.js";
import { stdout } from "./output.js";

type InputFormat = "text" | "jsonl";

interface PublishOptions {
  key?: string;
  header?: Record<string, string>;
  idempotencyKey?: string;
  keySeparator?: string;
  input: InputFormat;
  file?: string;
}

/** Messages per publishBatch call when reading lines. */
const BATCH = 1_000;

function header(value: string, previous: Record<string, string> | undefined): Record<string, string> {
  const eq = value.indexOf("=");
  if (eq <= 0) throw new InvalidArgumentError(`--header expects name=value, got "${value}"`);
  return { ...(previous ?? {}), [value.slice(0, eq)]: value.slice(eq + 1) };
}

function inputFormat(value: string): InputFormat {
  if (value !== "text" && value !== "jsonl") throw new InvalidArgumentError(`--input must be text or jsonl, got "${value}"`);
  return value;
}

function isStringRecord(value: unknown): value is Record<string, string> {
  return typeof value === "object" && value !== null && !Array.isArray(value) && Object.values(value).every((v) => typeof v === "string");
}

/**
 * One JSON line: `{"key"?, "headers"?, "idempotencyKey"?, "data" | "dataBase64"}`. A string
 * `data` is sent as its UTF-8 bytes, any other JSON value as its JSON text (what a subscriber
 * with the json codec reads back as that value), `dataBase64` as the bytes it encodes.
 */
function parseJsonLine(line: string, lineNo: number): OutgoingMessage<Uint8Array> {
  const where = `line ${lineNo}`;
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (err) {
    throw new BrookError("INVALID_ARGUMENT", `${where}: not JSON (${(err as Error).message})`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new BrookError("INVALID_ARGUMENT", `${where}: expected an object {"key", "headers", "data"}`);
  const o = value as Record<string, unknown>;
  for (const name of Object.keys(o)) {
    if (!["key", "headers", "idempotencyKey", "data", "dataBase64"].includes(name)) {
      throw new BrookError("INVALID_ARGUMENT", `${where}: unknown field "${name}"; known: key, headers, idempotencyKey, data, dataBase64`);
    }
  }
  if (o.key !== undefined && o.key !== null && typeof o.key !== "string") throw new BrookError("INVALID_ARGUMENT", `${where}: key must be a string`);
  if (o.idempotencyKey !== undefined && typeof o.idempotencyKey !== "string") throw new BrookError("INVALID_ARGUMENT", `${where}: idempotencyKey must be a string`);
  if (o.headers !== undefined && !isStringRecord(o.headers)) throw new BrookError("INVALID_ARGUMENT", `${where}: headers must be an object of strings`);
  let data: Uint8Array;
  if (o.dataBase64 !== undefined) {
    if (o.data !== undefined) throw new BrookError("INVALID_ARGUMENT", `${where}: data and dataBase64 exclude each other`);
    if (typeof o.dataBase64 !== "string") throw new BrookError("INVALID_ARGUMENT", `${where}: dataBase64 must be a string`);
    data = Buffer.from(o.dataBase64, "base64");
  } else if (o.data !== undefined) {
    data = Buffer.from(typeof o.data === "string" ? o.data : JSON.stringify(o.data), "utf8");
  } else {
    throw new BrookError("INVALID_ARGUMENT", `${where}: no data (or dataBase64)`);
  }
  return {
    data,
    ...(typeof o.key === "string" ? { key: o.key } : {}),
    ...(o.headers === undefined ? {} : { headers: o.headers as Record<string, string> }),
    ...(o.idempotencyKey === undefined ? {} : { idempotencyKey: o.idempotencyKey as string }),
  };
}

async function* lines(input: Readable): AsyncGenerator<{ line: string; lineNo: number }> {
  const reader = createInterface({ input, crlfDelay: Infinity });
  let lineNo = 0;
  for await (const line of reader) {
    lineNo += 1;
    if (line.length > 0) yield { line, lineNo };
  }
}

export function registerPublish(program: Command): void {
  program
    .command("publish <topic> [messages...]")
    .description("publish each argument, or each line of stdin (or --file), as a message")
    .option("--key <key>", "key of every message (same key: same partition, in order)")
    .option("-K, --key-separator <sep>", "text lines are KEY<sep>VALUE: a key per line (lines without it have no key)")
    .option("--header <name=value>", "a header on every message (repeatable)", header)
    .option("--idempotency-key <key>", "idempotency key (only with a single message argument)")
    .option("--input <format>", "how lines are read: text (a line is the value) or jsonl ({key, headers, idempotencyKey, data | dataBase64} per line)", inputFormat, "text")
    .option("--file <path>", "read lines from this file instead of stdin")
    .action(async (topic: string, messages: string[], options: PublishOptions, command: Command) => {
      if (options.idempotencyKey !== undefined && messages.length !== 1) {
        throw new BrookError("INVALID_ARGUMENT", "--idempotency-key needs exactly one message argument");
      }
      if (messages.length > 0 && options.file !== undefined) throw new BrookError("INVALID_ARGUMENT", "give messages as arguments or --file, not both");
      if (options.keySeparator === "") throw new BrookError("INVALID_ARGUMENT", "--key-separator must not be empty");
      if (options.keySeparator !== undefined && options.input === "jsonl") throw new BrookError("INVALID_ARGUMENT", "--key-separator is for text lines; a JSON line has its own key");
      // Open the file first: a wrong path fails before connecting.
      const file = options.file === undefined ? undefined : await openFile(options.file);
      /** Per-line key and headers win over --key and --header. */
      const complete = (m: OutgoingMessage<Uint8Array>): OutgoingMessage<Uint8Array> => {
        const key = m.key ?? options.key;
        return {
          ...m,
          headers: { ...options.header, ...m.headers },
          ...(key === undefined ? {} : { key }),
          ...(options.idempotencyKey === undefined || m.idempotencyKey !== undefined ? {} : { idempotencyKey: options.idempotencyKey }),
        };
      };
      const fromText = (text: string): OutgoingMessage<Uint8Array> => {
        const sep = options.keySeparator;
        const at = sep === undefined ? -1 : text.indexOf(sep);
        if (sep === undefined || at < 0) return complete({ data: Buffer.from(text, "utf8") });
        return complete({ key: text.slice(0, at), data: Buffer.from(text.slice(at + sep.length), "utf8") });
      };
      await withClient(command, async ({ broker, bounded }) => {
        const publisher = broker.publisher<Uint8Array>(topic, { codec: "bytes" });
        let published = 0;
        let failed: BrookError | undefined;
        const send = async (batch: OutgoingMessage<Uint8Array>[], print: boolean): Promise<void> => {
          const results = await bounded(publisher.publishBatch(batch), "publish");
          let out = "";
          for (const r of results) {
            if (!r.ok) {
              failed ??= r.error;
              continue;
            }
            published += 1;
            if (print) out += `${r.position.partition}/${r.position.offset}${r.duplicate ? " (duplicate)" : ""}\n`;
          }
          if (out !== "") await stdout().write(out);
        };
        try {
          if (messages.length > 0) {
            await send(messages.map(fromText), true);
          } else {
            let batch: OutgoingMessage<Uint8Array>[] = [];
            for await (const { line, lineNo } of lines(file ?? process.stdin)) {
              batch.push(options.input === "jsonl" ? complete(parseJsonLine(line, lineNo)) : fromText(line));
              if (batch.length === BATCH) {
                await send(batch, false);
                batch = [];
              }
            }
            if (batch.length > 0) await send(batch, false);
            await stdout().write(`published ${published} message${published === 1 ? "" : "s"} to ${topic}\n`);
          }
        } catch (err) {
          if (published > 0 && err instanceof BrookError) throw new BrookError(err.code, `${err.message} (the ${published} before were published)`, { cause: err });
          throw err;
        } finally {
          file?.destroy();
          await publisher.close();
        }
        if (failed !== undefined) {
          throw published === 0 ? failed : new BrookError(failed.code, `${failed.message} (the other ${published} were published)`, { cause: failed });
        }
      });
    });
}

/** Opens --file, failing with INVALID_ARGUMENT naming the path when it cannot be read. */
function openFile(path: string): Promise<Readable> {
  return new Promise((resolve, reject) => {
    const stream = createReadStream(path);
    stream.once("open", () => resolve(stream));
    stream.once("error", (err) => reject(new BrookError("INVALID_ARGUMENT", `--file ${path}: ${(err as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : err.message}`, { cause: err })));
  });
}
