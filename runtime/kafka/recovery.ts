import type { Admin, Kafka } from 'kafkajs';
import { readRanges } from './read-range.js';
import type { ChangelogRecord, StorePartition } from '../../state/store.js';

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
 * stored with its last applied write (RocksDB keeps it in the same atomic batch; a restore may
 * have applied records past it, which applying again leaves as they are), or from the start when
 * it has none. KafkaJS has no manual assign(), so a short-lived consumer in a group
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
  const writers = new Map(plans.map((p) => [`${p.target.topic}|${p.target.partition}`, new WriteBehind(p.target.store)]));
  try {
    await readRanges(
      kafka,
      plans.map((p) => ({ topic: p.target.topic, partition: p.target.partition, from: p.from, to: p.to })),
      async (range, messages, lastOffset) => {
        const id = `${range.topic}|${range.partition}`;
        await writers.get(id)?.restore(messages, lastOffset);
        const report = reports.get(id);
        if (report) for (const m of messages) if (m.key !== null) report.records++;
      },
    );
  } finally {
    // Even when reading failed: no write may still be running once the caller gets control back
    // (it may close or clear the stores).
    await Promise.allSettled([...writers.values()].map((w) => w.drain()));
  }
  // A failed write fails the next batch's write (and so the read); the last batch's shows here.
  for (const writer of writers.values()) await writer.drain();
  return [...reports.values()];
}

/**
 * Applies restore batches to one store in changelog order with at most one write in flight, and
 * without making the reader wait for it: `restore` returns once the previous batch is applied and
 * this one has started, so RocksDB applies a batch (in libuv's thread pool) while the consumer
 * fetches and decodes the next one. A failed write fails the next `restore` or `drain`.
 */
export class WriteBehind {
  private pending: Promise<void> = Promise.resolve();

  constructor(private readonly store: StorePartition) {}

  async restore(records: readonly ChangelogRecord[], changelogOffset: number): Promise<void> {
    await this.pending;
    const write = this.store.restore(records, changelogOffset);
    // Observed by the next write or drain; until then it must not count as an unhandled rejection.
    write.catch(() => undefined);
    this.pending = write;
  }

  /** Resolves once every write has been applied; rejects with the failure of the last one. */
  drain(): Promise<void> {
    return this.pending;
  }
}
