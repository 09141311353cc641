import { BrookError } from "@brook/core";
import {
  CreateTableCommand,
  DeleteItemCommand,
  DescribeTableCommand,
  GetItemCommand,
  PutItemCommand,
  ScanCommand,
  UpdateItemCommand,
  type AttributeValue,
  type DynamoDBClient,
} from "@aws-sdk/client-dynamodb";
import { awsErrorName, toKinesisBrookError } from "../errors.js";
import { leaseFromItem, type Item, type Lease, type LeaseKeys } from "./lease.js";

const TABLE_ACTIVE_TIMEOUT_MS = 120_000;

/** Writes the lease's owner may make: its condition is "counter unchanged and I process it". */
const OWNED_BY_ME = "leaseCounter = :counter AND ((leaseOwner = :me AND attribute_not_exists(checkpointOwner)) OR checkpointOwner = :me)";

/**
 * One group's lease table in DynamoDB. Every change to a lease is a conditional write on its
 * leaseCounter (and on who holds it), so of two workers racing for a lease exactly one wins,
 * and a worker that lost a lease can never write to it again. A write whose condition fails
 * resolves to undefined (the caller re-reads); any other failure throws a BrookError.
 */
export class LeaseTable {
  constructor(
    private readonly dynamo: DynamoDBClient,
    readonly name: string,
  ) {}

  /** Creates the table when it is missing (on-demand billing, hash key leaseKey) and waits until ACTIVE. */
  async ensure(): Promise<void> {
    const status = await this.status();
    if (status === undefined) {
      try {
        await this.dynamo.send(
          new CreateTableCommand({
            TableName: this.name,
            KeySchema: [{ AttributeName: "leaseKey", KeyType: "HASH" }],
            AttributeDefinitions: [{ AttributeName: "leaseKey", AttributeType: "S" }],
            BillingMode: "PAY_PER_REQUEST",
          }),
        );
      } catch (err) {
        // Another worker of the group created it first.
        if (awsErrorName(err) !== "ResourceInUseException") throw toKinesisBrookError(err, `create lease table "${this.name}"`);
      }
    }
    if (status === "ACTIVE") return;
    const deadline = Date.now() + TABLE_ACTIVE_TIMEOUT_MS;
    for (let delay = 50; ; delay = Math.min(delay * 2, 1_000)) {
      if ((await this.status()) === "ACTIVE") return;
      if (Date.now() > deadline) throw new BrookError("TIMEOUT", `lease table "${this.name}" was not ACTIVE within ${TABLE_ACTIVE_TIMEOUT_MS} ms`);
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }

  /** Whether the table exists (in any state). */
  async exists(): Promise<boolean> {
    return (await this.status()) !== undefined;
  }

  /** Every item of the table (consistent read). */
  async scan(): Promise<Item[]> {
    const items: Item[] = [];
    let start: Record<string, AttributeValue> | undefined;
    for (let page = 0; page < 10_000; page++) {
      const response = await this.call("scan", () =>
        this.dynamo.send(new ScanCommand({ TableName: this.name, ConsistentRead: true, ...(start === undefined ? {} : { ExclusiveStartKey: start }) })),
      );
      items.push(...(response.Items ?? []));
      start = response.LastEvaluatedKey;
      if (start === undefined) break;
    }
    return items;
  }

  /** This stream's leases, by shard id. */
  async leases(keys: LeaseKeys): Promise<Map<string, Lease>> {
    const out = new Map<string, Lease>();
    for (const item of await this.scan()) {
      const shardId = keys.shardOf(item);
      if (shardId !== undefined) out.set(shardId, leaseFromItem(item, shardId));
    }
    return out;
  }

  async get(keys: LeaseKeys, shardId: string): Promise<Lease | undefined> {
    const response = await this.call(`read lease ${shardId}`, () =>
      this.dynamo.send(new GetItemCommand({ TableName: this.name, Key: { leaseKey: { S: keys.keyOf(shardId) } }, ConsistentRead: true })),
    );
    return response.Item === undefined ? undefined : leaseFromItem(response.Item, shardId);
  }

  /** Creates a lease unless one exists; true when this call created it. */
  async create(item: Item): Promise<boolean> {
    const done = await this.conditional(`create lease ${item.leaseKey?.S}`, () =>
      this.dynamo.send(new PutItemCommand({ TableName: this.name, Item: item, ConditionExpression: "attribute_not_exists(leaseKey)" })),
    );
    return done !== undefined;
  }

  /** Renewal: the owner bumps the counter. Returns the lease as written, or undefined when it is no longer `me`'s. */
  renew(lease: Lease, me: string): Promise<Lease | undefined> {
    return this.update(lease, "SET leaseCounter = :next", OWNED_BY_ME, { ":me": { S: me } }, "renew");
  }

  /** Takes a free or expired lease (the counter the taker saw must still be current). */
  take(lease: Lease, me: string): Promise<Lease | undefined> {
    const switched = lease.owner !== undefined && lease.owner !== me;
    return this.update(
      lease,
      `SET leaseOwner = :me, leaseCounter = :next${switched ? ", ownerSwitchesSinceCheckpoint = if_not_exists(ownerSwitchesSinceCheckpoint, :zero) + :one" : ""} REMOVE checkpointOwner`,
      "leaseCounter = :counter",
      { ":me": { S: me }, ...(switched ? { ":one": { N: "1" }, ":zero": { N: "0" } } : {}) },
      "take",
    );
  }

  /**
   * Asks the owner for a lease (stealing for balance): leaseOwner becomes `me`, checkpointOwner
   * the current owner, who keeps processing until it has checkpointed and then lets go.
   */
  requestHandoff(lease: Lease, me: string): Promise<Lease | undefined> {
    if (lease.owner === undefined) return Promise.resolve(undefined);
    return this.update(
      lease,
      "SET leaseOwner = :me, checkpointOwner = :owner, leaseCounter = :next, ownerSwitchesSinceCheckpoint = if_not_exists(ownerSwitchesSinceCheckpoint, :zero) + :one",
      "leaseCounter = :counter AND leaseOwner = :owner AND attribute_not_exists(checkpointOwner)",
      { ":me": { S: me }, ":owner": { S: lease.owner }, ":one": { N: "1" }, ":zero": { N: "0" } },
      "request the hand-over of",
    );
  }

  /** The taker of a hand-over whose old owner went silent completes it itself. */
  completeHandoff(lease: Lease, me: string): Promise<Lease | undefined> {
    return this.update(lease, "SET leaseCounter = :next REMOVE checkpointOwner", "leaseCounter = :counter AND leaseOwner = :me", { ":me": { S: me } }, "complete the hand-over of");
  }

  /**
   * Writes a checkpoint; `release` also lets the lease go in the same write (graceful hand-over
   * and shard end). `children` records child shards at SHARD_END.
   */
  checkpoint(lease: Lease, me: string, checkpoint: string, subSequence: number, options: { release?: boolean; children?: string[] } = {}): Promise<Lease | undefined> {
    const values: Item = { ":me": { S: me }, ":cp": { S: checkpoint }, ":sub": { N: String(subSequence) }, ":zero": { N: "0" } };
    let set = "SET checkpoint = :cp, checkpointSubSequenceNumber = :sub, ownerSwitchesSinceCheckpoint = :zero, leaseCounter = :next";
    if (options.children !== undefined && options.children.length > 0) {
      set += ", childShardIds = :children";
      values[":children"] = { SS: options.children };
    }
    const remove = ["pendingCheckpoint", "pendingCheckpointSubSequenceNumber", "brookStartTimestamp", "brookStartSequence"];
    if (options.release === true) remove.push(lease.checkpointOwner === me ? "checkpointOwner" : "leaseOwner");
    return this.update(lease, `${set} REMOVE ${remove.join(", ")}`, OWNED_BY_ME, values, "checkpoint");
  }

  /** A LATEST lease's first reader records when it started (the checkpoint stays LATEST for the KCL). */
  pinStartTimestamp(lease: Lease, me: string, at: number): Promise<Lease | undefined> {
    return this.update(lease, "SET brookStartTimestamp = :at, leaseCounter = :next", `${OWNED_BY_ME} AND checkpoint = :latest`, { ":me": { S: me }, ":at": { N: String(at) }, ":latest": { S: "LATEST" } }, "pin the start of");
  }

  /** Lets a lease go without a checkpoint: a hand-over's old owner clears checkpointOwner, an owner clears leaseOwner. */
  release(lease: Lease, me: string): Promise<Lease | undefined> {
    const field = lease.checkpointOwner === me ? "checkpointOwner" : "leaseOwner";
    return this.update(lease, `SET leaseCounter = :next REMOVE ${field}`, OWNED_BY_ME, { ":me": { S: me } }, "release");
  }

  /** A taker that leaves before a hand-over it asked for is done gives its claim back. */
  abandonHandoff(lease: Lease, me: string): Promise<Lease | undefined> {
    return this.update(lease, "SET leaseCounter = :next REMOVE leaseOwner", "leaseCounter = :counter AND leaseOwner = :me", { ":me": { S: me } }, "give back the hand-over of");
  }

  /** Deletes a finished lease (SHARD_END) nobody holds. */
  async deleteFinished(lease: Lease): Promise<boolean> {
    const done = await this.conditional(`delete lease ${lease.leaseKey}`, () =>
      this.dynamo.send(
        new DeleteItemCommand({
          TableName: this.name,
          Key: { leaseKey: { S: lease.leaseKey } },
          ConditionExpression: "checkpoint = :end AND leaseCounter = :counter",
          ExpressionAttributeValues: { ":end": { S: "SHARD_END" }, ":counter": { N: String(lease.counter) } },
        }),
      ),
    );
    return done !== undefined;
  }

  private async update(lease: Lease, expression: string, condition: string, values: Item, what: string): Promise<Lease | undefined> {
    const response = await this.conditional(`${what} lease ${lease.leaseKey}`, () =>
      this.dynamo.send(
        new UpdateItemCommand({
          TableName: this.name,
          Key: { leaseKey: { S: lease.leaseKey } },
          UpdateExpression: expression,
          ConditionExpression: `attribute_exists(leaseKey) AND ${condition}`,
          ExpressionAttributeValues: { ...values, ":counter": { N: String(lease.counter) }, ":next": { N: String(lease.counter + 1) } },
          ReturnValues: "ALL_NEW",
        }),
      ),
    );
    return response?.Attributes === undefined ? undefined : leaseFromItem(response.Attributes, lease.shardId);
  }

  private async status(): Promise<string | undefined> {
    try {
      const response = await this.dynamo.send(new DescribeTableCommand({ TableName: this.name }));
      return response.Table?.TableStatus;
    } catch (err) {
      if (awsErrorName(err) === "ResourceNotFoundException") return undefined;
      throw toKinesisBrookError(err, `describe lease table "${this.name}"`);
    }
  }

  private async conditional<R>(what: string, run: () => Promise<R>): Promise<R | undefined> {
    try {
      return await run();
    } catch (err) {
      if (awsErrorName(err) === "ConditionalCheckFailedException") return undefined;
      throw toKinesisBrookError(err, `${what} in table "${this.name}"`);
    }
  }

  private async call<R>(what: string, run: () => Promise<R>): Promise<R> {
    try {
      return await run();
    } catch (err) {
      if (awsErrorName(err) === "ResourceNotFoundException") {
        throw new BrookError("UNAVAILABLE", `${what}: lease table "${this.name}" does not exist (was it deleted?)`, { cause: err });
      }
      throw toKinesisBrookError(err, `${what} in table "${this.name}"`);
    }
  }
}
