import { BrookError, invalidArgument } from "./errors.js";

import type { Headers } from "./contract.js";

/** Turns application values into message bytes and back. */
export interface Codec<T> {
  readonly name: string;
  encode(value: T): Uint8Array;
  /** `headers`: the message's headers (the auto codec decodes by content-type). */
  decode(bytes: Uint8Array, headers?: Headers): T;
  /** The content-type header a value is published with, when the codec sets one. */
  contentType?(value: T): string | undefined;
  /**
   * Further headers a value is published with (e.g. the writer schema's fingerprint); headers
   * the application set itself win.
   */
  headers?(value: T): Headers | undefined;
}

export type CodecName = "auto" | "bytes" | "string" | "json";

export const CONTENT_TYPE_HEADER = "content-type";
const JSON_TYPE = "application/json";
const TEXT_TYPE = "text/plain; charset=utf-8";

const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * UTF-8 bytes of a string. Buffer.from takes small strings out of Node's shared pool: no new
 * ArrayBuffer per message (TextEncoder.encode makes one, ~7% of a JSON publish profile).
 */
function encodeUtf8(text: string): Uint8Array {
  return Buffer.from(text, "utf8");
}

/** The bytes codec's decode: the bytes themselves, it cannot fail. */
const identity = (bytes: Uint8Array): Uint8Array => bytes;

/** True when `codec.decode` is the bytes codec's, which cannot fail (a batch view may then decode lazily). */
export function decodesWithoutFailure(codec: Codec<unknown>): boolean {
  return codec.decode === identity;
}

export function bytesCodec(): Codec<Uint8Array> {
  return {
    name: "bytes",
    encode(value) {
      if (!(value instanceof Uint8Array)) throw invalidArgument("data", "a Uint8Array or Buffer for the bytes codec", value);
      return value;
    },
    decode: identity,
  };
}

export function stringCodec(): Codec<string> {
  return {
    name: "string",
    encode(value) {
      if (typeof value !== "string") throw invalidArgument("data", "a string for the string codec", value);
      return encodeUtf8(value);
    },
    decode(bytes) {
      try {
        return utf8.decode(bytes);
      } catch (err) {
        throw new BrookError("CORRUPT_DATA", "message data: expected UTF-8 text for the string codec", { cause: err });
      }
    },
  };
}

export function jsonCodec<T = unknown>(): Codec<T> {
  return {
    name: "json",
    encode(value) {
      if (value === undefined || typeof value === "function" || typeof value === "symbol") {
        throw invalidArgument("data", "a JSON-serialisable value for the json codec", value);
      }
      let text: string;
      try {
        text = JSON.stringify(value);
      } catch (err) {
        throw new BrookError("INVALID_ARGUMENT", `data: cannot be encoded as JSON (${(err as Error).message})`, { cause: err });
      }
      return encodeUtf8(text);
    },
    decode(bytes) {
      try {
        return JSON.parse(utf8.decode(bytes)) as T;
      } catch (err) {
        throw new BrookError("CORRUPT_DATA", "message data: expected JSON for the json codec", { cause: err });
      }
    },
  };
}

/**
 * The default: publishes what the application passes. Bytes stay bytes (no header), strings
 * are UTF-8 text (content-type text/plain), anything else is JSON (content-type
 * application/json). A subscriber decodes by the content-type header: JSON (application/json or
 * any +json type), text (text/*), and bytes for anything else, including messages from
 * producers that set no content-type.
 */
export function autoCodec<T = unknown>(): Codec<T> {
  const json = jsonCodec<T>();
  const text = stringCodec();
  return {
    name: "auto",
    encode(value) {
      if (value instanceof Uint8Array) return value;
      if (typeof value === "string") return encodeUtf8(value);
      return json.encode(value);
    },
    contentType(value) {
      if (value instanceof Uint8Array) return undefined;
      return typeof value === "string" ? TEXT_TYPE : JSON_TYPE;
    },
    decode(bytes, headers) {
      const raw = headers?.[CONTENT_TYPE_HEADER];
      // The exact types this codec publishes with, without parsing (the common case).
      if (raw === JSON_TYPE) return json.decode(bytes);
      if (raw === TEXT_TYPE) return text.decode(bytes) as T;
      const type = raw?.split(";")[0]?.trim().toLowerCase();
      if (type === JSON_TYPE || type?.endsWith("+json") === true) return json.decode(bytes);
      if (type?.startsWith("text/") === true) return text.decode(bytes) as T;
      return bytes as T;
    },
  };
}

/** Resolves a codec option to a codec; "auto" is the default. */
export function resolveCodec<T>(option: CodecName | Codec<T> | undefined, field = "codec"): Codec<T> {
  if (option === undefined || option === "auto") return autoCodec<T>();
  if (option === "json") return jsonCodec<T>();
  if (option === "string") return stringCodec() as unknown as Codec<T>;
  if (option === "bytes") return bytesCodec() as unknown as Codec<T>;
  if (typeof option === "object" && option !== null && typeof option.encode === "function" && typeof option.decode === "function") {
    return option;
  }
  throw invalidArgument(field, '"auto", "bytes", "string", "json" or an object with encode() and decode()', option);
}
