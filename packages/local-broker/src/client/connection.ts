/**
 * The client's connection to `brook serve` (../../PROTOCOL.md): the TCP socket and its frames,
 * HELLO and authentication (§8), heartbeats and the silent-server check (§7), and reconnecting
 * with backoff after a loss (§9). Frames that answer requests go to the request pipe
 * (requests.ts); pushes to group members go to membership.ts; what requests mean is dispatch.ts.
 */
import net from "node:net";
import { BrookError, defaultLogger, isBrookError, type Logger } from "@brook/core/base";
import { runWithRetry, toBrookError } from "@brook/core/spi";
import { decodeError } from "../wire/codec.js";
import { DEFAULT_MAX_FRAME_BYTES, FrameReader, FrameType, ProtocolError, RESPONSE_BIT, frame, type Frame } from "../wire/frames.js";
import { decodeHelloOk, emptyResponse, encodeHello, type ServerHello } from "../wire/ops.js";
import { RequestPipe, type CallOptions, type RequestSink } from "./requests.js";

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

/** What the connection hands to the group members it carries (membership.ts). */
export interface MembershipHooks {
  /** ASSIGN or REVOKE (§7); `reply` sends the *_DONE on the connection the push came on. */
  onPush(f: Frame, reply: () => void): void;
  /** A new connection is up after a loss: members re-join (§7). */
  onReconnected(): Promise<void>;
}

/** One TCP connection: frames in, bytes out, and whether the socket wants us to wait. */
class FrameSocket implements RequestSink {
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

  get writable(): boolean {
    return !this.closed && !this.writeBlocked;
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

/**
 * The connection to one server, kept up: a lost connection fails what was in flight with
 * UNAVAILABLE, keeps queued requests for the next one and reconnects with backoff and jitter
 * (core's `runWithRetry`), after which the members re-join.
 */
export class ClientConnection {
  readonly url: string;
  /** from HELLO_OK */
  maxMessageBytes = 0;
  maxFrameBytes = DEFAULT_MAX_FRAME_BYTES;
  private readonly host: string;
  private readonly port: number;
  private readonly token: string | undefined;
  private readonly connectTimeoutMs: number;
  private readonly reconnectPolicy: { maxAttempts: number; minDelayMs: number; maxDelayMs: number };
  private readonly logger: Logger;
  private readonly requests: RequestPipe;
  private conn: FrameSocket | undefined;
  private state: "connected" | "reconnecting" | "failed" | "closed" = "reconnecting";
  private heartbeat: NodeJS.Timeout | undefined;
  private reconnectAbort: AbortController | undefined;
  /** the connection being opened, so close() can end it */
  private opening: FrameSocket | undefined;
  private hooks: MembershipHooks = { onPush: (_f, reply) => reply(), onReconnected: async () => undefined };

  private constructor(options: RemoteEngineOptions) {
    this.host = options.host ?? "127.0.0.1";
    this.port = options.port ?? 7654;
    this.token = options.token;
    this.connectTimeoutMs = options.connectTimeoutMs ?? 5_000;
    this.reconnectPolicy = {
      maxAttempts: options.reconnect?.maxAttempts ?? Number.POSITIVE_INFINITY,
      minDelayMs: options.reconnect?.minDelayMs ?? 50,
      maxDelayMs: options.reconnect?.maxDelayMs ?? 2_000,
    };
    this.logger = options.logger ?? defaultLogger;
    const host = this.host.includes(":") ? `[${this.host}]` : this.host;
    this.url = `brook://${host}:${this.port}`;
    this.requests = new RequestPipe(this.url, options.requestTimeoutMs ?? 30_000, options.maxInFlight ?? 1024);
  }

  /** Connects (one attempt, bounded by connectTimeoutMs) and says HELLO; fails with UNAVAILABLE or UNAUTHENTICATED. */
  static async connect(options: RemoteEngineOptions): Promise<ClientConnection> {
    const connection = new ClientConnection(options);
    const { conn, hello } = await connection.open();
    connection.adopt(conn, hello);
    return connection;
  }

  /** Where pushes go and who re-joins after a reconnect. */
  setMembership(hooks: MembershipHooks): void {
    this.hooks = hooks;
  }

  get requestTimeoutMs(): number {
    return this.requests.requestTimeoutMs;
  }

  /** Sends a request frame built with id 0 and resolves with its decoded answer (requests.ts). */
  call<R>(type: number, bytes: Buffer, decode: (body: Buffer) => R, extra: CallOptions<R> = {}): Promise<R> {
    return this.requests.call(type, bytes, decode, extra);
  }

  /** Answers go to the request pipe; pushes to the members (membership.ts). */
  private onFrame(conn: FrameSocket, f: Frame): void {
    if (f.type === FrameType.ASSIGN || f.type === FrameType.REVOKE) {
      this.hooks.onPush(f, () => {
        if (conn === this.conn) conn.write(emptyResponse(f.type, f.id));
      });
      return;
    }
    if (f.id === 0) {
      if (f.type === FrameType.ERROR) {
        conn.reason = decodeError(f.body);
        this.logger.warn(`${this.url} is closing the connection: ${conn.reason.code} ${conn.reason.message}`);
      }
      return;
    }
    this.requests.answer(f);
  }

  // ---- the connection's life ----

  /** One attempt: TCP connect, HELLO, HELLO_OK, all within connectTimeoutMs. */
  private open(): Promise<{ conn: FrameSocket; hello: ServerHello }> {
    return new Promise((resolve, reject) => {
      if (this.state === "closed") {
        reject(new BrookError("CLOSED", `the connection to ${this.url} is closed`));
        return;
      }
      const socket = net.connect({ host: this.host, port: this.port });
      const conn = new FrameSocket(socket, this.logger);
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
  private adopt(conn: FrameSocket, hello: ServerHello): void {
    this.conn = conn;
    this.state = "connected";
    this.maxMessageBytes = hello.maxMessageBytes;
    this.maxFrameBytes = hello.maxFrameBytes;
    this.requests.attach(conn, hello.maxInFlight);
    conn.reader.maxFrameBytes = hello.maxFrameBytes;
    conn.onFrame = (f) => this.onFrame(conn, f);
    conn.onDrain = () => this.requests.flush();
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
    else this.requests.flush();
  }

  private stopHeartbeat(): void {
    if (this.heartbeat !== undefined) clearInterval(this.heartbeat);
    this.heartbeat = undefined;
  }

  /** §9: what was in flight fails with UNAVAILABLE; what waits in the queue waits for the reconnect. */
  private connectionLost(conn: FrameSocket): void {
    if (conn !== this.conn) return;
    this.conn = undefined;
    this.stopHeartbeat();
    this.requests.detach(new BrookError("UNAVAILABLE", `connection to ${this.url} lost${conn.why}; the request was in flight and may or may not have been applied`));
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
      await this.hooks.onReconnected();
    } catch (err) {
      if (this.state !== "reconnecting") return;
      this.state = "failed";
      const failure = new BrookError(toBrookError(err).code === "UNAUTHENTICATED" ? "UNAUTHENTICATED" : "UNAVAILABLE", `gave up reconnecting to ${this.url}: ${toBrookError(err).message}`, {
        cause: err,
      });
      this.logger.error(failure.message);
      this.requests.stop(failure);
    }
  }

  /** Fails every request with CLOSED, stops reconnecting and closes the socket. */
  async close(): Promise<void> {
    if (this.state === "closed") return;
    this.state = "closed";
    this.reconnectAbort?.abort();
    this.opening?.destroy();
    this.stopHeartbeat();
    this.requests.stop(new BrookError("CLOSED", `the connection to ${this.url} is closed`));
    const conn = this.conn;
    this.conn = undefined;
    if (conn !== undefined && !conn.closed) {
      const closed = new Promise<void>((resolve) => conn.socket.once("close", () => resolve()));
      conn.destroy();
      await closed;
    }
  }
}
