import { createReadStream } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { loadConfig } from '../config.js';
import { createMetrics, metricsSink } from '../metrics.js';
import { jsonLineLogger } from '../runtime/kafka/client.js';
import { LocalDriver, type PipeInput } from '../runtime/local-driver.js';
import { topicSpec } from '../runtime/topology-types.js';
import { RocksDbBackend } from '../state/rocksdb.js';
import { TOPIC_RECORDS } from '../topology.js';
import { instantFlag, integerFlag, parseFlags, parseIsoInstant, requiredFlag } from './args.js';
import { UsageError } from './errors.js';
import { dumpTopicPath, LineFileWriter } from './dump-files.js';
import { buildPipeline } from './pipeline.js';
import { ProjectionQueries } from '../processors/projector-queries.js';

export const REPLAY_USAGE =
  'ledger replay --in FILE --out DIR [--keys FILE] [--signing-key PKCS8.pem --signing-key-id ID] [--partitions N] [--batch-size N] [--now ISO] [--allow-unsigned]';

interface InputLine {
  readonly topic: string;
  readonly key?: string | null;
  readonly partition?: number;
  readonly value: unknown;
  readonly headers?: Record<string, string>;
  readonly timestamp?: number | string;
}

/**
 * `ledger replay`: runs the topology with the in-process driver over a file of input records
 * and writes every output topic as DIR/<topic>.ndjson ({partition, offset, key, value} in offset
 * order per partition, values as plain JSON) plus DIR/metrics.prom. Same input, same bytes.
 */
export async function replayCommand(argv: readonly string[]): Promise<number> {
  const flags = parseFlags('replay', argv, {
    in: { type: 'string' },
    out: { type: 'string' },
    keys: { type: 'string' },
    'allow-unsigned': { type: 'boolean' },
    partitions: { type: 'string' },
    now: { type: 'string' },
    'signing-key': { type: 'string' },
    'signing-key-id': { type: 'string' },
    'batch-size': { type: 'string' },
  });
  const input = requiredFlag('replay', 'in', flags.in);
  const outDir = requiredFlag('replay', 'out', flags.out);
  const partitions = integerFlag('replay', 'partitions', flags.partitions, 3);
  const nowMs = flags.now === undefined ? 0 : instantFlag('replay', 'now', flags.now);
  const config = loadConfig(process.env, {
    LEDGER_PARTITIONS: String(partitions),
    ...(flags.keys !== undefined ? { LEDGER_KEYRING: flags.keys } : {}),
    ...(flags['allow-unsigned'] ? { LEDGER_ALLOW_UNSIGNED: 'true' } : {}),
    ...(flags['signing-key'] !== undefined ? { LEDGER_SIGNING_KEY: flags['signing-key'] } : {}),
    ...(flags['signing-key-id'] !== undefined ? { LEDGER_SIGNING_KEY_ID: flags['signing-key-id'] } : {}),
    ...(flags['batch-size'] !== undefined ? { LEDGER_MERKLE_BATCH_SIZE: String(integerFlag('replay', 'batch-size', flags['batch-size'], 256)) } : {}),
  });
  const pipeline = buildPipeline(config, jsonLineLogger('replay'), { watchKeyring: false });
  const stateDir = join(outDir, 'state');
  await rm(stateDir, { recursive: true, force: true });
  await mkdir(stateDir, { recursive: true });
  // The exposition is taken at --now, so metrics.prom is a function of the input too.
  const metrics = createMetrics({ defaultMetrics: false, clock: () => nowMs });
  const driver = await LocalDriver.create({
    topology: pipeline.topology,
    backend: new RocksDbBackend(stateDir),
    serde: pipeline.serde,
    wallClockMs: nowMs,
    metrics: metricsSink(metrics, { timings: false }),
  });
  const queries = new ProjectionQueries({ stores: driver, partitions, freshnessThresholdSeconds: config.freshnessThresholdSeconds, clock: () => nowMs });
  metrics.useStaleness((at) => queries.staleness(at));
  try {
    const inputTopics = new Set(pipeline.topology.processors.flatMap((p) => p.inputs));
    let lineNumber = 0;
    const lines = createInterface({ input: createReadStream(input), crlfDelay: Infinity });
    const batch: Array<{ topic: string; record: PipeInput }> = [];
    // Consecutive records of one topic go in together: larger batches, same outputs.
    const flush = async (): Promise<void> => {
      for (let i = 0; i < batch.length; ) {
        let j = i;
        while (j < batch.length && batch[j].topic === batch[i].topic) j++;
        await driver.pipeAll(batch[i].topic, batch.slice(i, j).map((b) => b.record));
        i = j;
      }
      batch.length = 0;
    };
    try {
      for await (const text of lines) {
        lineNumber++;
        if (text.trim() === '') continue;
        const line = parseLine(text, lineNumber);
        if (!inputTopics.has(line.topic)) throw new UsageError(`ledger replay: line ${lineNumber}: topic ${line.topic} is not an input of the topology`);
        batch.push({ topic: line.topic, record: toPipeInput(line, nowMs, lineNumber, topicSpec(pipeline.topology, line.topic).partitions) });
        if (batch.length >= 1_000) await flush();
      }
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new UsageError(`ledger replay: --in ${input}: no such file`);
      throw error;
    }
    await flush();
    await driver.endOfInput();

    const outputTopics = [...new Set(pipeline.topology.processors.flatMap((p) => p.outputs))].sort();
    for (const topic of outputTopics) {
      const file = new LineFileWriter(dumpTopicPath(outDir, topic));
      for (const records of driver.partitionsOf(topic)) {
        for (const r of records) {
          const decoded = r.value === null ? null : await pipeline.codec.decode(topic, r.value);
          const value = decoded === null ? null : pipeline.codec.catalog.toPlainJson(TOPIC_RECORDS[topic], decoded);
          await file.write(JSON.stringify({ partition: r.partition, offset: r.offset, key: r.key, value }));
        }
      }
      await file.close();
    }
    await writeFile(join(outDir, 'metrics.prom'), await metrics.registry.metrics());
  } finally {
    await driver.close();
    await pipeline.close();
  }
  return 0;
}

function parseLine(text: string, n: number): InputLine {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new UsageError(`ledger replay: line ${n} is not JSON`);
  }
  const line = parsed as Partial<InputLine>;
  if (typeof parsed !== 'object' || parsed === null || typeof line.topic !== 'string' || !('value' in line)) {
    throw new UsageError(`ledger replay: line ${n} needs at least "topic" and "value"`);
  }
  return line as InputLine;
}

function toPipeInput(line: InputLine, nowMs: number, n: number, partitions: number): PipeInput {
  if (line.partition !== undefined && (!Number.isInteger(line.partition) || line.partition < 0 || line.partition >= partitions)) {
    throw new UsageError(`ledger replay: line ${n}: partition ${String(line.partition)} is not in 0..${partitions - 1}`);
  }
  const value = typeof line.value === 'string' ? Buffer.from(line.value, 'utf8') : Buffer.from(JSON.stringify(line.value), 'utf8');
  const timestamp = line.timestamp === undefined ? nowMs : typeof line.timestamp === 'number' ? line.timestamp : lineInstant(line.timestamp, n);
  return { key: line.key ?? null, value, ...(line.partition !== undefined ? { partition: line.partition } : {}), headers: line.headers ?? {}, timestamp };
}

function lineInstant(text: string, n: number): number {
  const ms = parseIsoInstant(text);
  if (ms === undefined) throw new UsageError(`ledger replay: line ${n}: timestamp "${text}" is not an ISO-8601 instant`);
  return ms;
}
