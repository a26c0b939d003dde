// Restore of a 1,000,000-key store from its changelog, next to the raw consume of the same
// changelog partition measured in the same run: a compacted one-partition topic filled with
// dedupe-store records (tenant/run keys, RunState JSON values), read by a kafkajs consumer that
// does nothing (the ceiling, same fetch settings as runtime/kafka/read-range.ts; once before and
// once after the restore, the faster counts) and by runtime/kafka/recovery.ts restoreStores into
// an empty RocksDB store.
import { randomUUID } from 'node:crypto';
import { loadavg } from 'node:os';
import { Kafka, logLevel, type Admin } from 'kafkajs';
import { restoreStores } from '../runtime/kafka/recovery.js';
import { RocksDbBackend } from '../state/rocksdb.js';
import type { ChangelogEntry, ChangelogRecord, StorePartition } from '../state/store.js';
import { CHANGELOG_TOPIC_CONFIG, changelogTopicName, FETCH_LIMITS } from '../runtime/topology-types.js';
import { RUNS_STORE } from '../processors/dedupe.js';
import { withCeiling, type BenchResult } from './report.js';
import { benchRunKey, benchRunState, directoryBytes, withTempDir } from './store.js';

/** Records per produce request: under the broker's 1 MiB record-batch limit at ~360 bytes each. */
const PRODUCE_BATCH = 2_000;
const PRODUCE_IN_FLIGHT = 4;
/** The fetch settings of runtime/kafka/read-range.ts, so the ceiling reads the way restore reads. */
const FETCH = { readUncommitted: false, maxWaitTimeInMs: 100, ...FETCH_LIMITS } as const;

const seconds = (from: bigint, to: bigint = process.hrtime.bigint()): number => Number(to - from) / 1e9;

const changelogValue = (key: number): Buffer => Buffer.from(JSON.stringify(benchRunState(key, key % 3)));

/** Fills partition 0 of `topic` with `keys` distinct keys (acks=1, several requests in flight). */
async function produceChangelog(kafka: Kafka, topic: string, keys: number): Promise<{ seconds: number; valueBytes: number }> {
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  let valueBytes = 0;
  const start = process.hrtime.bigint();
  try {
    const inFlight = new Set<Promise<unknown>>();
    for (let first = 0; first < keys; first += PRODUCE_BATCH) {
      const messages = [];
      for (let k = first; k < Math.min(first + PRODUCE_BATCH, keys); k++) {
        const value = changelogValue(k);
        valueBytes += value.length;
        messages.push({ key: benchRunKey(k), value, partition: 0 });
      }
      const send = producer.sendBatch({ topicMessages: [{ topic, messages }], acks: 1 });
      inFlight.add(send);
      void send.finally(() => inFlight.delete(send)).catch(() => undefined);
      if (inFlight.size >= PRODUCE_IN_FLIGHT) await Promise.race(inFlight);
    }
    await Promise.all(inFlight);
  } finally {
    await producer.disconnect();
  }
  return { seconds: seconds(start), valueBytes: Math.round(valueBytes / keys) };
}

interface ReadTiming {
  /** From creating the consumer to having read (and disconnected) up to the end offset. */
  readonly seconds: number;
  /** From the first batch handed over to the last: the steady-state read, without group join. */
  readonly streamingSeconds: number;
  /** Process CPU time (all threads) over `seconds`. */
  readonly cpuSeconds: number;
}

const cpuSecondsSince = (start: NodeJS.CpuUsage): number => {
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1e6;
};

/** The ceiling: a consumer in a group of its own reads the partition to `end` and does nothing. */
async function rawConsume(kafka: Kafka, topic: string, end: number): Promise<ReadTiming> {
  const start = process.hrtime.bigint();
  const cpuStart = process.cpuUsage();
  const consumer = kafka.consumer({ groupId: `bench-raw-${randomUUID()}`, ...FETCH });
  let first = 0n;
  let last = 0n;
  try {
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      consumer.on(consumer.events.CRASH, ({ payload }) => reject(payload.error));
      void consumer
        .run({
          autoCommit: false,
          eachBatch: async ({ batch }) => {
            if (first === 0n) first = process.hrtime.bigint();
            if (Number(batch.lastOffset()) + 1 >= end) {
              last = process.hrtime.bigint();
              resolve();
            }
          },
        })
        .catch(reject);
    });
  } finally {
    await consumer.disconnect();
  }
  return { seconds: seconds(start), streamingSeconds: seconds(first, last), cpuSeconds: cpuSecondsSince(cpuStart) };
}

/** Delegates to a store partition, noting when the first and last restored batch arrived. */
class TimedPartition implements StorePartition {
  first = 0n;
  last = 0n;
  constructor(private readonly inner: StorePartition) {}
  get = (key: string) => this.inner.get(key);
  getMany = (keys: readonly string[]) => this.inner.getMany(keys);
  range = (prefix: string, after?: string) => this.inner.range(prefix, after);
  changelogOffset = () => this.inner.changelogOffset();
  clear = () => this.inner.clear();
  close = () => this.inner.close();
  write = (entries: readonly ChangelogEntry[], changelogOffset: number | null): Promise<void> => this.timed(() => this.inner.write(entries, changelogOffset));
  restore = (records: readonly ChangelogRecord[], changelogOffset: number): Promise<void> => this.timed(() => this.inner.restore(records, changelogOffset));

  private async timed(apply: () => Promise<void>): Promise<void> {
    if (this.first === 0n) this.first = process.hrtime.bigint();
    await apply();
    this.last = process.hrtime.bigint();
  }
}

/** Spot-checks the restored store: every 997th key holds the value produced for it. */
async function checkRestored(store: StorePartition, keys: number, end: number): Promise<void> {
  const sample = Array.from({ length: Math.ceil(keys / 997) }, (_, i) => i * 997);
  const found = await store.getMany(sample.map(benchRunKey));
  const wrong = sample.filter((k, i) => !found[i]?.equals(changelogValue(k)));
  if (wrong.length > 0) throw new Error(`bench restore: ${wrong.length} of ${sample.length} sampled keys restored wrong (first: key ${wrong[0]})`);
  const offset = await store.changelogOffset();
  if (offset !== end - 1) throw new Error(`bench restore: store offset ${String(offset)}, expected ${end - 1}`);
}

async function measureRestore(kafka: Kafka, admin: Admin, topic: string, keys: number, end: number, dir: string) {
  const backend = new RocksDbBackend(dir);
  const rssBefore = process.memoryUsage().rss;
  const store = new TimedPartition(await backend.open(RUNS_STORE, 0));
  const start = process.hrtime.bigint();
  const cpuStart = process.cpuUsage();
  const [report] = await restoreStores(kafka, admin, [{ topic, partition: 0, store }]);
  const timing: ReadTiming = { seconds: seconds(start), streamingSeconds: seconds(store.first, store.last), cpuSeconds: cpuSecondsSince(cpuStart) };
  const memory = process.memoryUsage();
  if (report?.records !== keys) throw new Error(`bench restore: restored ${String(report?.records)} records, expected ${keys}`);
  await checkRestored(store, keys, end);
  const location = backend.location(RUNS_STORE, 0);
  const diskOpen = await directoryBytes(location);
  await store.close();
  return { timing, rssBefore, rss: memory.rss, heapUsed: memory.heapUsed, diskOpen, diskClosed: await directoryBytes(location) };
}

export async function benchRestore(options: { brokers: readonly string[]; keys?: number }): Promise<BenchResult[]> {
  const keys = options.keys ?? 1_000_000;
  const kafka = new Kafka({ clientId: 'bench-restore', brokers: [...options.brokers], logLevel: logLevel.NOTHING });
  const topic = changelogTopicName(`bench-restore-${Date.now().toString(36)}`, RUNS_STORE);
  const admin = kafka.admin();
  await admin.connect();
  try {
    const configEntries = Object.entries(CHANGELOG_TOPIC_CONFIG).map(([name, value]) => ({ name, value }));
    await admin.createTopics({ topics: [{ topic, numPartitions: 1, replicationFactor: 1, configEntries }], waitForLeaders: true });
    const produced = await produceChangelog(kafka, topic, keys);
    const end = Number((await admin.fetchTopicOffsets(topic)).find((o) => o.partition === 0)?.high ?? 0);
    if (end !== keys) throw new Error(`bench restore: changelog ends at ${end}, produced ${keys}`);

    // The raw read runs before and after the restore and the faster counts: the first read of a
    // process runs kafkajs cold (slower, which would flatter the ratio), and on a shared machine
    // one read can be slowed by a neighbour. The faster of two is the stricter ceiling.
    const rawBefore = await rawConsume(kafka, topic, end);
    const restored = await withTempDir('bench-restore-', (dir) => measureRestore(kafka, admin, topic, keys, end, dir));
    const rawAfter = await rawConsume(kafka, topic, end);
    const raw = rawAfter.seconds < rawBefore.seconds ? rawAfter : rawBefore;

    const params = { keys, valueBytes: produced.valueBytes, partitions: 1, cleanupPolicy: 'compact', client: 'kafkajs 2.2.4' };
    const rawResult: BenchResult = {
      name: 'restore.changelog_raw_consume',
      unit: 'records/s',
      value: keys / raw.seconds,
      params: {
        ...params,
        seconds: round(raw.seconds),
        streamingSeconds: round(raw.streamingSeconds),
        cpuSeconds: round(raw.cpuSeconds),
        secondsBeforeRestore: round(rawBefore.seconds),
        secondsAfterRestore: round(rawAfter.seconds),
        ...FETCH,
      },
    };
    const timeRatio = restored.timing.seconds / raw.seconds;
    return [
      { name: 'restore.changelog_produce', unit: 'records/s', value: keys / produced.seconds, params: { ...params, acks: 1, batch: PRODUCE_BATCH, inFlight: PRODUCE_IN_FLIGHT, seconds: round(produced.seconds) } },
      rawResult,
      withCeiling(
        {
          name: 'restore.rocksdb',
          unit: 'records/s',
          value: keys / restored.timing.seconds,
          params: {
            ...params,
            seconds: round(restored.timing.seconds),
            streamingSeconds: round(restored.timing.streamingSeconds),
            cpuSeconds: round(restored.timing.cpuSeconds),
            loadAverage1m: round(loadavg()[0]),
            timeOverRawConsume: round(timeRatio, 3),
            streamingTimeOverRawConsume: round(restored.timing.streamingSeconds / raw.streamingSeconds, 3),
            target: 'restore time <= 2x raw consume time',
            targetMet: timeRatio <= 2,
          },
        },
        rawResult,
      ),
      { name: 'restore.store_disk', unit: 'bytes', value: restored.diskOpen, params: { keys, afterClose: restored.diskClosed, measure: 'sum of file sizes (du -sb)' } },
      { name: 'restore.process_rss', unit: 'bytes', value: restored.rss, params: { keys, rssBeforeRestore: restored.rssBefore, heapUsed: restored.heapUsed } },
    ];
  } finally {
    await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
    await admin.disconnect();
  }
}

const round = (n: number, digits = 2): number => Math.round(n * 10 ** digits) / 10 ** digits;
