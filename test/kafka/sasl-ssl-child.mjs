// Brook over Kafka with TLS + SASL PLAIN, in its own process so NODE_EXTRA_CA_CERTS (read at
// start) can trust the test broker's throwaway certificate. For sasl-ssl.test.ts:
//   NODE_EXTRA_CA_CERTS=<ca.pem> node test/kafka/sasl-ssl-child.mjs <kafka url> <topic>
// Prints one JSON line: {"ok":true,"received":[…],"position":{…}} or {"ok":false,"code":"…","message":"…"}.
import { connectKafka } from "../../packages/adapter-kafka/dist/index.js";

const [url, topic] = process.argv.slice(2);
const quiet = { debug() {}, info() {}, warn() {}, error() {} };
let broker;
try {
  broker = await connectKafka(url, { logger: quiet, connectionTimeoutMs: 5_000, requestTimeoutMs: 10_000 });
  await broker.admin.createTopic(topic, { partitions: 2 });
  const received = [];
  const sub = await broker.subscribe(topic, { group: "tls-group", startFrom: "earliest", handler: (m) => void received.push({ key: m.key, data: m.data, headers: m.headers }) });
  const r = await broker.publisher(topic).publish({ key: "cust-1", data: { over: "tls" }, headers: { via: "sasl_ssl" } });
  const deadline = Date.now() + 30_000;
  while (received.length === 0 && Date.now() < deadline) await new Promise((res) => setTimeout(res, 50));
  await sub.close();
  process.stdout.write(`${JSON.stringify({ ok: true, received, position: r.position })}\n`);
} catch (err) {
  process.stdout.write(`${JSON.stringify({ ok: false, code: err.code, message: String(err.message).slice(0, 300) })}\n`);
} finally {
  await broker?.close().catch(() => undefined);
  process.exit(0);
}
