/**
 * `brook serve` and its client: authentication, bad frames, pipelining and back-pressure,
 * a server restart under load, reconnect + re-join, and eviction of a member whose connection
 * went silent. Servers run in this process on free ports, each over its own LogEngine.
 */
import net from "node:net";
import { describe, expect, test } from "@jest/globals";
import { BrookError, connect, silentLogger, type PublishResult, type Subscription } from "@brook/core";
import { LogEngine, MemoryStore, RemoteEngineApi } from "@brook/local-broker/engine";
import { gate, uniqueTopic, waitFor } from "@brook/contract-tests";
import { HELLO, capturingLogger, cleanups, open, rawConnection, rawFrame, serve } from "./serve-helpers.js";

// ---- helpers ----

/**
 * A TCP relay between a client and the server that can act as a network partition (freeze:
 * nothing passes either way, not even a close, on old or new connections) or drop every
 * connection (cut, which also ends the partition).
 */
async function tcpProxy(targetPort: number): Promise<{ port: number; freeze: () => void; cut: () => void; close: () => Promise<void> }> {
  const pipes = new Set<{ client: net.Socket; upstream: net.Socket }>();
  let frozen = false;
  const server = net.createServer((client) => {
    const upstream = net.connect({ host: "127.0.0.1", port: targetPort });
    const pipe = { client, upstream };
    pipes.add(pipe);
    const relay = (from: net.Socket, to: net.Socket): void => {
      from.on("data", (chunk) => {
        if (!frozen) to.write(chunk);
      });
      from.on("close", () => {
        if (frozen) return; // a partition carries no FIN either; cut() ends the other side
        to.destroy();
        pipes.delete(pipe);
      });
      from.on("error", () => undefined);
    };
    relay(client, upstream);
    relay(upstream, client);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const proxy = {
    port: (server.address() as net.AddressInfo).port,
    /** existing connections stop carrying bytes both ways; their sockets stay open */
    freeze: () => void (frozen = true),
    /** drops every connection; new connections work (and are not frozen) */
    cut: () => {
      frozen = false;
      for (const p of [...pipes]) {
        p.client.destroy();
        p.upstream.destroy();
      }
    },
    close: async () => {
      proxy.cut();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  cleanups.push(() => proxy.close());
  return proxy;
}

async function readAll(engine: LogEngine, topic: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const d = await engine.describeTopic(topic);
  for (const p of d.partitions) {
    for (let offset = p.start; offset < p.end; ) {
      const { records } = await engine.fetch(topic, p.partition, offset, 10_000, 0);
      for (const r of records) out.set(`${p.partition}/${r.offset}`, r.value.toString());
      offset = records.length === 0 ? p.end : records[records.length - 1]!.offset + 1;
    }
  }
  return out;
}

// ---- tests ----

describe("authentication", () => {
  test("a missing or wrong token is refused with UNAUTHENTICATED and logged without the secret", async () => {
    const secret = "s3cret-token-value";
    const { logger, lines } = capturingLogger();
    const { server } = await serve({ token: secret, logger });
    const base = `brook://127.0.0.1:${server.port}`;

    await expect(connect(`${base}?token=wrong-guess-123`, { logger: silentLogger })).rejects.toMatchObject({ code: "UNAUTHENTICATED", retriable: false });
    const saved = process.env.BROOK_TOKEN;
    delete process.env.BROOK_TOKEN;
    try {
      await expect(connect(base, { logger: silentLogger })).rejects.toMatchObject({ code: "UNAUTHENTICATED" });
      // The right token, three ways: URL, typed option, environment.
      const viaUrl = await open(`${base}?token=${secret}`);
      expect(viaUrl.url).not.toContain(secret);
      expect(await viaUrl.admin.listTopics()).toEqual([]);
      const viaOption = await open(base, { token: secret });
      await viaOption.admin.createTopic("t1");
      process.env.BROOK_TOKEN = secret;
      const viaEnv = await open(base);
      expect(await viaEnv.admin.listTopics()).toEqual(["t1"]);
    } finally {
      if (saved === undefined) delete process.env.BROOK_TOKEN;
      else process.env.BROOK_TOKEN = saved;
    }

    const refusals = lines.filter((l) => l.includes("refused connection"));
    expect(refusals).toHaveLength(2);
    expect(refusals[0]).toMatch(/wrong token/);
    expect(refusals[1]).toMatch(/no token/);
    for (const line of lines) {
      expect(line).not.toContain(secret);
      expect(line).not.toContain("wrong-guess-123");
    }
  });

  test("a raw connection with a wrong token gets an ERROR frame and is closed", async () => {
    const { server } = await serve({ token: "right" });
    const raw = await rawConnection(server.port);
    raw.send(rawFrame(0x01, 1, JSON.stringify({ version: 1, token: "wrong" })));
    await raw.closed;
    expect(raw.frames).toHaveLength(1);
    expect(raw.frames[0]!.type).toBe(0xff);
    expect(JSON.parse(raw.frames[0]!.body.toString())).toMatchObject({ code: "UNAUTHENTICATED" });
  });
});

describe("bad frames", () => {
  test("each bad frame closes only its own connection, with an ERROR frame; a healthy client goes on", async () => {
    const { server } = await serve();
    const url = `brook://127.0.0.1:${server.port}`;
    const healthy = await open(url);
    const topic = uniqueTopic("healthy");
    await healthy.admin.createTopic(topic, { partitions: 2 });
    const got: number[] = [];
    const errors: BrookError[] = [];
    const sub = await healthy.subscribe<number>(topic, { group: "g", startFrom: "earliest", handler: (m) => void got.push(m.data) });
    sub.on("error", (e) => errors.push(e));
    const pub = healthy.publisher<number>(topic);

    const bodyOfTruncatedAppend = Buffer.alloc(2 + 5 + 4 + 1 + 4 + 1);
    bodyOfTruncatedAppend.writeUInt16BE(5, 0);
    bodyOfTruncatedAppend.write(topic.slice(0, 5), 2);
    bodyOfTruncatedAppend.writeUInt32BE(3, 7); // claims 3 messages, carries part of one
    const cases: Array<{ name: string; bytes: Buffer[]; message: RegExp }> = [
      { name: "length below 5", bytes: [Buffer.from([0, 0, 0, 3, 1, 0, 0])], message: /bad frame length 3/ },
      { name: "length above the limit", bytes: [Buffer.from([0xff, 0xff, 0xff, 0xf0, 1])], message: /bad frame length/ },
      { name: "a request before HELLO", bytes: [rawFrame(0x12, 7)], message: /expected HELLO/ },
      { name: "an unknown type", bytes: [HELLO, rawFrame(0x55, 2)], message: /unknown or unexpected frame type 0x55/ },
      { name: "a truncated APPEND body", bytes: [HELLO, rawFrame(0x14, 2, bodyOfTruncatedAppend)], message: /truncated body/ },
      { name: "JSON that is not JSON", bytes: [HELLO, rawFrame(0x10, 2, "{nope")], message: /not valid JSON/ },
      { name: "JSON of the wrong shape", bytes: [HELLO, rawFrame(0x13, 2, JSON.stringify({ name: 42 }))], message: /field "name"/ },
    ];
    let published = 0;
    for (const c of cases) {
      const raw = await rawConnection(server.port);
      for (const b of c.bytes) raw.send(b);
      await raw.closed;
      const error = raw.frames.find((f) => f.type === 0xff);
      expect({ case: c.name, id: error?.id }).toEqual({ case: c.name, id: 0 });
      const body = JSON.parse(error!.body.toString()) as { code: string; message: string };
      expect(body.code).toBe("INVALID_ARGUMENT");
      expect(body.message).toMatch(c.message);
      // The healthy client is untouched: it publishes and receives right after.
      await pub.publish({ data: published++, key: c.name });
      await waitFor(() => got.length === published, 10_000, `message ${published} after "${c.name}"`);
    }
    expect(errors).toEqual([]);
    expect(sub.assignment().sort()).toEqual(["0", "1"]);
    await pub.close();
  });
});

describe("pipelining and back-pressure", () => {
  test("many concurrent requests on one connection are all answered, matched by id, possibly out of order", async () => {
    const { server, engine } = await serve();
    const api = await RemoteEngineApi.connect({ port: server.port, logger: silentLogger });
    cleanups.push(() => api.close());
    await api.createTopic("work", { partitions: 3 }, false);
    await api.createTopic("idle", { partitions: 1 }, false);

    // A long poll on an empty topic, sent first: it is answered last.
    let fetchDone = false;
    const idle = api.fetch("idle", 0, 0, 10, 3_000).then((r) => {
      fetchDone = true;
      return r;
    });
    const n = 1_000;
    const results = await Promise.all(
      Array.from({ length: n }, (_, i) => api.append("work", [{ key: `k${i}`, idempotencyKey: undefined, headers: { i: String(i) }, value: Buffer.from(`m-${i}`) }])),
    );
    expect(fetchDone).toBe(false);
    const stored = await readAll(engine, "work");
    expect(stored.size).toBe(n);
    const positions = new Set<string>();
    results.forEach((r, i) => {
      expect(r).toHaveLength(1);
      const result = r[0]!;
      if (!result.ok) throw result.error;
      const id = `${result.position.partition}/${result.position.offset}`;
      positions.add(id);
      expect(stored.get(id)).toBe(`m-${i}`);
    });
    expect(positions.size).toBe(n);
    await api.append("idle", [{ key: undefined, idempotencyKey: undefined, headers: {}, value: Buffer.from("wake") }]);
    const woke = await idle;
    expect(woke.records.map((r) => r.value.toString())).toEqual(["wake"]);
  });

  test("the server works on at most maxInFlight requests per connection and reads the rest later", async () => {
    const { server } = await serve({ maxInFlight: 2 });
    const raw = await rawConnection(server.port);
    raw.send(HELLO);
    await waitFor(() => raw.frames.length === 1, 5_000, "HELLO_OK");
    expect(JSON.parse(raw.frames[0]!.body.toString())).toMatchObject({ maxInFlight: 2 });
    raw.send(rawFrame(0x10, 2, JSON.stringify({ name: "idle", config: {}, ifNotExists: false })));
    await waitFor(() => raw.frames.length === 2, 5_000, "CREATE_TOPIC answer");
    // Two long polls fill the connection's slots; the LIST_TOPICS behind them must wait.
    const fetchBody = (): Buffer => {
      const b = Buffer.alloc(2 + 4 + 4 + 8 + 4 + 4);
      b.writeUInt16BE(4, 0);
      b.write("idle", 2);
      b.writeUInt32BE(0, 6);
      b.writeUInt32BE(0, 10);
      b.writeUInt32BE(0, 14);
      b.writeUInt32BE(10, 18);
      b.writeUInt32BE(400, 22);
      return b;
    };
    const sentAt = Date.now();
    const answeredAt = new Map<number, number>();
    raw.socket.on("data", () => {
      for (const f of raw.frames) if (!answeredAt.has(f.id)) answeredAt.set(f.id, Date.now() - sentAt);
    });
    raw.send(Buffer.concat([rawFrame(0x15, 10, fetchBody()), rawFrame(0x15, 11, fetchBody()), rawFrame(0x12, 12), rawFrame(0x12, 13)]));
    await waitFor(() => raw.frames.length === 6, 5_000, "four answers");
    // The quick LIST_TOPICS requests were read only once a long poll had freed a slot.
    expect(raw.frames[2]!.id === 10 || raw.frames[2]!.id === 11).toBe(true);
    expect(answeredAt.get(12)).toBeGreaterThanOrEqual(350);
    expect(answeredAt.get(13)).toBeGreaterThanOrEqual(350);
    const lists = raw.frames.filter((f) => f.id === 12 || f.id === 13);
    for (const f of lists) expect({ type: f.type, topics: JSON.parse(f.body.toString()) }).toEqual({ type: 0x92, topics: ["idle"] });
  });
});

describe("connection loss", () => {
  test("server restarted under load: acknowledged publishes are stored, in-flight ones fail with UNAVAILABLE, the subscriber goes on", async () => {
    const engine = await LogEngine.open(new MemoryStore());
    cleanups.push(() => engine.close());
    const first = await serve({ engine });
    const port = first.server.port;
    const topic = uniqueTopic("restart");
    await engine.createTopic(topic, { partitions: 2 });

    // Appends can be held on the server, so the restart surely catches some in flight.
    const realAppend = engine.append.bind(engine);
    let hold: Promise<void> | undefined;
    let held = 0;
    engine.append = async (t, messages) => {
      if (hold !== undefined && t === topic) {
        held += 1;
        await hold;
      }
      return realAppend(t, messages);
    };

    const broker = await open(`brook://127.0.0.1:${port}`);
    const received = new Set<number>();
    await broker.subscribe<number>(topic, { group: "g", startFrom: "earliest", commitIntervalMs: 50, handler: (m) => void received.add(m.data) });
    const pub = broker.publisher<number>(topic, { maxRetries: 0 });

    const outcomes = new Map<number, PublishResult | BrookError>();
    let next = 0;
    let stop = false;
    const workers = Array.from({ length: 8 }, async () => {
      while (!stop) {
        const i = next++;
        try {
          outcomes.set(i, await pub.publish({ data: i, key: `k${i % 13}` }));
        } catch (err) {
          outcomes.set(i, err as BrookError);
        }
      }
    });
    const acked = (): number => [...outcomes.values()].filter((o) => !(o instanceof Error)).length;

    await waitFor(() => acked() >= 300, 20_000, "300 publishes before the restart");
    const release = gate();
    hold = release.promise;
    await waitFor(() => held > 0, 10_000, "a publish held on the server");
    await first.server.close(); // every connection drops, as when the process dies
    hold = undefined;
    release.open();
    const second = await serve({ engine, port });
    const before = acked();
    await waitFor(() => acked() >= before + 300, 30_000, "300 publishes after the restart");
    stop = true;
    await Promise.all(workers);
    await second.server.close();
    const failed = [...outcomes.values()].filter((o): o is BrookError => o instanceof Error);
    expect(failed.length).toBeGreaterThan(0);
    for (const error of failed) {
      expect(error).toBeInstanceOf(BrookError);
      expect(error.code).toBe("UNAVAILABLE");
      expect(error.retriable).toBe(true);
    }
    // Every acknowledged publish is in the log at the position it was given.
    const stored = await readAll(engine, topic);
    for (const [i, o] of outcomes) {
      if (!(o instanceof Error)) expect(stored.get(`${o.position.partition}/${o.position.offset}`)).toBe(JSON.stringify(i));
    }
    expect(outcomes.size).toBe(next);
    // …and reached the subscriber, which re-joined the restarted server's group.
    const third = await serve({ engine, port });
    expect(third.server.port).toBe(port);
    await waitFor(() => [...outcomes].every(([i, o]) => o instanceof Error || received.has(i)), 30_000, "every acknowledged message at the subscriber");
    await broker.close(); // while its server is up: a close with the server gone waits for request timeouts
  }, 90_000);

  test("a dropped connection is re-established and the member keeps its partitions (re-join, no rebalance)", async () => {
    const { server, engine } = await serve({ sessionTimeoutMs: 5_000 });
    const proxy = await tcpProxy(server.port);
    const broker = await open(`brook://127.0.0.1:${proxy.port}`);
    const topic = uniqueTopic("rejoin");
    await broker.admin.createTopic(topic, { partitions: 3 });
    const got = new Set<number>();
    const revoked: string[][] = [];
    const sub = await broker.subscribe<number>(topic, { group: "g", startFrom: "earliest", handler: (m) => void got.add(m.data) });
    sub.on("revoked", (p) => revoked.push(p));
    const pub = broker.publisher<number>(topic);
    await pub.publishBatch(Array.from({ length: 50 }, (_, i) => ({ data: i, key: `k${i}` })));
    await waitFor(() => got.size === 50, 10_000, "the first 50");
    const members = engine.coordinator.members("g", topic);
    expect(members).toHaveLength(1);

    proxy.cut();
    const results = await pub.publishBatch(Array.from({ length: 50 }, (_, i) => ({ data: 50 + i, key: `k${i}` })));
    expect(results.every((r) => r.ok)).toBe(true);
    await waitFor(() => got.size === 100, 20_000, "the next 50 after the reconnect");
    expect(engine.coordinator.members("g", topic)).toEqual(members);
    expect(revoked).toEqual([]);
    expect(sub.assignment().sort()).toEqual(["0", "1", "2"]);
    await pub.close();
  });

  test("a member whose connection goes silent is evicted after the session timeout; its partitions and unacknowledged work go to the other member", async () => {
    const sessionTimeoutMs = 1_000;
    const { server, engine } = await serve({ sessionTimeoutMs });
    const proxy = await tcpProxy(server.port);
    const topic = uniqueTopic("evict");
    const a = await open(`brook://127.0.0.1:${proxy.port}?requestTimeoutMs=2000`);
    const b = await open(`brook://127.0.0.1:${server.port}`);
    await a.admin.createTopic(topic, { partitions: 4 });

    const stuck = gate();
    const ackedByA = new Set<number>();
    const heldByA = new Set<number>();
    const ackedByB = new Set<number>();
    const subA: Subscription = await a.subscribe<number>(topic, {
      group: "g",
      startFrom: "earliest",
      ordering: "none",
      commitIntervalMs: 20,
      handler: async (m) => {
        if (m.data % 10 === 0) {
          heldByA.add(m.data); // in flight on A, never acknowledged while A lives
          await stuck.promise;
          return;
        }
        ackedByA.add(m.data);
      },
    });
    const subB = await b.subscribe<number>(topic, { group: "g", startFrom: "earliest", ordering: "none", handler: (m) => void ackedByB.add(m.data) });
    await waitFor(() => subA.assignment().length === 2 && subB.assignment().length === 2, 10_000, "two partitions each");
    const partitionsOfA = subA.assignment().map(Number);

    const pub = b.publisher<number>(topic);
    const first = await pub.publishBatch(Array.from({ length: 100 }, (_, i) => ({ data: i, key: `k${i}` })));
    const onA = first.filter((r) => r.ok && partitionsOfA.includes(Number(r.position.partition))).length;
    await waitFor(() => ackedByA.size + heldByA.size === onA && ackedByA.size + heldByA.size + ackedByB.size === 100, 10_000, "the first 100 handled");
    await new Promise((r) => setTimeout(r, 100)); // A commits what it acknowledged (every 20 ms)
    expect(heldByA.size).toBeGreaterThan(0);

    proxy.freeze();
    const frozenAt = Date.now();
    await pub.publishBatch(Array.from({ length: 100 }, (_, i) => ({ data: 100 + i, key: `k${i}` })));
    await waitFor(() => subB.assignment().length === 4, 10_000, "B to own every partition after A's eviction");
    const evictedAfter = Date.now() - frozenAt;
    expect(evictedAfter).toBeGreaterThanOrEqual(sessionTimeoutMs * 0.9);
    expect(engine.coordinator.members("g", topic)).toHaveLength(1);

    await waitFor(() => [...heldByA].every((i) => ackedByB.has(i)), 10_000, "A's unacknowledged messages redelivered to B");
    await waitFor(() => Array.from({ length: 200 }, (_, i) => i).every((i) => ackedByA.has(i) || ackedByB.has(i)), 10_000, "all 200 handled");
    for (let i = 100; i < 200; i++) expect(ackedByA.has(i)).toBe(false);

    stuck.open();
    proxy.cut(); // A notices, reconnects and joins afresh
    await waitFor(() => engine.coordinator.members("g", topic).length === 2, 20_000, "A back in the group");
    await pub.close();
  }, 60_000);

  test("an evicted member that comes back cannot move the group back: its stale commit is FENCED, committed offsets never decrease", async () => {
    const sessionTimeoutMs = 1_000;
    const { server, engine } = await serve({ sessionTimeoutMs });
    const proxy = await tcpProxy(server.port);
    const topic = uniqueTopic("fence");
    const a = await open(`brook://127.0.0.1:${proxy.port}?requestTimeoutMs=2000`);
    const b = await open(`brook://127.0.0.1:${server.port}`);
    await a.admin.createTopic(topic, { partitions: 1 });
    const pub = b.publisher<number>(topic);
    await pub.publishBatch(Array.from({ length: 50 }, (_, i) => ({ data: i })));

    // A owns the partition and holds message 5 in flight while it acknowledges 0..49 around it.
    const stuck = gate();
    const errorsOfA: BrookError[] = [];
    const byB: number[] = [];
    const subA = await a.subscribe<number>(topic, {
      group: "g",
      startFrom: "earliest",
      ordering: "none",
      commitIntervalMs: 20,
      handler: async (m) => {
        if (m.data === 5) await stuck.promise;
      },
    });
    subA.on("error", (e) => errorsOfA.push(e));
    await waitFor(async () => (await engine.committed("g", topic)).get(0) === 5, 10_000, "A to commit up to the held message");
    const subB = await b.subscribe<number>(topic, { group: "g", commitIntervalMs: 20, handler: (m) => void byB.push(m.data) });

    // Sample the group's position from here on: it may only move forward.
    const samples: number[] = [];
    const sampler = setInterval(() => void engine.committed("g", topic).then((c) => samples.push(c.get(0) ?? -1)), 10);
    try {
      proxy.freeze(); // A pauses (as if SIGSTOPped): evicted after the session timeout
      await waitFor(() => subB.assignment().length === 1, 10_000, "B to take the partition after A's eviction");
      await pub.publishBatch(Array.from({ length: 50 }, (_, i) => ({ data: 50 + i })));
      await waitFor(async () => (await engine.committed("g", topic)).get(0) === 100, 10_000, "B to commit everything");
      stuck.open(); // A's held message finishes: A's watermark is now 49, far behind B's 100
      proxy.cut(); // A notices, reconnects, finds itself evicted, lets go (commit!) and joins afresh
      await waitFor(() => errorsOfA.some((e) => e.code === "FENCED"), 10_000, "A's stale commit to be refused with FENCED");
      await waitFor(() => engine.coordinator.members("g", topic).length === 2, 20_000, "A back in the group");
      await new Promise((r) => setTimeout(r, 200));
    } finally {
      clearInterval(sampler);
    }
    for (let i = 1; i < samples.length; i++) expect(samples[i]).toBeGreaterThanOrEqual(samples[i - 1]!);
    expect((await engine.committed("g", topic)).get(0)).toBe(100);
    expect(byB.filter((d) => d >= 50).sort((x, y) => x - y)).toEqual(Array.from({ length: 50 }, (_, i) => 50 + i));
    await pub.close();
  }, 60_000);

  test("a server that goes silent is given up on after the session timeout; the client reconnects when it answers again", async () => {
    const { server } = await serve({ sessionTimeoutMs: 600 });
    const proxy = await tcpProxy(server.port);
    const api = await RemoteEngineApi.connect({ port: proxy.port, requestTimeoutMs: 20_000, connectTimeoutMs: 500, logger: silentLogger });
    cleanups.push(() => api.close());
    await api.createTopic("t", {}, false);
    proxy.freeze();
    const startedAt = Date.now();
    // Far below its own 20 s timeout, the request fails because the connection is declared dead.
    await expect(api.fetch("t", 0, 0, 10, 10_000)).rejects.toMatchObject({ code: "UNAVAILABLE", message: expect.stringMatching(/no answer from the server/) });
    expect(Date.now() - startedAt).toBeLessThan(5_000);
    proxy.cut();
    expect(await api.listTopics()).toEqual(["t"]);
  });

  test("a request on a silent connection fails with TIMEOUT; an unreachable server with UNAVAILABLE", async () => {
    const { server } = await serve({ sessionTimeoutMs: 60_000 });
    const proxy = await tcpProxy(server.port);
    const api = await RemoteEngineApi.connect({ port: proxy.port, requestTimeoutMs: 300, logger: silentLogger });
    cleanups.push(() => api.close());
    proxy.freeze();
    await expect(api.listTopics()).rejects.toMatchObject({ code: "TIMEOUT", retriable: true });

    const closed = net.createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const unused = (closed.address() as net.AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    await expect(connect(`brook://127.0.0.1:${unused}`, { logger: silentLogger })).rejects.toMatchObject({ code: "UNAVAILABLE" });
    await expect(connect("brook://127.0.0.1:7654?nope=1")).rejects.toMatchObject({ code: "INVALID_URL" });
  });
});
