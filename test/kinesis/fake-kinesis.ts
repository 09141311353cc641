/**
 * A small Kinesis endpoint of our own, on 127.0.0.1, for what the emulator never does: throttle,
 * fail single PutRecords entries, expire iterators. It speaks the service's wire form (AWS JSON
 * 1.1: POST /, X-Amz-Target "Kinesis_20131202.<Operation>", errors as HTTP 400 with
 * {"__type": "<ErrorName>", "message": …}) and answers each operation from a script the test gives.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";

export type FakeAnswer = { status?: number; body: unknown } | { error: string; message?: string; status?: number };
export type FakeHandler = (request: Record<string, unknown>, call: number) => FakeAnswer;

export interface FakeKinesis {
  endpoint: string;
  /** every request, in order: operation and JSON body */
  requests: Array<{ operation: string; body: Record<string, unknown> }>;
  /** Scripts an operation; `call` counts from 1 for each new script. */
  on(operation: string, handler: FakeHandler): void;
  close(): Promise<void>;
}

export async function startFakeKinesis(): Promise<FakeKinesis> {
  const handlers = new Map<string, FakeHandler>();
  const calls = new Map<string, number>();
  const requests: FakeKinesis["requests"] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const target = String(req.headers["x-amz-target"] ?? "");
      const operation = target.slice(target.indexOf(".") + 1);
      const body = chunks.length === 0 ? {} : (JSON.parse(Buffer.concat(chunks).toString("utf8")) as Record<string, unknown>);
      requests.push({ operation, body });
      const call = (calls.get(operation) ?? 0) + 1;
      calls.set(operation, call);
      const handler = handlers.get(operation);
      const answer: FakeAnswer = handler === undefined ? { error: "UnknownOperationException", message: `fake kinesis: no script for ${operation}` } : handler(body, call);
      const [status, payload] = "error" in answer ? [answer.status ?? 400, { __type: answer.error, message: answer.message ?? answer.error }] : [answer.status ?? 200, answer.body];
      const text = JSON.stringify(payload);
      res.writeHead(status, { "content-type": "application/x-amz-json-1.1", "content-length": Buffer.byteLength(text), "x-amzn-requestid": `fake-${requests.length}` });
      res.end(text);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    requests,
    on: (operation, handler) => {
      handlers.set(operation, handler);
      calls.delete(operation); // a new script counts its calls from 1
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A stream summary the adapter accepts (ACTIVE, one shard). */
export function streamSummary(name: string): FakeAnswer {
  return {
    body: {
      StreamDescriptionSummary: {
        StreamName: name,
        StreamARN: `arn:aws:kinesis:us-east-1:123456789012:stream/${name}`,
        StreamStatus: "ACTIVE",
        RetentionPeriodHours: 24,
        StreamCreationTimestamp: 1_700_000_000,
        OpenShardCount: 1,
        EnhancedMonitoring: [],
      },
    },
  };
}
