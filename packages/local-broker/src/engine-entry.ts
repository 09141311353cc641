/**
 * `@brook/local-broker/engine`: the local broker one level below `connect()`, for tools that
 * work with the engine itself — the `brook` CLI (`brook serve` over a memory engine, `brook
 * groups` and partition offsets over brook://), a server for another wire protocol on the same
 * log and groups, and cross-package tests. A `LocalBroker` (front door) runs over any EngineApi.
 * No side effects: importing it registers nothing. Storage, the wire protocol, the server's and
 * the coordinator's internals stay private.
 */
export { LogEngine } from "./engine.js";
export type { EngineOptions } from "./engine.js";
export { MemoryStore } from "./storage/memory-store.js";
export type { StoredRecord, TopicConfig } from "./storage/types.js";
export type { AppendOptions, CreateTopicConfig, EngineApi, FetchResult, GroupDescription, PartitionInfo, TopicDetails } from "./engine-api.js";
export type { GroupMember } from "./coordinator.js";
export { RemoteEngineApi } from "./client/dispatch.js";
export type { RemoteEngineOptions } from "./client/connection.js";
export { connectRemoteEngine } from "./client/connect.js";
export { redactUrl } from "./client/options.js";
export { engineApiOf } from "./broker.js";
export { checkDirectory, formatCheckReport } from "./storage/file-check.js";
export type { CheckFinding, CheckOptions, CheckReport } from "./storage/file-check.js";
