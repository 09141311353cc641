/**
 * The server's side of one client connection (../../PROTOCOL.md): the socket and its frames,
 * HELLO and the token check (§8), heartbeats and the session timeout (§7), the per-connection
 * in-flight bound and back-pressure (§9), CANCEL of a waiting FETCH, and bad frames (§2.1).
 * What a request does is dispatch.ts; group members and their pushes are membership.ts.
 */
import net from "node:net";
import { createHash, timingSafeEqual } from "node:crypto";
import { BrookError } from "@brook/core/base";
import { toBrookError } from "@brook/core/base";
import { errorFrame } from "../wire/codec.js";
import {
  FrameReader,
  FrameType,
  MAX_HANDSHAKE_FRAME_BYTES,
  PROTOCOL_VERSION,
  ProtocolError,
  REQUEST_TYPES,
  RESPONSE_BIT,
  frame,
  type Frame,
} from "../wire/frames.js";
import { decodeHello, encodeHelloOk } from "../wire/ops.js";
import { ConnectionMembers } from "./membership.js";
import type { ServerSettings } from "./server.js";

/** What a request handler returns: the response frame, now or later. */
export type Reply = Buffer | Promise<Buffer>;

/** What the server does with a connection's requests and with its end. */
export interface ConnectionHandlers {
  /** Decodes a request synchronously (a bad frame throws ProtocolError) and starts it. */
  request(conn: ServerConnection, f: Frame): Reply;
  closed(conn: ServerConnection): void;
}

/** The token is compared as a SHA-256 digest, in constant time (§8). */
export function tokenDigest(token: string): Buffer {
  return createHash("sha256").update(token, "utf8").digest();
}

const HEARTBEAT_ACK = frame(FrameType.HEARTBEAT | RESPONSE_BIT, 0);

/** One client's connection: frames in, answers and pushes out. */
export class ServerConnection {
  readonly peer: string;
  /** the group members this connection carries and their pushes (membership.ts) */
  readonly membership: ConnectionMembers;
  lastSeen = Date.now();
  closed = false;
  private readonly reader: FrameReader;
  private authenticated = false;
  /** §8: closes a connection that has not said HELLO in time */
  private handshakeTimer: NodeJS.Timeout | undefined;
  private inFlight = 0;
  private writeBlocked = false;
  private readonly fetches = new Map<number, AbortController>();

  constructor(
    private readonly socket: net.Socket,
    private readonly handlers: ConnectionHandlers,
    private readonly settings: ServerSettings,
  ) {
    this.membership = new ConnectionMembers(this, settings.logger);
    this.peer = `${socket.remoteAddress ?? "?"}:${socket.remotePort ?? "?"}`;
    // §2.1: until HELLO is accepted, only a small handshake is buffered, whatever is declared.
    this.reader = new FrameReader(MAX_HANDSHAKE_FRAME_BYTES, " before HELLO");
    this.handshakeTimer = setTimeout(() => this.handshakeExpired(), settings.handshakeTimeoutMs);
    this.handshakeTimer.unref();
    socket.setNoDelay(true);
    socket.on("data", (chunk: Buffer) => {
      // A connection being closed keeps nothing more of what its peer sends.
      if (this.closed) return;
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

  /** §7: silent for longer than the session timeout, and not because it is too busy to read (§9). */
  sessionExpired(now: number): boolean {
    return !this.closed && !this.busy && now - this.lastSeen > this.settings.sessionTimeoutMs;
  }

  /** Closes a connection whose session expired with ERROR TIMEOUT (id 0). */
  expireSession(now: number): void {
    const timeout = this.settings.sessionTimeoutMs;
    this.settings.logger.warn(`closing connection from ${this.peer}: no heartbeat for ${now - this.lastSeen} ms (session timeout ${timeout} ms)`);
    this.fail(new BrookError("TIMEOUT", `session expired: nothing received for ${timeout} ms`));
  }

  /** Sends a connection-level ERROR (id 0) and closes (§2.1, §7, §8). */
  fail(error: BrookError): void {
    if (this.closed) return;
    this.send(errorFrame(0, error));
    this.closed = true;
    this.stopHandshakeTimer();
    this.socket.end();
    // Nothing more is read from it: a peer that keeps sending fills its own buffers, not ours.
    this.socket.pause();
    // A peer that never closes its side is cut off.
    setTimeout(() => this.socket.destroy(), 1_000).unref();
  }

  destroy(): void {
    this.closed = true;
    this.stopHandshakeTimer();
    this.socket.destroy();
  }

  /** §8: no HELLO within handshakeTimeoutMs of connecting, however many bytes came meanwhile. */
  private handshakeExpired(): void {
    this.handshakeTimer = undefined;
    if (this.closed || this.authenticated) return;
    const timeout = this.settings.handshakeTimeoutMs;
    this.settings.logger.warn(`closing connection from ${this.peer}: no HELLO within ${timeout} ms`);
    this.fail(new BrookError("TIMEOUT", `no HELLO within ${timeout} ms of connecting`));
  }

  private stopHandshakeTimer(): void {
    if (this.handshakeTimer !== undefined) clearTimeout(this.handshakeTimer);
    this.handshakeTimer = undefined;
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
        this.membership.done(f.id);
        return;
    }
    if (!REQUEST_TYPES.has(f.type)) return this.protocolError(new ProtocolError(`unknown or unexpected frame type 0x${f.type.toString(16)}`));
    if (f.id === 0) return this.protocolError(new ProtocolError("request id 0 is reserved"));
    let reply: Reply;
    try {
      reply = this.handlers.request(this, f);
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
      const given = typeof token === "string" ? tokenDigest(token) : undefined;
      if (given === undefined || !timingSafeEqual(given, expected)) {
        const why = given === undefined ? "no token given" : "wrong token";
        this.settings.logger.warn(`refused connection from ${this.peer}: ${why}`);
        return this.fail(
          new BrookError("UNAUTHENTICATED", `authentication failed (${why}): this server needs its token, e.g. brook://host:port?token=… or BROOK_TOKEN`),
        );
      }
    }
    this.authenticated = true;
    this.stopHandshakeTimer();
    this.reader.maxFrameBytes = this.settings.maxFrameBytes;
    this.reader.limitNote = "";
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
    this.stopHandshakeTimer();
    this.membership.releaseAll();
    for (const controller of this.fetches.values()) controller.abort();
    this.fetches.clear();
    this.handlers.closed(this);
  }
}
