import { afterAll, beforeAll, test } from "@jest/globals";
import type { Broker, Capabilities, SubscribeOptions, Subscription } from "@brook/core";
import { uniqueTopic } from "./helpers.js";

export interface ContractBackend {
  /** shown in test names */
  name: string;
  /** opens a new connection to the backend under test */
  connect(): Promise<Broker>;
  /** partitions for test topics where the backend has them (default 4) */
  partitions?: number;
  /** multiplies every wait (slow emulators) */
  timeoutScale?: number;
  /**
   * The capabilities the backend declares. With them, cases it cannot support are reported
   * by jest as skipped (named by the capability); the suite also checks that the connected
   * broker reports exactly these. Without them, such cases pass early and log the skip.
   */
  capabilities?: Capabilities;
}

/** Names what a case needs and the backend lacks, or undefined when the case can run. */
export type Need = (caps: Capabilities) => string | undefined;

/**
 * The capability gates of the suite, one place, so the README can name each one. Every case
 * also needs `subscribe` (it reads back what it published) unless it is declared with
 * `needs.publishOnly`: those are the cases that run on a publish-only sink (Firehose) too.
 */
export const needs = {
  nothing: () => undefined,
  /** runs on every backend, publish-only sinks included: the case never subscribes unless caps.subscribe */
  publishOnly: () => undefined,
  subscribe: (c) => (c.subscribe ? undefined : "subscribe"),
  consumerGroups: (c) => (c.consumerGroups ? undefined : "consumerGroups"),
  historyForNewGroups: (c) => (c.historyForNewGroups ? undefined : "historyForNewGroups"),
  publishDedupe: (c) => (c.publishDedupe === "window" ? undefined : "publishDedupe"),
  replayByTime: (c) => (c.replayAfterAck && c.seek.time ? undefined : "replayAfterAck + seek.time"),
  seekOffset: (c) => (c.seek.offset ? undefined : "seek.offset"),
  partitions: (c) => (c.partitions === "none" ? "partitions" : undefined),
  /** a way to make the broker deliver a message again: a seek, or a repeat publish that is not dropped */
  redelivery: (c) => (c.publishDedupe === "none" || c.seek.offset || c.seek.time ? undefined : "seek or publishDedupe none"),
  /** only a backend that lacks a kind of seek has one to refuse */
  missingSeek: (c) => (c.seek.offset && c.seek.time ? "seek.offset + seek.time (nothing to refuse)" : undefined),
} satisfies Record<string, Need>;

/** What every case module gets: the connected broker and the suite's helpers around it. */
export interface ContractContext {
  readonly backend: ContractBackend;
  /** the broker under test, connected before the first case */
  readonly broker: Broker;
  /** what the connected broker reports */
  readonly caps: Capabilities;
  /** partitions of test topics unless a case asks for others */
  readonly partitions: number;
  /** a bound in ms, scaled by the backend's timeoutScale */
  wait(ms: number): number;
  /** creates a topic with a name no other case uses */
  topic(prefix: string, parts?: number): Promise<string>;
  /** subscribes from "earliest" unless told otherwise; the suite closes it at the end */
  subscribe<T>(name: string, options: SubscribeOptions<T>, on?: Broker): Promise<Subscription>;
  /**
   * Declares a case that runs only when the backend has what `need` asks for. A backend that
   * declares capabilities sees the case as skipped, with the missing capability in its title.
   */
  when(name: string, need: Need, fn: () => Promise<void>, timeout?: number): void;
}

/** Builds the context and registers the hooks that connect and, at the end, clean up. */
export function createContractContext(backend: ContractBackend): ContractContext {
  const scale = backend.timeoutScale ?? 1;
  const wait = (ms: number): number => ms * scale;
  const partitions = backend.partitions ?? 4;
  let broker: Broker | undefined;
  let caps: Capabilities | undefined;
  const open: Subscription[] = [];

  beforeAll(async () => {
    broker = await backend.connect();
    caps = broker.capabilities;
  });

  afterAll(async () => {
    await Promise.allSettled(open.map((s) => s.close({ drain: false })));
    await broker?.close();
  });

  const connected = (): Broker => {
    if (broker === undefined) throw new Error(`contract suite ${backend.name}: the broker is not connected (connect() failed or a case ran outside jest)`);
    return broker;
  };

  return {
    backend,
    get broker() {
      return connected();
    },
    get caps() {
      connected();
      return caps!;
    },
    partitions,
    wait,
    async topic(prefix, parts = partitions) {
      const name = uniqueTopic(prefix);
      await connected().admin.createTopic(name, { partitions: parts });
      return name;
    },
    async subscribe<T>(name: string, options: SubscribeOptions<T>, on: Broker = connected()) {
      const sub = await on.subscribe<T>(name, { startFrom: "earliest", ...options });
      open.push(sub);
      return sub;
    },
    when(name, caseNeed, fn, timeout) {
      const need: Need = caseNeed === needs.publishOnly ? caseNeed : (c) => needs.subscribe(c) ?? caseNeed(c);
      const missing = backend.capabilities === undefined ? undefined : need(backend.capabilities);
      if (missing !== undefined) {
        test.skip(`${name} [skipped by capability ${missing}]`, () => undefined);
        return;
      }
      test(
        name,
        async () => {
          const lacking = need(connected().capabilities);
          if (lacking !== undefined) {
            console.log(`[contract:${backend.name}] skipped "${name}": capability ${lacking}`);
            return;
          }
          await fn();
        },
        timeout ?? wait(60_000),
      );
    },
  };
}
