/**
 * A TCP fault proxy for tests: it sits between clients and one server on 127.0.0.1 and, on
 * command, misbehaves the way networks and hosts do.
 *
 * - delay(ms, direction): every byte waits `ms` before it is passed on; order is kept.
 * - blackhole(direction): bytes stop moving in that direction, on old and new connections, and
 *   nothing is closed. Bytes are held, not thrown away (the proxy stops reading, so they wait in
 *   the kernel's buffers and back up into the sender), and move on after heal(): a partition that
 *   heals before TCP gives up, as retransmission would deliver it. Discarding bytes mid-stream
 *   would corrupt any framed protocol, which no real network does under TCP.
 * - reset(): every current connection is reset on both sides (RST, ECONNRESET); new ones work.
 * - refuse(ms): the proxy stops listening, so new connections get ECONNREFUSED, for `ms` (or
 *   until heal()); current connections carry on.
 * - halfOpen(): every current connection loses its server side (closed towards the server) while
 *   the client side stays open and silent: no FIN, no RST, bytes from the client vanish. What a
 *   client sees when the server host dies or a NAT forgets the connection. New connections work.
 *
 * Only 127.0.0.1. Every socket and timer is released by close().
 */
import net from "node:net";

export type Direction = "both" | "toServer" | "toClient";

export interface FaultProxyStats {
  /** connections accepted from clients */
  accepted: number;
  /** connections reset by reset() */
  reset: number;
  /** connections made half-open by halfOpen() */
  halfOpened: number;
  /** bytes passed on, per direction */
  bytesToServer: number;
  bytesToClient: number;
  /** fault commands given: delay, blackhole, reset, refuse, halfOpen */
  faults: Record<"delay" | "blackhole" | "reset" | "refuse" | "halfOpen", number>;
}

export interface FaultProxy {
  readonly host: string;
  /** the port clients connect to; stays the same across refuse() */
  readonly port: number;
  /** Where connections go from now on (connections made before keep their server). */
  setTarget(port: number): void;
  delay(ms: number, direction?: Direction): void;
  blackhole(direction?: Direction): void;
  /** Resets every current connection; returns how many. */
  reset(): number;
  /** Stops accepting connections for `forMs` (default: until heal()); resolves once refusing. */
  refuse(forMs?: number): Promise<void>;
  /** Makes every current connection half-open; returns how many. */
  halfOpen(): number;
  /** Ends delay, blackhole and refusal; reset or half-open connections stay as they are. */
  heal(): Promise<void>;
  /** connections with both sides open and forwarding */
  openConnections(): number;
  /** connections kept half-open */
  halfOpenConnections(): number;
  readonly stats: FaultProxyStats;
  /** Closes the listener and every connection. */
  close(): Promise<void>;
}

const HOST = "127.0.0.1";
/** bytes a direction holds in the proxy (delayed) before it stops reading from the sender */
const HIGH_WATER_BYTES = 4 * 1024 * 1024;

interface Settings {
  delayMs: Record<"toServer" | "toClient", number>;
  blackholed: Record<"toServer" | "toClient", boolean>;
}

/** One direction of one connection: reads from `from`, holds each chunk for the delay, writes to `to`. */
class Pipe {
  private readonly queue: Array<{ chunk: Buffer; due: number }> = [];
  private queuedBytes = 0;
  private timer: NodeJS.Timeout | undefined;
  private waitingForDrain = false;
  private ended = false;
  private stopped = false;

  constructor(
    readonly direction: "toServer" | "toClient",
    private readonly from: net.Socket,
    private readonly to: net.Socket,
    private readonly settings: Settings,
    private readonly counted: (bytes: number) => void,
  ) {
    from.on("data", (chunk: Buffer) => {
      if (this.stopped) return;
      this.queue.push({ chunk, due: Date.now() + this.settings.delayMs[direction] });
      this.queuedBytes += chunk.length;
      this.pump();
    });
    from.on("end", () => {
      this.ended = true;
      this.pump();
    });
    to.on("drain", () => {
      this.waitingForDrain = false;
      this.pump();
    });
    this.pump();
  }

  /** Stops forwarding for good (the connection went half-open or closed); reads are discarded. */
  stop(): void {
    this.stopped = true;
    this.queue.length = 0;
    this.queuedBytes = 0;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    if (!this.from.destroyed) this.from.resume();
  }

  /** Passes on what is due, unless blackholed or the receiver is full; then (un)pauses the sender. */
  pump(): void {
    if (this.stopped) return;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    const blackholed = this.settings.blackholed[this.direction];
    if (!blackholed) {
      const now = Date.now();
      while (this.queue.length > 0 && !this.waitingForDrain) {
        const head = this.queue[0]!;
        if (head.due > now) {
          this.timer = setTimeout(() => this.pump(), head.due - now);
          break;
        }
        this.queue.shift();
        this.queuedBytes -= head.chunk.length;
        this.counted(head.chunk.length);
        if (this.to.destroyed) continue;
        if (!this.to.write(head.chunk)) this.waitingForDrain = true;
      }
      if (this.ended && this.queue.length === 0 && !this.to.destroyed) this.to.end();
    }
    // Held bytes stay in the sender's socket while blackholed or full (TCP back-pressure).
    const hold = blackholed || this.waitingForDrain || this.queuedBytes > HIGH_WATER_BYTES;
    if (this.from.destroyed) return;
    if (hold && !this.from.isPaused()) this.from.pause();
    else if (!hold && this.from.isPaused()) this.from.resume();
  }
}

class Link {
  state: "open" | "halfOpen" | "closed" = "open";
  readonly pipes: Pipe[] = [];

  constructor(
    readonly client: net.Socket,
    readonly server: net.Socket,
  ) {}
}

/**
 * Starts a proxy on 127.0.0.1:`port` (default: a free port) in front of 127.0.0.1:`targetPort`
 * (settable later).
 */
export async function startFaultProxy(options: { targetPort?: number; port?: number } = {}): Promise<FaultProxy> {
  let targetPort = options.targetPort;
  const settings: Settings = { delayMs: { toServer: 0, toClient: 0 }, blackholed: { toServer: false, toClient: false } };
  const stats: FaultProxyStats = {
    accepted: 0,
    reset: 0,
    halfOpened: 0,
    bytesToServer: 0,
    bytesToClient: 0,
    faults: { delay: 0, blackhole: 0, reset: 0, refuse: 0, halfOpen: 0 },
  };
  const links = new Set<Link>();
  let listener: net.Server | undefined;
  let port = options.port ?? 0;
  let refuseTimer: NodeJS.Timeout | undefined;
  let closed = false;

  const directions = (d: Direction): Array<"toServer" | "toClient"> => (d === "both" ? ["toServer", "toClient"] : [d]);
  const pumpAll = (): void => {
    for (const link of links) for (const pipe of link.pipes) pipe.pump();
  };

  const onConnection = (client: net.Socket): void => {
    stats.accepted += 1;
    client.on("error", () => undefined);
    if (closed || targetPort === undefined) {
      client.destroy();
      return;
    }
    const server = net.connect({ host: HOST, port: targetPort, allowHalfOpen: true });
    server.on("error", () => undefined);
    const link = new Link(client, server);
    links.add(link);
    link.pipes.push(
      new Pipe("toServer", client, server, settings, (n) => (stats.bytesToServer += n)),
      new Pipe("toClient", server, client, settings, (n) => (stats.bytesToClient += n)),
    );
    client.on("end", () => {
      // Half-open: the client's FIN has nowhere to go; let the client side close.
      if (link.state !== "open") client.destroy();
    });
    client.on("close", () => {
      // The client went away: nothing is left to hold, half-open or not.
      for (const pipe of link.pipes) pipe.stop();
      link.state = "closed";
      links.delete(link);
      server.destroy();
    });
    server.on("close", (hadError) => {
      if (link.state === "halfOpen") return; // the client must not learn of it
      if (link.state === "open" && hadError) {
        // A reset from the server travels on as a reset.
        link.state = "closed";
        links.delete(link);
        client.resetAndDestroy();
      }
      // A clean close travels on as FIN through the pipe ('end'), after the held bytes.
    });
  };

  const listen = async (): Promise<void> => {
    const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: false }, onConnection);
    // The port was ours a moment ago; a brief race with another bind is retried.
    for (let attempt = 1; ; attempt++) {
      try {
        await new Promise<void>((resolve, reject) => {
          server.once("error", reject);
          server.listen(port, HOST, () => {
            server.off("error", reject);
            resolve();
          });
        });
        break;
      } catch (err) {
        if (attempt >= 20 || (err as NodeJS.ErrnoException).code !== "EADDRINUSE") throw err;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    port = (server.address() as net.AddressInfo).port;
    listener = server;
  };

  const stopListening = async (): Promise<void> => {
    const server = listener;
    listener = undefined;
    if (server === undefined) return;
    // close() stops accepting at once; its callback waits for connections, which live on.
    await new Promise<void>((resolve) => {
      server.close(() => undefined);
      // 'listening' is false as soon as the handle is closed
      const check = (): void => {
        if (server.listening) setImmediate(check);
        else resolve();
      };
      check();
    });
  };

  const unrefuse = async (): Promise<void> => {
    if (refuseTimer !== undefined) clearTimeout(refuseTimer);
    refuseTimer = undefined;
    if (listener === undefined && !closed) await listen();
  };

  await listen();

  const proxy: FaultProxy = {
    host: HOST,
    get port() {
      return port;
    },
    stats,
    setTarget(p: number): void {
      targetPort = p;
    },
    delay(ms: number, direction: Direction = "both"): void {
      if (!(ms >= 0)) throw new Error(`delay: expected ms >= 0, got ${ms}`);
      stats.faults.delay += 1;
      for (const d of directions(direction)) settings.delayMs[d] = ms;
      pumpAll();
    },
    blackhole(direction: Direction = "both"): void {
      stats.faults.blackhole += 1;
      for (const d of directions(direction)) settings.blackholed[d] = true;
      pumpAll();
    },
    reset(): number {
      stats.faults.reset += 1;
      let n = 0;
      for (const link of [...links]) {
        if (link.state !== "open") continue;
        link.state = "closed";
        links.delete(link);
        for (const pipe of link.pipes) pipe.stop();
        link.client.resetAndDestroy();
        link.server.resetAndDestroy();
        n += 1;
      }
      stats.reset += n;
      return n;
    },
    async refuse(forMs?: number): Promise<void> {
      stats.faults.refuse += 1;
      if (refuseTimer !== undefined) clearTimeout(refuseTimer);
      refuseTimer = undefined;
      await stopListening();
      if (forMs !== undefined) {
        refuseTimer = setTimeout(() => {
          refuseTimer = undefined;
          void unrefuse().catch(() => undefined);
        }, forMs);
      }
    },
    halfOpen(): number {
      stats.faults.halfOpen += 1;
      let n = 0;
      for (const link of links) {
        if (link.state !== "open") continue;
        link.state = "halfOpen";
        for (const pipe of link.pipes) pipe.stop();
        link.server.destroy();
        n += 1;
      }
      stats.halfOpened += n;
      return n;
    },
    async heal(): Promise<void> {
      settings.delayMs.toServer = settings.delayMs.toClient = 0;
      settings.blackholed.toServer = settings.blackholed.toClient = false;
      pumpAll();
      await unrefuse();
    },
    openConnections: () => [...links].filter((l) => l.state === "open").length,
    halfOpenConnections: () => [...links].filter((l) => l.state === "halfOpen").length,
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      if (refuseTimer !== undefined) clearTimeout(refuseTimer);
      refuseTimer = undefined;
      await stopListening();
      for (const link of [...links]) {
        for (const pipe of link.pipes) pipe.stop();
        link.client.destroy();
        link.server.destroy();
      }
      links.clear();
    },
  };
  return proxy;
}
