import { describe, expect, test } from "@jest/globals";
import { formatKafkaUrl, parseKafkaUrl, resolveKafkaOptions } from "./options.js";
import { loadDriver } from "./index.js";
import { kafkajsDriver } from "./kafkajs-driver.js";

describe("kafka:// URLs", () => {
  test("hosts, default port and every parameter kind", () => {
    const parsed = parseKafkaUrl("kafka://a:9093,b,[::1]:19092?clientId=app&ssl=true&sessionTimeoutMs=6000&compression=gzip&logLevel=error");
    expect(parsed).toEqual({
      brokers: ["a:9093", "b:9092", "[::1]:19092"],
      clientId: "app",
      ssl: true,
      sessionTimeoutMs: 6000,
      compression: "gzip",
      logLevel: "error",
    });
    const resolved = resolveKafkaOptions(parsed, {});
    expect(resolved).toMatchObject({ clientId: "app", ssl: true, sessionTimeoutMs: 6000, heartbeatIntervalMs: 500, idempotent: true, sasl: undefined });
  });

  test("round trip through formatKafkaUrl", () => {
    const url = "kafka://h1:9092,h2:9092?clientId=x&idempotent=false&maxWaitTimeMs=100";
    const parsed = parseKafkaUrl(url);
    expect(parseKafkaUrl(formatKafkaUrl({ ...parsed, brokers: parsed.brokers! }))).toEqual(parsed);
  });

  test.each([
    ["kafka://", /at least one broker/],
    ["kafka:/h:9092", /expected kafka:\/\//],
    ["kafka://h:0", /port "0"/],
    ["kafka://h:9092?bogus=1", /unknown parameter "bogus"/],
    ["kafka://h:9092?ssl=yes", /ssl must be true or false/],
    ["kafka://h:9092?sessionTimeoutMs=-5", /sessionTimeoutMs must be a positive integer/],
    ["kafka://h:9092?compression=zstd", /compression must be none or gzip/],
    ["kafka://h:9092?password=hunter2&bogus=1", /password=\*\*\*/],
  ])("%s is refused with INVALID_URL", (url, message) => {
    expect(() => parseKafkaUrl(url)).toThrow(expect.objectContaining({ code: "INVALID_URL", message: expect.stringMatching(message) }));
  });

  test("typed options win over the URL and are checked", () => {
    const fromUrl = parseKafkaUrl("kafka://h:9092?clientId=url");
    expect(resolveKafkaOptions(fromUrl, { clientId: "typed", logger: {} }).clientId).toBe("typed");
    expect(() => resolveKafkaOptions(fromUrl, { sessionTimeoutMs: "6000" })).toThrow(expect.objectContaining({ code: "INVALID_ARGUMENT", message: expect.stringMatching(/sessionTimeoutMs/) }));
    expect(() => resolveKafkaOptions(fromUrl, { saslMechanism: "plain" })).toThrow(expect.objectContaining({ code: "INVALID_ARGUMENT", message: expect.stringMatching(/username and password/) }));
    expect(() => resolveKafkaOptions(fromUrl, { heartbeatIntervalMs: 40_000 })).toThrow(expect.objectContaining({ code: "INVALID_ARGUMENT" }));
    expect(resolveKafkaOptions(fromUrl, { saslMechanism: "scram-sha-256", username: "u", password: "p" }).sasl).toEqual({ mechanism: "scram-sha-256", username: "u", password: "p" });
  });

  test("unavailableAfterMs: from the URL or typed, checked, and by default the longer of the session timeout and one request", () => {
    expect(resolveKafkaOptions(parseKafkaUrl("kafka://h:9092"), {}).unavailableAfterMs).toBe(30_200);
    expect(resolveKafkaOptions(parseKafkaUrl("kafka://h:9092?sessionTimeoutMs=45000"), {}).unavailableAfterMs).toBe(45_000);
    expect(resolveKafkaOptions(parseKafkaUrl("kafka://h:9092?sessionTimeoutMs=6000&requestTimeoutMs=3000"), {}).unavailableAfterMs).toBe(6_000);
    expect(resolveKafkaOptions(parseKafkaUrl("kafka://h:9092?unavailableAfterMs=5000"), {}).unavailableAfterMs).toBe(5_000);
    expect(resolveKafkaOptions(parseKafkaUrl("kafka://h:9092?unavailableAfterMs=5000"), { unavailableAfterMs: 7000 }).unavailableAfterMs).toBe(7_000);
    expect(() => parseKafkaUrl("kafka://h:9092?unavailableAfterMs=0")).toThrow(expect.objectContaining({ code: "INVALID_URL", message: expect.stringMatching(/unavailableAfterMs/) }));
    expect(() => resolveKafkaOptions(parseKafkaUrl("kafka://h:9092"), { unavailableAfterMs: 1.5 })).toThrow(
      expect.objectContaining({ code: "INVALID_ARGUMENT", message: expect.stringMatching(/unavailableAfterMs/) }),
    );
  });
});

describe("driver selection", () => {
  test("driver= takes kafkajs or platformatic; kafkajs is the default; anything else is refused", () => {
    expect(parseKafkaUrl("kafka://h:9092?driver=platformatic").driver).toBe("platformatic");
    expect(resolveKafkaOptions(parseKafkaUrl("kafka://h:9092"), {}).driver).toBe("kafkajs");
    expect(resolveKafkaOptions(parseKafkaUrl("kafka://h:9092?driver=platformatic"), { driver: "kafkajs" }).driver).toBe("kafkajs");
    expect(() => parseKafkaUrl("kafka://h:9092?driver=rdkafka")).toThrow(expect.objectContaining({ code: "INVALID_URL", message: expect.stringMatching(/driver must be kafkajs or platformatic/) }));
    expect(() => resolveKafkaOptions(parseKafkaUrl("kafka://h:9092"), { driver: "rdkafka" })).toThrow(
      expect.objectContaining({ code: "INVALID_ARGUMENT", message: expect.stringMatching(/driver/) }),
    );
    const url = formatKafkaUrl({ brokers: ["h:9092"], driver: "platformatic" });
    expect(url).toBe("kafka://h:9092?driver=platformatic");
  });

  const [major, minor] = process.versions.node.split(".").map(Number) as [number, number];
  const platformaticRuns = major > 22 || (major === 22 && minor >= 22);
  test(`platformatic on Node ${process.versions.node}: ${platformaticRuns ? "loads" : "UNSUPPORTED, naming the Node version it needs"}`, async () => {
    const loaded = loadDriver("platformatic");
    if (platformaticRuns) {
      const factory = await loaded;
      expect(typeof factory).toBe("function");
      expect(factory({ brokers: ["127.0.0.1:1"], clientId: "t", ssl: false, sasl: undefined, connectionTimeoutMs: 100, requestTimeoutMs: 100, logLevel: "nothing", logger: silent }).name).toBe("platformatic");
    } else {
      await expect(loaded).rejects.toMatchObject({ code: "UNSUPPORTED", message: expect.stringMatching(/Node >= 22\.22.*this is Node 20/) });
    }
    expect(await loadDriver("kafkajs")).toBe(kafkajsDriver);
  });
});

const silent = { debug() {}, info() {}, warn() {}, error() {} };
