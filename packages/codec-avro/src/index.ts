import avro from "avsc";
import { BrookError } from "@brook/core";

import type { Codec, Headers } from "@brook/core";
import type { Resolver, Schema, Type } from "avsc";

/** The header carrying the writer schema's fingerprint: `sha256:<hex>` of its Parsing Canonical Form. */
export const AVRO_FINGERPRINT_HEADER = "brook-avro-fingerprint";
/** Avro's media type, set as the message's content-type. */
export const AVRO_CONTENT_TYPE = "avro/binary";

export interface AvroCodecOptions {
  /** The schema this application writes and reads with (its reader schema). */
  schema: Schema | Type;
  /**
   * Other schemas messages may have been written with (older or newer versions). A message whose
   * fingerprint header names one of them is read through Avro's schema resolution into `schema`.
   */
  writerSchemas?: readonly (Schema | Type)[];
}

const fingerprintOf = (type: Type): string => `sha256:${type.fingerprint("sha256").toString("hex")}`;
const toType = (schema: Schema | Type, field: string): Type => {
  try {
    return avro.Type.isType(schema) ? (schema as Type) : avro.Type.forSchema(schema as Schema);
  } catch (err) {
    throw new BrookError("INVALID_ARGUMENT", `${field}: not a valid Avro schema (${(err as Error).message})`, { cause: err });
  }
};

/**
 * Avro binary encoding with the writer schema's fingerprint in a header. Publishing a value
 * that does not match the schema fails with `INVALID_ARGUMENT` naming the field path. Reading
 * resolves the writer's schema (named by the header, one of `schema` and `writerSchemas`) into
 * the reader's; an unknown fingerprint or bytes that are not valid Avro fail to decode with
 * `CORRUPT_DATA`, which the subscription dead-letters with that reason. A message without the
 * header (a producer that is not Brook) is read as written with `schema`.
 */
export function avroCodec<T = unknown>(options: AvroCodecOptions): Codec<T> {
  if (typeof options !== "object" || options === null) throw new BrookError("INVALID_ARGUMENT", "options: expected { schema }");
  const reader = toType(options.schema, "schema");
  const own = fingerprintOf(reader);
  const writers = new Map<string, Type>();
  (options.writerSchemas ?? []).forEach((schema, i) => {
    const type = toType(schema, `writerSchemas[${i}]`);
    writers.set(fingerprintOf(type), type);
  });
  const resolvers = new Map<string, Resolver>();
  const resolverFor = (fingerprint: string): Resolver | undefined => {
    if (fingerprint === own) return undefined;
    let resolver = resolvers.get(fingerprint);
    if (resolver !== undefined) return resolver;
    const writer = writers.get(fingerprint);
    if (writer === undefined) {
      throw new BrookError("CORRUPT_DATA", `message data: written with Avro schema ${fingerprint}, which this codec does not know (add it to writerSchemas)`);
    }
    try {
      resolver = reader.createResolver(writer);
    } catch (err) {
      throw new BrookError("CORRUPT_DATA", `message data: Avro schema ${fingerprint} cannot be read as ${reader.name ?? reader.typeName} (${(err as Error).message})`, { cause: err });
    }
    resolvers.set(fingerprint, resolver);
    return resolver;
  };
  return {
    name: "avro",
    encode(value) {
      const problems: string[] = [];
      const valid = reader.isValid(value, {
        errorHook: (path, got) => {
          if (problems.length < 5) problems.push(`${path.length === 0 ? "(value)" : path.join(".")} = ${describe(got)}`);
        },
      });
      if (!valid) throw new BrookError("INVALID_ARGUMENT", `data: does not match Avro schema ${reader.name ?? reader.typeName}: ${problems.join("; ")}`);
      return reader.toBuffer(value);
    },
    contentType: () => AVRO_CONTENT_TYPE,
    headers: (): Headers => ({ [AVRO_FINGERPRINT_HEADER]: own }),
    decode(bytes, headers) {
      const resolver = resolverFor(headers?.[AVRO_FINGERPRINT_HEADER] ?? own);
      try {
        const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
        return reader.fromBuffer(buffer, resolver) as T;
      } catch (err) {
        throw new BrookError("CORRUPT_DATA", `message data: not valid Avro for schema ${reader.name ?? reader.typeName} (${(err as Error).message})`, { cause: err });
      }
    },
  };
}

function describe(value: unknown): string {
  if (value === undefined) return "missing";
  try {
    const text = JSON.stringify(value);
    return text === undefined ? typeof value : text.length > 40 ? `${text.slice(0, 40)}…` : text;
  } catch {
    return typeof value;
  }
}
