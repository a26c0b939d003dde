import { randomUUID } from 'node:crypto';
import type { Kafka, KafkaMessage } from 'kafkajs';
import { FETCH_LIMITS } from '../topology-types.js';

/** A partition to read from `from` (inclusive) to `to` (exclusive, e.g. the end offset). */
export interface PartitionRange {
  readonly topic: string;
  readonly partition: number;
  readonly from: number;
  readonly to: number;
}

/**
 * Reads each range to its end, read_committed, calling `onBatch` in offset order per partition.
 * KafkaJS has no manual assign(): a short-lived consumer in a group of its own subscribes to the
 * topics, seeks the wanted partitions, and stops when every range is reached. Batches of only
 * control records or aborted data never reach eachBatch; their END_BATCH_PROCESS event still
 * moves the range forward.
 */
export async function readRanges(
  kafka: Kafka,
  ranges: readonly PartitionRange[],
  onBatch: (range: PartitionRange, messages: readonly KafkaMessage[], lastOffset: number) => Promise<void>,
): Promise<void> {
  const pending = ranges.filter((r) => r.from < r.to);
  if (pending.length === 0) return;
  const byId = new Map(pending.map((r) => [`${r.topic}|${r.partition}`, r]));
  const reached = new Map<string, number>();
  let failed = false;
  const consumer = kafka.consumer({ groupId: `range-reader-${randomUUID()}`, readUncommitted: false, maxWaitTimeInMs: 100, ...FETCH_LIMITS });
  const done = new Promise<void>((resolve, reject) => {
    const progress = (topic: string, partition: number, lastOffset: number): void => {
      const id = `${topic}|${partition}`;
      if (!byId.has(id)) return;
      reached.set(id, Math.max(reached.get(id) ?? -1, lastOffset));
      if (pending.every((r) => (reached.get(`${r.topic}|${r.partition}`) ?? -1) + 1 >= r.to)) resolve();
    };
    consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => progress(payload.topic, payload.partition, Number(payload.lastOffset)));
    consumer.on(consumer.events.CRASH, ({ payload }) => reject(payload.error));
    void (async () => {
      try {
        await consumer.connect();
        await consumer.subscribe({ topics: [...new Set(pending.map((r) => r.topic))], fromBeginning: false });
        await consumer.run({
          autoCommit: false,
          eachBatchAutoResolve: false,
          eachBatch: async ({ batch, resolveOffset, heartbeat }) => {
            const range = byId.get(`${batch.topic}|${batch.partition}`);
            if (!range || failed) return;
            const messages = batch.messages.filter((m) => Number(m.offset) < range.to);
            try {
              await onBatch(range, messages, Math.min(Number(batch.lastOffset()), range.to - 1));
            } catch (error) {
              // The caller's failure ends the read: no consumer restarts, no retries of its batch.
              failed = true;
              reject(error);
              return;
            }
            resolveOffset(batch.lastOffset());
            await heartbeat();
          },
        });
        for (const r of pending) consumer.seek({ topic: r.topic, partition: r.partition, offset: String(r.from) });
      } catch (error) {
        reject(error);
      }
    })();
  });
  try {
    await done;
  } finally {
    await consumer.disconnect().catch(() => undefined);
  }
}
