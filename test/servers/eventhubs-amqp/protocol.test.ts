/**
 * The Event Hubs test server, pinned against the documented AMQP protocol with rhea as the
 * client (not against Brook's adapter, nor against the SDK): each behaviour the real
 * @azure/event-hubs SDK relies on has its own case, so a change to the server that would make
 * the adapter's tests pass for the wrong reason fails here first.
 */
import { createHmac } from "node:crypto";
import { afterAll, afterEach, beforeAll, expect, test } from "@jest/globals";
import rhea, { type Connection, type EventContext, type Message, type Receiver, type Sender } from "rhea";
// @ts-ignore -- plain ESM without type declarations; jest compiles it with swc
import { startEventHubsServer } from "./server.mjs";

interface TestServer {
  port: number;
  controlPort: number;
  createHub(name: string, partitions: number): boolean;
  close(): Promise<void>;
}

const BATCH_FORMAT = 0x80013700;
let server: TestServer;
const open: Connection[] = [];

beforeAll(async () => {
  server = (await startEventHubsServer({ keys: { k: "v" }, maxMessageSize: 64 * 1024 })) as TestServer;
});
afterEach(() => {
  for (const c of open.splice(0)) c.close();
});
afterAll(async () => {
  await server.close();
});

let hubCount = 0;
function hub(partitions = 2): string {
  const name = `proto-${process.pid}-${++hubCount}`;
  server.createHub(name, partitions);
  return name;
}

async function connectClient(): Promise<Connection> {
  const container = rhea.create_container({ id: `proto-client-${hubCount}` });
  const connection = container.connect({ host: "127.0.0.1", port: server.port, reconnect: false });
  open.push(connection);
  await new Promise<void>((resolve, reject) => {
    connection.once("connection_open", () => resolve());
    connection.once("disconnected", (ctx: EventContext) => reject(ctx.error ?? new Error("disconnected")));
  });
  return connection;
}

function sasToken(audience: string, keyName: string, key: string, expiresInS = 3600): string {
  const se = Math.floor(Date.now() / 1000) + expiresInS;
  const sr = encodeURIComponent(audience);
  const sig = createHmac("sha256", key).update(`${sr}\n${se}`).digest("base64");
  return `SharedAccessSignature sr=${sr}&sig=${encodeURIComponent(sig)}&se=${se}&skn=${keyName}`;
}

/** Sends a request on `node` and resolves with the reply whose correlation_id is its message_id. */
async function request(connection: Connection, node: string, message: Message): Promise<Message> {
  const replyTo = `reply-${Math.random().toString(36).slice(2)}`;
  const receiver = connection.open_receiver({ name: replyTo, source: { address: node }, target: { address: replyTo } });
  const sender = connection.open_sender({ target: { address: node } });
  await Promise.all([once(receiver, "receiver_open"), once(sender, "sendable")]);
  const messageId = `req-${Math.random().toString(36).slice(2)}`;
  const reply = new Promise<Message>((resolve) => {
    receiver.on("message", (ctx: EventContext) => {
      if (ctx.message?.correlation_id === messageId) resolve(ctx.message);
    });
  });
  sender.send({ ...message, message_id: messageId, reply_to: replyTo });
  return withTimeout(reply, 5_000, `reply to ${node}`);
}

function once(link: Sender | Receiver, event: string): Promise<EventContext> {
  return withTimeout(new Promise<EventContext>((resolve) => link.once(event, resolve)), 5_000, `${event} on ${link.name}`);
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
    }),
  ]);
}

/** Opens an event sender and waits for its attach (or its refusal). */
async function openSender(connection: Connection, address: string): Promise<Sender> {
  const sender = connection.open_sender({ target: { address } });
  await once(sender, "sender_open");
  return sender;
}

function encodeEvent(body: string, extra: Partial<Message> = {}): Buffer {
  return rhea.message.encode({ ...extra, body: rhea.message.data_section(Buffer.from(body)) }) as unknown as Buffer;
}

/** Sends one batch transfer (format 0x80013700, one data section per event); resolves with the outcome. */
function sendBatch(sender: Sender, events: Buffer[], annotations: Record<string, unknown> = {}): Promise<{ accepted: boolean; error?: { condition: string; description: string } }> {
  const envelope = rhea.message.encode({ message_annotations: annotations, body: rhea.message.data_sections(events) });
  const delivery = sender.send(envelope as unknown as Message, undefined, BATCH_FORMAT);
  return settled(sender, delivery.id);
}

function settled(sender: Sender, id: number): Promise<{ accepted: boolean; error?: { condition: string; description: string } }> {
  return withTimeout(
    new Promise((resolve) => {
      const onAccepted = (ctx: EventContext): void => {
        if (ctx.delivery?.id !== id) return;
        sender.off("accepted", onAccepted);
        sender.off("rejected", onRejected);
        resolve({ accepted: true });
      };
      const onRejected = (ctx: EventContext): void => {
        if (ctx.delivery?.id !== id) return;
        sender.off("accepted", onAccepted);
        sender.off("rejected", onRejected);
        const state = ctx.delivery.remote_state as { error?: { condition: string; description: string } } | undefined;
        resolve({ accepted: false, ...(state?.error === undefined ? {} : { error: state.error }) });
      };
      sender.on("accepted", onAccepted);
      sender.on("rejected", onRejected);
    }),
    5_000,
    `disposition of delivery ${id}`,
  );
}

interface OpenedReceiver {
  link: Receiver;
  messages: Message[];
  /** resolves with the detach error when the server closes the link */
  closed: Promise<{ condition?: string; description?: string } | undefined>;
}

function openReceiver(
  connection: Connection,
  address: string,
  options: { filter?: string; epoch?: number; credit?: number; metrics?: boolean } = {},
): OpenedReceiver {
  const link = connection.open_receiver({
    source: {
      address,
      ...(options.filter === undefined
        ? {}
        : { filter: { "apache.org:selector-filter:string": rhea.types.wrap_described(options.filter, 0x468c00000004) } }),
    },
    credit_window: 0,
    autoaccept: true,
    ...(options.epoch === undefined ? {} : { properties: { "com.microsoft:epoch": rhea.types.wrap_long(options.epoch) } }),
    ...(options.metrics === true ? { desired_capabilities: ["com.microsoft:enable-receiver-runtime-metric"] } : {}),
  });
  const messages: Message[] = [];
  link.on("message", (ctx: EventContext) => messages.push(ctx.message!));
  const closed = new Promise<{ condition?: string; description?: string } | undefined>((resolve) => {
    link.once("receiver_close", () => resolve(link.remote.detach?.error as { condition?: string; description?: string } | undefined));
    link.once("receiver_error", () => resolve(link.remote.detach?.error as { condition?: string; description?: string } | undefined));
  });
  link.once("receiver_open", () => link.add_credit(options.credit ?? 100));
  return { link, messages, closed };
}

async function waitFor(condition: () => boolean, what: string, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const bodyText = (m: Message): string => Buffer.from((m.body as { content: Buffer }).content).toString();
const annotation = (m: Message, name: string): unknown => (m.message_annotations as Record<string, unknown>)[name];

async function publish(address: string, bodies: string[], annotations: Record<string, unknown> = {}): Promise<void> {
  const connection = await connectClient();
  const sender = await openSender(connection, address);
  const outcome = await sendBatch(sender, bodies.map((b) => encodeEvent(b)), annotations);
  expect(outcome).toEqual({ accepted: true });
}

// ---- $cbs ----

test("$cbs put-token with a valid SAS token is answered 202 with the request's message_id as correlation_id", async () => {
  const connection = await connectClient();
  const audience = `sb://127.0.0.1:${server.port}/somehub`;
  const reply = await request(connection, "$cbs", {
    body: sasToken(audience, "k", "v"),
    application_properties: { operation: "put-token", type: "servicebus.windows.net:sastoken", name: audience },
  });
  expect(reply.application_properties?.["status-code"]).toBe(202);
});

test("$cbs put-token signed with a wrong key or an unknown key name is answered 401", async () => {
  const connection = await connectClient();
  const audience = `sb://127.0.0.1:${server.port}/somehub`;
  for (const token of [sasToken(audience, "k", "wrong"), sasToken(audience, "nobody", "v"), sasToken(audience, "k", "v", -10)]) {
    const reply = await request(connection, "$cbs", {
      body: token,
      application_properties: { operation: "put-token", type: "servicebus.windows.net:sastoken", name: audience },
    });
    expect(reply.application_properties?.["status-code"]).toBe(401);
  }
});

// ---- $management ----

test("$management READ describes an event hub and a partition (last enqueued -1 while empty)", async () => {
  const name = hub(3);
  const connection = await connectClient();
  const read = (type: string, partition?: string): Promise<Message> =>
    request(connection, "$management", {
      body: Buffer.from("[]"),
      application_properties: { operation: "READ", name, type, ...(partition === undefined ? {} : { partition }) },
    });
  const info = await read("com.microsoft:eventhub");
  expect(info.application_properties?.["status-code"]).toBe(200);
  expect(info.body).toMatchObject({ name, partition_ids: ["0", "1", "2"] });
  expect((info.body as { created_at: Date }).created_at).toBeInstanceOf(Date);
  const empty = await read("com.microsoft:partition", "1");
  expect(empty.body).toMatchObject({ partition: "1", begin_sequence_number: 0, last_enqueued_sequence_number: -1, is_partition_empty: true });
  await publish(`${name}/Partitions/1`, ["a", "b"]);
  const filled = await read("com.microsoft:partition", "1");
  expect(filled.body).toMatchObject({ last_enqueued_sequence_number: 1, is_partition_empty: false });
  expect(typeof (filled.body as { last_enqueued_offset: unknown }).last_enqueued_offset).toBe("string");
  expect((filled.body as { last_enqueued_time_utc: Date }).last_enqueued_time_utc.getTime()).toBeGreaterThan(Date.now() - 60_000);
});

test("$management READ of an unknown event hub is 404 amqp:not-found naming the entity", async () => {
  const connection = await connectClient();
  const reply = await request(connection, "$management", {
    body: Buffer.from("[]"),
    application_properties: { operation: "READ", name: "no-such-hub", type: "com.microsoft:eventhub" },
  });
  expect(reply.application_properties?.["status-code"]).toBe(404);
  expect(String(reply.application_properties?.["status-description"])).toMatch(/The messaging entity .*no-such-hub.* could not be found/);
});

// ---- senders ----

test("a sender's attach carries max_message_size; a batch over it is rejected amqp:link:message-size-exceeded", async () => {
  const name = hub(1);
  const connection = await connectClient();
  const sender = await openSender(connection, name);
  expect(Number(sender.remote.attach?.max_message_size)).toBe(64 * 1024);
  const outcome = await sendBatch(sender, [encodeEvent("x".repeat(70 * 1024))]);
  expect(outcome.accepted).toBe(false);
  expect(outcome.error?.condition).toBe("amqp:link:message-size-exceeded");
});

test("a sender to an unknown event hub is detached with amqp:not-found", async () => {
  const connection = await connectClient();
  const sender = connection.open_sender({ target: { address: "missing-hub" } });
  await once(sender, "sender_close").catch(() => once(sender, "sender_error"));
  expect((sender.remote.detach?.error as { condition?: string } | undefined)?.condition).toBe("amqp:not-found");
});

test("a batch (format 0x80013700, one data section per event) stores each event in order with sequence numbers and string offsets", async () => {
  const name = hub(2);
  await publish(`${name}/Partitions/0`, ["e0", "e1", "e2"]);
  const connection = await connectClient();
  const r = openReceiver(connection, `${name}/ConsumerGroups/$default/Partitions/0`, { filter: "amqp.annotation.x-opt-offset > '-1'" });
  await waitFor(() => r.messages.length === 3, "3 events");
  expect(r.messages.map(bodyText)).toEqual(["e0", "e1", "e2"]);
  expect(r.messages.map((m) => Number(annotation(m, "x-opt-sequence-number")))).toEqual([0, 1, 2]);
  const offsets = r.messages.map((m) => annotation(m, "x-opt-offset"));
  for (const o of offsets) expect(typeof o).toBe("string");
  // Byte positions, not sequence numbers: a client must not take one for the other.
  expect(offsets).not.toEqual(["0", "1", "2"]);
  expect(annotation(r.messages[0]!, "x-opt-enqueued-time")).toBeInstanceOf(Date);
});

test("events of one partition key land on one partition and carry x-opt-partition-key", async () => {
  const name = hub(4);
  await publish(name, ["k1", "k2", "k3"], { "x-opt-partition-key": "cust-7" });
  const connection = await connectClient();
  const receivers = [0, 1, 2, 3].map((p) => openReceiver(connection, `${name}/ConsumerGroups/$default/Partitions/${p}`, { filter: "amqp.annotation.x-opt-offset > '-1'" }));
  await waitFor(() => receivers.reduce((n, r) => n + r.messages.length, 0) === 3, "3 events");
  const holding = receivers.filter((r) => r.messages.length > 0);
  expect(holding).toHaveLength(1);
  expect(holding[0]!.messages.map(bodyText)).toEqual(["k1", "k2", "k3"]);
  expect(holding[0]!.messages.map((m) => annotation(m, "x-opt-partition-key"))).toEqual(["cust-7", "cust-7", "cust-7"]);
});

test("com.microsoft:server-busy is answered for the next N sends when asked, then sends are accepted again", async () => {
  const name = hub(1);
  const set = await fetch(`http://127.0.0.1:${server.controlPort}/faults`, { method: "POST", body: JSON.stringify({ serverBusy: 2 }) });
  expect(set.status).toBe(200);
  const connection = await connectClient();
  const sender = await openSender(connection, name);
  const first = await sendBatch(sender, [encodeEvent("a")]);
  const second = await sendBatch(sender, [encodeEvent("b")]);
  const third = await sendBatch(sender, [encodeEvent("c")]);
  expect(first.error?.condition).toBe("com.microsoft:server-busy");
  expect(second.error?.condition).toBe("com.microsoft:server-busy");
  expect(third).toEqual({ accepted: true });
});

// ---- receivers ----

test("selector filters place a receiver: earliest, @latest, sequence number > and >=, offset > and >=, enqueued time", async () => {
  const name = hub(1);
  await publish(name, ["a", "b", "c", "d"]);
  const connection = await connectClient();
  const address = `${name}/ConsumerGroups/$default/Partitions/0`;
  const all = openReceiver(connection, address, { filter: "amqp.annotation.x-opt-offset > '-1'" });
  await waitFor(() => all.messages.length === 4, "4 events");
  const offsetOfC = String(annotation(all.messages[2]!, "x-opt-offset"));
  const cases: Array<[string, string[]]> = [
    ["amqp.annotation.x-opt-sequence-number > '1'", ["c", "d"]],
    ["amqp.annotation.x-opt-sequence-number >= '1'", ["b", "c", "d"]],
    [`amqp.annotation.x-opt-offset > '${offsetOfC}'`, ["d"]],
    [`amqp.annotation.x-opt-offset >= '${offsetOfC}'`, ["c", "d"]],
    [`amqp.annotation.x-opt-enqueued-time > '${Date.now() - 60_000}'`, ["a", "b", "c", "d"]],
    [`amqp.annotation.x-opt-enqueued-time > '${Date.now() + 60_000}'`, []],
  ];
  for (const [filter, expected] of cases) {
    const r = openReceiver(connection, address, { filter });
    if (expected.length > 0) await waitFor(() => r.messages.length >= expected.length, filter);
    else await new Promise((resolve) => setTimeout(resolve, 200));
    expect([filter, r.messages.map(bodyText)]).toEqual([filter, expected]);
  }
  const latest = openReceiver(connection, address, { filter: "amqp.annotation.x-opt-offset > '@latest'" });
  await once(latest.link, "receiver_open");
  await publish(name, ["e"]);
  await waitFor(() => latest.messages.length === 1, "the event published after @latest");
  expect(latest.messages.map(bodyText)).toEqual(["e"]);
});

test("a receiver gets only as many events as it has credit for", async () => {
  const name = hub(1);
  await publish(name, ["1", "2", "3", "4", "5"]);
  const connection = await connectClient();
  const r = openReceiver(connection, `${name}/ConsumerGroups/$default/Partitions/0`, { filter: "amqp.annotation.x-opt-offset > '-1'", credit: 2 });
  await waitFor(() => r.messages.length === 2, "2 events");
  await new Promise((resolve) => setTimeout(resolve, 200));
  expect(r.messages).toHaveLength(2);
  r.link.add_credit(3);
  await waitFor(() => r.messages.length === 5, "5 events");
  expect(r.messages.map(bodyText)).toEqual(["1", "2", "3", "4", "5"]);
});

test("with com.microsoft:enable-receiver-runtime-metric each event carries the partition's last-enqueued delivery annotations", async () => {
  const name = hub(1);
  await publish(name, ["a", "b", "c"]);
  const connection = await connectClient();
  const plain = openReceiver(connection, `${name}/ConsumerGroups/$default/Partitions/0`, { filter: "amqp.annotation.x-opt-offset > '-1'" });
  const metered = openReceiver(connection, `${name}/ConsumerGroups/$default/Partitions/0`, { filter: "amqp.annotation.x-opt-offset > '-1'", metrics: true });
  await waitFor(() => plain.messages.length === 3 && metered.messages.length === 3, "3 events on both");
  expect(plain.messages[0]!.delivery_annotations?.last_enqueued_sequence_number).toBeUndefined();
  const first = metered.messages[0]!.delivery_annotations!;
  expect(Number(first.last_enqueued_sequence_number)).toBe(2);
  expect(first.last_enqueued_offset).toBe(annotation(metered.messages[2]!, "x-opt-offset"));
  expect(first.last_enqueued_time_utc).toBeInstanceOf(Date);
  expect(first.runtime_info_retrieval_time_utc).toBeInstanceOf(Date);
});

test("owner level: an equal or higher one takes over (the old link is detached amqp:link:stolen), a lower one or none is refused", async () => {
  const name = hub(1);
  await publish(name, ["a"]);
  const connection = await connectClient();
  const address = `${name}/ConsumerGroups/workers/Partitions/0`;
  const filter = "amqp.annotation.x-opt-offset > '-1'";
  const first = openReceiver(connection, address, { filter, epoch: 0 });
  await waitFor(() => first.messages.length === 1, "the first owner's event");
  const equal = openReceiver(connection, address, { filter, epoch: 0 });
  expect((await withTimeout(first.closed, 5_000, "the first owner's detach"))?.condition).toBe("amqp:link:stolen");
  await waitFor(() => equal.messages.length === 1, "the equal owner's event");
  const higher = openReceiver(connection, address, { filter, epoch: 5 });
  expect((await withTimeout(equal.closed, 5_000, "the equal owner's detach"))?.condition).toBe("amqp:link:stolen");
  await waitFor(() => higher.messages.length === 1, "the higher owner's event");
  const lower = openReceiver(connection, address, { filter, epoch: 4 });
  expect((await withTimeout(lower.closed, 5_000, "the lower owner's refusal"))?.condition).toBe("amqp:link:stolen");
  const none = openReceiver(connection, address, { filter });
  expect((await withTimeout(none.closed, 5_000, "the refusal of a receiver without owner level"))?.condition).toBe("amqp:link:stolen");
  // The owner is undisturbed, and another consumer group is independent of it.
  await publish(name, ["b"]);
  await waitFor(() => higher.messages.length === 2, "the owner's second event");
  const otherGroup = openReceiver(connection, `${name}/ConsumerGroups/others/Partitions/0`, { filter });
  await waitFor(() => otherGroup.messages.length === 2, "the other group's events");
});

test("a receiver of an unknown event hub or partition is detached with amqp:not-found", async () => {
  const name = hub(1);
  const connection = await connectClient();
  for (const address of ["nope/ConsumerGroups/$default/Partitions/0", `${name}/ConsumerGroups/$default/Partitions/9`]) {
    const r = openReceiver(connection, address, { filter: "amqp.annotation.x-opt-offset > '-1'" });
    expect((await withTimeout(r.closed, 5_000, `detach of ${address}`))?.condition).toBe("amqp:not-found");
  }
});

test("a stalled partition's current receivers get nothing more while a new receiver gets everything", async () => {
  const name = hub(1);
  const connection = await connectClient();
  const address = `${name}/ConsumerGroups/$default/Partitions/0`;
  const before = openReceiver(connection, address, { filter: "amqp.annotation.x-opt-offset > '-1'" });
  await once(before.link, "receiver_open");
  await publish(name, ["a"]);
  await waitFor(() => before.messages.length === 1, "the first event");
  const stall = await fetch(`http://127.0.0.1:${server.controlPort}/faults`, { method: "POST", body: JSON.stringify({ stall: { hub: name, partition: "0" } }) });
  expect(await stall.json()).toEqual({ stalledReceivers: 1 });
  await publish(name, ["b"]);
  const after = openReceiver(connection, address, { filter: "amqp.annotation.x-opt-offset > '-1'" });
  await waitFor(() => after.messages.length === 2, "both events on the new receiver");
  expect(before.messages).toHaveLength(1);
});

test("dropOnSessionEnd: a client's detach of a faulted hub's link and the end of its session go unanswered; other hubs' are answered", async () => {
  const faulted = hub(1);
  const other = hub(1);
  // A connection each: a connection's links share one session here.
  const filter = "amqp.annotation.x-opt-offset > '-1'";
  const stuck = openReceiver(await connectClient(), `${faulted}/ConsumerGroups/$default/Partitions/0`, { filter });
  const fine = openReceiver(await connectClient(), `${other}/ConsumerGroups/$default/Partitions/0`, { filter });
  await Promise.all([once(stuck.link, "receiver_open"), once(fine.link, "receiver_open")]);
  const faults = async (body: unknown): Promise<unknown> =>
    (await fetch(`http://127.0.0.1:${server.controlPort}/faults`, { method: "POST", body: JSON.stringify(body) })).json();
  expect(await faults({ dropOnSessionEnd: { hub: faulted } })).toEqual({ dropOnSessionEnd: { [faulted]: 0 } });
  const stuckSessionEnded = new Promise<void>((resolve) => stuck.link.session.once("session_close", () => resolve()));
  const fineSessionEnded = new Promise<void>((resolve) => fine.link.session.once("session_close", () => resolve()));
  stuck.link.close();
  stuck.link.session.close();
  fine.link.close();
  fine.link.session.close();
  await withTimeout(fine.closed, 5_000, "the other hub's detach answer");
  await withTimeout(fineSessionEnded, 5_000, "the other hub's end answer");
  // Half a second is many round trips on 127.0.0.1: the answers would have come.
  const answered = await Promise.race([stuck.closed.then(() => "detach"), stuckSessionEnded.then(() => "end"), new Promise((r) => setTimeout(() => r("nothing"), 500))]);
  expect(answered).toBe("nothing");
  expect(await faults({ dropOnSessionEnd: { hub: faulted } })).toEqual({ dropOnSessionEnd: { [faulted]: 2 } });
  expect(await faults({ dropOnSessionEnd: false })).toEqual({ dropOnSessionEnd: {} });
  expect((await fetch(`http://127.0.0.1:${server.controlPort}/faults`, { method: "POST", body: JSON.stringify({ dropOnSessionEnd: { hub: "nope" } }) })).status).toBe(404);
});

// ---- control plane ----

test("the control plane creates (409 when it exists), lists and deletes (404 when missing) event hubs", async () => {
  const base = `http://127.0.0.1:${server.controlPort}`;
  const name = `control-${process.pid}`;
  expect((await fetch(`${base}/hubs`, { method: "POST", body: JSON.stringify({ name, partitions: 3 }) })).status).toBe(201);
  expect((await fetch(`${base}/hubs`, { method: "POST", body: JSON.stringify({ name, partitions: 3 }) })).status).toBe(409);
  expect(await (await fetch(`${base}/hubs`)).json()).toContain(name);
  expect((await fetch(`${base}/hubs/${name}`, { method: "DELETE" })).status).toBe(204);
  expect((await fetch(`${base}/hubs/${name}`, { method: "DELETE" })).status).toBe(404);
  expect((await fetch(`${base}/hubs`, { method: "POST", body: JSON.stringify({ name: "bad name!" }) })).status).toBe(400);
});
