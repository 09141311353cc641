// An application process for kill.test.ts, on the compiled packages (tsc -b first). It kills
// itself with SIGKILL the `killAfter`-th time it reaches the point `killAt`:
//   producer: "mid-tx"        after the business row and its outbox row are written, before COMMIT
//             "after-commit"  right after COMMIT, before the relay publishes
//             "after-publish" the relay's publish was acknowledged, before the rows are marked sent
//   consumer: "in-tx"         the handler's write is done, before the inbox transaction commits
//             "before-ack"    the inbox transaction committed, before the message is acknowledged
// Args: a JSON object (see kill.test.ts). Prints "PUB <row id>" / "DONE <order>" / "DUP <order>".
import pg from "pg";
import { connect } from "../../packages/core/dist/index.js";
import "../../packages/local-broker/dist/index.js";
import { Outbox, OutboxRelay, PostgresInbox } from "../../packages/dedupe-postgres/dist/index.js";

const a = JSON.parse(process.argv[2]);
const quiet = { debug() {}, info() {}, warn() {}, error: (m) => process.stderr.write(`${m}\n`) };
const out = (line) => process.stdout.write(`${line}\n`); // synchronous to a pipe on Linux
let hits = 0;
function point(name) {
  if (name === a.killAt && ++hits >= a.killAfter) process.kill(process.pid, "SIGKILL");
}
const pool = new pg.Pool({ connectionString: a.pg, max: 4 });
pool.on("error", () => undefined);

if (a.mode === "producer") {
  const outbox = new Outbox({ table: a.outbox });
  const relay = new OutboxRelay({
    db: pool, to: a.brook, table: a.outbox, pollIntervalMs: 50, batchSize: 7, logger: quiet,
    onPublished: (rows) => {
      for (const r of rows) out(`PUB ${r.id}`);
      point("after-publish");
    },
  });
  await relay.start();
  for (let i = 0; i < a.orders; i++) {
    const tx = await pool.connect();
    try {
      await tx.query("BEGIN");
      const customer = `cust-${Math.floor(Math.random() * 5)}`;
      const { rows } = await tx.query(`INSERT INTO ${a.ordersTable} (customer) VALUES ($1) RETURNING id`, [customer]);
      await outbox.enqueue(tx, a.topic, { key: customer, data: { order: String(rows[0].id) } });
      point("mid-tx");
      await tx.query("COMMIT");
    } finally {
      tx.release();
    }
    point("after-commit");
    await new Promise((r) => setTimeout(r, Math.random() * 8));
  }
  await new Promise((r) => setTimeout(r, 200)); // give the relay a round, then stop (not a kill)
  await relay.close();
  await pool.end();
} else {
  const broker = await connect(a.brook, { logger: quiet });
  const inbox = new PostgresInbox(pool, { table: a.inbox, scope: a.group });
  await broker.subscribe(a.topic, {
    group: a.group, startFrom: "earliest", ordering: "key", maxInFlight: 4, commitIntervalMs: 20,
    handler: async (m) => {
      const r = await inbox.handle(m, async (tx) => {
        await tx.query(`INSERT INTO ${a.effects} (order_id) VALUES ($1)`, [m.data.order]);
        point("in-tx");
      });
      out(`${r.duplicate ? "DUP" : "DONE"} ${m.data.order}`);
      if (!r.duplicate) point("before-ack"); // counted on new work only, so every life makes progress
    },
  });
  // Runs until the test kills it (or it kills itself).
}
