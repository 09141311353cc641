/**
 * `brook serve` before a client has authenticated (PROTOCOL.md §2.1, §8): the server buffers at
 * most a small handshake, times the handshake out, and caps its connections. Each test runs its
 * own server in this process on a free port and talks to it with raw sockets.
 */
import { describe, expect, test } from "@jest/globals";
import { connect, silentLogger } from "@brook/core";
import { startServer } from "@brook/local-broker";
import { LogEngine, MemoryStore } from "@brook/local-broker/engine";
import { waitFor } from "@brook/contract-tests";
import { HELLO, capturingLogger, cleanups, errorOf, helloConnection, jsonRequest, open, rawConnection, rawFrame, serve } from "./serve-helpers.js";

describe("the handshake", () => {
  test("before HELLO, a frame declared larger than a small handshake is refused at once, before its body is buffered", async () => {
    const { server } = await serve();
    const raw = await rawConnection(server.port);
    const header = Buffer.alloc(9);
    header.writeUInt32BE(1024 * 1024, 0); // a 1 MiB "HELLO": far below the frame limit, far above a handshake
    header[4] = 0x01;
    header.writeUInt32BE(1, 5);
    raw.send(header);
    await waitFor(() => raw.isClosed(), 3_000, "the server to close the connection");
    expect(raw.frames).toHaveLength(1);
    expect(raw.frames[0]!.id).toBe(0);
    const error = errorOf(raw.frames[0]!);
    expect(error.code).toBe("INVALID_ARGUMENT");
    expect(error.message).toMatch(/bad frame length 1048576: .*before HELLO/);
  });

  test("a HELLO of ordinary size is still accepted, and after it the full frame limit applies", async () => {
    const { server } = await serve();
    const raw = await rawConnection(server.port);
    raw.send(jsonRequest(0x01, 1, { version: 1, client: "x".repeat(2_000) }));
    const ok = await raw.answer(1);
    expect(ok.type).toBe(0x81);
    const bigName = "t".repeat(200);
    raw.send(jsonRequest(0x10, 2, { name: bigName, config: {}, ifNotExists: false, padding: "p".repeat(100_000) }));
    expect((await raw.answer(2)).type).toBe(0x90);
  });

  test("a client that never says HELLO is closed after the handshake timeout with ERROR TIMEOUT, even while it trickles bytes", async () => {
    const { logger, lines } = capturingLogger();
    const { server } = await serve({ handshakeTimeoutMs: 300, sessionTimeoutMs: 60_000, logger });
    const silent = await rawConnection(server.port);
    const trickle = await rawConnection(server.port);
    const hello = HELLO;
    let sent = 0;
    const timer = setInterval(() => {
      // One byte of the HELLO every 50 ms: the server hears from it, but it never finishes.
      if (sent < hello.length - 1) trickle.send(hello.subarray(sent, ++sent));
    }, 50);
    cleanups.push(() => clearInterval(timer));
    const startedAt = Date.now();
    await waitFor(() => silent.isClosed() && trickle.isClosed(), 5_000, "both connections closed");
    expect(Date.now() - startedAt).toBeLessThan(3_000);
    for (const raw of [silent, trickle]) {
      expect(raw.frames).toHaveLength(1);
      expect(errorOf(raw.frames[0]!)).toMatchObject({ code: "TIMEOUT", message: expect.stringMatching(/no HELLO within 300 ms/) });
    }
    expect(lines.filter((l) => l.includes("no HELLO within 300 ms"))).toHaveLength(2);
    // An authenticated connection is not subject to the handshake timeout.
    const ok = await helloConnection(server.port);
    await new Promise((r) => setTimeout(r, 600));
    expect(ok.isClosed()).toBe(false);
  });

  test("startServer checks handshakeTimeoutMs and maxConnections", async () => {
    const engine = await LogEngine.open(new MemoryStore());
    cleanups.push(() => engine.close());
    for (const bad of [{ handshakeTimeoutMs: 0 }, { handshakeTimeoutMs: Number.NaN }, { maxConnections: 0 }, { maxConnections: 1.5 }]) {
      const outcome = await startServer({ engine, port: 0, logger: silentLogger, ...bad }).then(
        (started) => {
          cleanups.push(() => started.close());
          return started;
        },
        (err: unknown) => err,
      );
      expect(outcome).toMatchObject({ code: "INVALID_ARGUMENT", message: expect.stringContaining(Object.keys(bad)[0]!) });
    }
  });
});

describe("the connection cap", () => {
  test("a connection over maxConnections gets ERROR UNAVAILABLE and is closed; the others go on; a freed slot is reused", async () => {
    const { server } = await serve({ maxConnections: 2 });
    const first = await helloConnection(server.port);
    const second = await rawConnection(server.port); // counts even before it says HELLO
    const third = await rawConnection(server.port);
    await waitFor(() => third.isClosed(), 3_000, "the third connection to be closed");
    expect(third.frames).toHaveLength(1);
    expect(errorOf(third.frames[0]!)).toMatchObject({ code: "UNAVAILABLE", retriable: true, message: expect.stringMatching(/2 connections/) });
    // The SDK reports it as UNAVAILABLE too.
    await expect(connect(`brook://127.0.0.1:${server.port}`, { logger: silentLogger })).rejects.toMatchObject({
      code: "UNAVAILABLE",
      message: expect.stringMatching(/limit of 2 connections/),
    });
    // The first two are untouched.
    first.send(rawFrame(0x12, 2));
    expect((await first.answer(2)).type).toBe(0x92);
    second.send(HELLO);
    expect((await second.answer(1)).type).toBe(0x81);
    // Once one leaves, a new client gets in.
    first.socket.destroy();
    await first.closed;
    await waitFor(
      async () => {
        const broker = await open(`brook://127.0.0.1:${server.port}`).catch(() => undefined);
        return broker !== undefined && (await broker.admin.listTopics()).length === 0;
      },
      5_000,
      "a client to connect in the freed slot",
    );
  });
});
