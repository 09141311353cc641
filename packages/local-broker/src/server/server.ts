/**
 * `brook serve`: exposes one LogEngine over the brook:// protocol (../../PROTOCOL.md). This file
 * listens, keeps the set of connections and sweeps sessions; each connection (connection.ts)
 * is a pipelined request stream (§9) whose requests dispatch.ts runs against the engine; remote
 * group members are proxies whose onAssign/onRevoke become pushes (membership.ts, §7).
 */
import net from "node:net";
import { BrookError, defaultLogger, type Logger } from "@brook/core/base";
import type { LogEngine } from "../engine.js";
import { errorFrame } from "../wire/codec.js";
import { maxFrameBytesFor, type Frame } from "../wire/frames.js";
import { ServerConnection, tokenDigest, type ConnectionHandlers, type Reply } from "./connection.js";
import { RequestDispatcher } from "./dispatch.js";
import { ServerMembership } from "./membership.js";
import type { PushSubscriptionConfig, PushSubscriptions } from "./push.js";

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
  /** a connection that has not said HELLO this long after connecting is closed (default 10000, §8) */
  handshakeTimeoutMs?: number;
  /** connections open at once, authenticated or not; one more gets ERROR UNAVAILABLE (default 1024, §1) */
  maxConnections?: number;
  /**
   * Push subscriptions: the server POSTs each message of these groups to an HTTP endpoint in a
   * Pub/Sub push envelope (2xx acks; anything else is retried with back-off, then dead-lettered).
   * Their topics must exist; they start once the server listens and stop before it closes.
   */
  push?: PushSubscriptionConfig[];
}

export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;
export const DEFAULT_MAX_CONNECTIONS = 1024;

export interface BrookServer {
  readonly host: string;
  readonly port: number;
  /** brook://host:port (without the token) */
  readonly url: string;
  /** the running push subscriptions (ServerOptions.push), for health() and events */
  readonly push: PushSubscriptions["subscriptions"];
  /** Stops the push subscriptions (drained, positions committed), stops listening, drops every connection and removes their members from their groups. */
  close(): Promise<void>;
}

/** startServer's options, checked and with defaults filled in. */
export interface ServerSettings {
  engine: LogEngine;
  tokenDigest: Buffer | undefined;
  logger: Logger;
  sessionTimeoutMs: number;
  maxInFlight: number;
  maxFrameBytes: number;
  assignTimeoutMs: number;
  revokeTimeoutMs: number;
  handshakeTimeoutMs: number;
  maxConnections: number;
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
  const handshakeTimeoutMs = options.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS;
  if (!(handshakeTimeoutMs >= 10 && handshakeTimeoutMs <= 3_600_000)) {
    throw new BrookError("INVALID_ARGUMENT", `handshakeTimeoutMs: expected a number from 10 to 3600000, got ${String(handshakeTimeoutMs)}`);
  }
  const maxConnections = options.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
  if (!Number.isInteger(maxConnections) || maxConnections < 1) throw new BrookError("INVALID_ARGUMENT", `maxConnections: expected an integer >= 1, got ${String(maxConnections)}`);
  const settings: ServerSettings = {
    engine: options.engine,
    tokenDigest: options.token === undefined ? undefined : tokenDigest(options.token),
    logger: options.logger ?? defaultLogger,
    sessionTimeoutMs,
    maxInFlight,
    maxFrameBytes: maxFrameBytesFor(options.engine.maxMessageBytes),
    assignTimeoutMs: options.assignTimeoutMs ?? 30_000,
    revokeTimeoutMs: options.revokeTimeoutMs ?? 15_000,
    handshakeTimeoutMs,
    maxConnections,
  };
  // Loaded only with push subscriptions: push.ts brings the client side (LocalBroker), which a
  // server without them (brook serve's usual start) does not load.
  const pushModule = options.push === undefined ? undefined : await import("./push.js");
  const push = pushModule === undefined ? [] : pushModule.validatePushConfigs(options.push);
  const server = new Server(settings);
  const listening = await server.listen(host, port);
  let pushing: PushSubscriptions;
  try {
    pushing = pushModule === undefined ? { subscriptions: [], close: async () => undefined } : await pushModule.startPushSubscriptions(options.engine, push, settings.logger);
  } catch (err) {
    await listening.close();
    throw err;
  }
  return {
    ...listening,
    push: pushing.subscriptions,
    close: async () => {
      await pushing.close();
      await listening.close();
    },
  };
}

class Server implements ConnectionHandlers {
  private readonly connections = new Set<ServerConnection>();
  /** sockets over the connection cap, told so and on their way out */
  private readonly refused = new Set<net.Socket>();
  private refusedSinceLog = 0;
  private lastRefusalLog = 0;
  private readonly membership: ServerMembership;
  private readonly dispatcher: RequestDispatcher;
  private listener: net.Server | undefined;
  private sessionTimer: NodeJS.Timeout | undefined;
  private closing = false;

  constructor(private readonly settings: ServerSettings) {
    this.membership = new ServerMembership(settings.engine, settings);
    this.dispatcher = new RequestDispatcher(settings.engine, this.membership, settings.maxFrameBytes);
  }

  listen(host: string, port: number): Promise<Omit<BrookServer, "push">> {
    const listener = net.createServer((socket) => {
      if (this.closing) {
        socket.destroy();
        return;
      }
      if (this.connections.size >= this.settings.maxConnections) {
        this.refuse(socket);
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

  /**
   * §1: a connection over the cap gets ERROR UNAVAILABLE (id 0; clients retry with backoff) and
   * is closed; nothing it sends is read. Refusals are logged at most once a second.
   */
  private refuse(socket: net.Socket): void {
    const max = this.settings.maxConnections;
    this.refused.add(socket);
    socket.on("error", () => undefined);
    socket.once("close", () => this.refused.delete(socket));
    socket.end(errorFrame(0, new BrookError("UNAVAILABLE", `the server is at its limit of ${max} connections; try again later`)));
    setTimeout(() => socket.destroy(), 1_000).unref();
    this.refusedSinceLog += 1;
    const now = Date.now();
    if (now - this.lastRefusalLog >= 1_000) {
      this.settings.logger.warn(`refused ${this.refusedSinceLog} connection(s) (latest from ${socket.remoteAddress ?? "?"}:${socket.remotePort ?? "?"}): at the limit of ${max} connections`);
      this.lastRefusalLog = now;
      this.refusedSinceLog = 0;
    }
  }

  request(conn: ServerConnection, f: Frame): Reply {
    return this.dispatcher.request(conn, f);
  }

  closed(conn: ServerConnection): void {
    this.connections.delete(conn);
    this.membership.connectionClosed(conn);
  }

  /** §7: closes silent connections and evicts members whose session ran out. */
  private checkSessions(): void {
    const now = Date.now();
    const timeout = this.settings.sessionTimeoutMs;
    for (const conn of [...this.connections]) {
      if (!conn.sessionExpired(now)) continue;
      conn.expireSession(now);
      this.membership.evictMembersOf(conn, `session expired (no heartbeat for ${timeout} ms)`);
    }
    this.membership.evictExpired(now);
  }

  private async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    if (this.sessionTimer !== undefined) clearInterval(this.sessionTimer);
    const listener = this.listener;
    const stopped = new Promise<void>((resolve) => (listener === undefined ? resolve() : listener.close(() => resolve())));
    for (const conn of [...this.connections]) conn.destroy();
    for (const socket of [...this.refused]) socket.destroy();
    await this.membership.close();
    await stopped;
  }
}
