import { BrookError, invalidArgument } from "./errors.js";

/** The query parameters a broker URL takes, by kind. */
export interface UrlParameterSpec {
  /** non-empty strings */
  strings?: readonly string[];
  /** "true" or "false" */
  booleans?: readonly string[];
  /** integers > 0 */
  positive?: readonly string[];
  /** integers >= 0 */
  nonNegative?: readonly string[];
  /** one of the listed values */
  choices?: Readonly<Record<string, readonly string[]>>;
  /** shown as *** in errors */
  secrets?: readonly string[];
}

/** Every parameter the spec names, in the order errors list them. */
export function urlParameterNames(spec: UrlParameterSpec): string[] {
  return [...(spec.strings ?? []), ...(spec.booleans ?? []), ...(spec.positive ?? []), ...(spec.nonNegative ?? []), ...Object.keys(spec.choices ?? {})];
}

/**
 * Parses a broker URL's query string by `spec`. Every problem is INVALID_URL naming the URL as
 * `shownUrl` (pass it with secrets redacted), the parameter and what it must be; an unknown
 * parameter lists the known ones.
 */
export function parseUrlParameters(query: string, spec: UrlParameterSpec, shownUrl: string): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  const is = (list: readonly string[] | undefined, name: string): boolean => list?.includes(name) === true;
  for (const [name, value] of new URLSearchParams(query)) {
    const fail = (expected: string): never => {
      throw new BrookError("INVALID_URL", `url "${shownUrl}": parameter ${name} must be ${expected}, got "${is(spec.secrets, name) ? "***" : value}"`);
    };
    const choices = Object.prototype.hasOwnProperty.call(spec.choices ?? {}, name) ? spec.choices![name]! : undefined;
    if (is(spec.strings, name)) {
      if (value.length === 0) fail("a non-empty string");
      out[name] = value;
    } else if (is(spec.booleans, name)) {
      if (value !== "true" && value !== "false") fail("true or false");
      out[name] = value === "true";
    } else if (is(spec.positive, name) || is(spec.nonNegative, name)) {
      const n = Number(value);
      const min = is(spec.positive, name) ? 1 : 0;
      if (value.trim() === "" || !Number.isSafeInteger(n) || n < min) fail(min === 1 ? "a positive integer" : "an integer >= 0");
      out[name] = n;
    } else if (choices !== undefined) {
      if (!choices.includes(value)) fail(choices.length === 2 ? `${choices[0]} or ${choices[1]}` : choices.join(", "));
      out[name] = value;
    } else {
      throw new BrookError("INVALID_URL", `url "${shownUrl}": unknown parameter "${name}"; known: ${urlParameterNames(spec).join(", ")}`);
    }
  }
  return out;
}

/**
 * A broker's options: the URL's, with the typed options given to connect() over them (undefined
 * values and the names in `skip`, such as a logger, left out).
 */
export function mergeTypedOptions(fromUrl: object, given: Record<string, unknown>, skip: readonly string[] = ["logger", "signal"]): Record<string, unknown> {
  const merged: Record<string, unknown> = { ...fromUrl };
  for (const [name, value] of Object.entries(given)) {
    if (value === undefined || skip.includes(name)) continue;
    merged[name] = value;
  }
  return merged;
}

/**
 * Checks the typed value of each option `spec` names, as parseUrlParameters checks its text:
 * INVALID_ARGUMENT naming the option and what it must be (secrets shown as ***).
 */
export function checkTypedOptions(merged: Record<string, unknown>, spec: UrlParameterSpec): void {
  const shown = (name: string, v: unknown): unknown => (spec.secrets?.includes(name) === true ? "***" : v);
  for (const name of spec.strings ?? []) {
    const v = merged[name];
    if (v !== undefined && (typeof v !== "string" || v.length === 0)) throw invalidArgument(name, "a non-empty string", shown(name, v));
  }
  for (const name of spec.booleans ?? []) {
    const v = merged[name];
    if (v !== undefined && typeof v !== "boolean") throw invalidArgument(name, "a boolean", v);
  }
  for (const [list, min] of [[spec.positive, 1], [spec.nonNegative, 0]] as const) {
    for (const name of list ?? []) {
      const v = merged[name];
      if (v !== undefined && (typeof v !== "number" || !Number.isSafeInteger(v) || v < min)) throw invalidArgument(name, min === 1 ? "a positive integer" : "an integer >= 0", v);
    }
  }
  for (const [name, allowed] of Object.entries(spec.choices ?? {})) {
    const v = merged[name];
    if (v !== undefined && !allowed.includes(v as string)) throw invalidArgument(name, `one of ${allowed.join(", ")}`, v);
  }
}
