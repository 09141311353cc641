/**
 * `EngineApi` over TCP to `brook serve` (../../PROTOCOL.md). LocalBroker runs unchanged on it:
 * requests are pipelined on one connection (§9), group members get ASSIGN/REVOKE pushes (§7),
 * and a lost connection is re-established with backoff, after which members re-join.
 */
import net from "node:net";
import { BrookError, defaultLogger, isBrookError, type Logger, type PublishBatchResult } from "@brook/core";
import { invalidArgument, runWithRetry, toBrookError, type WireMessage } from "@brook/core/spi";
import type { CreateTopicConfig, EngineApi, FetchResult, GroupDescription, TopicDetails } from "../engine-api.js";
import type { GroupMember } from "../coordinator.js";
import { decodeError } from "../wire/codec.js";
import { DEFAULT_MAX_FRAME_BYTES, FrameReader, FrameType, ProtocolError, RESPONSE_BIT, frame, setFrameId, type Frame } from "../wire/frames.js";
import {
  decodeCommittedResponse,
  decodeDescribeGroupsResponse,
  decodeDescribeTopicResponse,
  decodeHelloOk,
  decodeJoinResponse,
  decodeListTopicsResponse,
  decodeOffsetForTimeResponse,
  decodePush,
  emptyRequest,
  emptyResponse,
  encodeCommitRequest,
  encodeCommittedRequest,
  encodeCreateTopicRequest,
  encodeHello,
  encodeJoinRequest,
  encodeLeaveRequest,
  encodeOffsetForTimeRequest,
  encodeTopicNameRequest,
  type JoinAnswer,
  type ServerHello,
} from "../wire/ops.js";
import { decodeAppendResponse, decodeFetchResponse, encodeAppendRequest, encodeFetchRequest } from "../wire/records.js";

export interface RemoteEngineOptions {
  host?: string;
  port?: number;
  token?: string | undefined;
  /** TCP connect plus HELLO, per attempt (default 5000) */
  connectTimeoutMs?: number;
  /** per request; FETCH gets its wait on top (default 30000) */
  requestTimeoutMs?: number;
  /** requests outstanding at most (default 1024; the server's limit also applies) */
  maxInFlight?: number;
  /** reconnect attempts after a connection loss (default unlimited) and their backoff */
  reconnect?: { maxAttempts?: number; minDelayMs?: number; maxDelayMs?: number };
  logger?: Logger;
}

interface Pending {
  type: number;
  bytes: Buffer;
  /** 0 until sent */
  id: number;
  decode: (body: Buffer) => unknown;
  resolve: (value: unknown) => void;
  reject: (error: BrookError) => void;
  /** runs as the response frame is dispatched, before any later frame (JOIN, §7) */
  onResponse: ((value: unknown) => void) | undefined;
  timer: NodeJS.Timeout | undefined;
  settled: boolean;
}

interface MemberEntry {
  group: string;
  topic: string;
  member: GroupMember;
  /** partitions this member consumes, as far as this client knows */
  owned: Set<number>;
  /** pushes and re-joins of one member run one at a time, in arrival order */
  chain: Promise<void>;
  /** its first JOIN succeeded, so it re-joins after a reconnect */
  joined: boolean;
}

/** One TCP connection: frames in, bytes out, and whether the socket wants us to wait. */
class Connection {
  readonly reader = new FrameReader(DEFAULT_MAX_FRAME_BYTES);
  writeBlocked = false;
  closed = false;
  /** when the server last sent anything (it answers every HEARTBEAT, §7) */
  lastReceived = Date.now();
  /** a connection-level ERROR from the server (session expired, bad frame), for messages */
  reason: BrookError | undefined;
  onFrame: (f: Frame) => void = () => undefined;
  onDrain: () => void = () => undefined;
  onClose: () => void = () => undefined;
  private lastError: Error | undefined;

  constructor(
    readonly socket: net.Socket,
    private readonly logger: Logger,
  ) {
    socket.setNoDelay(true);
    socket.on("data", (chunk: Buffer) => {
      this.lastReceived = Date.now();
      this.reader.push(chunk);
      try {
        for (let f = this.reader.next(); f !== undefined && !this.closed; f = this.reader.next()) this.onFrame(f);
      } catch (err) {
        // A bad frame (§2.1), or a bug while handling one: this connection cannot be trusted any more.
        const what = err instanceof ProtocolError ? "bad frame from the server" : "failed to handle a frame from the server";
        this.logger.error(`brook client: ${what}, closing the connection: ${(err as Error).message}`);
        this.reason = new BrookError("UNAVAILABLE", `${what}: ${(err as Error).message}`);
        this.destroy();
      }
    });
    socket.on("drain", () => {
      this.writeBlocked = false;
      this.onDrain();
    });
    socket.on("error", (err) => (this.lastError = err));
    socket.on("close", () => {
      this.closed = true;
      this.onClose();
    });
  }

  get why(): string {
    if (this.reason !== undefined) return `: ${this.reason.code} ${this.reason.message}`;
    return this.lastError === undefined ? "" : `: ${this.lastError.message}`;
  }

  write(bytes: Buffer): void {
    if (this.closed) return;
    if (!this.socket.write(bytes)) this.writeBlocked = true;
  }

  destroy(): void {
    this.closed = true;
    this.socket.destroy();
  }
}

/** A FIFO of requests waiting to be sent; timed-out entries are skipped lazily. */
class RequestQueue {
  private items: Pending[] = [];
  private head = 0;

  get size(): number {
    return this.items.length - this.head;
  }

  push(p: Pending): void {
    this.items.push(p);
  }

  shift(): Pending | undefined {
    while (this.head < this.items.length) {
      const p = this.items[this.head++]!;
      if (this.head > 1024 && this.head * 2 > this.items.length) {
        this.items = this.items.slice(this.head);
        this.head = 0;
      }
      if (!p.settled) return p;
    }
    return undefined;
  }

  drain(): Pending[] {
    const out = this.items.slice(this.head).filter((p) => !p.settled);
    this.items = [];
    this.head = 0;
    return out;
  }
}

export class RemoteEngineApi implements EngineApi {
  readonly url: string;
  maxMessageBytes = 0;
  private maxFrameBytes = DEFAULT_MAX_FRAME_BYTES;
  private readonly host: string;
  private readonly port: number;
  private readonly token: string | undefined;
  private readonly connectTimeoutMs: number;
  private readonly requestTimeoutMs: number;
  private maxInFlight: number;
  private readonly reconnectPolicy: { maxAttempts: number; minDelayMs: number; maxDelayMs: number };
  private readonly logger: Logger;
  private conn: Connection | undefined;
  private state: "connected" | "reconnecting" | "failed" | "closed" = "reconnecting";
  private failure: BrookError | undefined;
  private readonly inFlight = new Map<number, Pending>();
  private readonly queue = new RequestQueue();
  private nextId = 1;
  private readonly members = new Map<string, MemberEntry>();
  private heartbeat: NodeJS.Timeout | undefined;
  private reconnectAbort: AbortController | undefined;
  /** the connection being opened, so close() can end it */
  private opening: Connection | undefined;

  private constructor(options: RemoteEngineOptions) {
    this.host = options.host ?? "127.0.0.1";
    this.port = options.port ?? 7654;
    this.token = options.token;
    this.connectTimeoutMs = options.connectTimeoutMs ?? 5_000;
    this.requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
    this.maxInFlight = options.maxInFlight ?? 1024;
    this.reconnectPolicy = {
      maxAttempts: options.reconnect?.maxAttempts ?? Number.POSITIVE_INFINITY,
      minDelayMs: options.reconnect?.minDelayMs ?? 50,
      maxDelayMs: options.reconnect?.maxDelayMs ?? 2_000,
    };
    this.logger = options.logger ?? defaultLogger;
    const host = this.host.includes(":") ? `[${this.host}]` : this.host;
    this.url = `brook://${host}:${this.port}`;
  }

  /** Connects (one attempt, bounded by connectTimeoutMs) and says HELLO; fails with UNAVAILABLE or UNAUTHENTICATED. */
  static async connect(options: RemoteEngineOptions = {}): Promise<RemoteEngineApi> {
    const api = new RemoteEngineApi(options);
    const { conn, hello } = await api.open();
    api.adopt(conn, hello);
    return api;
  }

  // ---- EngineApi ----

  async createTopic(name: string, config: CreateTopicConfig, ifNotExists: boolean): Promise<void> {
    for (const key of ["partitions", "retentionMs", "retentionBytes"] as const) {
      const v = config[key];
      if (v !== undefined && (typeof v !== "number" || !Number.isFinite(v))) throw invalidArgument(key, "a finite number", v);
    }
    await this.call(FrameType.CREATE_TOPIC, encodeCreateTopicRequest(name, config, ifNotExists), ignore);
  }

  async deleteTopic(name: string): Promise<void> {
    await this.call(FrameType.DELETE_TOPIC, encodeTopicNameRequest(FrameType.DELETE_TOPIC, name), ignore);
  }

  listTopics(): Promise<string[]> {
    return this.call(FrameType.LIST_TOPICS, emptyRequest(FrameType.LIST_TOPICS), decodeListTopicsResponse);
  }

  describeTopic(name: string): Promise<TopicDetails> {
    return this.call(FrameType.DESCRIBE_TOPIC, encodeTopicNameRequest(FrameType.DESCRIBE_TOPIC, name), decodeDescribeTopicResponse);
  }

  append(topic: string, messages: readonly WireMessage[]): Promise<PublishBatchResult[]> {
    let bytes: Buffer;
    try {
      bytes = encodeAppendRequest(topic, messages);
    } catch (err) {
      return Promise.reject(toBrookError(err, "INVALID_ARGUMENT"));
    }
    if (bytes.length - 4 > this.maxFrameBytes) {
      // §2.1: the server would take it for a bad frame and drop the connection.
      return Promise.reject(
        new BrookError("MESSAGE_TOO_LARGE", `a batch of ${messages.length} messages encodes to ${bytes.length} bytes, above the server's frame limit of ${this.maxFrameBytes}; send smaller batches`),
      );
    }
    return this.call(FrameType.APPEND, bytes, decodeAppendResponse);
  }

  async fetch(topic: string, partition: number, offset: number, maxRecords: number, waitMs: number, signal?: AbortSignal): Promise<FetchResult> {
    checkInt("partition", partition);
    checkInt("offset", offset);
    checkInt("maxRecords", maxRecords);
    const empty: FetchResult = { records: [], endOffset: offset };
    if (signal?.aborted === true) return empty;
    const wait = Math.max(0, Math.floor(waitMs));
    return this.call(FrameType.FETCH, encodeFetchRequest({ topic, partition, offset, maxRecords, waitMs: wait }), decodeFetchResponse, {
      timeoutMs: this.requestTimeoutMs + wait,
      ...(signal === undefined ? {} : { signal, abortValue: empty }),
    });
  }

  async offsetForTime(topic: string, partition: number, time: number): Promise<number> {
    checkInt("partition", partition);
    return this.call(FrameType.OFFSET_FOR_TIME, encodeOffsetForTimeRequest(topic, partition, time), decodeOffsetForTimeResponse);
  }

  committed(group: string, topic: string): Promise<Map<number, number>> {
    return this.call(FrameType.COMMITTED, encodeCommittedRequest(group, topic), decodeCommittedResponse);
  }

  async commit(group: string, topic: string, offsets: Map<number, number>): Promise<void> {
    for (const [partition, next] of offsets) {
      checkInt("partition", partition);
      checkInt("offset", next);
    }
    await this.call(FrameType.COMMIT, encodeCommitRequest(group, topic, offsets), ignore);
  }

  /** Joins; ASSIGN pushes this causes reach `member` before this resolves (§7). */
  async join(group: string, topic: string, member: GroupMember): Promise<void> {
    const entry: MemberEntry = { group, topic, member, owned: new Set(), chain: Promise.resolve(), joined: false };
    this.members.set(member.id, entry);
    try {
      await this.call(FrameType.JOIN, encodeJoinRequest({ group, topic, memberId: member.id, rejoin: false }), ignore, {
        timeoutMs: this.requestTimeoutMs * 2,
      });
      entry.joined = true;
    } catch (err) {
      if (this.members.get(member.id) === entry) this.members.delete(member.id);
      // The join may have been applied before the connection dropped: take it back.
      if (isBrookError(err) && (err.code === "UNAVAILABLE" || err.code === "TIMEOUT")) void this.sendLeave(group, topic, member.id).catch(() => undefined);
      throw err;
    }
  }

  async leave(group: string, topic: string, memberId: string): Promise<void> {
    this.members.delete(memberId);
    await this.sendLeave(group, topic, memberId);
  }

  describeGroups(): Promise<GroupDescription[]> {
    return this.call(FrameType.DESCRIBE_GROUPS, emptyRequest(FrameType.DESCRIBE_GROUPS), decodeDescribeGroupsResponse);
  }

  async close(): Promise<void> {
    if (this.state === "closed") return;
    this.state = "closed";
    this.reconnectAbort?.abort();
    this.opening?.destroy();
    this.stopHeartbeat();
    const error = new BrookError("CLOSED", `the connection to ${this.url} is closed`);
    this.failAll(error);
    this.members.clear();
    const conn = this.conn;
    this.conn = undefined;
    if (conn !== undefined && !conn.closed) {
      const closed = new Promise<void>((resolve) => conn.socket.once("close", () => resolve()));
      conn.destroy();
      await closed;
    }
  }

  /** For tests: the socket of the current connection, to simulate failures. */
  get socketForTesting(): net.Socket | undefined {
    return this.conn?.socket;
  }

  // ---- requests (§9) ----

  private call<R>(
    type: number,
    bytes: Buffer,
    decode: (body: Buffer) => R,
    extra: { timeoutMs?: number; signal?: AbortSignal; abortValue?: R; onResponse?: (value: R) => void } = {},
  ): Promise<R> {
    if (this.state === "closed") return Promise.reject(new BrookError("CLOSED", `the connection to ${this.url} is closed`));
    if (this.state === "failed") return Promise.reject(this.failure!);
    return new Promise<R>((resolve, reject) => {
      const p: Pending = {
        type,
        bytes,
        id: 0,
        decode,
        resolve: resolve as (value: unknown) => void,
        reject,
        onResponse: extra.onResponse as ((value: unknown) => void) | undefined,
        timer: undefined,
        settled: false,
      };
      const timeoutMs = extra.timeoutMs ?? this.requestTimeoutMs;
      p.timer = setTimeout(() => this.expire(p, timeoutMs), timeoutMs);
      const signal = extra.signal;
      if (signal !== undefined) {
        const onAbort = (): void => {
          if (p.settled) return;
          this.forget(p);
          resolve(extra.abortValue as R);
        };
        signal.addEventListener("abort", onAbort, { once: true });
        const settle = p.resolve;
        const fail = p.reject;
        p.resolve = (v) => {
          signal.removeEventListener("abort", onAbort);
          settle(v);
        };
        p.reject = (e) => {
          signal.removeEventListener("abort", onAbort);
          fail(e);
        };
      }
      if (this.canSend()) this.transmit(p);
      else this.queue.push(p);
    });
  }

  private canSend(): boolean {
    const conn = this.conn;
    return this.state === "connected" && conn !== undefined && !conn.closed && !conn.writeBlocked && this.inFlight.size < this.maxInFlight;
  }

  private transmit(p: Pending): void {
    let id = this.nextId;
    while (this.inFlight.has(id)) id = id >= 0xffffffff ? 1 : id + 1;
    this.nextId = id >= 0xffffffff ? 1 : id + 1;
    p.id = id;
    setFrameId(p.bytes, id);
    this.inFlight.set(id, p);
    this.conn!.write(p.bytes);
  }

  private flushQueue(): void {
    while (this.queue.size > 0 && this.canSend()) {
      const p = this.queue.shift();
      if (p === undefined) break;
      this.transmit(p);
    }
  }

  /** Takes a request off the books without an answer (timeout, abort); cancels a FETCH on the server. */
  private forget(p: Pending): void {
    p.settled = true;
    if (p.timer !== undefined) clearTimeout(p.timer);
    if (p.id !== 0 && this.inFlight.get(p.id) === p) {
      this.inFlight.delete(p.id);
      if (p.type === FrameType.FETCH) this.conn?.write(frame(FrameType.CANCEL, p.id));
      this.flushQueue();
    }
  }

  private expire(p: Pending, timeoutMs: number): void {
    if (p.settled) return;
    const sent = p.id !== 0;
    this.forget(p);
    p.reject(
      sent || this.state === "connected"
        ? new BrookError("TIMEOUT", `request 0x${p.type.toString(16)} to ${this.url} got no answer within ${timeoutMs} ms`)
        : new BrookError("UNAVAILABLE", `not connected to ${this.url} (reconnecting); the request waited ${timeoutMs} ms`),
    );
  }

  private settle(p: Pending): void {
    p.settled = true;
    if (p.timer !== undefined) clearTimeout(p.timer);
  }

  private failAll(error: BrookError): void {
    for (const p of this.inFlight.values()) {
      this.settle(p);
      p.reject(error);
    }
    this.inFlight.clear();
    for (const p of this.queue.drain()) {
      this.settle(p);
      p.reject(error);
    }
  }

  // ---- frames from the server ----

  private onFrame(conn: Connection, f: Frame): void {
    if (f.type === FrameType.ASSIGN || f.type === FrameType.REVOKE) {
      this.onPush(conn, f);
      return;
    }
    if (f.id === 0) {
      if (f.type === FrameType.ERROR) {
        conn.reason = decodeError(f.body);
        this.logger.warn(`${this.url} is closing the connection: ${conn.reason.code} ${conn.reason.message}`);
      }
      return;
    }
    const p = this.inFlight.get(f.id);
    if (p === undefined) return; // timed out or aborted: the late answer is dropped
    this.inFlight.delete(f.id);
    this.settle(p);
    if (f.type === FrameType.ERROR) {
      p.reject(decodeError(f.body));
    } else if (f.type !== (p.type | RESPONSE_BIT)) {
      p.reject(new BrookError("INTERNAL", `answer of type 0x${f.type.toString(16)} to request 0x${p.type.toString(16)}`));
    } else {
      let value: unknown;
      try {
        value = p.decode(f.body);
      } catch (err) {
        p.reject(new BrookError("INTERNAL", `bad answer from ${this.url}: ${(err as Error).message}`, { cause: err }));
        this.flushQueue();
        return;
      }
      p.onResponse?.(value);
      p.resolve(value);
    }
    this.flushQueue();
  }

  /** §7: ASSIGN / REVOKE for one of our members; the reply goes out once the member is done. */
  private onPush(conn: Connection, f: Frame): void {
    const { memberId, partitions } = decodePush(f.body);
    const reply = (): void => {
      if (conn === this.conn) conn.write(emptyResponse(f.type, f.id));
    };
    const entry = this.members.get(memberId);
    if (entry === undefined) {
      reply();
      return;
    }
    const task =
      f.type === FrameType.ASSIGN
        ? async () => {
            const fresh = partitions.filter((p) => !entry.owned.has(p));
            for (const p of fresh) entry.owned.add(p);
            if (fresh.length > 0) await entry.member.onAssign(fresh);
          }
        : async () => {
            const held = partitions.filter((p) => entry.owned.has(p));
            for (const p of held) entry.owned.delete(p);
            if (held.length > 0) await entry.member.onRevoke(held);
          };
    void this.enqueue(entry, task).then(reply);
  }

  private enqueue(entry: MemberEntry, task: () => Promise<void>): Promise<void> {
    const run = entry.chain.then(task).catch((err) => {
      this.logger.warn(`group member ${entry.member.id} (group "${entry.group}"): ${toBrookError(err).message}`);
    });
    entry.chain = run;
    return run;
  }

  // ---- connection lifecycle ----

  /** One attempt: TCP connect, HELLO, HELLO_OK, all within connectTimeoutMs. */
  private open(): Promise<{ conn: Connection; hello: ServerHello }> {
    return new Promise((resolve, reject) => {
      if (this.state === "closed") {
        reject(new BrookError("CLOSED", `the connection to ${this.url} is closed`));
        return;
      }
      const socket = net.connect({ host: this.host, port: this.port });
      const conn = new Connection(socket, this.logger);
      this.opening = conn;
      let done = false;
      const finish = (error: BrookError | undefined, hello?: ServerHello): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        if (this.opening === conn) this.opening = undefined;
        if (error !== undefined) {
          conn.onClose = () => undefined;
          conn.destroy();
          reject(error);
        } else {
          resolve({ conn, hello: hello! });
        }
      };
      const timer = setTimeout(
        () => finish(new BrookError("UNAVAILABLE", `cannot connect to ${this.url}: no answer within ${this.connectTimeoutMs} ms`)),
        this.connectTimeoutMs,
      );
      socket.once("error", (err) => finish(new BrookError("UNAVAILABLE", `cannot connect to ${this.url}: ${err.message}`, { cause: err })));
      conn.onClose = () => finish(conn.reason ?? new BrookError("UNAVAILABLE", `cannot connect to ${this.url}: the server closed the connection${conn.why}`));
      conn.onFrame = (f) => {
        if (f.type === FrameType.ERROR) {
          const error = decodeError(f.body);
          conn.reason = error;
          finish(error);
          return;
        }
        if (f.type !== (FrameType.HELLO | RESPONSE_BIT)) {
          finish(new BrookError("UNAVAILABLE", `${this.url} did not answer HELLO (got frame type 0x${f.type.toString(16)}); is it a brook server?`));
          return;
        }
        try {
          finish(undefined, decodeHelloOk(f.body));
        } catch (err) {
          finish(new BrookError("UNAVAILABLE", `${this.url} sent a bad HELLO_OK: ${(err as Error).message}`));
        }
      };
      socket.once("connect", () => conn.write(encodeHello(this.token)));
    });
  }

  /** Makes a fresh connection the current one and sends what waited for it. */
  private adopt(conn: Connection, hello: ServerHello): void {
    this.conn = conn;
    this.state = "connected";
    this.maxMessageBytes = hello.maxMessageBytes;
    this.maxFrameBytes = hello.maxFrameBytes;
    this.maxInFlight = Math.min(this.maxInFlight, Math.max(1, hello.maxInFlight));
    conn.reader.maxFrameBytes = hello.maxFrameBytes;
    conn.onFrame = (f) => this.onFrame(conn, f);
    conn.onDrain = () => this.flushQueue();
    conn.onClose = () => this.connectionLost(conn);
    this.stopHeartbeat();
    const beat = frame(FrameType.HEARTBEAT, 0);
    this.heartbeat = setInterval(() => {
      // §7: a server silent for a whole session (a hung process, a dead network path) is given up on.
      const silentMs = Date.now() - conn.lastReceived;
      if (silentMs > hello.sessionTimeoutMs) {
        conn.reason = new BrookError("UNAVAILABLE", `no answer from the server for ${silentMs} ms`);
        conn.destroy();
        return;
      }
      conn.write(beat);
    }, Math.max(10, hello.heartbeatIntervalMs));
    this.heartbeat.unref();
    // It may have dropped between HELLO_OK and now; then reconnect right away.
    if (conn.closed) this.connectionLost(conn);
    else this.flushQueue();
  }

  private stopHeartbeat(): void {
    if (this.heartbeat !== undefined) clearInterval(this.heartbeat);
    this.heartbeat = undefined;
  }

  /** §9: what was in flight fails with UNAVAILABLE; what waits in the queue waits for the reconnect. */
  private connectionLost(conn: Connection): void {
    if (conn !== this.conn) return;
    this.conn = undefined;
    this.stopHeartbeat();
    const lost = new BrookError(
      "UNAVAILABLE",
      `connection to ${this.url} lost${conn.why}; the request was in flight and may or may not have been applied`,
    );
    for (const p of this.inFlight.values()) {
      this.settle(p);
      p.reject(lost);
    }
    this.inFlight.clear();
    if (this.state !== "connected") return;
    this.state = "reconnecting";
    this.logger.warn(`connection to ${this.url} lost${conn.why}; reconnecting`);
    void this.reconnect();
  }

  private async reconnect(): Promise<void> {
    const abort = new AbortController();
    this.reconnectAbort = abort;
    try {
      const { conn, hello } = await runWithRetry(this.reconnectPolicy, () => this.open(), {
        signal: abort.signal,
        shouldRetry: (err) => !(isBrookError(err) && (err.code === "UNAUTHENTICATED" || err.code === "UNSUPPORTED")) && this.state === "reconnecting",
        onFailedAttempt: (err, attempt) => this.logger.debug(`reconnect attempt ${attempt} to ${this.url} failed: ${toBrookError(err).message}`),
      });
      if (this.state !== "reconnecting") {
        conn.destroy();
        return;
      }
      this.adopt(conn, hello);
      if (this.conn !== conn) return; // lost again at once; that reconnect re-joins
      this.logger.info(`reconnected to ${this.url}`);
      await this.rejoinAll();
    } catch (err) {
      if (this.state !== "reconnecting") return;
      this.state = "failed";
      this.failure = new BrookError(toBrookError(err).code === "UNAUTHENTICATED" ? "UNAUTHENTICATED" : "UNAVAILABLE", `gave up reconnecting to ${this.url}: ${toBrookError(err).message}`, {
        cause: err,
      });
      this.logger.error(this.failure.message);
      this.failAll(this.failure);
    }
  }

  /** §7: every joined member takes its partitions back, or releases them and joins afresh. */
  private async rejoinAll(): Promise<void> {
    await Promise.all(
      [...this.members].map(([memberId, entry]) =>
        entry.joined
          ? this.rejoin(memberId, entry).catch((err) => this.logger.warn(`member ${memberId} (group "${entry.group}") could not re-join: ${toBrookError(err).message}`))
          : Promise.resolve(),
      ),
    );
  }

  private async rejoin(memberId: string, entry: MemberEntry): Promise<void> {
    const { group, topic } = entry;
    const answer = await this.call<JoinAnswer>(FrameType.JOIN, encodeJoinRequest({ group, topic, memberId, rejoin: true }), decodeJoinResponse, {
      // Runs before any push that follows the answer, so the member's view stays in order.
      onResponse: (value) => {
        if (value.status === "rejoined") void this.enqueue(entry, () => this.reconcile(entry, value.partitions));
      },
    });
    if (answer.status === "rejoined") return;
    // The server no longer knows the member (it restarted, or evicted us): let go, then join afresh.
    await this.enqueue(entry, async () => {
      const held = [...entry.owned];
      entry.owned.clear();
      if (held.length > 0) await entry.member.onRevoke(held);
    });
    if (this.members.get(memberId) !== entry) return;
    await this.call(FrameType.JOIN, encodeJoinRequest({ group, topic, memberId, rejoin: false }), ignore, { timeoutMs: this.requestTimeoutMs * 2 });
  }

  private async reconcile(entry: MemberEntry, serverPartitions: number[]): Promise<void> {
    const server = new Set(serverPartitions);
    const lost = [...entry.owned].filter((p) => !server.has(p));
    const gained = serverPartitions.filter((p) => !entry.owned.has(p));
    for (const p of lost) entry.owned.delete(p);
    if (lost.length > 0) await entry.member.onRevoke(lost);
    for (const p of gained) entry.owned.add(p);
    if (gained.length > 0) await entry.member.onAssign(gained);
  }

  private sendLeave(group: string, topic: string, memberId: string): Promise<void> {
    return this.call(FrameType.LEAVE, encodeLeaveRequest(group, topic, memberId), ignore);
  }
}

function ignore(): undefined {
  return undefined;
}

function checkInt(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) throw invalidArgument(name, "a non-negative integer", value);
}
