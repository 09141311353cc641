/**
 * The code path of cloud Kafka services (Azure Event Hubs' Kafka endpoint, MSK, Confluent):
 * TLS + SASL PLAIN, with Event Hubs' user name "$ConnectionString" and a connection string as the
 * password, through the URL form the READMEs document, against the real broker's SASL_SSL
 * listener (a throwaway certificate). The client runs in a child process that trusts that
 * certificate through NODE_EXTRA_CA_CERTS.
 */
import { execFile, execFileSync } from "node:child_process";
import path from "node:path";
import { afterAll, beforeAll, expect, test } from "@jest/globals";
import { uniqueTopic } from "@brook/contract-tests";
// @ts-ignore -- plain ESM script without type declarations; jest compiles it to CommonJS with swc
import { startKafka } from "../../scripts/backends/kafka.mjs";
import { kafkaTestUrl } from "./broker.js";

const ROOT = path.resolve(__dirname, "..", "..");
const skip = (process.env.BROOK_SKIP_BACKENDS ?? "").split(",").includes("kafka");

interface SaslSsl {
  brokers: string;
  caFile: string;
  username: string;
  password: string;
}

let secure: SaslSsl | undefined = process.env.BROOK_TEST_KAFKA_SASL_SSL === undefined ? undefined : (JSON.parse(process.env.BROOK_TEST_KAFKA_SASL_SSL) as SaslSsl);
let started: { stop(): Promise<void> } | undefined;

beforeAll(async () => {
  if (skip) return;
  execFileSync(process.execPath, [path.join(ROOT, "node_modules", "typescript", "bin", "tsc"), "-b"], { cwd: ROOT, stdio: "inherit" });
  if (secure !== undefined) return;
  const kafka = (await startKafka({ saslSsl: true })) as { saslSsl: SaslSsl; stop(): Promise<void> };
  started = kafka;
  secure = kafka.saslSsl;
}, 180_000);
afterAll(async () => {
  await started?.stop();
}, 30_000);

function runChild(url: string, topic: string, env: NodeJS.ProcessEnv): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [path.join(__dirname, "sasl-ssl-child.mjs"), url, topic], { env, timeout: 90_000 }, (err, stdout, stderr) => {
      const line = stdout.trim().split("\n").pop() ?? "";
      try {
        resolve(JSON.parse(line) as Record<string, unknown>);
      } catch {
        reject(new Error(`child gave no result (${String(err)}): ${stdout}\n${stderr}`));
      }
    });
  });
}

const urlFor = (s: SaslSsl, password: string): string =>
  kafkaTestUrl(s.brokers, `ssl=true&saslMechanism=plain&username=${encodeURIComponent(s.username)}&password=${encodeURIComponent(password)}&clientId=tls-test`);

(skip ? test.skip : test)("TLS + SASL PLAIN with user $ConnectionString: publish and consume through the documented URL", async () => {
  const s = secure!;
  expect(s.username).toBe("$ConnectionString");
  const result = await runChild(urlFor(s, s.password), uniqueTopic("tls"), { ...process.env, NODE_EXTRA_CA_CERTS: s.caFile });
  expect(result).toMatchObject({ ok: true, received: [{ key: "cust-1", data: { over: "tls" }, headers: { via: "sasl_ssl" } }] });
}, 120_000);

(skip ? test.skip : test)("a wrong password is UNAUTHENTICATED; a server certificate the client does not trust fails the TLS handshake", async () => {
  const s = secure!;
  const wrong = await runChild(urlFor(s, `${s.password}x`), uniqueTopic("tls-bad"), { ...process.env, NODE_EXTRA_CA_CERTS: s.caFile });
  expect(wrong).toMatchObject({ ok: false, code: "UNAUTHENTICATED" });
  const untrusted = await runChild(urlFor(s, s.password), uniqueTopic("tls-untrusted"), { ...process.env, NODE_EXTRA_CA_CERTS: "" });
  expect(untrusted.ok).toBe(false);
  expect(String(untrusted.message)).toMatch(/certificate|self.signed|SSL|TLS/i);
}, 120_000);
