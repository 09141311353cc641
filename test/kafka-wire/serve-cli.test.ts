/**
 * `brook serve --kafka-port`: one process serves brook:// and Kafka's protocol over one log.
 * A message published over brook:// is read by kafkajs at the same partition and offset, and
 * a kafkajs record is read over brook:// at the partition and offset Kafka reported.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, expect, test } from "@jest/globals";
import { Kafka, logLevel } from "kafkajs";
import { connectRemoteEngine, type RemoteEngineApi } from "@brook/local-broker/engine";
import { waitFor } from "@brook/contract-tests";

const root = join(__dirname, "..", "..");
const main = join(root, "packages/cli/dist/main.js");
const token = "kafka-cli-token";
let server: ChildProcess;
let out = "";
let err = "";
let api: RemoteEngineApi;
let kafka: Kafka;

beforeAll(async () => {
  const build = spawnSync("npx", ["tsc", "-b", "packages/cli"], { cwd: root, encoding: "utf8" });
  if (build.status !== 0 && !existsSync(main)) throw new Error(`tsc -b packages/cli failed:\n${build.stdout}${build.stderr}`);
  server = spawn(process.execPath, [main, "serve", "--port", "0", "--kafka-port", "0", "--token", token], { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
  server.stdout!.on("data", (d) => (out += d));
  server.stderr!.on("data", (d) => (err += d));
  await waitFor(() => /listening on brook:\/\//.test(out), 20_000, `brook serve to listen (stdout: ${out} stderr: ${err})`);
  const url = /listening on (brook:\/\/\S+)/.exec(out)![1]!;
  const kafkaAddress = /Kafka protocol on (\S+)/.exec(out)![1]!;
  api = await connectRemoteEngine(url, { token });
  kafka = new Kafka({ clientId: "cli-test", brokers: [kafkaAddress], logLevel: logLevel.NOTHING, sasl: { mechanism: "plain", username: "dev", password: token } });
}, 120_000);

afterAll(async () => {
  await api?.close();
  if (server !== undefined && server.exitCode === null) {
    const exited = new Promise((resolve) => server.once("exit", resolve));
    server.kill("SIGTERM");
    await exited;
  }
});

test("serve --kafka-port: brook:// and kafkajs share partitions and offsets both ways", async () => {
  expect(out).toMatch(/^brook serve: Kafka protocol on 127\.0\.0\.1:\d+ \(SASL PLAIN, the token as password\)$/m);
  await api.createTopic("cli-kafka", { partitions: 3 }, false);
  const [viaBrook] = await api.append("cli-kafka", [{ key: "from-brook", idempotencyKey: undefined, headers: { h: "1" }, value: Buffer.from("brook says hi") }]);
  const brookPos = (viaBrook as { position: { partition: string; offset: string } }).position;

  const producer = kafka.producer();
  await producer.connect();
  const [viaKafka] = await producer.send({ topic: "cli-kafka", messages: [{ key: "from-kafka", value: "kafka says hi", headers: { h: "2" }, partition: 1 }] });
  await producer.disconnect();
  const read = await api.fetch("cli-kafka", 1, Number(viaKafka!.baseOffset), 1, 0);
  expect(read.records.map((r) => [r.key?.toString(), r.value.toString(), r.headers])).toEqual([["from-kafka", "kafka says hi", { h: "2" }]]);

  const consumer = kafka.consumer({ groupId: "cli-kafka-readers", heartbeatInterval: 100, maxWaitTimeInMs: 100 });
  const seen: Array<[number, number, string]> = [];
  await consumer.connect();
  await consumer.subscribe({ topic: "cli-kafka", fromBeginning: true });
  await consumer.run({ eachMessage: async ({ partition, message }) => void seen.push([partition, Number(message.offset), message.value!.toString()]) });
  try {
    await waitFor(() => seen.length >= 2, 20_000, "kafkajs to read both messages");
  } finally {
    await consumer.disconnect();
  }
  expect(seen).toContainEqual([Number(brookPos.partition), Number(brookPos.offset), "brook says hi"]);
  expect(seen).toContainEqual([1, Number(viaKafka!.baseOffset), "kafka says hi"]);
  expect(seen).toHaveLength(2);
}, 60_000);
