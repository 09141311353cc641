/**
 * The Java client (kafka-clients 4.4, the jars the Kafka tests fetch) against kafka-wire: its
 * idempotent producer writes keyed records with headers at the partition and offset it reports,
 * and its consumer group reads them and a message published through Brook, at the engine's
 * positions. Needs java (with its compiler module, for single-file launch) and the cached jars;
 * outside CI, without them, skipped with a note.
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { startKafkaWire, type KafkaWireServer } from "@brook/kafka-wire";
import { LogEngine, MemoryStore } from "@brook/local-broker/engine";
// @ts-ignore -- plain ESM script without type declarations; jest compiles it to CommonJS with swc
import { fetchKafka, kafkaLibDir } from "../../scripts/backends/kafka.mjs";

const lib: string = kafkaLibDir();
const ready = existsSync(join(lib, ".complete"));
const inCi = process.env.CI !== undefined;
if (!ready && !inCi) console.warn(`the Kafka jars are not in ${lib}: the Java client test is skipped (node scripts/backends/kafka.mjs fetch)`);
const maybe = ready || inCi ? describe : describe.skip;

let engine: LogEngine;
let server: KafkaWireServer;
const quiet = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

beforeAll(async () => {
  if (!ready && inCi) await fetchKafka({});
  engine = await LogEngine.open(new MemoryStore());
  server = await startKafkaWire({ engine, port: 0, logger: quiet });
}, 300_000);
afterAll(async () => {
  await server?.close();
  await engine?.close();
});

maybe("the Java client against kafka-wire", () => {
  it("round-trips keyed records with headers through its idempotent producer and a consumer group, Brook's message included", async () => {
    await engine.createTopic("java-rt", { partitions: 2 }, false);
    const [brook] = await engine.append("java-rt", [{ key: "from-brook", idempotencyKey: undefined, headers: { origin: "brook" }, value: Buffer.from("brook-0") }]);
    const brookPos = (brook as { position: { partition: string; offset: string } }).position;
    const out = await new Promise<string>((resolve, reject) => {
      execFile("java", ["-cp", `${lib}/*`, join(__dirname, "java", "RoundTrip.java"), server.address, "java-rt", "4"], { timeout: 90_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) =>
        err ? reject(new Error(`java failed: ${err.message}\n${stderr.slice(-3000)}`)) : resolve(stdout),
      );
    });
    const lines = out.split("\n");
    const sent = lines.filter((l) => l.startsWith("SENT ")).map((l) => l.split(" ").slice(1).map(Number));
    expect(sent).toHaveLength(3);
    // each record is in the engine where the Java client was told it is
    for (const [i, [partition, offset]] of sent.entries()) {
      const [rec] = (await engine.fetch("java-rt", partition!, offset!, 1, 0)).records;
      expect([rec!.key?.toString(), rec!.value.toString(), rec!.headers]).toEqual([`jkey-${i}`, `java-${i}`, { origin: "java" }]);
    }
    const got = lines.filter((l) => l.startsWith("GOT ")).map((l) => l.split(" ").slice(1));
    expect(got.map((g) => g[3]).sort()).toEqual(["brook-0", "java-0", "java-1", "java-2"]);
    expect(got.find((g) => g[3] === "brook-0")).toEqual([brookPos.partition, brookPos.offset, "from-brook", "brook-0", "origin=brook;"]);
    // the group's commit is the engine's committed offsets
    const committed = await engine.committed("java-g", "java-rt");
    const ends = (await engine.describeTopic("java-rt")).partitions.map((p) => p.end);
    expect(ends.map((_, p) => committed.get(p))).toEqual(ends);
  }, 120_000);
});
