/**
 * Shared by the `brook serve` tests: a server in this process on a free port (closed after each
 * test), brokers on it, and raw sockets for the bytes the SDK would never send (PROTOCOL.md §2).
 * Importing this file registers the afterEach that runs every cleanup, newest first.
 */
import net from "node:net";
import { afterEach } from "@jest/globals";
import { connect, silentLogger, type Broker, type Logger } from "@brook/core";
import { startServer, type BrookServer, type ServerOptions } from "@brook/local-broker";
import { LogEngine, MemoryStore } from "@brook/local-broker/engine";
import { waitFor } from "@brook/contract-tests";

export const cleanups: Array<() => Promise<unknown> | void> = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

export type ServeOptions = Partial<Omit<ServerOptions, "engine">> & { engine?: LogEngine };

/** A server over `engine` (default: a fresh in-memory engine, closed with the server). */
export async function serve(options: ServeOptions = {}): Promise<{ engine: LogEngine; server: BrookServer }> {
  const engine = options.engine ?? (await LogEngine.open(new MemoryStore()));
  const owned = options.engine === undefined;
  const server = await startServer({ ...options, engine, port: options.port ?? 0, logger: options.logger ?? silentLogger });
  cleanups.push(async () => {
    await server.close();
    if (owned) await engine.close();
  });
  return { engine, server };
}

export async function open(url: string, options: Record<string, unknown> = {}): Promise<Broker> {
  const broker = await connect(url, { logger: silentLogger, ...options });
  cleanups.push(() => broker.close());
  return broker;
}

export function capturingLogger(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const push = (level: string) => (message: string, fields?: Record<string, unknown>) => void lines.push(`${level} ${message} ${JSON.stringify(fields ?? {})}`);
  return { logger: { debug: push("debug"), info: push("info"), warn: push("warn"), error: push("error") }, lines };
}

export interface RawFrame {
  type: number;
  id: number;
  body: Buffer;
}

export interface RawConnection {
  socket: net.Socket;
  /** every frame received so far */
  frames: RawFrame[];
  /** resolves when the socket closes */
  closed: Promise<void>;
  isClosed: () => boolean;
  send: (bytes: Buffer) => void;
  /** the next frame with this id (waits up to 5 s) */
  answer: (id: number, timeoutMs?: number) => Promise<RawFrame>;
}

/** A raw protocol connection for sending frames by hand (PROTOCOL.md §2). */
export async function rawConnection(port: number, options: { read?: boolean } = {}): Promise<RawConnection> {
  const socket = net.connect({ host: "127.0.0.1", port });
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  const frames: RawFrame[] = [];
  let buffered = Buffer.alloc(0);
  socket.on("data", (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk]);
    while (buffered.length >= 4 && buffered.length >= 4 + buffered.readUInt32BE(0)) {
      const length = buffered.readUInt32BE(0);
      frames.push({ type: buffered[4]!, id: buffered.readUInt32BE(5), body: buffered.subarray(9, 4 + length) });
      buffered = buffered.subarray(4 + length);
    }
  });
  // A client that never reads its responses (slow loris): the socket stays paused.
  if (options.read === false) socket.pause();
  socket.on("error", () => undefined);
  let isClosed = false;
  const closed = new Promise<void>((resolve) =>
    socket.once("close", () => {
      isClosed = true;
      resolve();
    }),
  );
  cleanups.push(() => void socket.destroy());
  const answer = async (id: number, timeoutMs = 5_000): Promise<RawFrame> => {
    await waitFor(() => frames.some((f) => f.id === id) || isClosed, timeoutMs, `an answer to request ${id}`);
    const found = frames.find((f) => f.id === id);
    if (found === undefined) throw new Error(`connection closed before an answer to request ${id}; frames: ${describeFrames(frames)}`);
    return found;
  };
  return { socket, frames, closed, isClosed: () => isClosed, send: (bytes) => void socket.write(bytes), answer };
}

export function describeFrames(frames: RawFrame[]): string {
  return frames.map((f) => `0x${f.type.toString(16)}#${f.id}${f.type === 0xff ? ` ${f.body.toString()}` : ""}`).join(", ");
}

export function rawFrame(type: number, id: number, body: Buffer | string = Buffer.alloc(0)): Buffer {
  const b = typeof body === "string" ? Buffer.from(body) : body;
  const out = Buffer.alloc(9 + b.length);
  out.writeUInt32BE(5 + b.length, 0);
  out[4] = type;
  out.writeUInt32BE(id, 5);
  b.copy(out, 9);
  return out;
}

/** A frame with a json body (PROTOCOL.md §3). */
export function jsonRequest(type: number, id: number, value: unknown): Buffer {
  return rawFrame(type, id, JSON.stringify(value));
}

export const HELLO = rawFrame(0x01, 1, JSON.stringify({ version: 1 }));

/** The ERROR body of a frame (PROTOCOL.md §3). */
export function errorOf(f: RawFrame): { code: string; message: string; retriable: boolean } {
  if (f.type !== 0xff) throw new Error(`expected an ERROR frame, got type 0x${f.type.toString(16)} (${f.body.toString().slice(0, 200)})`);
  return JSON.parse(f.body.toString()) as { code: string; message: string; retriable: boolean };
}

/** A raw connection that said HELLO and got HELLO_OK. */
export async function helloConnection(port: number, options: { read?: boolean; token?: string } = {}): Promise<RawConnection> {
  const raw = await rawConnection(port, options);
  raw.send(options.token === undefined ? HELLO : jsonRequest(0x01, 1, { version: 1, token: options.token }));
  if (options.read !== false) {
    const ok = await raw.answer(1);
    if (ok.type !== 0x81) throw new Error(`expected HELLO_OK, got ${describeFrames([ok])}`);
  }
  return raw;
}

/** §5 append_request body: messages with optional key and headers. */
export function appendBody(topic: string, messages: Array<{ key?: string; headers?: Array<[string, string]>; value: Buffer | string }>): Buffer {
  const parts: Buffer[] = [];
  const t = Buffer.from(topic);
  const head = Buffer.alloc(2 + t.length + 4);
  head.writeUInt16BE(t.length, 0);
  t.copy(head, 2);
  head.writeUInt32BE(messages.length, 2 + t.length);
  parts.push(head);
  const str32 = (s: string | Buffer): Buffer => {
    const b = typeof s === "string" ? Buffer.from(s) : s;
    const out = Buffer.alloc(4 + b.length);
    out.writeUInt32BE(b.length, 0);
    b.copy(out, 4);
    return out;
  };
  for (const m of messages) {
    const headers = m.headers ?? [];
    parts.push(Buffer.from([(m.key !== undefined ? 1 : 0) | (headers.length > 0 ? 4 : 0)]));
    if (m.key !== undefined) parts.push(str32(m.key));
    if (headers.length > 0) {
      const n = Buffer.alloc(2);
      n.writeUInt16BE(headers.length, 0);
      parts.push(n);
      for (const [name, value] of headers) parts.push(str32(name), str32(value));
    }
    parts.push(str32(typeof m.value === "string" ? Buffer.from(m.value) : m.value));
  }
  return Buffer.concat(parts);
}

/** §6 fetch_request body. */
export function fetchBody(topic: string, partition: number, offset: number, maxRecords: number, waitMs: number): Buffer {
  const t = Buffer.from(topic);
  const b = Buffer.alloc(2 + t.length + 4 + 8 + 4 + 4);
  b.writeUInt16BE(t.length, 0);
  t.copy(b, 2);
  let at = 2 + t.length;
  b.writeUInt32BE(partition, at);
  b.writeUInt32BE(0, at + 4);
  b.writeUInt32BE(offset, at + 8);
  b.writeUInt32BE(maxRecords, at + 12);
  b.writeUInt32BE(waitMs, at + 16);
  return b;
}

/** §5 append_response: [status, partition, offset] or [status, code] per entry. */
export function appendResults(body: Buffer): Array<{ ok: true; partition: number; offset: number } | { ok: false; code: string; message: string }> {
  const count = body.readUInt32BE(0);
  let at = 4;
  const out: Array<{ ok: true; partition: number; offset: number } | { ok: false; code: string; message: string }> = [];
  for (let i = 0; i < count; i++) {
    const status = body[at]!;
    if (status === 2) {
      const codeLength = body.readUInt16BE(at + 2);
      const code = body.toString("utf8", at + 4, at + 4 + codeLength);
      const messageLength = body.readUInt32BE(at + 4 + codeLength);
      const message = body.toString("utf8", at + 8 + codeLength, at + 8 + codeLength + messageLength);
      out.push({ ok: false, code, message });
      at += 8 + codeLength + messageLength;
    } else {
      out.push({ ok: true, partition: body.readUInt32BE(at + 1), offset: body.readUInt32BE(at + 9) });
      at += 13;
    }
  }
  return out;
}

export type { BrookServer };
