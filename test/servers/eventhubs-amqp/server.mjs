// A small Event Hubs test server: the AMQP 1.0 surface that the real @azure/event-hubs SDK
// (6.0.4) uses, on rhea, in memory, on 127.0.0.1. No Event Hubs emulator runs without Docker;
// this is the project's own stand-in, and protocol.test.ts beside it pins every behaviour below
// against the documented protocol with rhea as the client (not against Brook's adapter).
//
// What it does (see /work/shared/EMULATORS.md, "Azure Event Hubs"):
// - plain TCP, SASL ANONYMOUS; the SDK skips TLS when the connection string says
//   `UseDevelopmentEmulator=true`.
// - `$cbs` put-token: checks the SAS token's HMAC against the configured keys and answers
//   status-code 202 (or 401) with correlation_id = the request's message_id, on the link the
//   request's reply_to names.
// - `$management` READ of `com.microsoft:eventhub` and `com.microsoft:partition`; an unknown hub
//   is 404 `amqp:not-found` ("The messaging entity … could not be found", which the SDK turns
//   into MessagingEntityNotFoundError).
// - senders at `<hub>` and `<hub>/Partitions/<n>`; `max_message_size` on attach; a batch is one
//   transfer of format 0x80013700 whose body is data sections, each an encoded message; the
//   partition key is the `x-opt-partition-key` annotation (hashed with FNV-1a here, not the
//   service's hash: tests must not rely on which partition a key lands on).
// - receivers at `<hub>/ConsumerGroups/<group>/Partitions/<n>` with the
//   `apache.org:selector-filter:string` filter on x-opt-offset / x-opt-sequence-number
//   (`>` / `>=`, offset '-1' = earliest, '@latest') or x-opt-enqueued-time (`>` epoch ms);
//   events are sent only while the link has credit, annotated with x-opt-sequence-number,
//   x-opt-offset (a string; byte positions, so never equal to the sequence number),
//   x-opt-enqueued-time and x-opt-partition-key; last-enqueued delivery annotations when the
//   receiver desires `com.microsoft:enable-receiver-runtime-metric`.
// - owner level (`com.microsoft:epoch`): a receiver with an owner level greater than OR EQUAL to
//   the current owner's takes over (the old links are detached with `amqp:link:stolen`); a lower
//   one, or one without an owner level while an owner exists, is refused.
// - faults on demand, for tests: the next N sends answered `com.microsoft:server-busy`; a
//   partition's current receivers go silent ("stall") while new ones work; a hub's session end
//   and detach frames from clients are ignored ("dropOnSessionEnd": a peer that never answers,
//   so a client's close of those links and sessions waits for its own timeout).
//
// Hubs are created and deleted through a small HTTP control plane on a second port (the real
// service does that through Azure Resource Manager, not AMQP):
//   POST /hubs {"name","partitions"} → 201 | 409    DELETE /hubs/<name> → 204 | 404
//   GET /hubs → ["name", …]    GET /health → 200
//   POST /faults {"serverBusy": n} | {"stall": {"hub","partition"}}
//                | {"dropOnSessionEnd": {"hub"}} | {"dropOnSessionEnd": false} (all hubs off)
//
// Plain ESM with no top-level await, so jest can import it (cli.mjs is the process entry).
import { createHmac, timingSafeEqual } from "node:crypto";
import http from "node:http";
import rhea from "rhea";

const { types } = rhea;
const HOST = "127.0.0.1";
const BATCH_FORMAT = 0x80013700;
const SELECTOR_FILTER = "apache.org:selector-filter:string";
const RUNTIME_METRIC = "com.microsoft:enable-receiver-runtime-metric";
const EPOCH = "com.microsoft:epoch";
/** The service's limit for one message or batch on the Standard tier (1 MiB). */
export const DEFAULT_MAX_MESSAGE_SIZE = 1024 * 1024;

/**
 * Starts the server. Resolves once both ports listen.
 * @param {{ port?: number, controlPort?: number, keys?: Record<string, string>,
 *           maxMessageSize?: number, hubs?: Array<{ name: string, partitions: number }> }} [options]
 *   keys: SAS key name → key (default { k: "v" }); maxMessageSize: what senders are told on attach.
 */
export async function startEventHubsServer(options = {}) {
  const server = new EventHubsServer(options);
  await server.listen(options.port ?? 0, options.controlPort ?? 0);
  return server;
}

export class EventHubsServer {
  constructor(options = {}) {
    this.keys = options.keys ?? { k: "v" };
    this.maxMessageSize = options.maxMessageSize ?? DEFAULT_MAX_MESSAGE_SIZE;
    /** @type {Map<string, Hub>} */
    this.hubs = new Map();
    for (const h of options.hubs ?? []) this.createHub(h.name, h.partitions);
    this.serverBusy = 0;
    /** hubs whose links' detach and sessions' end frames from clients are ignored → frames ignored so far */
    this.dropOnSessionEnd = new Map();
    this.container = rhea.create_container({ id: "brook-eventhubs-test", autoaccept: false });
    this.container.on("connection_open", (ctx) => {
      this.connections.add(ctx.connection);
      this.interceptClosing(ctx.connection);
    });
    this.container.on("connection_close", (ctx) => this.connections.delete(ctx.connection));
    this.container.on("disconnected", (ctx) => {
      this.connections.delete(ctx.connection);
      this.dropConnection(ctx.connection);
    });
    this.container.on("receiver_open", (ctx) => this.onReceiverOpen(ctx));
    this.container.on("sender_open", (ctx) => this.onSenderOpen(ctx));
    this.container.on("message", (ctx) => this.onMessage(ctx));
    this.container.on("sendable", (ctx) => this.pump(ctx.sender));
    this.container.on("sender_close", (ctx) => this.forgetSender(ctx.sender));
    this.container.on("receiver_close", () => undefined);
    this.container.on("error", (e) => this.debug("error", e));
    this.container.on("connection_error", (ctx) => this.debug("connection_error", ctx.connection?.error));
    this.container.on("protocol_error", (ctx) => this.debug("protocol_error", ctx.error));
    this.connections = new Set();
  }

  debug(what, detail) {
    if (process.env.BROOK_EVENTHUBS_SERVER_DEBUG) process.stderr.write(`[eventhubs-amqp] ${what}: ${detail?.stack ?? JSON.stringify(detail)}\n`);
  }

  async listen(port, controlPort) {
    this.listener = this.container.listen({ port, host: HOST });
    await new Promise((resolve, reject) => {
      this.listener.once("listening", resolve);
      this.listener.once("error", reject);
    });
    this.port = this.listener.address().port;
    this.control = http.createServer((req, res) => this.onControl(req, res));
    await new Promise((resolve, reject) => {
      this.control.once("error", reject);
      this.control.listen(controlPort, HOST, resolve);
    });
    this.controlPort = this.control.address().port;
  }

  /** The connection string the SDK takes for this server (plain TCP through UseDevelopmentEmulator). */
  connectionString(keyName = Object.keys(this.keys)[0], key = this.keys[keyName]) {
    return `Endpoint=sb://${HOST}:${this.port};SharedAccessKeyName=${keyName};SharedAccessKey=${key};UseDevelopmentEmulator=true`;
  }

  async close() {
    for (const c of this.connections) {
      try {
        c.close();
      } catch {
        /* already gone */
      }
    }
    await new Promise((resolve) => this.listener.close(() => resolve()));
    // Sockets the listener accepted stay open after close(); end them so the process can exit.
    for (const c of this.connections) c.socket?.destroy?.();
    this.control.closeAllConnections?.();
    await new Promise((resolve) => this.control.close(() => resolve()));
  }

  /**
   * The dropOnSessionEnd fault: a client's detach of a link on a faulted hub, or end of a session
   * holding one, is dropped before rhea sees it (no state change, no answering frame).
   */
  interceptClosing(connection) {
    const onEnd = connection.on_end;
    const onDetach = connection.on_detach;
    const dropped = (frame, links) => {
      for (const link of links) {
        const hub = link?.brook?.hub;
        if (hub !== undefined && this.dropOnSessionEnd.has(hub)) {
          this.dropOnSessionEnd.set(hub, this.dropOnSessionEnd.get(hub) + 1);
          this.debug("dropOnSessionEnd", { performative: frame.performative?.constructor?.name ?? "frame", hub });
          return true;
        }
      }
      return false;
    };
    connection.on_end = function (frame) {
      const session = this.remote_channel_map[frame.channel];
      if (session !== undefined && dropped(frame, Object.values(session.links ?? {}))) return;
      return onEnd.call(this, frame);
    };
    connection.on_detach = function (frame) {
      const session = this.remote_channel_map[frame.channel];
      const link = session?.remote.handles[frame.performative.handle];
      if (link !== undefined && dropped(frame, [link])) return;
      return onDetach.call(this, frame);
    };
  }

  // ---- hubs ----

  createHub(name, partitions = 4) {
    if (this.hubs.has(name)) return false;
    const hub = { name, createdAt: new Date(), partitions: [], roundRobin: 0 };
    for (let i = 0; i < partitions; i++) hub.partitions.push(newPartition(String(i)));
    this.hubs.set(name, hub);
    return true;
  }

  deleteHub(name) {
    const hub = this.hubs.get(name);
    if (hub === undefined) return false;
    this.hubs.delete(name);
    for (const p of hub.partitions) for (const r of p.receivers) detach(r.link, "amqp:not-found", notFoundText(name));
    return true;
  }

  // ---- links ----

  onReceiverOpen(ctx) {
    // The peer sends: a CBS or management request link, or an event sender.
    const link = ctx.receiver;
    const address = link.target?.address ?? "";
    if (address === "$cbs" || address === "$management" || address.endsWith("/$management")) return;
    const parsed = /^([^/]+)(?:\/Partitions\/([^/]+))?$/.exec(address);
    const hub = parsed === null ? undefined : this.hubs.get(parsed[1]);
    if (hub === undefined) return detach(link, "amqp:not-found", notFoundText(parsed?.[1] ?? address));
    if (parsed[2] !== undefined && hub.partitions[Number(parsed[2])] === undefined) {
      return detach(link, "amqp:not-found", `partition ${parsed[2]} of ${notFoundText(hub.name)}`);
    }
    link.brook = { hub: hub.name, partition: parsed[2] };
    link.local.attach.max_message_size = this.maxMessageSize;
  }

  onSenderOpen(ctx) {
    // The peer receives: a reply link ($cbs / $management) or an event receiver.
    const link = ctx.sender;
    const address = link.source?.address ?? "";
    if (address === "$cbs" || address === "$management" || address.endsWith("/$management")) return;
    const parsed = /^([^/]+)\/ConsumerGroups\/([^/]+)\/Partitions\/([^/]+)$/.exec(address);
    if (parsed === null) return detach(link, "amqp:not-found", notFoundText(address));
    const hub = this.hubs.get(parsed[1]);
    if (hub === undefined) return detach(link, "amqp:not-found", notFoundText(parsed[1]));
    const partition = hub.partitions[Number(parsed[3])];
    if (partition === undefined) return detach(link, "amqp:not-found", `partition ${parsed[3]} of ${notFoundText(hub.name)}`);
    let next;
    try {
      next = startIndex(partition, filterOf(link));
    } catch (err) {
      return detach(link, "amqp:invalid-field", err.message);
    }
    const group = parsed[2].toLowerCase();
    const epochValue = link.properties?.[EPOCH];
    const epoch = epochValue === undefined || epochValue === null ? undefined : Number(epochValue);
    const owner = partition.owners.get(group);
    if (owner !== undefined && owner.receivers.size > 0) {
      if (epoch === undefined || epoch < owner.epoch) {
        const why = epoch === undefined
          ? `a receiver with owner level ${owner.epoch} owns partition ${partition.id} in consumer group ${group}; receivers without an owner level are refused`
          : `owner level ${epoch} is lower than the current owner's ${owner.epoch}`;
        return detach(link, "amqp:link:stolen", why);
      }
    }
    if (epoch !== undefined) {
      // Greater than or equal: the checkpoint store's hand-over opens the new owner's receiver
      // with the same owner level as the old one's.
      const displaced = [...partition.receivers].filter((r) => r.group === group);
      for (const r of displaced) {
        partition.receivers.delete(r);
        detach(r.link, "amqp:link:stolen", `New receiver with owner level ${epoch} was created; this receiver is disconnected`);
      }
    }
    const state = {
      link,
      group,
      epoch,
      hub: hub.name,
      partition,
      next,
      metrics: (link.remote.attach?.desired_capabilities ?? []).map(String).includes(RUNTIME_METRIC),
      stalled: false,
    };
    if (epoch !== undefined) {
      const current = partition.owners.get(group) ?? { epoch, receivers: new Set() };
      current.epoch = epoch;
      current.receivers = new Set([state]);
      partition.owners.set(group, current);
    }
    partition.receivers.add(state);
    link.brook = state;
    if (state.metrics) link.local.attach.offered_capabilities = [RUNTIME_METRIC];
    setImmediate(() => this.pump(link));
  }

  forgetSender(link) {
    const state = link.brook;
    if (state?.partition === undefined || typeof state.partition !== "object") return;
    state.partition.receivers.delete(state);
    const owner = state.partition.owners.get(state.group);
    owner?.receivers.delete(state);
  }

  dropConnection(connection) {
    for (const hub of this.hubs.values()) {
      for (const p of hub.partitions) {
        for (const r of [...p.receivers]) {
          if (r.link.connection === connection) {
            p.receivers.delete(r);
            p.owners.get(r.group)?.receivers.delete(r);
          }
        }
      }
    }
  }

  /** Sends a receiver what it has credit for. */
  pump(link) {
    const state = link?.brook;
    if (state === undefined || typeof state.partition !== "object" || state.stalled) return;
    const events = state.partition.events;
    while (state.next < events.length && link.sendable() && !link.is_closed()) {
      const e = events[state.next++];
      const message = {
        ...e.message,
        message_annotations: {
          ...(e.message.message_annotations ?? {}),
          "x-opt-sequence-number": types.wrap_long(e.seq),
          "x-opt-offset": e.offset,
          "x-opt-enqueued-time": new Date(e.enqueuedAt),
          ...(e.partitionKey === undefined ? {} : { "x-opt-partition-key": e.partitionKey }),
        },
      };
      if (state.metrics) {
        const last = events[events.length - 1];
        message.delivery_annotations = {
          last_enqueued_sequence_number: types.wrap_long(last.seq),
          last_enqueued_offset: last.offset,
          last_enqueued_time_utc: new Date(last.enqueuedAt),
          runtime_info_retrieval_time_utc: new Date(),
        };
      }
      link.send(message);
    }
  }

  // ---- incoming messages: CBS, management, events ----

  onMessage(ctx) {
    const link = ctx.receiver;
    const address = link.target?.address ?? "";
    if (address === "$cbs") return this.onCbs(ctx);
    if (address === "$management" || address.endsWith("/$management")) return this.onManagement(ctx);
    return this.onEvents(ctx);
  }

  reply(ctx, request, status, description, body) {
    const replyTo = request.reply_to;
    const session = ctx.connection;
    let target;
    for (const l of linksOf(session)) {
      if (l.is_sender() && (l.name === replyTo || l.target?.address === replyTo)) target = l;
    }
    ctx.delivery.accept();
    if (target === undefined) return;
    target.send({
      correlation_id: request.message_id,
      application_properties: { "status-code": status, "status-description": description },
      body,
    });
  }

  onCbs(ctx) {
    const request = ctx.message;
    const props = request.application_properties ?? {};
    if (props.operation !== "put-token") return this.reply(ctx, request, 400, `unknown operation ${props.operation}`, undefined);
    const verdict = this.checkToken(String(request.body ?? ""), String(props.name ?? ""));
    if (verdict !== undefined) return this.reply(ctx, request, 401, verdict, undefined);
    return this.reply(ctx, request, 202, "Accepted", undefined);
  }

  /** undefined when the SAS token is valid for the audience; otherwise why not. */
  checkToken(token, audience) {
    const fields = Object.fromEntries(
      token.replace(/^SharedAccessSignature\s+/, "").split("&").map((kv) => {
        const i = kv.indexOf("=");
        return [kv.slice(0, i), decodeURIComponent(kv.slice(i + 1))];
      }),
    );
    const key = this.keys[fields.skn];
    if (key === undefined) return `Unauthorized: unknown shared access key name "${fields.skn}"`;
    if (Number(fields.se) * 1000 < Date.now()) return "Unauthorized: the token has expired";
    const expected = createHmac("sha256", key).update(`${encodeURIComponent(fields.sr)}\n${fields.se}`).digest();
    const given = Buffer.from(fields.sig ?? "", "base64");
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return "Unauthorized: the token's signature does not match the key";
    if (audience !== "" && !audience.startsWith(fields.sr.replace(/\/$/, ""))) return `Unauthorized: the token is for ${fields.sr}, not ${audience}`;
    return undefined;
  }

  onManagement(ctx) {
    const request = ctx.message;
    const props = request.application_properties ?? {};
    if (props.operation !== "READ") return this.reply(ctx, request, 400, `unknown operation ${props.operation}`, undefined);
    const hub = this.hubs.get(String(props.name));
    if (hub === undefined) return this.reply(ctx, request, 404, `${notFoundText(String(props.name))} status-code: 404`, undefined);
    if (props.type === "com.microsoft:eventhub") {
      return this.reply(ctx, request, 200, "OK", {
        name: hub.name,
        type: "com.microsoft:eventhub",
        created_at: hub.createdAt,
        partition_count: hub.partitions.length,
        partition_ids: hub.partitions.map((p) => p.id),
      });
    }
    if (props.type === "com.microsoft:partition") {
      const p = hub.partitions[Number(props.partition)];
      if (p === undefined) return this.reply(ctx, request, 404, `partition ${props.partition} of ${notFoundText(hub.name)} status-code: 404`, undefined);
      const last = p.events[p.events.length - 1];
      return this.reply(ctx, request, 200, "OK", {
        name: hub.name,
        type: "com.microsoft:partition",
        partition: p.id,
        begin_sequence_number: types.wrap_long(p.events.length === 0 ? 0 : p.events[0].seq),
        last_enqueued_sequence_number: types.wrap_long(last === undefined ? -1 : last.seq),
        last_enqueued_offset: last === undefined ? "-1" : last.offset,
        last_enqueued_time_utc: new Date(last === undefined ? 0 : last.enqueuedAt),
        is_partition_empty: last === undefined,
      });
    }
    return this.reply(ctx, request, 400, `unknown type ${props.type}`, undefined);
  }

  onEvents(ctx) {
    const link = ctx.receiver;
    const where = link.brook;
    const hub = where === undefined ? undefined : this.hubs.get(where.hub);
    if (hub === undefined) return ctx.delivery.reject({ condition: "amqp:not-found", description: notFoundText(where?.hub ?? "?") });
    if (this.serverBusy > 0) {
      this.serverBusy -= 1;
      return ctx.delivery.reject({
        condition: "com.microsoft:server-busy",
        description: "The request was terminated because the entity is being throttled. Please wait 4 seconds and try again.",
      });
    }
    const format = ctx.delivery.format;
    // rhea hands over a transfer of a non-zero message format as raw bytes.
    const outer = Buffer.isBuffer(ctx.message) ? rhea.message.decode(ctx.message) : ctx.message;
    let inner;
    if (format === BATCH_FORMAT) {
      const body = outer.body;
      const sections = body?.multiple ? body.content : [body?.content ?? body];
      inner = sections.map((buf) => rhea.message.decode(Buffer.from(buf)));
    } else {
      inner = [outer];
    }
    const outerKey = outer.message_annotations?.["x-opt-partition-key"];
    const sizes = inner.map((m) => rhea.message.encode(m).length);
    const total = sizes.reduce((a, b) => a + b, 0);
    if (total > this.maxMessageSize) {
      return ctx.delivery.reject({ condition: "amqp:link:message-size-exceeded", description: `the batch of ${total} bytes exceeds ${this.maxMessageSize}` });
    }
    const now = Date.now();
    const touched = new Set();
    inner.forEach((m, i) => {
      const key = m.message_annotations?.["x-opt-partition-key"] ?? outerKey;
      let partition;
      if (where.partition !== undefined) partition = hub.partitions[Number(where.partition)];
      else if (key !== undefined && key !== null) partition = hub.partitions[fnv1a(String(key)) % hub.partitions.length];
      else partition = hub.partitions[hub.roundRobin++ % hub.partitions.length];
      // A batch without per-event keys shares the first event's partition (as the service does).
      if (format === BATCH_FORMAT && where.partition === undefined && (key === undefined || key === null) && i > 0) {
        partition = touched.values().next().value ?? partition;
      }
      const seq = partition.events.length === 0 ? partition.begin : partition.events[partition.events.length - 1].seq + 1;
      const offset = String(partition.nextOffset);
      partition.nextOffset += sizes[i];
      const stored = { ...m };
      if (stored.message_annotations !== undefined) {
        stored.message_annotations = { ...stored.message_annotations };
        delete stored.message_annotations["x-opt-partition-key"];
      }
      partition.events.push({ seq, offset, enqueuedAt: now, partitionKey: key ?? undefined, message: stored });
      touched.add(partition);
    });
    ctx.delivery.accept();
    for (const p of touched) for (const r of p.receivers) this.pump(r.link);
  }

  // ---- control plane ----

  onControl(req, res) {
    // One request per connection: a client's fetch reusing a keep-alive connection that this
    // server closed for idleness meanwhile fails a POST with "other side closed" (undici does not
    // retry a POST), which a CI run hit in createHubs.
    res.shouldKeepAlive = false;
    let raw = "";
    req.on("data", (c) => (raw += c));
    req.on("end", () => {
      const send = (status, value) => {
        res.writeHead(status, { "content-type": "application/json" });
        res.end(value === undefined ? "" : JSON.stringify(value));
      };
      let body = {};
      try {
        body = raw === "" ? {} : JSON.parse(raw);
      } catch {
        return send(400, { error: "body is not JSON" });
      }
      const url = new URL(req.url, "http://control");
      if (req.method === "GET" && url.pathname === "/health") return send(200, { ok: true });
      if (req.method === "GET" && url.pathname === "/hubs") return send(200, [...this.hubs.keys()].sort());
      if (req.method === "POST" && url.pathname === "/hubs") {
        const partitions = body.partitions ?? 4;
        if (typeof body.name !== "string" || !/^[A-Za-z0-9][A-Za-z0-9._-]{0,255}$/.test(body.name)) return send(400, { error: "name: letters, digits, . _ -" });
        if (!Number.isInteger(partitions) || partitions < 1 || partitions > 1024) return send(400, { error: "partitions: 1-1024" });
        return this.createHub(body.name, partitions) ? send(201, { name: body.name, partitions }) : send(409, { error: `event hub ${body.name} exists` });
      }
      const hubPath = /^\/hubs\/([^/]+)$/.exec(url.pathname);
      if (req.method === "DELETE" && hubPath !== null) return this.deleteHub(decodeURIComponent(hubPath[1])) ? send(204) : send(404, { error: "no such event hub" });
      if (req.method === "POST" && url.pathname === "/faults") {
        if (Number.isInteger(body.serverBusy)) this.serverBusy = body.serverBusy;
        if (body.stall !== undefined) {
          const p = this.hubs.get(body.stall.hub)?.partitions[Number(body.stall.partition)];
          if (p === undefined) return send(404, { error: "no such partition" });
          for (const r of p.receivers) r.stalled = true;
          return send(200, { stalledReceivers: p.receivers.size });
        }
        if (body.dropOnSessionEnd === false) this.dropOnSessionEnd.clear();
        else if (body.dropOnSessionEnd !== undefined) {
          const hub = body.dropOnSessionEnd?.hub;
          if (typeof hub !== "string" || !this.hubs.has(hub)) return send(404, { error: "dropOnSessionEnd: no such event hub" });
          if (!this.dropOnSessionEnd.has(hub)) this.dropOnSessionEnd.set(hub, 0);
        }
        if (body.dropOnSessionEnd !== undefined) return send(200, { dropOnSessionEnd: Object.fromEntries(this.dropOnSessionEnd) });
        return send(200, { serverBusy: this.serverBusy });
      }
      return send(404, { error: `no route ${req.method} ${url.pathname}` });
    });
  }
}

function newPartition(id) {
  return { id, events: [], begin: 0, nextOffset: 0, receivers: new Set(), owners: new Map() };
}

function notFoundText(name) {
  return `The messaging entity 'sb://${HOST}/${name}' could not be found.`;
}

function detach(link, condition, description) {
  try {
    link.close({ condition, description });
  } catch {
    /* already closed */
  }
}

function linksOf(connection) {
  const out = [];
  for (const session of connection.local_channel_map ? Object.values(connection.local_channel_map) : []) {
    for (const l of Object.values(session.links ?? {})) out.push(l);
  }
  return out;
}

/** The selector filter of a receiver's attach, as a string (undefined when none). */
function filterOf(link) {
  const filter = link.source?.filter;
  if (filter === undefined || filter === null) return undefined;
  const value = filter[SELECTOR_FILTER];
  if (value === undefined) return undefined;
  return String(value?.value ?? value);
}

/** Index in `partition.events` of the first event a filter selects. */
function startIndex(partition, filter) {
  const events = partition.events;
  if (filter === undefined) return events.length; // no filter: only new events
  const m = /^amqp\.annotation\.x-opt-(offset|sequence-number|enqueued-time)\s*(>=|>)\s*'([^']*)'$/.exec(filter.trim());
  if (m === null) throw new Error(`unsupported selector filter: ${filter}`);
  const [, field, op, raw] = m;
  if (field === "offset") {
    if (raw === "-1") return 0;
    if (raw === "@latest") return events.length;
    const offset = Number(raw);
    if (!Number.isFinite(offset)) throw new Error(`bad offset in selector filter: ${raw}`);
    const i = events.findIndex((e) => (op === ">=" ? Number(e.offset) >= offset : Number(e.offset) > offset));
    return i === -1 ? events.length : i;
  }
  if (field === "sequence-number") {
    const seq = Number(raw);
    if (!Number.isInteger(seq)) throw new Error(`bad sequence number in selector filter: ${raw}`);
    const i = events.findIndex((e) => (op === ">=" ? e.seq >= seq : e.seq > seq));
    return i === -1 ? events.length : i;
  }
  const time = Number(raw);
  if (!Number.isFinite(time)) throw new Error(`bad enqueued time in selector filter: ${raw}`);
  const i = events.findIndex((e) => e.enqueuedAt > time);
  return i === -1 ? events.length : i;
}

function fnv1a(text) {
  let h = 0x811c9dc5;
  for (const byte of Buffer.from(text, "utf8")) {
    h ^= byte;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}
