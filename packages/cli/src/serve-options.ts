/**
 * Every option of `brook serve`, once: serve.ts declares them to commander from this table and
 * serve-fast.ts parses them without commander, so the two always agree (serve-fast.test.ts
 * checks the results are equal). No commander import here: the fast path loads this file.
 */
import type { ServeOptions } from "./serve-run.js";

/** "string": one value; "repeat": a list; a range: an integer; a list of words: one of them. */
export type ServeOptionKind = "string" | "repeat" | { min: number; max?: number } | readonly string[];

export interface ServeOptionSpec {
  flag: `--${string}`;
  /** the value's name in --help, e.g. "path" for `--dir <path>` */
  value: string;
  key: keyof ServeOptions;
  kind: ServeOptionKind;
  description: string;
  default?: string | number;
  /** environment variable read when the flag is absent */
  env?: string;
}

export const SERVE_OPTIONS: readonly ServeOptionSpec[] = [
  { flag: "--dir", value: "path", key: "dir", kind: "string", description: "data directory of the durable store (default: an in-memory store)" },
  { flag: "--fsync", value: "policy", key: "fsync", kind: ["never", "interval", "always"], description: "with --dir: never, interval (default) or always" },
  { flag: "--port", value: "port", key: "port", kind: { min: 0, max: 65535 }, description: "TCP port (0 picks a free one)", default: 7654 },
  { flag: "--host", value: "host", key: "host", kind: "string", description: "address to listen on", default: "127.0.0.1" },
  { flag: "--session-timeout-ms", value: "ms", key: "sessionTimeoutMs", kind: { min: 100 }, description: "evict group members silent this long", default: 10_000 },
  {
    flag: "--handshake-timeout-ms",
    value: "ms",
    key: "handshakeTimeoutMs",
    kind: { min: 10, max: 3_600_000 },
    description: "close a connection that has not authenticated this long after connecting (default 10000)",
  },
  { flag: "--max-connections", value: "n", key: "maxConnections", kind: { min: 1 }, description: "connections open at once; one more is refused with UNAVAILABLE (default 1024)" },
  { flag: "--kafka-port", value: "port", key: "kafkaPort", kind: { min: 0, max: 65535 }, description: "also speak Kafka's wire protocol on this port, same log and groups (0 picks a free one)" },
  {
    flag: "--push",
    value: "topic:group=url",
    key: "push",
    kind: "repeat",
    description: "push subscription (repeatable): POST each message of group to url as a Pub/Sub push envelope; 2xx acks, else retried with back-off, then dead-lettered; the topic must exist",
  },
  { flag: "--push-token", value: "token", key: "pushToken", kind: "string", description: "sent to push endpoints as Authorization: Bearer <token>", env: "BROOK_PUSH_TOKEN" },
  { flag: "--push-header", value: "name:value", key: "pushHeader", kind: "repeat", description: "extra request header for push endpoints (repeatable)" },
  { flag: "--push-timeout-ms", value: "ms", key: "pushTimeoutMs", kind: { min: 1, max: 600_000 }, description: "a push not answered this long is a failed attempt (default 30000)" },
  { flag: "--push-attempts", value: "n", key: "pushAttempts", kind: { min: 1, max: 1_000_000 }, description: "attempts per message before dead-lettering (default 5)" },
  { flag: "--push-min-delay-ms", value: "ms", key: "pushMinDelayMs", kind: { min: 0 }, description: "first back-off after a failed push; doubles per attempt (default 100)" },
  { flag: "--push-max-delay-ms", value: "ms", key: "pushMaxDelayMs", kind: { min: 0 }, description: "longest back-off between attempts (default 30000)" },
  { flag: "--push-dead-letter", value: "topic", key: "pushDeadLetter", kind: "string", description: "topic a message goes to after its last failed push (must exist); without it, it is logged and skipped" },
  {
    flag: "--push-ordering",
    value: "mode",
    key: "pushOrdering",
    kind: ["key", "partition", "none"],
    description: "key (default: one key's messages pushed one at a time, in order), partition or none",
  },
  { flag: "--push-max-in-flight", value: "n", key: "pushMaxInFlight", kind: { min: 1 }, description: "pushes outstanding at once per subscription (default 256)" },
];

/** "--fsync must be never, interval or always" */
export function oneOfMessage(flag: string, words: readonly string[]): string {
  return `${flag} must be ${words.slice(0, -1).join(", ")} or ${words[words.length - 1]}`;
}
