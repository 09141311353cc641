/**
 * How `brook tail` prints a message: `--output text|json|hex`, or a `--format` template.
 *
 * Template directives (README): %t topic, %p partition, %o offset, %k key, %v value (UTF-8),
 * %x value as hex, %S value size in bytes, %T timestamp (ms since the epoch), %d timestamp
 * (ISO 8601), %h headers as JSON, %h{name} one header's value, %i idempotency key, %% a
 * percent sign; \n, \t, \r and \\ are escapes. A missing key, header or idempotency key
 * prints as nothing. Each message prints the template followed by a newline.
 */
import { InvalidArgumentError } from "commander";

/** A message as tail prints it, whichever way it was read. */
export interface TailRecord {
  topic: string;
  partition: string;
  offset: string;
  key: string | undefined;
  value: Uint8Array;
  headers: Record<string, string>;
  timestamp: Date;
  idempotencyKey: string | undefined;
}

export type TailOutput = "text" | "json" | "hex";
export type RecordFormatter = (r: TailRecord) => string;

export function tailOutput(value: string): TailOutput {
  if (value !== "text" && value !== "json" && value !== "hex") throw new InvalidArgumentError(`--output must be text, json or hex, got "${value}"`);
  return value;
}

const text = (bytes: Uint8Array): string => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("utf8");
const hex = (bytes: Uint8Array): string => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex");

/** Whether `bytes` are valid UTF-8 (so JSON output can carry them as a string). */
function isUtf8(bytes: Uint8Array): boolean {
  try {
    new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    return true;
  } catch {
    return false;
  }
}

/** The built-in outputs: `partition/offset key value [headers]` as text or hex, or one JSON object per line. */
export function outputFormatter(output: TailOutput, withHeaders: boolean): RecordFormatter {
  if (output === "json") {
    return (r) => {
      const value = isUtf8(r.value) ? { value: text(r.value) } : { valueBase64: Buffer.from(r.value).toString("base64") };
      return `${JSON.stringify({
        topic: r.topic,
        partition: r.partition,
        offset: r.offset,
        key: r.key ?? null,
        ...value,
        headers: r.headers,
        timestamp: r.timestamp.toISOString(),
        ...(r.idempotencyKey === undefined ? {} : { idempotencyKey: r.idempotencyKey }),
      })}\n`;
    };
  }
  const body = output === "hex" ? hex : text;
  return (r) => {
    const headers = withHeaders && Object.keys(r.headers).length > 0 ? ` ${JSON.stringify(r.headers)}` : "";
    return `${r.partition}/${r.offset} ${r.key ?? "-"} ${body(r.value)}${headers}\n`;
  };
}

const ESCAPES: Record<string, string> = { n: "\n", t: "\t", r: "\r", "\\": "\\" };
const DIRECTIVES: Record<string, RecordFormatter> = {
  t: (r) => r.topic,
  p: (r) => r.partition,
  o: (r) => r.offset,
  k: (r) => r.key ?? "",
  v: (r) => text(r.value),
  x: (r) => hex(r.value),
  S: (r) => String(r.value.byteLength),
  T: (r) => String(r.timestamp.getTime()),
  d: (r) => r.timestamp.toISOString(),
  h: (r) => JSON.stringify(r.headers),
  i: (r) => r.idempotencyKey ?? "",
};

/** Compiles a `--format` template once; an unknown directive is a usage error naming it. */
export function templateFormatter(template: string): RecordFormatter {
  const parts: Array<string | RecordFormatter> = [];
  let literal = "";
  for (let i = 0; i < template.length; i++) {
    const c = template[i]!;
    const next = template[i + 1];
    if (c === "\\" && next !== undefined && ESCAPES[next] !== undefined) {
      literal += ESCAPES[next];
      i += 1;
    } else if (c === "%") {
      if (next === "%") {
        literal += "%";
        i += 1;
        continue;
      }
      if (literal !== "") parts.push(literal);
      literal = "";
      if (next === "h" && template[i + 2] === "{") {
        const close = template.indexOf("}", i + 3);
        if (close < 0) throw new InvalidArgumentError(`--format: %h{ at position ${i} has no closing }`);
        const name = template.slice(i + 3, close);
        parts.push((r) => r.headers[name] ?? "");
        i = close;
        continue;
      }
      const directive = next === undefined ? undefined : DIRECTIVES[next];
      if (directive === undefined) {
        throw new InvalidArgumentError(`--format: unknown directive %${next ?? ""} at position ${i}; known: %t %p %o %k %v %x %S %T %d %h %h{name} %i %%`);
      }
      parts.push(directive);
      i += 1;
    } else {
      literal += c;
    }
  }
  if (literal !== "") parts.push(literal);
  return (r) => {
    let out = "";
    for (const part of parts) out += typeof part === "string" ? part : part(r);
    return `${out}\n`;
  };
}
