/**
 * moto (Firehose and S3) for the Firehose tests: the server the root test runner started
 * (BROOK_TEST_MOTO_ENDPOINT), or one this test file starts itself (scripts/backends/moto.mjs)
 * and stops by pid. Plus an S3 client to read back what the delivery streams wrote.
 */
import { afterAll, beforeAll, describe } from "@jest/globals";
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command, S3Client } from "@aws-sdk/client-s3";
// @ts-ignore -- plain ESM script without type declarations; jest compiles it to CommonJS with swc
import { startMoto } from "../../scripts/backends/moto.mjs";

interface StartedMoto {
  endpoint: string;
  stop(): Promise<void>;
}

export interface MotoUnderTest {
  /** http://127.0.0.1:<port>; valid from the first test on */
  endpoint(): string;
  /** firehose://us-east-1?endpoint=… plus `params` ("&a=b…") */
  url(params?: string): string;
  /** an S3 client on the same server (path-style addressing, as moto needs) */
  s3(): S3Client;
  /** Creates a bucket with a fresh name and returns the name. */
  bucket(prefix: string): Promise<string>;
  /** Every object under `prefix` in `bucket`: key and bytes, in key order. */
  objects(bucket: string, prefix?: string): Promise<Array<{ key: string; body: Buffer }>>;
}

export const skipMoto = (process.env.BROOK_SKIP_BACKENDS ?? "").split(",").includes("moto");

/** describe(), skipped when BROOK_SKIP_BACKENDS names "moto" (then no server is started). */
export const describeMoto = skipMoto ? describe.skip : describe;

/** Starts (or adopts) moto for this file; registers the stop as an afterAll. */
export function useMoto(): MotoUnderTest {
  let endpoint = process.env.BROOK_TEST_MOTO_ENDPOINT ?? "";
  let started: StartedMoto | undefined;
  let client: S3Client | undefined;
  beforeAll(async () => {
    if (skipMoto || endpoint !== "") return;
    started = (await startMoto({})) as StartedMoto;
    endpoint = started.endpoint;
  }, 90_000);
  afterAll(async () => {
    client?.destroy();
    await started?.stop();
  }, 30_000);
  const need = (): string => {
    if (endpoint === "") throw new Error("moto is not started yet");
    return endpoint;
  };
  const s3 = (): S3Client =>
    (client ??= new S3Client({
      region: "us-east-1",
      endpoint: need(),
      forcePathStyle: true,
      credentials: { accessKeyId: "brook-local", secretAccessKey: "brook-local" },
    }));
  return {
    endpoint: need,
    url: (params = "") => `firehose://us-east-1?endpoint=${encodeURIComponent(need())}${params}`,
    s3,
    async bucket(prefix) {
      const name = `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`.toLowerCase();
      await s3().send(new CreateBucketCommand({ Bucket: name }));
      return name;
    },
    async objects(bucket, prefix) {
      const keys: string[] = [];
      let token: string | undefined;
      for (let page = 0; page < 10_000; page++) {
        const out = await s3().send(new ListObjectsV2Command({ Bucket: bucket, ...(prefix === undefined ? {} : { Prefix: prefix }), ...(token === undefined ? {} : { ContinuationToken: token }) }));
        for (const o of out.Contents ?? []) if (o.Key !== undefined) keys.push(o.Key);
        if (out.IsTruncated !== true) break;
        token = out.NextContinuationToken;
      }
      keys.sort();
      const result: Array<{ key: string; body: Buffer }> = [];
      for (const key of keys) {
        const got = await s3().send(new GetObjectCommand({ Bucket: bucket, Key: key }));
        result.push({ key, body: Buffer.from(await got.Body!.transformToByteArray()) });
      }
      return result;
    },
  };
}
