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
    const results = hasRecords ? await transaction.sendBatch({ topicMessages: toTopicMessages(work), acks: -1 }) : [];
    if (inputOffsets.length > 0) {
      await retryConcurrentTransactions(() => transaction.sendOffsets({ consumerGroupId, topics: [...inputOffsets] }));
    }
    await transaction.commit();
    await task.applyCommitted(work, changelogOffsets(work, results));
  } catch (error) {
    if (transaction.isActive()) await transaction.abort().catch(() => undefined);
    throw error;
  }
}

function toTopicMessages(work: UnitOfWork): TopicMessages[] {
  const byTopic = new Map<string, Message[]>();
  const add = (topic: string, message: Message): void => {
    const list = byTopic.get(topic) ?? [];
    list.push(message);
    byTopic.set(topic, list);
  };
  for (const out of work.outputs) {
    add(out.topic, { key: out.key, value: out.value, partition: out.partition, headers: { ...out.headers }, timestamp: String(out.timestamp) });
  }
  for (const write of work.changelog) {
    for (const entry of write.entries) add(write.topic, { key: entry.key, value: entry.value, partition: write.partition });
  }
  return [...byTopic].map(([topic, messages]) => ({ topic, messages }));
}

/**
 * The changelog offset each store reached in this transaction: base offset of the produce
 * response plus the records sent. If a partition's records came back in several responses the
 * smallest base offset is used — too low only makes a later restore replay a few idempotent puts.
 */
function changelogOffsets(work: UnitOfWork, results: readonly RecordMetadata[]): Map<string, number | null> {
  const offsets = new Map<string, number | null>();
  for (const write of work.changelog) {
    const responses = results.filter((r) => r.topicName === write.topic && r.partition === write.partition && r.baseOffset !== undefined);
    if (responses.length === 1) offsets.set(write.store, Number(responses[0].baseOffset) + write.entries.length - 1);
    else if (responses.length > 1) offsets.set(write.store, Math.min(...responses.map((r) => Number(r.baseOffset))));
    else offsets.set(write.store, null);
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
