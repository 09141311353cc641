import { BrookError, type Admin, type GroupPosition, type PartitionOffsets, type TopicDescription, type TopicOptions } from "@brook/core";
import { checkGroupCopy, invalidArgument, validateTopicName } from "@brook/core/spi";

/** The SDK's default partition ownership expiry: an ownership not renewed for this long is free. */
const OWNERSHIP_EXPIRY_MS = 60_000;
import type { CheckpointStore, EventHubProducerClient } from "@azure/event-hubs";
import { eventHubsErrorCode, toEventHubsBrookError } from "./errors.js";

/**
 * Creates, deletes and lists event hubs. Event Hubs' data plane (AMQP) cannot: that is Azure
 * Resource Manager's job (portal, `az eventhubs eventhub create`, @azure/arm-eventhub). An
 * application that wants Brook's admin to do it passes one of these as the `hubManager` option.
 */
export interface EventHubsHubManager {
  /** false when the hub already exists */
  createHub(name: string, options: { partitions: number | undefined; retentionMs: number | undefined }): Promise<boolean>;
  /** false when there is no such hub */
  deleteHub(name: string): Promise<boolean>;
  listHubs(): Promise<string[]>;
}

/** The broker's cached client for one hub (AMQP connection, $management link). */
export type HubClientSource = (hub: string) => EventHubProducerClient;

/**
 * Topics are event hubs of the namespace. Reading works on the data plane (describeTopic,
 * topicExists); creating, deleting and listing need a `hubManager`, else they fail with
 * UNSUPPORTED (never a silent no-op). Without one, `createTopic(name, { ifNotExists: true })`
 * of a hub that exists succeeds (checked on the data plane), so an application whose hubs are
 * made in Azure runs the same code as on other backends; a missing hub is still UNSUPPORTED.
 */
export class EventHubsAdmin implements Admin {
  constructor(
    private readonly clients: HubClientSource,
    private readonly manager: EventHubsHubManager | undefined,
    /** the one hub a bound broker may use */
    private readonly boundHub: string | undefined,
    private readonly checkName: (name: string) => void,
    /** the groups' checkpoint store, when one is configured (groupPositions) */
    private readonly checkpointStore: () => CheckpointStore | undefined = () => undefined,
  ) {}

  /** Each partition's retained sequence numbers: [beginning, last enqueued + 1). */
  async partitionOffsets(topic: string): Promise<PartitionOffsets[]> {
    this.checkName(topic);
    const client = this.clients(topic);
    try {
      const ids = await client.getPartitionIds();
      const props = await Promise.all(ids.map((id) => client.getPartitionProperties(id)));
      return props.map((p) => {
        const end = String(p.lastEnqueuedSequenceNumber + 1);
        return { partition: p.partitionId, start: p.isEmpty ? end : String(p.beginningSequenceNumber), end };
      });
    } catch (err) {
      if (eventHubsErrorCode(err) === "MessagingEntityNotFoundError") throw notFound(topic, err);
      throw toEventHubsBrookError(err, `read the sequence numbers of event hub "${topic}"`);
    }
  }

  /** The group's checkpoints (last settled sequence number per partition) in the checkpoint store. */
  async groupPositions(topic: string, group: string): Promise<GroupPosition[]> {
    const offsets = await this.partitionOffsets(topic);
    const store = this.checkpointStore();
    if (store === undefined) throw new BrookError("UNSUPPORTED", 'checkpointStore: reading a group\'s positions needs the checkpoint store the group uses ("blob", "memory" or a CheckpointStore)');
    const client = this.clients(topic);
    let checkpoints;
    try {
      checkpoints = await store.listCheckpoints(client.fullyQualifiedNamespace, topic, group);
    } catch (err) {
      throw toEventHubsBrookError(err, `read the checkpoints of consumer group "${group}" on event hub "${topic}"`);
    }
    const byPartition = new Map(checkpoints.map((c) => [c.partitionId, c.sequenceNumber]));
    const positions = offsets.map(({ partition }) => {
      const seq = byPartition.get(partition);
      return { partition, committed: seq === undefined || seq < 0 ? undefined : String(seq) };
    });
    return positions.some((p) => p.committed !== undefined) ? positions : [];
  }

  /**
   * Copies `from`'s checkpoints (sequence number and offset per partition) to `to` in the
   * checkpoint store. Refused while `to` owns partitions (an ownership renewed within the last
   * minute, the SDK's default expiry): its members would overwrite the copy.
   */
  async copyGroupPositions(topic: string, from: string, to: string): Promise<GroupPosition[]> {
    checkGroupCopy(from, to);
    await this.partitionOffsets(topic); // TOPIC_NOT_FOUND first
    const store = this.checkpointStore();
    if (store === undefined) throw new BrookError("UNSUPPORTED", 'checkpointStore: copying a group\'s positions needs the checkpoint store the groups use ("blob", "memory" or a CheckpointStore)');
    const ns = this.clients(topic).fullyQualifiedNamespace;
    try {
      const checkpoints = await store.listCheckpoints(ns, topic, from);
      if (checkpoints.length === 0) throw new BrookError("INVALID_ARGUMENT", `from: group "${from}" has no position on event hub "${topic}" to copy`);
      const live = (await store.listOwnership(ns, topic, to)).filter((o) => o.ownerId !== "" && Date.now() - (o.lastModifiedTimeInMs ?? 0) < OWNERSHIP_EXPIRY_MS);
      if (live.length > 0) throw new BrookError("INVALID_ARGUMENT", `to: group "${to}" has live members on event hub "${topic}" (owning ${live.length} partition(s)); stop them before copying positions into it`);
      for (const c of checkpoints) await store.updateCheckpoint({ ...c, consumerGroup: to });
    } catch (err) {
      if (err instanceof BrookError) throw err;
      throw toEventHubsBrookError(err, `copy the checkpoints of consumer group "${from}" to "${to}" on event hub "${topic}"`);
    }
    return this.groupPositions(topic, to);
  }

  async createTopic(name: string, options: TopicOptions & { ifNotExists?: boolean } = {}): Promise<void> {
    this.checkName(name);
    const { partitions, retentionMs, ifNotExists } = options;
    if (partitions !== undefined && (!Number.isSafeInteger(partitions) || partitions < 1 || partitions > 1024)) throw invalidArgument("partitions", "an integer 1-1024", partitions);
    if (retentionMs !== undefined && !(Number.isSafeInteger(retentionMs) && retentionMs > 0)) throw invalidArgument("retentionMs", "a positive integer", retentionMs);
    if (this.manager === undefined && ifNotExists === true && (await this.topicExists(name))) {
      // Made in Azure beforehand (portal, az, Bicep): exactly what "create if missing" asks for.
      return;
    }
    const manager = this.requireManager("create");
    let created: boolean;
    try {
      created = await manager.createHub(name, { partitions, retentionMs });
    } catch (err) {
      throw toEventHubsBrookError(err, `create event hub "${name}"`);
    }
    if (!created && ifNotExists !== true) throw new BrookError("ALREADY_EXISTS", `event hub "${name}" already exists (pass ifNotExists: true to accept that)`);
  }

  async deleteTopic(name: string): Promise<void> {
    this.checkName(name);
    const manager = this.requireManager("delete");
    let deleted: boolean;
    try {
      deleted = await manager.deleteHub(name);
    } catch (err) {
      throw toEventHubsBrookError(err, `delete event hub "${name}"`);
    }
    if (!deleted) throw notFound(name);
  }

  async describeTopic(name: string): Promise<TopicDescription> {
    this.checkName(name);
    try {
      const props = await this.clients(name).getEventHubProperties();
      // Retention is a management-plane setting the data plane does not report.
      return { name, partitions: props.partitionIds.length, retentionMs: undefined };
    } catch (err) {
      if (eventHubsErrorCode(err) === "MessagingEntityNotFoundError") throw notFound(name, err);
      throw toEventHubsBrookError(err, `describe event hub "${name}"`);
    }
  }

  async listTopics(): Promise<string[]> {
    if (this.manager !== undefined) {
      try {
        return (await this.manager.listHubs()).sort();
      } catch (err) {
        throw toEventHubsBrookError(err, "list event hubs");
      }
    }
    if (this.boundHub !== undefined) return (await this.topicExists(this.boundHub)) ? [this.boundHub] : [];
    throw new BrookError("UNSUPPORTED", "listing the event hubs of a namespace needs the management plane: pass the hubManager option (the AMQP data plane cannot list them)");
  }

  async topicExists(name: string): Promise<boolean> {
    this.checkName(name);
    try {
      await this.clients(name).getEventHubProperties();
      return true;
    } catch (err) {
      if (eventHubsErrorCode(err) === "MessagingEntityNotFoundError") return false;
      throw toEventHubsBrookError(err, `look up event hub "${name}"`);
    }
  }

  private requireManager(what: string): EventHubsHubManager {
    if (this.manager === undefined) {
      throw new BrookError(
        "UNSUPPORTED",
        `Event Hubs cannot ${what} an event hub over its data plane (AMQP): use the Azure portal, \`az eventhubs eventhub ${what}\` or ARM, or pass the hubManager option`,
      );
    }
    return this.manager;
  }
}

export function notFound(hub: string, cause?: unknown): BrookError {
  return new BrookError("TOPIC_NOT_FOUND", `event hub "${hub}" does not exist in the namespace`, cause === undefined ? {} : { cause });
}

/** Brook topic names are event hub names: letters, digits, '.', '-', '_', at most 256 characters. */
export function checkHubName(name: string, field = "topic"): void {
  validateTopicName(name, field);
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,255}$/.test(name)) {
    throw invalidArgument(field, "an event hub name (letters, digits, '.', '-', '_'; starting with a letter or digit; at most 256)", name);
  }
}
