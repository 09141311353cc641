/**
 * The sockets the adapter gives KafkaJS (its `socketFactory` option), for two things KafkaJS
 * 2.2.4 gets wrong when a connection dies, both found by test/faults/kafka.test.ts:
 *
 * 1. Whole responses only. A KafkaJS connection keeps the bytes of a partly received response
 *    when its socket dies (Connection.chunks is never cleared) and reads the next socket's
 *    answers behind them: the frames are misaligned from then on, the socket's 'data' handler
 *    throws RangeError (an uncaught exception) and the connection never answers again; a
 *    consumer whose fetch connection was reset mid-response stopped for good (the same symptom
 *    as KafkaJS issue 715). These sockets emit only complete response frames (int32 size +
 *    body), so a dead socket leaves nothing half-read behind.
 * 2. A connection that stopped answering is dropped. KafkaJS times a request out but keeps
 *    using the connection, so behind a half-open connection or a hung broker every later request
 *    times out too, for minutes. As the Java client does, a request timeout now drops the
 *    connections to that broker (destroyed with an error, which KafkaJS handles as a lost
 *    connection: it fails what was in flight and reconnects).
 */
import net from "node:net";
import tls from "node:tls";
import type { ISocketFactory } from "kafkajs";

/** How long KafkaJS' own factory waits before TCP keep-alive probes; kept. */
const KEEP_ALIVE_DELAY_MS = 60_000;

/** The sockets of one KafkaJS client, by broker ("host:port" as KafkaJS names it). */
export class KafkaSockets {
  private readonly open = new Map<string, Set<net.Socket>>();

  readonly factory: ISocketFactory = ({ host, port, ssl, onConnect }) => {
    const socket = ssl
      ? tls.connect({ host, port, ...(net.isIP(host) === 0 ? { servername: host } : {}), ...ssl }, onConnect)
      : net.connect({ host, port }, onConnect);
    socket.setKeepAlive(true, KEEP_ALIVE_DELAY_MS);
    emitWholeFrames(socket);
    const broker = `${host}:${port}`;
    let set = this.open.get(broker);
    if (set === undefined) this.open.set(broker, (set = new Set()));
    set.add(socket);
    socket.once("close", () => {
      set.delete(socket);
      if (set.size === 0 && this.open.get(broker) === set) this.open.delete(broker);
    });
    return socket;
  };

  /** A request to `broker` timed out: its connections are given up (see the file comment). */
  requestTimedOut(broker: string): void {
    for (const socket of this.open.get(broker) ?? []) {
      socket.destroy(new Error(`a request to ${broker} timed out; dropping the connection`));
    }
  }
}

/**
 * Makes `socket` emit 'data' only in whole Kafka response frames. Done on the socket's own
 * emit, where Readable hands out each chunk, because KafkaJS listens on the socket itself.
 */
function emitWholeFrames(socket: net.Socket): void {
  let buffered: Buffer[] = [];
  let bufferedBytes = 0;
  let needed = 4;
  const emit = socket.emit.bind(socket) as (event: string | symbol, ...args: unknown[]) => boolean;
  socket.emit = ((event: string | symbol, ...args: unknown[]): boolean => {
    if (event !== "data") return emit(event, ...args);
    const chunk = args[0] as Buffer;
    buffered.push(chunk);
    bufferedBytes += chunk.length;
    if (bufferedBytes < needed) return true;
    const all = buffered.length === 1 ? buffered[0]! : Buffer.concat(buffered, bufferedBytes);
    let end = 0;
    while (all.length - end >= 4) {
      const size = all.readInt32BE(end);
      if (size < 0) {
        socket.destroy(new Error(`bad response frame size ${size}`));
        return true;
      }
      const frame = 4 + size;
      if (all.length - end < frame) break;
      end += frame;
    }
    const rest = all.subarray(end);
    buffered = rest.length > 0 ? [rest] : [];
    bufferedBytes = rest.length;
    needed = rest.length >= 4 ? 4 + rest.readInt32BE(0) : 4;
    return end > 0 ? emit("data", all.subarray(0, end)) : true;
  }) as typeof socket.emit;
}
