import { describe, expect, test } from "@jest/globals";
import { fillNameTemplate, formatKinesisUrl, parseKinesisUrl, resolveKinesisOptions } from "./options.js";

describe("kinesis:// URLs", () => {
  test("region, endpoints, lease table and every parameter kind", () => {
    const parsed = parseKinesisUrl(
      "kinesis://eu-west-1?endpoint=http%3A%2F%2F127.0.0.1%3A4567&dynamoEndpoint=http://127.0.0.1:8000&leaseTable=app-{group}&failoverTimeMs=3000&aggregate=true&envelope=kpl&leaseKeys=shard&efo=false",
    );
    expect(parsed).toEqual({
      region: "eu-west-1",
      endpoint: "http://127.0.0.1:4567",
      dynamoEndpoint: "http://127.0.0.1:8000",
      leaseTable: "app-{group}",
      failoverTimeMs: 3000,
      aggregate: true,
      envelope: "kpl",
      leaseKeys: "shard",
      efo: false,
    });
    const resolved = resolveKinesisOptions(parsed, {});
    expect(resolved).toMatchObject({
      region: "eu-west-1",
      failoverTimeMs: 3000,
      renewIntervalMs: 1000,
      takeIntervalMs: 3000,
      pollIntervalMs: 1000,
      maxRecordsPerFetch: 10_000,
      aggregateMaxBytes: 51_200,
      maxStealsPerRound: 1,
    });
  });

  test("typed options win over the URL; endpoints absent mean the real AWS endpoints and the SDK's credential chain", () => {
    const resolved = resolveKinesisOptions(parseKinesisUrl("kinesis://us-east-1?leaseTable=a"), { leaseTable: "b", envelope: "none" });
    expect(resolved).toMatchObject({ leaseTable: "b", envelope: "none", endpoint: undefined, dynamoEndpoint: undefined });
    const saved = process.env.AWS_ACCESS_KEY_ID;
    delete process.env.AWS_ACCESS_KEY_ID;
    try {
      expect(resolved.credentials).toBeUndefined();
      // Emulators on loopback check no signature: dummy credentials instead of the metadata service.
      const local = resolveKinesisOptions(parseKinesisUrl("kinesis://us-east-1?endpoint=http://127.0.0.1:1&dynamoEndpoint=http://localhost:2"), {});
      expect(local.credentials).toEqual({ accessKeyId: "brook-local", secretAccessKey: "brook-local" });
      const given = resolveKinesisOptions(parseKinesisUrl("kinesis://us-east-1?accessKeyId=AK&secretAccessKey=SK"), {});
      expect(given.credentials).toEqual({ accessKeyId: "AK", secretAccessKey: "SK" });
    } finally {
      if (saved !== undefined) process.env.AWS_ACCESS_KEY_ID = saved;
    }
  });

  test("round trip through formatKinesisUrl", () => {
    const url = "kinesis://us-east-1?endpoint=http://127.0.0.1:1&leaseTable={group}-{topic}&pollIntervalMs=100&aggregate=true";
    const parsed = parseKinesisUrl(url);
    expect(parseKinesisUrl(formatKinesisUrl({ ...parsed, region: parsed.region! }))).toEqual(parsed);
  });

  test.each([
    ["kinesis:/us-east-1", /expected kinesis:\/\//],
    ["kinesis://US_EAST", /region/],
    ["kinesis://us-east-1?bogus=1", /unknown parameter "bogus"/],
    ["kinesis://us-east-1?aggregate=yes", /aggregate must be true or false/],
    ["kinesis://us-east-1?failoverTimeMs=-5", /failoverTimeMs must be a positive integer/],
    ["kinesis://us-east-1?envelope=json", /envelope must be auto, kpl, none/],
    ["kinesis://us-east-1?secretAccessKey=", /secretAccessKey must be a non-empty string/],
  ])("%s is INVALID_URL", (url, message) => {
    expect(() => parseKinesisUrl(url)).toThrow(expect.objectContaining({ code: "INVALID_URL", message: expect.stringMatching(message) }));
  });

  test("a secret in the URL never appears in an error", () => {
    expect(() => parseKinesisUrl("kinesis://us-east-1?secretAccessKey=hunter2&nope=1")).toThrow(expect.objectContaining({ message: expect.not.stringContaining("hunter2") }));
  });

  test.each([
    [{ renewIntervalMs: 5000, failoverTimeMs: 5000 }, /renewIntervalMs/],
    [{ leaseTable: "{app}" }, /leaseTable/],
    [{ endpoint: "127.0.0.1:4567" }, /endpoint: expected an http\(s\) URL/],
    [{ maxRecordsPerFetch: 20_000 }, /maxRecordsPerFetch/],
    [{ efoRenewMs: 300_000 }, /efoRenewMs: expected less than 300000/],
    [{ accessKeyId: "AK" }, /together/],
    [{ credentials: { accessKeyId: "x" } }, /credentials/],
  ])("typed %o is INVALID_ARGUMENT", (given, message) => {
    expect(() => resolveKinesisOptions({ region: "us-east-1" }, given)).toThrow(expect.objectContaining({ code: "INVALID_ARGUMENT", message: expect.stringMatching(message) }));
  });

  test("a missing region is INVALID_ARGUMENT naming where a region comes from", () => {
    const saved = [process.env.AWS_REGION, process.env.AWS_DEFAULT_REGION];
    delete process.env.AWS_REGION;
    delete process.env.AWS_DEFAULT_REGION;
    try {
      expect(() => resolveKinesisOptions(parseKinesisUrl("kinesis://"), {})).toThrow(expect.objectContaining({ code: "INVALID_ARGUMENT", message: expect.stringMatching(/region/) }));
    } finally {
      if (saved[0] !== undefined) process.env.AWS_REGION = saved[0];
      if (saved[1] !== undefined) process.env.AWS_DEFAULT_REGION = saved[1];
    }
  });
});

describe("lease table names", () => {
  test("the template is filled; what DynamoDB refuses becomes _ with a hash that keeps groups apart; short names are padded", () => {
    expect(fillNameTemplate("{group}", { group: "billing", topic: "orders" })).toBe("billing");
    expect(fillNameTemplate("{group}-{topic}", { group: "billing", topic: "orders" })).toBe("billing-orders");
    expect(fillNameTemplate("{group}", { group: "g", topic: "t" })).toBe("g__");
    const a = fillNameTemplate("{group}", { group: "team a/b", topic: "t" });
    const b = fillNameTemplate("{group}", { group: "team a:b", topic: "t" });
    expect(a).toMatch(/^team_a_b-[0-9a-f]{8}$/);
    expect(a).not.toBe(b);
    expect(fillNameTemplate("{group}", { group: "x".repeat(300), topic: "t" })).toHaveLength(255);
  });
});
