/**
 * How messages become Firehose records. Firehose concatenates the records it delivers into S3
 * objects with nothing between them, so a record's bytes must say where it ends:
 *
 * | framing   | envelope | one record is                                         | for                        |
 * |-----------|----------|-------------------------------------------------------|----------------------------|
 * | "newline" | "none"   | the encoded data, then "\n" (data with "\n" refused)  | json, string, auto codecs  |
 * | "none"    | "none"   | the encoded data as given                             | bytes and custom codecs    |
 * | "newline" | "json"   | `{"data":…,"key":…,"headers":{…},"idempotencyKey":…,"publishTime":"…"}` then "\n" | keys, headers, ids |
 *
 * In the envelope, `data` is a JSON value for the json codec (and for the auto codec's objects,
 * by their content-type application/json or any +json type), a string for the string codec
 * (and text/* content types), and base64 of the bytes otherwise; `key` and `idempotencyKey` are
 * null when absent; `publishTime` is when Brook sent the record (ISO 8601, UTC).
 */
import { BrookError } from "@brook/core";
import type { WireMessage } from "@brook/core/spi";

export type FramingMode = "newline" | "none";
export type FirehoseEnvelope = "none" | "json";

/** The largest record Firehose takes: 1,000 KiB of data. */
export const MAX_FIREHOSE_RECORD_BYTES = 1_024_000;

/**
 * Headers Brook itself adds, dropped (not refused) without the envelope: the auto codec's
 * content-type (what the framing already says: each line is the JSON or text the codec wrote)
 * and the trace context that tracing injects (a record has nowhere to carry it; the publish
 * span still records the send). Any other header needs the envelope.
 */
export const DROPPED_HEADERS: ReadonlySet<string> = new Set(["content-type", "traceparent", "tracestate"]);

export interface RecordFormat {
  framing: FramingMode;
  envelope: FirehoseEnvelope;
  /** the publisher's codec name ("json", "string", "bytes", "auto" or a custom codec's) */
  codec: string;
}

const NEWLINE = 0x0a;
const encoder = new TextEncoder();
const utf8 = new TextDecoder("utf-8", { fatal: true });

/** framing when the application gives none: newline for codecs that write text, none for bytes. */
export function defaultFraming(codec: string, envelope: FirehoseEnvelope): FramingMode {
  if (envelope === "json") return "newline";
  return codec === "json" || codec === "string" || codec === "auto" ? "newline" : "none";
}

type DataForm = "json" | "text" | "base64";

/** How a message's data is written in the envelope. */
function dataForm(codec: string, headers: Record<string, string>): DataForm {
  if (codec === "json") return "json";
  if (codec === "string") return "text";
  if (codec === "bytes") return "base64";
  const type = headers["content-type"]?.split(";")[0]?.trim().toLowerCase();
  if (type === "application/json" || type?.endsWith("+json") === true) return "json";
  if (type?.startsWith("text/") === true) return "text";
  return "base64";
}

/** The JSON text of a message's data for the envelope; a value that is not what its form says fails that message. */
function dataJson(m: WireMessage, form: DataForm): string | BrookError {
  if (form === "base64") return `"${Buffer.from(m.value.buffer, m.value.byteOffset, m.value.byteLength).toString("base64")}"`;
  let text: string;
  try {
    text = utf8.decode(m.value);
  } catch (err) {
    return new BrookError("INVALID_ARGUMENT", `message.data: not UTF-8 text, which envelope "json" writes as ${form === "json" ? "a JSON value" : "a string"} (use codec "bytes" to send it as base64)`, { cause: err });
  }
  if (form === "text") return JSON.stringify(text);
  // JSON.stringify (the json and auto codecs) never writes a raw newline; a custom codec might
  // pretty-print, which would split the line: parse and write it compactly then.
  if (text.includes("\n")) {
    try {
      return JSON.stringify(JSON.parse(text));
    } catch (err) {
      return new BrookError("INVALID_ARGUMENT", `message.data: its content-type says JSON but it does not parse`, { cause: err });
    }
  }
  return text;
}

/** The record bytes of one message under `format`, or the error that fails the message alone. */
export function toRecord(m: WireMessage, format: RecordFormat, now: Date): Uint8Array | BrookError {
  let record: Uint8Array;
  if (format.envelope === "json") {
    const data = dataJson(m, dataForm(format.codec, m.headers));
    if (data instanceof BrookError) return data;
    const line = `{"data":${data},"key":${JSON.stringify(m.key ?? null)},"headers":${JSON.stringify(m.headers)},"idempotencyKey":${JSON.stringify(m.idempotencyKey ?? null)},"publishTime":"${now.toISOString()}"}\n`;
    record = encoder.encode(line);
  } else {
    const refused = withoutEnvelope(m);
    if (refused !== undefined) return refused;
    if (format.framing === "newline") {
      if (m.value.indexOf(NEWLINE) !== -1) {
        return new BrookError(
          "INVALID_ARGUMENT",
          `message.data: contains a newline, which framing "newline" uses to end each record in S3; use envelope "json" (it escapes newlines) or framing "none"`,
        );
      }
      record = new Uint8Array(m.value.byteLength + 1);
      record.set(m.value, 0);
      record[m.value.byteLength] = NEWLINE;
    } else {
      record = m.value;
    }
  }
  if (record.byteLength > MAX_FIREHOSE_RECORD_BYTES) {
    return new BrookError(
      "MESSAGE_TOO_LARGE",
      `message: its Firehose record would be ${record.byteLength} bytes${format.envelope === "json" ? " (in the JSON envelope)" : format.framing === "newline" ? " (with its newline)" : ""}, over the limit of ${MAX_FIREHOSE_RECORD_BYTES}`,
    );
  }
  return record;
}

/**
 * A message that carries what a bare record cannot hold (a key, an idempotency key, headers
 * other than DROPPED_HEADERS) fails with INVALID_ARGUMENT naming it, never losing it silently.
 */
function withoutEnvelope(m: WireMessage): BrookError | undefined {
  const kept = Object.keys(m.headers).filter((name) => !DROPPED_HEADERS.has(name.toLowerCase()));
  const field = m.idempotencyKey !== undefined ? "idempotencyKey" : m.key !== undefined ? "key" : kept.length > 0 ? "headers" : undefined;
  if (field === undefined) return undefined;
  const what = field === "headers" ? `headers (${kept.join(", ")})` : `a${field === "key" ? "" : "n"} ${field}`;
  return new BrookError(
    "INVALID_ARGUMENT",
    `message.${field}: carries ${what}, which a bare Firehose record cannot hold; publish with envelope "json" to keep it in S3`,
  );
}
