import type { Admin } from 'kafkajs';
import { loadConfig } from '../../config.js';
import { ensureTopics } from '../../runtime/kafka/topics.js';
import { pipelineTopics } from '../../topology.js';

/**
 * Creates the pipeline's topics as `ledger run` would (default partition count), so a test can
 * read their end offsets before its first `ledger run` child starts, even on a fresh broker.
 */
export async function ensurePipelineTopics(admin: Admin): Promise<void> {
  await ensureTopics(admin, pipelineTopics(loadConfig({}, {}).partitions));
}

/** The end offset (high watermark) of every partition of a topic. */
export async function endOffsets(admin: Admin, topic: string): Promise<Map<number, number>> {
  return new Map((await admin.fetchTopicOffsets(topic)).map((p) => [p.partition, Number(p.high)]));
}
