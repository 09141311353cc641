/**
 * The TCP server: Kafka's framing (https://kafka.apache.org/protocol#protocol_common)
 *
 *   Frame          => size int32, then `size` bytes (request or response)
 *   RequestHeader  => request_api_key int16, request_api_version int16, correlation_id int32,
 *                     client_id nullable string            (header v1; only non-flexible versions)
 *   ResponseHeader => correlation_id int32                  (header v0)
 *
 * A connection's requests are answered one after another, in order, as Kafka brokers do. A
 * frame whose size is negative or above `maxFrameBytes`, or a request that does not parse,
 * closes that connection (with a logged reason) and nothing else. A request for an API key or
 * version not implemented gets UNSUPPORTED_VERSION (35), never silence.
 */
import { createServer, type AddressInfo, type Server, type Socket } from "node:net";
import { defaultLogger, type Logger } from "@brook/core/base";
import type { EngineApi } from "@brook/local-broker/engine";
import { ProtocolError, Reader, Writer } from "./codec.js";
import { KafkaError } from "./errors.js";
import { handlers, writeApiKeys, type Context, type Handler } from "./handlers.js";
import { GroupCoordinator } from "./groups.js";
import { ProducerState } from "./producers.js";

export interface KafkaWireOptions {
  engine: EngineApi;
  /** default 127.0.0.1 */
  host?: string;
  /** default 9092; 0 picks a free port */
  port?: number;
  /** the host clients are told to connect to (Metadata, FindCoordinator); default `host` */
  advertisedHost?: string;
  /** largest request frame accepted, in bytes (default: the engine's message limit + 1 MiB) */
  maxFrameBytes?: number;
  /** when set, clients must authenticate with SASL PLAIN, this token as the password */
  token?: string;
  logger?: Logger;
}

export interface KafkaWireServer {
  readonly host: string;
  readonly port: number;
  /** "host:port" for a Kafka client's brokers list */
  readonly address: string;
  close(): Promise<void>;
}

export const API_VERSIONS_KEY = 18;

export async function startKafkaWire(options: KafkaWireOptions): Promise<KafkaWireServer> {
  const host = options.host ?? "127.0.0.1";
  const logger = options.logger ?? defaultLogger;
  const maxFrameBytes = options.maxFrameBytes ?? options.engine.maxMessageBytes + 1024 * 1024;
  const sockets = new Set<Socket>();
  const groups = new GroupCoordinator(options.engine);
  let port = 0;
  const shared = {
    engine: options.engine,
    groups,
    producers: new ProducerState(),
    logger,
    token: options.token,
    get node() {
      return { id: 0, host: options.advertisedHost ?? host, port };
    },
  };
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    // Responses go out at once (as Kafka's broker sets TCP_NODELAY): with Nagle, the tail of a
    // large Fetch response could wait for the client's delayed ACK.
    socket.setNoDelay(true);
    socket.on("close", () => sockets.delete(socket));
    serveConnection(socket, shared, maxFrameBytes);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 9092, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  port = (server.address() as AddressInfo).port;
  return {
    host,
    port,
    address: `${host}:${port}`,
    close: async () => {
      groups.close();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const s of sockets) s.destroy();
      await closed;
    },
  };
}

type Shared = Omit<Context, "authenticated" | "connection" | "clientId">;

function serveConnection(socket: Socket, shared: Shared, maxFrameBytes: number): void {
  const remote = `${socket.remoteAddress ?? "?"}:${socket.remotePort ?? "?"}`;
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  const queue: Buffer[] = [];
  let busy = false;
  let closed = false;
  const ctx: Context = { ...shared, authenticated: shared.token === undefined, connection: remote, clientId: null, node: shared.node };
  Object.defineProperty(ctx, "node", { get: () => shared.node });

  const fail = (reason: string): void => {
    if (closed) return;
    closed = true;
    shared.logger.warn(`kafka-wire: closing connection ${remote}: ${reason}`);
    socket.destroy();
  };

  socket.on("error", () => undefined);
  socket.on("close", () => {
    closed = true;
    shared.groups.connectionClosed(remote);
  });
  socket.on("data", (chunk: Buffer) => {
    if (closed) return;
    pending.push(chunk);
    pendingBytes += chunk.length;
    let buf = pending.length === 1 ? pending[0]! : Buffer.concat(pending, pendingBytes);
    let at = 0;
    while (buf.length - at >= 4) {
      const size = buf.readInt32BE(at);
      if (size < 0 || size > maxFrameBytes) return fail(`frame of ${size} bytes is outside 0..${maxFrameBytes}`);
      if (buf.length - at - 4 < size) break;
      queue.push(buf.subarray(at + 4, at + 4 + size));
      at += 4 + size;
    }
    buf = buf.subarray(at);
    pending = buf.length > 0 ? [buf] : [];
    pendingBytes = buf.length;
    void drain();
  });

  const drain = async (): Promise<void> => {
    if (busy) return;
    busy = true;
    try {
      while (queue.length > 0 && !closed) {
        const frame = queue.shift()!;
        let response: Buffer[] | null;
        try {
          response = await handle(frame, ctx);
        } catch (err) {
          if (err instanceof ProtocolError) return fail(err.message);
          shared.logger.error(`kafka-wire: request failed on ${remote}`, { error: (err as Error).message });
          return fail(`internal error: ${(err as Error).message}`);
        }
        if (response !== null && !closed) {
          // one gathered write (writev) of the frame's pieces: record batches are not copied
          socket.cork();
          for (const piece of response) socket.write(piece);
          socket.uncork();
        }
        if (ctx.closeAfterResponse !== undefined && !closed) {
          closed = true;
          shared.logger.warn(`kafka-wire: closing connection ${remote}: ${ctx.closeAfterResponse}`);
          socket.end();
        }
      }
    } finally {
      busy = false;
    }
  };
}

function frame(correlationId: number, body: Writer): Buffer[] {
  const head = Buffer.allocUnsafe(8);
  head.writeInt32BE(body.length + 4, 0);
  head.writeInt32BE(correlationId, 4);
  return [head, ...body.toChunks()];
}

async function handle(buf: Buffer, ctx: Context): Promise<Buffer[] | null> {
  const r = new Reader(buf);
  const apiKey = r.int16();
  const version = r.int16();
  const correlationId = r.int32();
  const clientId = r.nullableString();
  ctx.clientId = clientId;
  const handler: Handler | undefined = handlers[apiKey];
  if (handler === undefined || version < handler.min || version > handler.max) {
    ctx.logger.debug(`kafka-wire: unsupported api key ${apiKey} version ${version} from ${ctx.connection}`);
    if (apiKey === API_VERSIONS_KEY) {
      // KIP-511: an ApiVersions version too new is answered in v0 with the versions we have
      const w = new Writer().int16(KafkaError.UNSUPPORTED_VERSION);
      writeApiKeys(w);
      return frame(correlationId, w);
    }
    return frame(correlationId, new Writer().int16(KafkaError.UNSUPPORTED_VERSION));
  }
  if (!ctx.authenticated && !handler.beforeAuth) {
    throw new ProtocolError(`api key ${apiKey} before SASL authentication`);
  }
  const w = await handler.handle(r, version, ctx);
  if (w === null) return null;
  return frame(correlationId, w);
}
