import type { Admin, Kafka } from 'kafkajs';
import { readRanges } from './read-range.js';
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
  records: number;
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
  const plans: Array<{ target: RestoreTarget; from: number; to: number }> = [];
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
    plans.push({ target, from: Math.max(from, low), to: end });
  }
  const reports = new Map(plans.map((p) => [`${p.target.topic}|${p.target.partition}`, { topic: p.target.topic, partition: p.target.partition, from: p.from, to: p.to, records: 0 }]));
  const stores = new Map(plans.map((p) => [`${p.target.topic}|${p.target.partition}`, p.target.store]));
  await readRanges(
    kafka,
    plans.map((p) => ({ topic: p.target.topic, partition: p.target.partition, from: p.from, to: p.to })),
    async (range, messages, lastOffset) => {
      const id = `${range.topic}|${range.partition}`;
      const entries = messages.filter((m) => m.key !== null).map((m) => ({ key: (m.key as Buffer).toString('utf8'), value: m.value }));
      await stores.get(id)?.write(entries, lastOffset);
      const report = reports.get(id);
      if (report) report.records += entries.length;
    },
  );
  return [...reports.values()];
}
