import { randomUUID } from 'node:crypto';
import type { Admin, Kafka } from 'kafkajs';
import type { StorePartition } from '../../state/store.js';

/** One store partition to bring up to the end of its changelog partition. */
export interface RestoreTarget {
  readonly topic: string;
  readonly partition: number;
  readonly store: StorePartition;
}

export interface RestoreReport {
  readonly topic: string;
  readonly partition: number;
  readonly from: number;
  readonly to: number;
  readonly records: number;
}

/**
 * Recovery, in one place (Kafka Streams' restore, adapted to KafkaJS). Callers must have fenced
 * the changelog partition's transactional id first, so its end offset is stable: every record
 * below it is either committed or aborted. Each store resumes from the changelog offset it
 * stored with its last applied write (RocksDB keeps it in the same atomic batch), or from the
 * start when it has none. KafkaJS has no manual assign(), so a short-lived consumer in a group
 * of its own reads the changelogs, read_committed.
 */
export async function restoreStores(kafka: Kafka, admin: Admin, targets: readonly RestoreTarget[]): Promise<RestoreReport[]> {
  const plans: Array<{ target: RestoreTarget; store: StorePartition; from: number; to: number }> = [];
  for (const target of targets) {
    const offsets = await admin.fetchTopicOffsets(target.topic);
    const range = offsets.find((o) => o.partition === target.partition);
    const end = Number(range?.high ?? 0);
    const low = Number(range?.low ?? 0);
    const stored = await target.store.changelogOffset();
    let from = stored === null ? low : stored + 1;
    if (from > end) {
      // The local database claims records the changelog does not have: start over from it.
      await target.store.clear();
      from = low;
    }
    plans.push({ target, store: target.store, from: Math.max(from, low), to: end });
  }
  const pending = plans.filter((p) => p.from < p.to);
  const reports = new Map(plans.map((p) => [`${p.target.topic}|${p.target.partition}`, { topic: p.target.topic, partition: p.target.partition, from: p.from, to: p.to, records: 0 }]));
  if (pending.length === 0) return [...reports.values()];

  const consumer = kafka.consumer({ groupId: `restore-${randomUUID()}`, readUncommitted: false, maxWaitTimeInMs: 100, maxBytesPerPartition: 8 * 1024 * 1024 });
  const byTopicPartition = new Map(pending.map((p) => [`${p.target.topic}|${p.target.partition}`, p]));
  const reached = new Map<string, number>();
  const done = new Promise<void>((resolve, reject) => {
    const progress = (topic: string, partition: number, lastOffset: number): void => {
      const id = `${topic}|${partition}`;
      const plan = byTopicPartition.get(id);
      if (!plan) return;
      reached.set(id, Math.max(reached.get(id) ?? -1, lastOffset));
      if (pending.every((p) => (reached.get(`${p.target.topic}|${p.target.partition}`) ?? -1) + 1 >= p.to)) resolve();
    };
    // Batches of only control records or aborted data never reach eachBatch; this event does.
    consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => progress(payload.topic, payload.partition, Number(payload.lastOffset)));
    consumer.on(consumer.events.CRASH, ({ payload }) => reject(payload.error));
    void (async () => {
      try {
        const topics = [...new Set(pending.map((p) => p.target.topic))];
        await consumer.connect();
        await consumer.subscribe({ topics, fromBeginning: false });
        await consumer.run({
          autoCommit: false,
          eachBatchAutoResolve: false,
          eachBatch: async ({ batch, resolveOffset, heartbeat }) => {
            const plan = byTopicPartition.get(`${batch.topic}|${batch.partition}`);
            if (!plan) return;
            const entries = batch.messages
              .filter((m) => Number(m.offset) < plan.to && m.key !== null)
              .map((m) => ({ key: (m.key as Buffer).toString('utf8'), value: m.value }));
            await plan.store.write(entries, Math.min(Number(batch.lastOffset()), plan.to - 1));
            const report = reports.get(`${batch.topic}|${batch.partition}`);
            if (report) (report as { records: number }).records += entries.length;
            resolveOffset(batch.lastOffset());
            await heartbeat();
          },
        });
        for (const p of pending) consumer.seek({ topic: p.target.topic, partition: p.target.partition, offset: String(p.from) });
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
  return [...reports.values()];
}
