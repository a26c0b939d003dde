import { loadConfig } from '../config.js';
import { createKafka, jsonLineLogger } from '../runtime/kafka/client.js';
import { ensureTopics } from '../runtime/kafka/topics.js';
import { allTopics } from '../runtime/topology-types.js';
import { parseFlags } from './args.js';
import { buildPipeline } from './pipeline.js';

export const TOPICS_USAGE = 'ledger topics [--create]   list the topics of the topology (with --create: create the missing ones)';

export async function topicsCommand(argv: readonly string[], out: NodeJS.WritableStream): Promise<number> {
  const flags = parseFlags('topics', argv, { create: { type: 'boolean' } });
  const config = loadConfig(process.env, { LEDGER_ALLOW_UNSIGNED: 'true', LEDGER_KEYRING: '' });
  const logger = jsonLineLogger('topics');
  const pipeline = buildPipeline(config, logger, { workers: 0 });
  const topics = allTopics(pipeline.topology);
  if (flags.create) {
    const admin = createKafka(config.kafka, logger).admin();
    await admin.connect();
    try {
      await ensureTopics(admin, topics);
    } finally {
      await admin.disconnect();
    }
  }
  for (const t of topics) out.write(`${JSON.stringify({ topic: t.name, partitions: t.partitions, config: t.config ?? {}, value: t.value })}\n`);
  await pipeline.close();
  return 0;
}
