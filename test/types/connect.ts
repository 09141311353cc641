/**
 * Type-level checks of connect(): compiled by `tsc -p test/types` (no emit) in the test run.
 * Each @ts-expect-error line must fail to compile, or tsc reports the directive as unused.
 */
import { connect, type Broker } from "@brook/core";
import type { KafkaBroker } from "@brook/adapter-kafka";
import type { PubSubBroker } from "@brook/adapter-pubsub";
import type { FirehoseBroker, KinesisBroker } from "@brook/adapter-kinesis";
import type { EventHubsBroker } from "@brook/adapter-eventhubs";
import type { LocalBroker } from "@brook/local-broker";

export async function typed(): Promise<void> {
  const kafka: KafkaBroker = await connect("kafka://127.0.0.1:9092", { clientId: "svc", sessionTimeoutMs: 10_000 });
  // @ts-expect-error a Kafka option of the wrong type
  await connect("kafka://127.0.0.1:9092", { clientId: 42 });
  // @ts-expect-error an option no Kafka broker has
  await connect("kafka://127.0.0.1:9092", { fsync: "always" });
  const local: LocalBroker = await connect("local:./data", { fsync: "always" });
  // @ts-expect-error fsync takes "never" | "interval" | "always"
  await connect("local:./data", { fsync: "sometimes" });
  const pubsub: PubSubBroker = await connect("pubsub://project?emulatorHost=127.0.0.1:8085", { messageOrdering: false });
  const kinesis: KinesisBroker = await connect("kinesis://us-east-1?endpoint=http://127.0.0.1:4567", { leaseTable: "{group}", failoverTimeMs: 10_000, envelope: "kpl" });
  // @ts-expect-error envelope takes "auto" | "kpl" | "none"
  await connect("kinesis://us-east-1", { envelope: "json" });
  // The Kinesis broker's typed extras: setPartitions on its admin, publisher options.
  await kinesis.admin.setPartitions("orders", 4);
  kinesis.publisher<string>("orders", { aggregate: true, explicitHashKey: () => "0" });
  // @ts-expect-error aggregate is a boolean
  kinesis.publisher<string>("orders", { aggregate: "yes" });
  const firehose: FirehoseBroker = await connect("firehose://us-east-1?endpoint=http://127.0.0.1:5000", { bucket: "logs", prefix: "orders/", framing: "newline", envelope: "json" });
  // @ts-expect-error envelope takes "none" | "json" on Firehose ("kpl" is Kinesis')
  await connect("firehose://us-east-1", { envelope: "kpl" });
  // @ts-expect-error an option no Firehose broker has
  await connect("firehose://us-east-1", { leaseTable: "{group}" });
  // The Firehose broker's typed extras: an S3 destination on createTopic, framing on publisher().
  await firehose.admin.createTopic("orders", { s3: { bucket: "logs", prefix: "orders/" } });
  firehose.publisher<string>("orders", { codec: "string", framing: "newline", envelope: "none" });
  // @ts-expect-error framing takes "newline" | "none"
  firehose.publisher<string>("orders", { framing: "crlf" });
  const described: string = (await firehose.admin.describeTopic("orders")).status;
  const eventhubs: EventHubsBroker = await connect("eventhubs://myns.servicebus.windows.net/orders", { checkpointStore: "memory", updateIntervalMs: 1_000 });
  // @ts-expect-error checkpointStore takes "blob" | "memory" | a CheckpointStore
  await connect("eventhubs://myns.servicebus.windows.net/orders", { checkpointStore: "disk" });
  void eventhubs;
  // A URL known only at run time: any broker, options checked when it opens.
  const anyBroker: Broker = await connect(process.env.BROOK_URL ?? "memory:", { clientId: "svc" });
  void [kafka, local, pubsub, kinesis, firehose, described, anyBroker];
}
