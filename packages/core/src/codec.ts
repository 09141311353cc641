import { BrookError, invalidArgument } from "./errors.js";

/** Turns application values into message bytes and back. */
export interface Codec<T> {
  readonly name: string;
  encode(value: T): Uint8Array;
  decode(bytes: Uint8Array): T;
}

export type CodecName = "bytes" | "string" | "json";

const utf8 = new TextDecoder("utf-8", { fatal: true });
const encoder = new TextEncoder();

export function bytesCodec(): Codec<Uint8Array> {
  return {
    name: "bytes",
    encode(value) {
      if (!(value instanceof Uint8Array)) throw invalidArgument("data", "a Uint8Array or Buffer for the bytes codec", value);
      return value;
    },
    decode: (bytes) => bytes,
  };
}

export function stringCodec(): Codec<string> {
  return {
    name: "string",
    encode(value) {
      if (typeof value !== "string") throw invalidArgument("data", "a string for the string codec", value);
      return encoder.encode(value);
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
      return encoder.encode(text);
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

/** Resolves a codec option to a codec; json is the default. */
export function resolveCodec<T>(option: CodecName | Codec<T> | undefined, field = "codec"): Codec<T> {
  if (option === undefined || option === "json") return jsonCodec<T>();
  if (option === "string") return stringCodec() as unknown as Codec<T>;
  if (option === "bytes") return bytesCodec() as unknown as Codec<T>;
  if (typeof option === "object" && option !== null && typeof option.encode === "function" && typeof option.decode === "function") {
    return option;
  }
  throw invalidArgument(field, '"bytes", "string", "json" or an object with encode() and decode()', option);
}
