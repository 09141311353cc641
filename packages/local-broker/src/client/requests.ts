/**
 * The client's half of pipelining and flow control (../../PROTOCOL.md §9): request ids, the
 * in-flight bound, the queue of requests waiting to be sent, per-request timeouts, aborts (a
 * FETCH is cancelled on the server) and matching answers to requests. The socket it writes to
 * comes and goes with the connection (connection.ts).
 */
import { BrookError } from "@brook/core/base";
import { decodeError } from "../wire/codec.js";
import { FrameType, RESPONSE_BIT, frame, setFrameId, type Frame } from "../wire/frames.js";

/** Where requests go while connected: the current socket. */
export interface RequestSink {
  write(bytes: Buffer): void;
  /** false while the socket is closed or its buffer is full */
  readonly writable: boolean;
}

export interface CallOptions<R> {
  /** default: requestTimeoutMs */
  timeoutMs?: number;
  /** an abort resolves the call with `abortValue` and cancels a FETCH on the server */
  signal?: AbortSignal;
  abortValue?: R;
  /** runs as the response frame is dispatched, before any later frame (JOIN, §7) */
  onResponse?: (value: R) => void;
}

interface Pending {
  type: number;
  bytes: Buffer;
  /** 0 until sent */
  id: number;
  decode: (body: Buffer) => unknown;
  resolve: (value: unknown) => void;
  reject: (error: BrookError) => void;
  onResponse: ((value: unknown) => void) | undefined;
  timer: NodeJS.Timeout | undefined;
  settled: boolean;
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

export class RequestPipe {
  private sink: RequestSink | undefined;
  /** set once the pipe takes no more requests (closed, or reconnecting gave up) */
  private stopped: BrookError | undefined;
  private readonly inFlight = new Map<number, Pending>();
  private readonly queue = new RequestQueue();
  private nextId = 1;

  constructor(
    private readonly url: string,
    readonly requestTimeoutMs: number,
    private maxInFlight: number,
  ) {}

  /** Sends a request frame built with id 0 and resolves with its decoded answer. */
  call<R>(type: number, bytes: Buffer, decode: (body: Buffer) => R, extra: CallOptions<R> = {}): Promise<R> {
    if (this.stopped !== undefined) return Promise.reject(this.stopped);
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

  /** A connection is up: requests go to `sink`, at most `serverMaxInFlight` at once (HELLO_OK). */
  attach(sink: RequestSink, serverMaxInFlight: number): void {
    this.sink = sink;
    this.maxInFlight = Math.min(this.maxInFlight, Math.max(1, serverMaxInFlight));
  }

  /** The connection is lost: what was in flight fails with `error`; the queue waits for the next one. */
  detach(error: BrookError): void {
    this.sink = undefined;
    this.failAll(error, false);
  }

  /** No more requests: everything in flight or queued, and every later call, fails with `error`. */
  stop(error: BrookError): void {
    this.sink = undefined;
    this.stopped = error;
    this.failAll(error, true);
  }

  /** Sends queued requests while the socket and the in-flight bound allow. */
  flush(): void {
    while (this.queue.size > 0 && this.canSend()) {
      const p = this.queue.shift();
      if (p === undefined) break;
      this.transmit(p);
    }
  }

  /** An answer (or ERROR) to the request with the frame's id; a late one is dropped. */
  answer(f: Frame): void {
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
        this.flush();
        return;
      }
      p.onResponse?.(value);
      p.resolve(value);
    }
    this.flush();
  }

  private canSend(): boolean {
    return this.sink !== undefined && this.sink.writable && this.inFlight.size < this.maxInFlight;
  }

  private transmit(p: Pending): void {
    let id = this.nextId;
    while (this.inFlight.has(id)) id = id >= 0xffffffff ? 1 : id + 1;
    this.nextId = id >= 0xffffffff ? 1 : id + 1;
    p.id = id;
    setFrameId(p.bytes, id);
    this.inFlight.set(id, p);
    this.sink!.write(p.bytes);
  }

  /** Takes a request off the books without an answer (timeout, abort); cancels a FETCH on the server. */
  private forget(p: Pending): void {
    p.settled = true;
    if (p.timer !== undefined) clearTimeout(p.timer);
    if (p.id !== 0 && this.inFlight.get(p.id) === p) {
      this.inFlight.delete(p.id);
      if (p.type === FrameType.FETCH) this.sink?.write(frame(FrameType.CANCEL, p.id));
      this.flush();
    }
  }

  private expire(p: Pending, timeoutMs: number): void {
    if (p.settled) return;
    const sent = p.id !== 0;
    this.forget(p);
    p.reject(
      sent || this.sink !== undefined
        ? new BrookError("TIMEOUT", `request 0x${p.type.toString(16)} to ${this.url} got no answer within ${timeoutMs} ms`)
        : new BrookError("UNAVAILABLE", `not connected to ${this.url} (reconnecting); the request waited ${timeoutMs} ms`),
    );
  }

  private settle(p: Pending): void {
    p.settled = true;
    if (p.timer !== undefined) clearTimeout(p.timer);
  }

  private failAll(error: BrookError, queued: boolean): void {
    for (const p of this.inFlight.values()) {
      this.settle(p);
      p.reject(error);
    }
    this.inFlight.clear();
    if (!queued) return;
    for (const p of this.queue.drain()) {
      this.settle(p);
      p.reject(error);
    }
  }
}
