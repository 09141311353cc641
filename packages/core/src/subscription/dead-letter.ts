import { BrookError } from "../errors.js";
import { DLQ_HEADERS } from "../headers.js";
import type { Publisher } from "../contract.js";
import type { Headers } from "../contract.js";
import type { SourceRecord } from "../spi.js";
import { tracingActive, withContextOf } from "../tracing.js";

function withoutTraceContext(headers: Headers): Headers {
  const { traceparent: _parent, tracestate: _state, ...rest } = headers;
  return rest;
}

/** Opens a bytes publisher for the dead-letter topic (the broker's own publisher()). */
export type DeadLetterPublisherFactory = (topic: string) => Publisher<Uint8Array>;

/**
 * Where messages go after their last failed attempt: republished to the dead-letter topic with
 * `brook-*` headers saying why, from where and after how many attempts, or, without a
 * dead-letter topic, reported as an "error" (the message is then acked: nothing else can take it).
 * A failed dead-letter publish throws, so the message stays unsettled and comes back later.
 */
export class DeadLetterer {
  private publisher: Publisher<Uint8Array> | undefined;

  constructor(
    private readonly sourceTopic: string,
    private readonly deadLetterTopic: string | undefined,
    private readonly open: DeadLetterPublisherFactory,
    private readonly report: (error: BrookError) => void,
  ) {}

  async deadLetter(records: readonly SourceRecord[], failure: unknown, attempts: number): Promise<void> {
    const reason = failure instanceof Error ? failure.message : String(failure);
    const topic = this.deadLetterTopic;
    if (topic === undefined) {
      for (const r of records) {
        this.report(
          new BrookError(
            "INTERNAL",
            `message ${r.partition}/${r.offset} of topic "${this.sourceTopic}" failed after ${attempts} attempt(s) and was dropped (no deadLetter configured): ${reason}`,
            { cause: failure },
          ),
        );
      }
      return;
    }
    const publisher = (this.publisher ??= this.open(topic));
    // One message (a handler's): its dead letter is published in its trace, as a child span, and
    // carries that span's traceparent instead of the original one. A batch's messages may each
    // be in another trace: their headers go on as they are.
    const traced = records.length === 1 && tracingActive();
    const publish = (): ReturnType<typeof publisher.publishBatch> => publisher.publishBatch(
      records.map((r) => ({
        data: r.value,
        ...(r.key === undefined ? {} : { key: r.key }),
        headers: {
          ...(traced ? withoutTraceContext(r.headers) : r.headers),
          [DLQ_HEADERS.reason]: reason.slice(0, 1_000),
          [DLQ_HEADERS.originalTopic]: this.sourceTopic,
          [DLQ_HEADERS.originalPosition]: `${r.partition}:${r.offset}`,
          [DLQ_HEADERS.attempts]: String(attempts),
        },
      })),
    );
    const results = traced ? await withContextOf(records[0]!.headers, publish) : await publish();
    const failed = results.find((r) => !r.ok);
    if (failed !== undefined && !failed.ok) {
      throw new BrookError(failed.error.code, `dead-letter publish to "${topic}" failed: ${failed.error.message}`, { cause: failed.error });
    }
  }

  async close(): Promise<void> {
    await this.publisher?.close().catch(() => undefined);
  }
}
