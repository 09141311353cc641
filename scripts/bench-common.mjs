// What the backend benchmarks (bench-kafka, bench-kafka-wire, bench-eventhubs, bench-kinesis,
// bench-firehose) share: argument parsing, medians and rates, a silent logger, and the timed
// loops that publish keyed batches through Brook and count a batch handler's messages, so that
// every backend's Brook rows are measured the same way.

/** `--name N` from argv as a number, or `fallback`. */
export function numberArg(name, fallback, args = process.argv.slice(2)) {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : fallback;
}

export const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
/** messages per second, rounded */
export const rate = (n, ms) => Math.round((n / ms) * 1000);
/** A Brook logger that prints only errors (the benchmarks' tables stay readable). */
export const quiet = { debug() {}, info() {}, warn() {}, error: (m) => console.error(m) };

/** Calls `send(messages)` for `n` messages in batches of `batch`, each made by `make(i)`; returns ms. */
export async function timedBatches(n, batch, make, send) {
  const started = performance.now();
  for (let i = 0; i < n; i += batch) {
    const messages = [];
    for (let j = i; j < Math.min(n, i + batch); j++) messages.push(make(j));
    await send(messages);
  }
  return performance.now() - started;
}

/**
 * Publishes `n` messages `{ key: keyOf(i), data: value }` with Brook's publishBatch in batches
 * of `batch` (bytes codec), throwing the first failed entry; `onResult` sees every result.
 * Returns the ms from the first call to the last result (the publisher is closed after that).
 */
export async function publishBrookKeyed(broker, topic, n, { batch, keyOf, value, publisherOptions = {}, onResult }) {
  const pub = broker.publisher(topic, { codec: "bytes", ...publisherOptions });
  const ms = await timedBatches(n, batch, (j) => ({ key: keyOf(j), data: value }), async (messages) => {
    for (const r of await pub.publishBatch(messages)) {
      if (!r.ok) throw r.error;
      onResult?.(r);
    }
  });
  await pub.close();
  return ms;
}

/**
 * Subscribes (bytes codec, from the earliest message) with a batch handler, or with a
 * per-message handler when `perMessage`, and waits for `n` messages. Returns the ms from the
 * first delivery to the n-th message, the count and the ms from subscribe() to the first delivery.
 */
export async function consumeBrookCounting(broker, topic, n, subscribeOptions, { perMessage = false } = {}) {
  let count = 0;
  let first = 0;
  let done;
  const finished = new Promise((resolve) => (done = resolve));
  const started = performance.now();
  const counting = perMessage
    ? {
        handler: () => {
          if (++count === 1) first = performance.now();
          if (count === n) done(performance.now());
        },
      }
    : {
        batchHandler: (messages) => {
          if (count === 0) first = performance.now();
          count += messages.length;
          if (count >= n) done(performance.now());
        },
      };
  const sub = await broker.subscribe(topic, { startFrom: "earliest", codec: "bytes", ...subscribeOptions, ...counting });
  const ended = await finished;
  await sub.close();
  return { ms: ended - first, records: count, startupMs: first - started };
}

/** KafkaJS: an idempotent producer sends `n` keyed messages in batches of `batch` with acks=-1; returns ms. */
export async function produceKafkajsKeyed(producer, topic, n, { batch, keyOf, value }) {
  await producer.connect();
  const ms = await timedBatches(n, batch, (j) => ({ key: keyOf(j), value }), (messages) => producer.send({ topic, messages, acks: -1 }));
  await producer.disconnect();
  return ms;
}
