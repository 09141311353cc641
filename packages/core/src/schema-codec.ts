import type { StandardSchemaV1 } from "@standard-schema/spec";

import { jsonCodec } from "./codec.js";
import { BrookError } from "./errors.js";

import type { Codec } from "./codec.js";

/**
 * A JSON codec that checks every message against a Standard Schema validator (zod, valibot,
 * ArkType, …: anything with a `~standard` property). Publishing a value that does not match
 * fails with `INVALID_ARGUMENT` naming the path and the validator's reason; a received message
 * that does not match fails to decode with `CORRUPT_DATA`, which is never retried: the
 * subscription dead-letters it with that reason. The subscriber gets the validator's output
 * (so transforms and defaults apply). Validators must be synchronous (a Promise result is refused).
 */
export function schemaCodec<S extends StandardSchemaV1>(schema: S): Codec<StandardSchemaV1.InferOutput<S>> {
  const std = (schema as Partial<StandardSchemaV1> | null | undefined)?.["~standard"];
  if (std === undefined || typeof std.validate !== "function") {
    throw new BrookError("INVALID_ARGUMENT", "schema: expected a Standard Schema validator (an object with a `~standard.validate` function, e.g. a zod or valibot schema)");
  }
  const json = jsonCodec<unknown>();
  const check = (value: unknown, onIssue: (reason: string) => BrookError): StandardSchemaV1.InferOutput<S> => {
    const result = std.validate(value);
    if (result instanceof Promise) {
      throw new BrookError("INVALID_ARGUMENT", "schema: asynchronous validation is not supported by schemaCodec (use a synchronous schema)");
    }
    if (result.issues !== undefined) throw onIssue(describeIssues(result.issues));
    return result.value as StandardSchemaV1.InferOutput<S>;
  };
  return {
    name: `schema(${std.vendor})`,
    encode(value) {
      check(value, (reason) => new BrookError("INVALID_ARGUMENT", `data: does not match the schema: ${reason}`));
      return json.encode(value);
    },
    contentType: () => "application/json",
    decode(bytes) {
      const parsed = json.decode(bytes);
      return check(parsed, (reason) => new BrookError("CORRUPT_DATA", `message data: does not match the schema: ${reason}`));
    },
  };
}

function describeIssues(issues: readonly StandardSchemaV1.Issue[]): string {
  const shown = issues.slice(0, 5).map((issue) => {
    const path = (issue.path ?? []).map((p) => String(typeof p === "object" && p !== null && "key" in p ? p.key : p)).join(".");
    return path === "" ? issue.message : `${path}: ${issue.message}`;
  });
  const more = issues.length > 5 ? ` (and ${issues.length - 5} more)` : "";
  return shown.join("; ") + more;
}
