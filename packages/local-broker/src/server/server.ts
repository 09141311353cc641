/**
 * `brook serve`: exposes one LogEngine over the brook:// protocol (../../PROTOCOL.md). Each
 * connection is a pipelined request stream (§9); each remote group member is a proxy
 * GroupMember whose onAssign/onRevoke become ASSIGN/REVOKE pushes (§7); sessions expire
 * without heartbeats and their members are evicted (§7).
 */
import net from "node:net";
import { createHash, timingSafeEqual } from "node:crypto";
import { BrookError, defaultLogger, type Logger } from "@brook/core";
import { toBrookError } from "@brook/core/spi";
import type { LogEngine } from "../engine.js";
import type { GroupMember } from "../coordinator.js";
import { describeGroups } from "../groups.js";
import { errorFrame } from "../wire/codec.js";
import { FrameReader, FrameType, PROTOCOL_VERSION, ProtocolError, REQUEST_TYPES, RESPONSE_BIT, frame, maxFrameBytesFor, type Frame } from "../wire/frames.js";
import {
  decodeCommitRequest,
  decodeCommittedRequest,
  decodeCreateTopicRequest,
  decodeHello,
  decodeJoinRequest,
  decodeLeaveRequest,
  decodeOffsetForTimeRequest,
  decodeTopicNameRequest,
  emptyResponse,
  encodeCommittedResponse,
  encodeHelloOk,
  encodeJoinResponse,
  encodeOffsetForTimeResponse,
  encodePush,
  jsonResponse,
} from "../wire/ops.js";
import { MAX_FETCH_WAIT_MS, decodeAppendRequest, decodeFetchRequest, encodeAppendResponse, encodeFetchResponse } from "../wire/records.js";

export interface ServerOptions {
  /** the engine to serve; the server never closes it */
  engine: LogEngine;
  /** default 127.0.0.1 */
  host?: string;
  /** default 7654; 0 picks a free port (see BrookServer.port) */
  port?: number;
  /** when set, clients must send this token in HELLO (§8) */
  token?: string | undefined;
  logger?: Logger;
  /** a connection silent this long is closed and its members evicted (default 10000) */
  sessionTimeoutMs?: number;
  /** requests worked on at once per connection (default 1024, §9) */
  maxInFlight?: number;
  /** how long a rebalance waits for a member to confirm ASSIGN (default 30000) */
  assignTimeoutMs?: number;
  /** how long a rebalance waits for a member to confirm REVOKE (default 15000) */
  revokeTimeoutMs?: number;
}

export interface BrookServer {
  readonly host: string;
  readonly port: number;
  /** brook://host:port (without the token) */
  readonly url: string;
  /** Stops listening, drops every connection and removes their members from their groups. */
  close(): Promise<void>;
}

interface Settings {
  engine: LogEngine;
  tokenDigest: Buffer | undefined;
  logger: Logger;
  sessionTimeoutMs: number;
  maxInFlight: number;
  maxFrameBytes: number;
  assignTimeoutMs: number;
  revokeTimeoutMs: number;
}

/** Starts a server and resolves once it listens. */
export async function startServer(options: ServerOptions): Promise<BrookServer> {
  if (typeof options !== "object" || options === null || typeof options.engine?.append !== "function") {
    throw new BrookError("INVALID_ARGUMENT", "startServer: options.engine: expected a LogEngine");
  }
  const host = options.host ?? "127.0.0.1";
  const port = options.port ?? 7654;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new BrookError("INVALID_ARGUMENT", `port: expected an integer from 0 to 65535, got ${String(port)}`);
  if (options.token !== undefined && (typeof options.token !== "string" || options.token.length === 0)) {
    throw new BrookError("INVALID_ARGUMENT", "token: expected a non-empty string");
  }
  const sessionTimeoutMs = options.sessionTimeoutMs ?? 10_000;
  if (!(sessionTimeoutMs >= 100)) throw new BrookError("INVALID_ARGUMENT", `sessionTimeoutMs: expected a number >= 100, got ${String(sessionTimeoutMs)}`);
  const maxInFlight = options.maxInFlight ?? 1024;
  if (!Number.isInteger(maxInFlight) || maxInFlight < 1) throw new BrookError("INVALID_ARGUMENT", `maxInFlight: expected an integer >= 1, got ${String(maxInFlight)}`);
  const settings: Settings = {
    engine: options.engine,
    tokenDigest: options.token === undefined ? undefined : digest(options.token),
    logger: options.logger ?? defaultLogger,
    sessionTimeoutMs,
    maxInFlight,
    maxFrameBytes: maxFrameBytesFor(options.engine.maxMessageBytes),
    assignTimeoutMs: options.assignTimeoutMs ?? 30_000,
    revokeTimeoutMs: options.revokeTimeoutMs ?? 15_000,
  };
  const server = new Server(settings);
  return server.listen(host, port);
}

function digest(token: string): Buffer {
  return createHash("sha256").update(token, "utf8").digest();
}

/** The server side of one remote group member (§7). */
class MemberProxy implements GroupMember {
  conn: ServerConnection | undefined;
  /** when the member was last heard from, for eviction once its connection is gone */
  lastSeen = Date.now();
  /** partitions with a REVOKE under way: not reported as owned to a rejoining member */
  readonly revoking = new Set<number>();

  constructor(
    readonly id: string,
    readonly group: string,
    readonly topic: string,
    private readonly settings: Settings,
  ) {}

  attach(conn: ServerConnection): void {
    const old = this.conn;
    if (old === conn) return;
    if (old !== undefined) {
      old.members.delete(this);
      old.resolvePushesOf(this.id);
    }
    this.conn = conn;
    conn.members.add(this);
  }

  detach(): void {
    const conn = this.conn;
    if (conn === undefined) return;
    this.lastSeen = conn.lastSeen;
    conn.members.delete(this);
    conn.resolvePushesOf(this.id);
    this.conn = undefined;
  }

  async onAssign(partitions: number[]): Promise<void> {
    await this.conn?.push(FrameType.ASSIGN, this.id, partitions, this.settings.assignTimeoutMs);
  }

  async onRevoke(partitions: number[]): Promise<void> {
    for (const p of partitions) this.revoking.add(p);
    try {
      await this.conn?.push(FrameType.REVOKE, this.id, partitions, this.settings.revokeTimeoutMs);
    } finally {
      for (const p of partitions) this.revoking.delete(p);
    }
  }
}

interface PendingPush {
  memberId: string;
  done: () => void;
}

const HEARTBEAT_ACK = frame(FrameType.HEARTBEAT | RESPONSE_BIT, 0);

/** What a request handler returns: the response frame, now or later. */
type Reply = Buffer | Promise<Buffer>;

class ServerConnection {
  readonly peer: string;
  readonly members = new Set<MemberProxy>();
  lastSeen = Date.now();
  closed = false;
  private readonly reader: FrameReader;
  private authenticated = false;
  private inFlight = 0;
  private writeBlocked = false;
  private readonly pushes = new Map<number, PendingPush>();
  private nextPushId = 1;
  private readonly fetches = new Map<number, AbortController>();

  constructor(
    private readonly socket: net.Socket,
    private readonly server: Server,
    private readonly settings: Settings,
  ) {
    this.peer = `${socket.remoteAddress ?? "?"}:${socket.remotePort ?? "?"}`;
    this.reader = new FrameReader(settings.maxFrameBytes);
    socket.setNoDelay(true);
    socket.on("data", (chunk: Buffer) => {
      this.lastSeen = Date.now();
      this.reader.push(chunk);
      this.pump();
    });
    socket.on("drain", () => {
      this.writeBlocked = false;
      this.pump();
    });
    socket.on("error", (err) => settings.logger.debug(`connection from ${this.peer}: ${err.message}`));
    socket.on("close", () => this.onClosed());
  }

  /** Busy with a full set of requests: not reading, so silence says nothing (§9). */
  get busy(): boolean {
    return this.inFlight >= this.settings.maxInFlight;
  }

  send(bytes: Buffer): void {
    if (this.closed) return;
    if (!this.socket.write(bytes)) this.writeBlocked = true;
  }

  /** §7: sends ASSIGN/REVOKE and resolves on the member's reply, the bound, or connection loss. */
  push(type: typeof FrameType.ASSIGN | typeof FrameType.REVOKE, memberId: string, partitions: number[], timeoutMs: number): Promise<void> {
    if (this.closed) return Promise.resolve();
    const id = this.nextPushId;
    this.nextPushId = this.nextPushId >= 0xffffffff ? 1 : this.nextPushId + 1;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.settings.logger.warn(`member ${memberId} on ${this.peer} did not confirm ${type === FrameType.ASSIGN ? "ASSIGN" : "REVOKE"} of partitions ${partitions.join(",")} within ${timeoutMs} ms; going on without it`);
        done();
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        this.pushes.delete(id);
        resolve();
      };
      this.pushes.set(id, { memberId, done });
      this.send(encodePush(type, id, memberId, partitions));
    });
  }

  resolvePushesOf(memberId: string): void {
    for (const push of [...this.pushes.values()]) if (push.memberId === memberId) push.done();
  }

  /** Sends a connection-level ERROR (id 0) and closes (§2.1, §7, §8). */
  fail(error: BrookError): void {
    if (this.closed) return;
    this.send(errorFrame(0, error));
    this.closed = true;
    this.socket.end();
    // A peer that never closes its side is cut off.
    setTimeout(() => this.socket.destroy(), 1_000).unref();
  }

  destroy(): void {
    this.closed = true;
    this.socket.destroy();
  }

  /** Reads and starts frames while under the in-flight bound and the socket is writable. */
  private pump(): void {
    while (!this.closed && this.inFlight < this.settings.maxInFlight && !this.writeBlocked) {
      let next: Frame | undefined;
      try {
        next = this.reader.next();
      } catch (err) {
        this.protocolError(err as Error);
        return;
      }
      if (next === undefined) break;
      this.handle(next);
    }
    if (this.closed) return;
    const pause = this.inFlight >= this.settings.maxInFlight || this.writeBlocked;
    if (pause && !this.socket.isPaused()) this.socket.pause();
    else if (!pause && this.socket.isPaused()) this.socket.resume();
  }

  private protocolError(err: Error): void {
    this.settings.logger.warn(`closing connection from ${this.peer}: bad frame: ${err.message}`);
    this.fail(new BrookError("INVALID_ARGUMENT", `bad frame: ${err.message}`));
  }

  private handle(f: Frame): void {
    if (!this.authenticated) {
      if (f.type !== FrameType.HELLO) return this.protocolError(new ProtocolError(`expected HELLO as the first frame, got type 0x${f.type.toString(16)}`));
      return this.hello(f);
    }
    switch (f.type) {
      case FrameType.HEARTBEAT:
        this.send(HEARTBEAT_ACK); // §7: lets the client see that the server is alive
        return;
      case FrameType.CANCEL:
        this.fetches.get(f.id)?.abort();
        return;
      case FrameType.ASSIGN | RESPONSE_BIT:
      case FrameType.REVOKE | RESPONSE_BIT:
        this.pushes.get(f.id)?.done();
        return;
    }
    if (!REQUEST_TYPES.has(f.type)) return this.protocolError(new ProtocolError(`unknown or unexpected frame type 0x${f.type.toString(16)}`));
    if (f.id === 0) return this.protocolError(new ProtocolError("request id 0 is reserved"));
    let reply: Reply;
    try {
      reply = this.server.request(this, f);
    } catch (err) {
      if (err instanceof ProtocolError) return this.protocolError(err);
      this.send(errorFrame(f.id, toBrookError(err)));
      return;
    }
    if (Buffer.isBuffer(reply)) {
      this.send(reply);
      return;
    }
    this.inFlight += 1;
    reply.then(
      (bytes) => this.send(bytes),
      (err: unknown) => this.send(errorFrame(f.id, toBrookError(err))),
    ).finally(() => {
      this.inFlight -= 1;
      this.pump();
    });
  }

  private hello(f: Frame): void {
    let token: unknown;
    try {
      const hello = decodeHello(f.body);
      if (hello.version !== PROTOCOL_VERSION) {
        this.settings.logger.warn(`refused connection from ${this.peer}: protocol version ${String(hello.version)}`);
        return this.fail(new BrookError("UNSUPPORTED", `protocol version ${String(hello.version)} is not supported; this server speaks version ${PROTOCOL_VERSION}`));
      }
      token = hello.token;
    } catch (err) {
      return this.protocolError(err as Error);
    }
    const expected = this.settings.tokenDigest;
    if (expected !== undefined) {
      const given = typeof token === "string" ? digest(token) : undefined;
      if (given === undefined || !timingSafeEqual(given, expected)) {
        const why = given === undefined ? "no token given" : "wrong token";
        this.settings.logger.warn(`refused connection from ${this.peer}: ${why}`);
        return this.fail(
          new BrookError("UNAUTHENTICATED", `authentication failed (${why}): this server needs its token, e.g. brook://host:port?token=… or BROOK_TOKEN`),
        );
      }
    }
    this.authenticated = true;
    this.send(
      encodeHelloOk(f.id, {
        maxMessageBytes: this.settings.engine.maxMessageBytes,
        maxFrameBytes: this.settings.maxFrameBytes,
        maxInFlight: this.settings.maxInFlight,
        sessionTimeoutMs: this.settings.sessionTimeoutMs,
        heartbeatIntervalMs: Math.max(10, Math.floor(this.settings.sessionTimeoutMs / 3)),
      }),
    );
  }

  /** A FETCH under way, so CANCEL and connection loss can end its wait. */
  trackFetch(id: number): AbortController {
    const controller = new AbortController();
    this.fetches.set(id, controller);
    return controller;
  }

  untrackFetch(id: number): void {
    this.fetches.delete(id);
  }

  private onClosed(): void {
    this.closed = true;
    for (const push of [...this.pushes.values()]) push.done();
    for (const controller of this.fetches.values()) controller.abort();
    this.fetches.clear();
    this.server.connectionClosed(this);
  }
}

class Server {
  private readonly connections = new Set<ServerConnection>();
  private readonly members = new Map<string, MemberProxy>();
  private listener: net.Server | undefined;
  private sessionTimer: NodeJS.Timeout | undefined;
  private closing = false;

  constructor(private readonly settings: Settings) {}

  get engine(): LogEngine {
    return this.settings.engine;
  }

  listen(host: string, port: number): Promise<BrookServer> {
    const listener = net.createServer((socket) => {
      if (this.closing) {
        socket.destroy();
        return;
      }
      this.connections.add(new ServerConnection(socket, this, this.settings));
    });
    this.listener = listener;
    return new Promise((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException): void => {
        reject(new BrookError(err.code === "EADDRINUSE" ? "UNAVAILABLE" : "INTERNAL", `cannot listen on ${host}:${port}: ${err.message}`, { cause: err }));
      };
      listener.once("error", onError);
      listener.listen(port, host, () => {
        listener.off("error", onError);
        listener.on("error", (err) => this.settings.logger.error(`server error: ${err.message}`));
        const bound = (listener.address() as net.AddressInfo).port;
        const every = Math.max(25, Math.min(1_000, Math.floor(this.settings.sessionTimeoutMs / 4)));
        this.sessionTimer = setInterval(() => this.checkSessions(), every);
        this.sessionTimer.unref();
        const displayHost = host.includes(":") ? `[${host}]` : host;
        resolve({ host, port: bound, url: `brook://${displayHost}:${bound}`, close: () => this.close() });
      });
    });
  }

  connectionClosed(conn: ServerConnection): void {
    this.connections.delete(conn);
    // Members stay in their groups until their session runs out: a quick reconnect keeps them (§7).
    for (const member of [...conn.members]) member.detach();
  }

  /** Decodes a request (synchronously, so a bad frame is caught before any work) and starts it. */
  request(conn: ServerConnection, f: Frame): Reply {
    const engine = this.engine;
    const id = f.id;
    const done = (): Buffer => emptyResponse(f.type, id);
    switch (f.type) {
      case FrameType.APPEND: {
        const { topic, messages } = decodeAppendRequest(f.body);
        return engine.append(topic, messages).then((results) => encodeAppendResponse(id, results));
      }
      case FrameType.FETCH: {
        const req = decodeFetchRequest(f.body);
        const controller = conn.trackFetch(id);
        return engine
          .fetch(req.topic, req.partition, req.offset, Math.min(req.maxRecords, 65_536), Math.min(req.waitMs, MAX_FETCH_WAIT_MS), controller.signal)
          .then((res) => encodeFetchResponse(id, res.endOffset, res.records, this.settings.maxFrameBytes))
          .finally(() => conn.untrackFetch(id));
      }
      case FrameType.CREATE_TOPIC: {
        const { name, config, ifNotExists } = decodeCreateTopicRequest(f.body);
        return engine.createTopic(name, config, ifNotExists).then(done);
      }
      case FrameType.DELETE_TOPIC:
        return engine.deleteTopic(decodeTopicNameRequest(f.body)).then(done);
      case FrameType.LIST_TOPICS:
        return jsonResponse(f.type, id, engine.topicNames());
      case FrameType.DESCRIBE_TOPIC:
        return engine.describeTopic(decodeTopicNameRequest(f.body)).then((d) => jsonResponse(f.type, id, d));
      case FrameType.OFFSET_FOR_TIME: {
        const { topic, partition, time } = decodeOffsetForTimeRequest(f.body);
        return engine.offsetForTime(topic, partition, time).then((offset) => encodeOffsetForTimeResponse(id, offset));
      }
      case FrameType.COMMITTED: {
        const { group, topic } = decodeCommittedRequest(f.body);
        return encodeCommittedResponse(id, engine.store.metadata.committed(group, topic));
      }
      case FrameType.COMMIT: {
        const { group, topic, offsets } = decodeCommitRequest(f.body);
        return engine.commit(group, topic, offsets).then(done);
      }
      case FrameType.JOIN: {
        const { group, topic, memberId, rejoin } = decodeJoinRequest(f.body);
        return this.join(conn, id, group, topic, memberId, rejoin);
      }
      case FrameType.LEAVE: {
        const { group, topic, memberId } = decodeLeaveRequest(f.body);
        const member = this.members.get(memberId);
        if (member !== undefined) {
          this.members.delete(memberId);
          member.detach();
        }
        return engine.coordinator.leave(group, topic, memberId).then(done);
      }
      case FrameType.DESCRIBE_GROUPS:
        return jsonResponse(f.type, id, describeGroups(engine));
      default:
        throw new ProtocolError(`unknown request type 0x${f.type.toString(16)}`);
    }
  }

  /** §7 JOIN. A rejoin answers synchronously, so no push can overtake the answer. */
  private join(conn: ServerConnection, id: number, group: string, topic: string, memberId: string, rejoin: boolean): Reply {
    this.engine.topic(topic); // TOPIC_NOT_FOUND before anything else
    const existing = this.members.get(memberId);
    if (existing !== undefined) {
      if (existing.group !== group || existing.topic !== topic) {
        throw new BrookError("INVALID_ARGUMENT", `memberId ${memberId} already belongs to group "${existing.group}" of topic "${existing.topic}"`);
      }
      existing.attach(conn);
      const partitions: number[] = [];
      for (const [p, owner] of this.engine.coordinator.assignment(group, topic)) {
        if (owner === memberId && !existing.revoking.has(p)) partitions.push(p);
      }
      partitions.sort((a, b) => a - b);
      return encodeJoinResponse(id, { status: "rejoined", partitions });
    }
    if (rejoin) return encodeJoinResponse(id, { status: "unknown" });
    const member = new MemberProxy(memberId, group, topic, this.settings);
    member.attach(conn);
    this.members.set(memberId, member);
    return this.engine.coordinator.join(group, topic, member).then(() => encodeJoinResponse(id, { status: "joined" }));
  }

  private evict(member: MemberProxy, why: string): void {
    if (this.members.get(member.id) !== member) return;
    this.members.delete(member.id);
    member.detach();
    this.settings.logger.info(`evicted member ${member.id} of group "${member.group}" (topic "${member.topic}"): ${why}`);
    void this.engine.coordinator.leave(member.group, member.topic, member.id).catch((err) => {
      this.settings.logger.warn(`rebalance after evicting ${member.id} failed: ${toBrookError(err).message}`);
    });
  }

  /** §7: closes silent connections and evicts members whose session ran out. */
  private checkSessions(): void {
    const now = Date.now();
    const timeout = this.settings.sessionTimeoutMs;
    for (const conn of [...this.connections]) {
      if (conn.closed || conn.busy || now - conn.lastSeen <= timeout) continue;
      this.settings.logger.warn(`closing connection from ${conn.peer}: no heartbeat for ${now - conn.lastSeen} ms (session timeout ${timeout} ms)`);
      const members = [...conn.members];
      conn.fail(new BrookError("TIMEOUT", `session expired: nothing received for ${timeout} ms`));
      for (const member of members) this.evict(member, `session expired (no heartbeat for ${timeout} ms)`);
    }
    for (const member of [...this.members.values()]) {
      if (member.conn === undefined && now - member.lastSeen > timeout) {
        this.evict(member, `connection lost and not re-established within the session timeout (${timeout} ms)`);
      }
    }
  }

  private async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    if (this.sessionTimer !== undefined) clearInterval(this.sessionTimer);
    const listener = this.listener;
    const stopped = new Promise<void>((resolve) => (listener === undefined ? resolve() : listener.close(() => resolve())));
    for (const conn of [...this.connections]) conn.destroy();
    // The server's members go with it, as they would if the process ended.
    const leaving = [...this.members.values()].map((member) => {
      this.members.delete(member.id);
      member.detach();
      return this.engine.coordinator.leave(member.group, member.topic, member.id).catch(() => undefined);
    });
    await Promise.all(leaving);
    await stopped;
  }
}
