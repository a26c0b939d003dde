import type { Message, Producer, RecordMetadata, TopicMessages, TopicOffsets } from 'kafkajs';
import type { Task, UnitOfWork } from '../task.js';

/**
 * THE commit order, written down once (Quix Streams' checkpoint, Kafka Streams' EOS):
 *   1. begin a transaction on the task's own transactional producer;
 *   2. produce the outputs and the changelog records;
 *   3. add the consumed input offsets (next offset to read) to the transaction;
 *   4. commit — outputs, changelog and offsets become visible together or not at all;
 *   5. only then apply the store writes to the local database, with their changelog offsets.
 * A crash before 4 aborts everything (the next owner fences the transactional id); a crash
 * between 4 and 5 leaves the local store behind its changelog, which restore replays.
 */
export async function commitUnitOfWork(options: {
  producer: Producer;
  task: Task;
  work: UnitOfWork;
  consumerGroupId: string;
  inputOffsets: readonly TopicOffsets[];
}): Promise<void> {
  const { producer, task, work, consumerGroupId, inputOffsets } = options;
  const hasRecords = work.outputs.length > 0 || work.changelog.length > 0;
  if (!hasRecords && inputOffsets.length === 0) return;

  const transaction = await producer.transaction();
  try {
    // Several produce requests when the unit is large: KafkaJS puts a partition's messages of one
    // request into one record batch, and the broker refuses a batch over max.message.bytes.
    const sent: SentChunk[] = [];
    for (const chunk of hasRecords ? toChunks(work) : []) {
      sent.push({ chunk, results: await transaction.sendBatch({ topicMessages: chunk.topicMessages, acks: -1 }) });
    }
    if (inputOffsets.length > 0) {
      await retryConcurrentTransactions(() => transaction.sendOffsets({ consumerGroupId, topics: [...inputOffsets] }));
    }
    await transaction.commit();
    await task.applyCommitted(work, changelogOffsets(work, sent));
  } catch (error) {
    if (transaction.isActive()) await transaction.abort().catch(() => undefined);
    throw error;
  }
}

/** Bytes of messages per produce request: well under the brokers' default 1 MB max.message.bytes. */
export const MAX_REQUEST_BYTES = 512 * 1024;

interface Chunk {
  readonly topicMessages: TopicMessages[];
  /** Records per `topic|partition` in this chunk. */
  readonly counts: ReadonlyMap<string, number>;
}

interface SentChunk {
  readonly chunk: Chunk;
  readonly results: readonly RecordMetadata[];
}

const slot = (topic: string, partition: number): string => `${topic}|${partition}`;

/** The unit's outputs and changelog records, in order, cut into requests of at most MAX_REQUEST_BYTES (a larger record goes alone). */
export function toChunks(work: UnitOfWork, maxBytes = MAX_REQUEST_BYTES): Chunk[] {
  const all: Array<{ topic: string; partition: number; message: Message; bytes: number }> = [];
  for (const out of work.outputs) {
    const headerBytes = Object.entries(out.headers).reduce((n, [k, v]) => n + k.length + v.length, 0);
    all.push({ topic: out.topic, partition: out.partition, bytes: (out.key?.length ?? 0) + out.value.length + headerBytes, message: { key: out.key, value: out.value, partition: out.partition, headers: { ...out.headers }, timestamp: String(out.timestamp) } });
  }
  for (const write of work.changelog) {
    for (const entry of write.entries) {
      all.push({ topic: write.topic, partition: write.partition, bytes: entry.key.length + (entry.value?.length ?? 0), message: { key: entry.key, value: entry.value, partition: write.partition } });
    }
  }
  const chunks: Chunk[] = [];
  let byTopic = new Map<string, Message[]>();
  let counts = new Map<string, number>();
  let bytes = 0;
  const flush = (): void => {
    if (byTopic.size > 0) chunks.push({ topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })), counts });
    byTopic = new Map();
    counts = new Map();
    bytes = 0;
  };
  for (const item of all) {
    if (bytes > 0 && bytes + item.bytes > maxBytes) flush();
    const messages = byTopic.get(item.topic) ?? [];
    messages.push(item.message);
    byTopic.set(item.topic, messages);
    counts.set(slot(item.topic, item.partition), (counts.get(slot(item.topic, item.partition)) ?? 0) + 1);
    bytes += item.bytes;
  }
  flush();
  return chunks;
}

/**
 * The changelog offset each store reached in this transaction: per request, the base offset of
 * the partition's response plus the records that request carried; the last request wins.
 */
function changelogOffsets(work: UnitOfWork, sent: readonly SentChunk[]): Map<string, number | null> {
  const offsets = new Map<string, number | null>();
  for (const write of work.changelog) {
    let last: number | null = null;
    for (const { chunk, results } of sent) {
      const count = chunk.counts.get(slot(write.topic, write.partition)) ?? 0;
      const response = results.find((r) => r.topicName === write.topic && r.partition === write.partition && r.baseOffset !== undefined);
      if (count > 0 && response) last = Number(response.baseOffset) + count - 1;
    }
    offsets.set(write.store, last);
  }
  return offsets;
}

/** kafkajs does not retry AddOffsetsToTxn on CONCURRENT_TRANSACTIONS (KAFKA-NOTES pitfall 3). */
async function retryConcurrentTransactions(fn: () => Promise<void>): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (error) {
      const type = (error as { type?: string }).type;
      if (type !== 'CONCURRENT_TRANSACTIONS' || attempt >= 20) throw error;
      await new Promise((r) => setTimeout(r, 50 * (attempt + 1)));
    }
  }
}
