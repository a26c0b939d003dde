import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { finished, pipeline } from 'node:stream/promises';
import { join } from 'node:path';
import { loadConfig } from '../config.js';
import { createKafka, jsonLineLogger } from '../runtime/kafka/client.js';
import { readRanges } from '../runtime/kafka/read-range.js';
import { listTopicNames } from '../runtime/kafka/topics.js';
import { TOPIC_RECORDS, TOPICS } from '../topology.js';
import { parseFlags, requiredFlag } from './args.js';
import { dumpTopicPath, LineFileWriter } from './dump-files.js';
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
  await mkdir(dir, { recursive: true });
  // Partitions arrive interleaved; each goes to a file of its own, and the topic's file is their
  // concatenation in partition order (the replay output's order).
  const parts = new Map<string, Map<number, LineFileWriter>>(topics.map((topic) => [topic, new Map()]));
  const allParts = (): LineFileWriter[] => [...parts.values()].flatMap((ofTopic) => [...ofTopic.values()]);
  try {
    await readRanges(kafka, ranges, async (range, messages) => {
      const ofTopic = parts.get(range.topic) as Map<number, LineFileWriter>; // ranges come from `topics`
      const part = ofTopic.get(range.partition) ?? new LineFileWriter(join(dir, `.${range.topic}.${range.partition}.part`));
      ofTopic.set(range.partition, part);
      for (const m of messages) {
        const value = m.value === null ? null : codec.catalog.toPlainJson(TOPIC_RECORDS[range.topic], await codec.decode(range.topic, m.value));
        await part.write(JSON.stringify({ partition: range.partition, offset: Number(m.offset), key: m.key === null ? null : m.key.toString('utf8'), value }));
      }
    });
    for (const part of allParts()) await part.close();
    for (const [topic, ofTopic] of parts) {
      const inOrder = [...ofTopic].sort(([a], [b]) => a - b).map(([, part]) => part);
      const whole = createWriteStream(dumpTopicPath(dir, topic));
      for (const part of inOrder) await pipeline(createReadStream(part.path), whole, { end: false });
      whole.end();
      await finished(whole);
      out.write(`${JSON.stringify({ topic, records: inOrder.reduce((n, part) => n + part.lines, 0) })}\n`);
    }
  } finally {
    for (const part of allParts()) await rm(part.path, { force: true });
  }
  return 0;
}
