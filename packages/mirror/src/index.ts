/**
 * `@brook/mirror`: copies topics between any two Brook backends, at least once, and moves
 * consumer groups to the copy without skipping a message (see README.md).
 */
export { mirror } from "./mirror.js";
export type { MirrorOptions, MirrorProgress, MirrorResult, PartitionProgress, TopicProgress } from "./mirror.js";
export { translate } from "./translate.js";
export type { TranslateOptions, TranslateResult, TranslatedPartition } from "./translate.js";
export { readPositionMap } from "./position-map.js";
export type { Checkpoint, DuplicateRecord, Mark, PositionMap, StoredCheckpoint } from "./position-map.js";
export { DEFAULT_SYNC_EVERY, MIRROR_HEADERS, defaultMirrorGroup, derivedIdempotencyKey, mapTopicFor } from "./options.js";
export type { BrokerRef, SyncEvery } from "./options.js";
