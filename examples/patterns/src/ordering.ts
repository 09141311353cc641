/**
 * The three ordering scenarios, with the same code on every backend.
 *
 * 1. Order irrelevant (page-view statistics): `ordering: "none"`, full concurrency; only the
 *    totals matter.
 * 2. Final order matters, processing order does not (log lines): handled concurrently, and the
 *    sink re-sorts them by the time the producer stamped on each line (a sequence number breaks
 *    ties) before writing. Not by the backend's publish time: that is ordered within a partition
 *    only, and two lines sent in one call to different partitions may be stamped either way.
 * 3. Processing order matters (per-account transactions): `ordering: "key"` with the account as
 *    the key. A withdrawal is valid only after the deposits before it, so out-of-order handling
 *    would drive a balance negative. Handlers fail now and then (retried in key order), and the
 *    consumer "crashes" mid-stream — after writing a balance and before acknowledging — and a new
 *    one takes over. The ledger records applied transaction ids in the same write as the balance
 *    (the inbox pattern; @brook/dedupe-postgres does it in one SQL transaction), so the
 *    redelivered ones are recognised and every transaction is applied exactly once.
 */
import { PermanentError, type Broker } from "@brook/core";
import { check, freshTopic, until, type Report } from "./util.js";

export async function statistics(broker: Broker, views = 300): Promise<Report> {
  const report: Report = { ok: true, lines: ["order irrelevant: page-view counts"] };
  const topic = await freshTopic(broker, "page-views");
  const pages = ["/", "/pricing", "/docs", "/blog"];
  const counts = new Map<string, number>();
  let handled = 0;
  const sub = await broker.subscribe<{ page: string }>(topic, {
    group: "stats",
    startFrom: "earliest",
    ordering: "none", // any order, as many at once as maxInFlight allows
    maxInFlight: 64,
    handler: (m) => {
      counts.set(m.data.page, (counts.get(m.data.page) ?? 0) + 1);
      handled++;
    },
  });
  const pub = broker.publisher<{ page: string }>(topic);
  await pub.publishBatch(Array.from({ length: views }, (_, i) => ({ data: { page: pages[i % pages.length]! } })));
  await until(() => handled >= views, 60_000);
  await sub.close();
  await pub.close();
  for (const page of pages) check(report, counts.get(page) === views / pages.length, `${page}: ${counts.get(page) ?? 0} views`);
  return report;
}

export async function logLines(broker: Broker, lines = 200): Promise<Report> {
  const report: Report = { ok: true, lines: ["final order matters: log lines re-sorted at the sink"] };
  const topic = await freshTopic(broker, "logs");
  const received: Array<{ time: number; seq: number; text: string }> = [];
  const sub = await broker.subscribe<string>(topic, {
    group: "log-sink",
    startFrom: "earliest",
    ordering: "none",
    maxInFlight: 32,
    handler: async (m) => {
      await new Promise((r) => setTimeout(r, Math.random() * 3)); // processing times vary
      received.push({ time: Number(m.headers.ts), seq: Number(m.headers.seq), text: m.data });
    },
  });
  const pub = broker.publisher<string>(topic);
  const hosts = ["web-1", "web-2", "worker-1"];
  for (let i = 0; i < lines; i += 20) {
    const ts = String(Date.now()); // the line's own timestamp, as a logger stamps it
    await pub.publishBatch(Array.from({ length: 20 }, (_, j) => ({ key: hosts[(i + j) % 3]!, headers: { ts, seq: String(i + j) }, data: `line ${i + j}` })));
  }
  await until(() => received.length >= lines, 60_000);
  await sub.close();
  await pub.close();
  const written = [...received].sort((a, b) => a.time - b.time || a.seq - b.seq).map((r) => r.seq);
  const arrival = received.map((r) => r.seq);
  const inOrder = written.every((seq, i) => seq === i);
  check(report, received.length === lines, `${received.length} of ${lines} lines received`);
  check(report, inOrder, `written in the order they were logged after sorting (arrived ${arrival.every((s, i) => s === i) ? "in order" : "out of order"})`);
  return report;
}

interface Tx {
  account: string;
  amount: number;
}

/** `crash: false` skips the mid-stream crash (one consumer runs the whole stream). */
export async function transactions(broker: Broker, accounts = 5, perAccount = 41, options: { crash?: boolean } = {}): Promise<Report> {
  const crash = options.crash ?? true;
  const report: Report = { ok: true, lines: ["processing order matters: account transactions"] };
  const topic = await freshTopic(broker, "transactions");
  const dlq = await freshTopic(broker, "transactions-dlq", 1);
  // Per account: deposits then withdrawals that spend exactly what came before them.
  const txs: Array<{ id: string; tx: Tx }> = [];
  for (let a = 0; a < accounts; a++) {
    for (let i = 0; i < perAccount; i++) {
      const amount = i % 2 === 0 ? 10 + i : -(10 + i - 1); // +10, -10, +12, -12, …
      txs.push({ id: `acct-${a}-tx-${i}`, tx: { account: `acct-${a}`, amount } });
    }
  }
  const balances = new Map<string, number>();
  const applied = new Map<string, number>();
  let negative = 0;
  let failuresLeft = 15;
  let redelivered = 0;
  const consumer = (group: string, stopAfter?: number) => {
    let handled = 0;
    return broker.subscribe<Tx>(topic, {
      group,
      startFrom: "earliest",
      ordering: "key", // one account's transactions in order, accounts in parallel
      deadLetter: { topic: dlq },
      retry: { maxAttempts: 10, minDelayMs: 5, maxDelayMs: 50 },
      handler: async (m) => {
        const id = m.idempotencyKey!;
        if (applied.has(id)) {
          redelivered++; // already in the ledger: acknowledge without applying again
          return;
        }
        if (failuresLeft > 0 && Math.random() < 0.1) {
          failuresLeft--;
          throw new Error("database timeout"); // retried, holding back only this account
        }
        const next = (balances.get(m.data.account) ?? 0) + m.data.amount;
        if (next < 0) {
          negative++;
          throw new PermanentError(`${m.data.account} would go negative`);
        }
        // One write: the balance and the id of the transaction that changed it.
        balances.set(m.data.account, next);
        applied.set(id, (applied.get(id) ?? 0) + 1);
        handled++;
        if (stopAfter !== undefined && handled >= stopAfter) await new Promise(() => undefined); // "crashes" before the ack
      },
    });
  };
  const first = await consumer("ledger", crash ? Math.floor((accounts * perAccount) / 2) : undefined);
  const pub = broker.publisher<Tx>(topic);
  await pub.publishBatch(txs.map(({ id, tx }) => ({ key: tx.account, idempotencyKey: id, data: tx })));
  if (crash) {
    await until(() => applied.size >= (accounts * perAccount) / 2, 60_000);
    // The first consumer dies mid-stream: nothing drained, uncommitted work comes back.
    await first.close({ drain: false });
    const second = await consumer("ledger");
    await until(() => applied.size >= txs.length, 90_000);
    await second.close();
  } else {
    await until(() => applied.size >= txs.length, 90_000);
    await first.close();
  }
  await pub.close();
  const twice = [...applied.values()].filter((n) => n > 1).length;
  check(report, applied.size === txs.length, `${applied.size} of ${txs.length} transactions applied`);
  check(report, twice === 0, `${twice} applied twice (${redelivered} redelivered after the crash, recognised by the ledger)`);
  check(report, negative === 0, `${negative} times a balance would have gone negative`);
  const expected = txs.reduce((m, { tx }) => m.set(tx.account, (m.get(tx.account) ?? 0) + tx.amount), new Map<string, number>());
  check(report, [...expected].every(([a, b]) => balances.get(a) === b), `final balances ${[...balances.values()].join(", ")}`);
  return report;
}
