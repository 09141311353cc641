/**
 * The fault proxy itself: each fault does what the fault tests rely on, seen from both ends of
 * a connection (a plain TCP client, and a server on 127.0.0.1 that records what reaches it).
 */
import net from "node:net";
import { afterEach, describe, expect, test } from "@jest/globals";
import { waitFor } from "@brook/contract-tests";
import { startFaultProxy, type FaultProxy } from "./proxy.js";

const cleanups: Array<() => Promise<unknown> | void> = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

/** One end of a connection, with what it received and how it ended. */
interface End {
  socket: net.Socket;
  received(): string;
  ended: boolean;
  closed: boolean;
  error: string | undefined;
}

function track(socket: net.Socket): End {
  const chunks: Buffer[] = [];
  const end: End = { socket, received: () => Buffer.concat(chunks).toString(), ended: false, closed: false, error: undefined };
  socket.on("data", (c: Buffer) => chunks.push(c));
  socket.on("end", () => (end.ended = true));
  socket.on("close", () => (end.closed = true));
  socket.on("error", (err: NodeJS.ErrnoException) => (end.error = err.code ?? err.message));
  return end;
}

async function upstream(): Promise<{ port: number; ends: End[] }> {
  const ends: End[] = [];
  const server = net.createServer((socket) => ends.push(track(socket)));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        for (const e of ends) e.socket.destroy();
        server.close(() => resolve());
      }),
  );
  return { port: (server.address() as net.AddressInfo).port, ends };
}

async function proxyTo(port: number): Promise<FaultProxy> {
  const proxy = await startFaultProxy({ targetPort: port });
  cleanups.push(() => proxy.close());
  return proxy;
}

/** Connects a client through the proxy and waits until the server side has it. */
async function pair(proxy: FaultProxy, server: { ends: End[] }): Promise<{ client: End; server: End }> {
  const before = server.ends.length;
  const socket = net.connect({ host: "127.0.0.1", port: proxy.port });
  const client = track(socket);
  cleanups.push(() => void socket.destroy());
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  await waitFor(() => server.ends.length > before, 2_000, "the server side of the connection");
  return { client, server: server.ends[server.ends.length - 1]! };
}

/** Waits `ms` and then checks a condition that must have stayed false all along (sampled). */
async function staysFalse(condition: () => boolean, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (condition()) return false;
    await new Promise((r) => setTimeout(r, 10));
  }
  return !condition();
}

describe("fault proxy", () => {
  test("passes bytes both ways and a close from either side", async () => {
    const server = await upstream();
    const proxy = await proxyTo(server.port);
    const a = await pair(proxy, server);
    a.client.socket.write("ping");
    await waitFor(() => a.server.received() === "ping", 2_000, "ping at the server");
    a.server.socket.write("pong");
    await waitFor(() => a.client.received() === "pong", 2_000, "pong at the client");
    a.server.socket.end();
    await waitFor(() => a.client.ended && a.client.closed, 2_000, "the client to see the server's close");

    const b = await pair(proxy, server);
    b.client.socket.end();
    await waitFor(() => b.server.ended, 2_000, "the server to see the client's close");
    expect(proxy.stats.accepted).toBe(2);
    expect(proxy.stats.bytesToServer).toBe(4);
    expect(proxy.stats.bytesToClient).toBe(4);
  });

  test("delay holds every chunk for the delay, in order, each direction on its own", async () => {
    const server = await upstream();
    const proxy = await proxyTo(server.port);
    const a = await pair(proxy, server);
    proxy.delay(300, "toServer");
    const sentAt = Date.now();
    for (const part of ["a", "b", "c", "d"]) a.client.socket.write(part);
    a.server.socket.write("fast");
    await waitFor(() => a.client.received() === "fast", 2_000, "the undelayed direction");
    expect(Date.now() - sentAt).toBeLessThan(250);
    expect(a.server.received()).toBe("");
    await waitFor(() => a.server.received() === "abcd", 3_000, "the delayed bytes, in order");
    expect(Date.now() - sentAt).toBeGreaterThanOrEqual(290);
    await proxy.heal();
    const healedAt = Date.now();
    a.client.socket.write("e");
    await waitFor(() => a.server.received() === "abcde", 2_000, "bytes after heal");
    expect(Date.now() - healedAt).toBeLessThan(250);
  });

  test("blackhole holds bytes without closing anything, on old and new connections; heal delivers them in order", async () => {
    const server = await upstream();
    const proxy = await proxyTo(server.port);
    const old = await pair(proxy, server);
    proxy.blackhole("both");
    old.client.socket.write("up-1");
    old.server.socket.write("down-1");
    const fresh = await pair(proxy, server); // TCP connect still succeeds, as through a dead path
    fresh.client.socket.write("up-2");
    const nothing = () => old.server.received() !== "" || old.client.received() !== "" || fresh.server.received() !== "";
    const closedAny = () => old.client.closed || old.server.closed || fresh.client.closed || fresh.server.closed;
    expect(await staysFalse(() => nothing() || closedAny(), 400)).toBe(true);
    old.client.socket.write("+more");
    await proxy.heal();
    await waitFor(() => old.server.received() === "up-1+more", 2_000, "held client bytes");
    await waitFor(() => old.client.received() === "down-1", 2_000, "held server bytes");
    await waitFor(() => fresh.server.received() === "up-2", 2_000, "held bytes of the new connection");
    expect(closedAny()).toBe(false);
  });

  test("blackhole of one direction leaves the other one flowing", async () => {
    const server = await upstream();
    const proxy = await proxyTo(server.port);
    const a = await pair(proxy, server);
    proxy.blackhole("toClient");
    a.server.socket.write("lost-for-now");
    a.client.socket.write("still-flows");
    await waitFor(() => a.server.received() === "still-flows", 2_000, "client to server");
    expect(await staysFalse(() => a.client.received() !== "", 300)).toBe(true);
    await proxy.heal();
    await waitFor(() => a.client.received() === "lost-for-now", 2_000, "server to client after heal");
  });

  test("reset resets both sides of every current connection; new connections work", async () => {
    const server = await upstream();
    const proxy = await proxyTo(server.port);
    const a = await pair(proxy, server);
    const b = await pair(proxy, server);
    expect(proxy.reset()).toBe(2);
    for (const end of [a.client, a.server, b.client, b.server]) {
      await waitFor(() => end.closed, 2_000, "a reset side to close");
      expect(end.error).toBe("ECONNRESET");
    }
    const c = await pair(proxy, server);
    c.client.socket.write("after");
    await waitFor(() => c.server.received() === "after", 2_000, "a new connection");
    expect(proxy.stats.reset).toBe(2);
  });

  test("refuse makes new connections fail with ECONNREFUSED for a while; current ones carry on", async () => {
    const server = await upstream();
    const proxy = await proxyTo(server.port);
    const port = proxy.port;
    const a = await pair(proxy, server);
    const refusedAt = Date.now();
    await proxy.refuse(600);
    const attempt = (): Promise<string> =>
      new Promise((resolve) => {
        const s = net.connect({ host: "127.0.0.1", port });
        s.once("connect", () => {
          s.destroy();
          resolve("connected");
        });
        s.once("error", (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
      });
    expect(await attempt()).toBe("ECONNREFUSED");
    a.client.socket.write("still");
    await waitFor(() => a.server.received() === "still", 2_000, "the current connection");
    // The refusal ends by itself, on the same port.
    await waitFor(async () => (await attempt()) === "connected", 3_000, "the proxy to accept again");
    expect(Date.now() - refusedAt).toBeGreaterThanOrEqual(550);
    expect(proxy.port).toBe(port);
    // Without a time, it lasts until heal().
    await proxy.refuse();
    expect(await attempt()).toBe("ECONNREFUSED");
    await proxy.heal();
    expect(await attempt()).toBe("connected");
  });

  test("halfOpen: the server side is closed, the client side stays open and hears nothing", async () => {
    const server = await upstream();
    const proxy = await proxyTo(server.port);
    const a = await pair(proxy, server);
    expect(proxy.halfOpen()).toBe(1);
    await waitFor(() => a.server.closed, 2_000, "the server side to close");
    a.client.socket.write("into the void");
    expect(a.client.socket.destroyed).toBe(false);
    expect(await staysFalse(() => a.client.ended || a.client.closed || a.client.error !== undefined || a.client.received() !== "", 400)).toBe(true);
    expect(proxy.halfOpenConnections()).toBe(1);
    expect(proxy.openConnections()).toBe(0);
    // New connections work.
    const b = await pair(proxy, server);
    b.client.socket.write("fresh");
    await waitFor(() => b.server.received() === "fresh", 2_000, "a new connection");
    // The held client side goes away when the client closes it.
    a.client.socket.destroy();
    await waitFor(() => proxy.halfOpenConnections() === 0, 2_000, "the half-open connection to be dropped");
  });

  test("a reset from the server travels to the client as a reset", async () => {
    const server = await upstream();
    const proxy = await proxyTo(server.port);
    const a = await pair(proxy, server);
    a.server.socket.resetAndDestroy();
    await waitFor(() => a.client.closed, 2_000, "the client to close");
    expect(a.client.error).toBe("ECONNRESET");
  });
});
