import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadConfig } from '../config.js';
import { createKafka, jsonLineLogger } from '../runtime/kafka/client.js';
import { readRanges } from '../runtime/kafka/read-range.js';
import { listTopicNames } from '../runtime/kafka/topics.js';
import { TOPIC_RECORDS, TOPICS } from '../topology.js';
import { parseFlags, requiredFlag } from './args.js';
import { UsageError } from './errors.js';
import { createCodec } from './pipeline.js';

export const DUMP_USAGE = 'ledger dump --out DIR [--topics a,b]   write topics (committed records, up to their current end) in the replay output format';

const DEFAULT_TOPICS = [TOPICS.validated, TOPICS.rejected, TOPICS.duplicates, TOPICS.events, TOPICS.merkleRoots, TOPICS.timeline, TOPICS.airgapTimeline];

/** `ledger dump`: what `ledger verify` and auditors read, taken from a live cluster. */
export async function dumpCommand(argv: readonly string[], out: NodeJS.WritableStream): Promise<number> {
  const flags = parseFlags('dump', argv, { out: { type: 'string' }, topics: { type: 'string' } });
  const dir = requiredFlag('dump', 'out', flags.out);
  const topics = flags.topics ? flags.topics.split(',').map((t) => t.trim()) : DEFAULT_TOPICS;
  const unknown = topics.filter((t) => !(t in TOPIC_RECORDS));
  if (unknown.length > 0) throw new UsageError(`ledger dump: unknown topic(s) ${unknown.join(', ')}`);
  const config = loadConfig();
  const codec = createCodec(config);
  const kafka = createKafka(config.kafka, jsonLineLogger('dump'));
  const admin = kafka.admin();
  await admin.connect();
  const existing = new Set(await listTopicNames(admin));
  const ranges = [];
  for (const topic of topics.filter((t) => existing.has(t))) {
    for (const o of await admin.fetchTopicOffsets(topic)) ranges.push({ topic, partition: o.partition, from: Number(o.low), to: Number(o.high) });
  }
  await admin.disconnect();
  const lines = new Map<string, Map<number, string[]>>(topics.map((t) => [t, new Map()]));
  await readRanges(kafka, ranges, async (range, messages) => {
    const partitionLines = lines.get(range.topic)?.get(range.partition) ?? [];
    for (const m of messages) {
      const value = m.value === null ? null : codec.catalog.toPlainJson(TOPIC_RECORDS[range.topic], await codec.decode(range.topic, m.value));
      partitionLines.push(JSON.stringify({ partition: range.partition, offset: Number(m.offset), key: m.key === null ? null : m.key.toString('utf8'), value }));
    }
    lines.get(range.topic)?.set(range.partition, partitionLines);
  });
  await mkdir(dir, { recursive: true });
  for (const [topic, partitions] of lines) {
    const all = [...partitions.keys()].sort((a, b) => a - b).flatMap((p) => partitions.get(p) ?? []);
    await writeFile(join(dir, `${topic}.ndjson`), all.length > 0 ? `${all.join('\n')}\n` : '');
    out.write(`${JSON.stringify({ topic, records: all.length })}\n`);
  }
  return 0;
}
