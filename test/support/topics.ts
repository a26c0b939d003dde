import { spawnSync } from 'node:child_process';
import type { Admin } from 'kafkajs';
import { kafkaBrokers } from './env.js';
import { loadConfig } from '../../config.js';
import { ensureTopics } from '../../runtime/kafka/topics.js';
import { pipelineTopics, TOPICS } from '../../topology.js';

/**
 * Creates the pipeline's topics as `ledger run` would (default partition count), so a test can
 * read their end offsets before its first `ledger run` child starts, even on a fresh broker.
 */
export async function ensurePipelineTopics(admin: Admin): Promise<void> {
  await ensureTopics(admin, pipelineTopics(loadConfig({}, {}).partitions));
}

/**
 * The end offset (high watermark) of every partition of a topic. KafkaJS does not retry
 * ListOffsets on NOT_LEADER_OR_FOLLOWER, which a broker answers for a while after it (re)starts.
 */
export async function endOffsets(admin: Admin, topic: string): Promise<Map<number, number>> {
  for (let attempt = 1; ; attempt++) {
    try {
      return new Map((await admin.fetchTopicOffsets(topic)).map((p) => [p.partition, Number(p.high)]));
    } catch (error) {
      if (attempt >= 30 || !(error instanceof Error) || (error as { retriable?: boolean }).retriable !== true) throw error;
      await new Promise((r) => setTimeout(r, 1_000));
    }
  }
}

/** The records of one partition from `from` on, read by librdkafka (kcat): committed ones only, unless told otherwise. */
export function kcatRead(topic: string, partition: number, from: number, isolation: 'read_committed' | 'read_uncommitted' = 'read_committed'): Array<{ offset: number; key: string | null; value: Buffer | null }> {
  const args = ['-b', kafkaBrokers().join(','), '-C', '-t', topic, '-p', String(partition), '-o', String(from), '-e', '-q', '-X', `isolation.level=${isolation}`, '-f', '%o %K %S\n%k%s'];
  const result = spawnSync('kcat', args, { maxBuffer: 1024 * 1024 * 1024 });
  if (result.status !== 0) throw new Error(`kcat ${args.join(' ')} exited ${result.status}: ${result.stderr.toString('utf8')}`);
  const out = result.stdout;
  const records: Array<{ offset: number; key: string | null; value: Buffer | null }> = [];
  // Each record: a header line "offset keyLength valueLength" (-1: null), then the raw key and value bytes.
  for (let at = 0; at < out.length; ) {
    const newline = out.indexOf(0x0a, at);
    const [offset, keyLength, valueLength] = out.subarray(at, newline).toString('utf8').split(' ').map(Number);
    at = newline + 1;
    const key = keyLength < 0 ? null : out.subarray(at, at + keyLength).toString('utf8');
    at += Math.max(keyLength, 0);
    const value = valueLength < 0 ? null : Buffer.from(out.subarray(at, at + valueLength));
    at += Math.max(valueLength, 0);
    records.push({ offset, key, value });
  }
  return records;
}

/** Commits a new consumer group at the current end of its topics, so it decides only what comes next. */
export async function startGroupAtEnd(admin: Admin, groupId: string, topics: readonly string[]): Promise<void> {
  for (const topic of topics) {
    const ends = await endOffsets(admin, topic);
    await admin.setOffsets({ groupId, topic, partitions: [...ends].map(([partition, offset]) => ({ partition, offset: String(offset) })) });
  }
}

/** Starts the consumer groups of all four processors of `appId` (`ledger run`'s naming) at the current end. */
export async function startPipelineGroupsAtEnd(admin: Admin, appId: string): Promise<void> {
  for (const [processor, topics] of [
    ['validate', [TOPICS.exportsCreated]],
    ['dedupe', [TOPICS.validated]],
    ['merkle', [TOPICS.events]],
    ['projector', [TOPICS.events, TOPICS.merkleRoots, TOPICS.airgapBundles]],
  ] as const) {
    await startGroupAtEnd(admin, `${appId}-${processor}`, topics);
  }
}
