/**
 * `brook://host:port`: the local broker's engine in a `brook serve` process, reached over TCP
 * (../../PROTOCOL.md). The same LocalBroker runs over a RemoteEngineApi instead of the
 * in-process LogEngine.
 */
import { defaultLogger, toLogger, type ConnectOptions, type Logger } from "@brook/core";
import { LocalBroker } from "../broker.js";
import { RemoteEngineApi } from "./dispatch.js";
import { mergeBrookOptions, parseBrookUrl, redactUrl } from "./options.js";

/** Opens the engine API of `brook://host:port?token=…`; typed options win over the URL, then env BROOK_TOKEN. */
export async function connectRemoteEngine(url: string, options: ConnectOptions = {}): Promise<RemoteEngineApi> {
  const parsed = parseBrookUrl(url);
  const opts = mergeBrookOptions(parsed.options, options);
  return RemoteEngineApi.connect({
    host: parsed.host,
    port: parsed.port,
    token: opts.token,
    ...(opts.connectTimeoutMs === undefined ? {} : { connectTimeoutMs: opts.connectTimeoutMs }),
    ...(opts.requestTimeoutMs === undefined ? {} : { requestTimeoutMs: opts.requestTimeoutMs }),
    ...(opts.maxInFlight === undefined ? {} : { maxInFlight: opts.maxInFlight }),
    ...(opts.reconnectAttempts === undefined ? {} : { reconnect: { maxAttempts: opts.reconnectAttempts } }),
    logger: toLogger(options.logger) ?? defaultLogger,
  });
}

/** `connect("brook://127.0.0.1:7654?token=…")`: a LocalBroker over the wire. */
export async function connectBrook(url: string, options: ConnectOptions = {}): Promise<LocalBroker> {
  const api = await connectRemoteEngine(url, options);
  return new LocalBroker(redactUrl(url), api, toLogger(options.logger) ?? defaultLogger);
}
