import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel, type Admin, type Consumer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCodec } from '../../cli/pipeline.js';
import { loadConfig } from '../../config.js';
import { exportStream, generateDemoKeys, keyringDocument } from '../../examples/exports.js';
import { TOPICS } from '../../topology.js';
import { kafkaBrokers, schemaRegistryUrl } from '../support/env.js';
import { freePort, killIfRunning, startLedger, stopGracefully, waitFor, type Worker } from '../support/processes.js';
import { endOffsets, ensurePipelineTopics, kcatRead, startGroupAtEnd } from '../support/topics.js';

// KafkaJS restarts a crashed consumer only after retriable errors; after any other it stops for
// good and the process would stay up consuming nothing (seen in CI after a broker restart). The
// driver replaces such a consumer. A real broker produces a non-retriable join error on demand:
// a foreign member in the group speaking another assignment protocol makes every JoinGroup of
// ours fail with INCONSISTENT_GROUP_PROTOCOL. Once it leaves, a replacement must join and decide
// every export produced meanwhile, exactly once.

const run = `replace-it-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
const GROUP = `${run}-validate`;
const EXPORTS = 200;
const kafka = new Kafka({ clientId: run, brokers: kafkaBrokers(), logLevel: logLevel.NOTHING });
// The worker inherits this environment: with SCHEMA_REGISTRY_URL set (`scripts/stack.mjs env`) it
// writes Confluent-framed values, without it single-object ones; a codec given the registry reads both.
const codec = createCodec(loadConfig({}, { SCHEMA_REGISTRY_URL: schemaRegistryUrl() }));
const keys = generateDemoKeys();

let dir: string;
let admin: Admin;
let foreign: Consumer | undefined;
let worker: Worker | undefined;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'replace-it-'));
  admin = kafka.admin();
  await admin.connect();
  await ensurePipelineTopics(admin);
});

afterAll(async () => {
  killIfRunning(worker);
  await foreign?.disconnect().catch(() => undefined);
  await admin?.disconnect().catch(() => undefined);
  if (dir) await rm(dir, { recursive: true, force: true });
});

const messages = (w: Worker, text: string) => w.logs.filter((l) => String(l.message).includes(text));

describe('a consumer KafkaJS gives up on', () => {
  it('is replaced, and the replacement decides every export exactly once', async () => {
    await startGroupAtEnd(admin, GROUP, [TOPICS.exportsCreated]);
    const start = new Map([TOPICS.validated, TOPICS.rejected].map((t) => [t, new Map<number, number>()]));
    for (const topic of start.keys()) start.set(topic, await endOffsets(admin, topic));
    const inputStart = await endOffsets(admin, TOPICS.exportsCreated);

    // The foreign member: KafkaJS's default (round-robin) assigner, consuming nothing for real.
    foreign = kafka.consumer({ groupId: GROUP, sessionTimeout: 10_000 });
    await foreign.connect();
    await foreign.subscribe({ topics: [TOPICS.exportsCreated] });
    let foreignJoined = false;
    foreign.on(foreign.events.GROUP_JOIN, () => (foreignJoined = true));
    await foreign.run({ autoCommit: false, eachBatchAutoResolve: false, eachBatch: async ({ batch }) => foreign?.pause([{ topic: batch.topic }]) });
    await waitFor('the foreign member in the group', () => foreignJoined, 60_000);

    const keyring = join(dir, 'keyring.json');
    await writeFile(keyring, JSON.stringify(keyringDocument(keys)));
    const metricsPort = await freePort();
    worker = startLedger(['run', '--processors', 'validate'], {
      KAFKA_BROKERS: kafkaBrokers().join(','),
      LEDGER_APP_ID: run,
      LEDGER_STATE_DIR: join(dir, 'state'),
      LEDGER_KEYRING: keyring,
      METRICS_PORT: String(metricsPort),
    });
    const current = worker;
    await waitFor('a consumer replaced after INCONSISTENT_GROUP_PROTOCOL', () => messages(current, 'replacing it').length >= 2, 120_000);
    expect(String(messages(current, 'replacing it')[0]?.error)).toMatch(/protocol/i);

    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    const stream = exportStream({ count: EXPORTS, keys, tenants: [`${run}-a`, `${run}-b`], seed: run });
    await producer.send({ topic: TOPICS.exportsCreated, acks: -1, messages: stream.map((r) => ({ key: r.key, value: r.value })) });
    await producer.disconnect();

    await foreign.disconnect();
    foreign = undefined;

    // Every input (this run's, by source coordinates) has exactly one outcome.
    const inputs = new Set<string>();
    for (const [partition, from] of inputStart) for (const r of kcatRead(TOPICS.exportsCreated, partition, from)) inputs.add(`${partition}:${r.offset}`);
    expect(inputs.size).toBe(EXPORTS);
    const outcomes = new Map<string, number>();
    await waitFor(
      'every export decided',
      async () => {
        outcomes.clear();
        for (const [topic, record] of [[TOPICS.validated, 'ValidatedExport'], [TOPICS.rejected, 'Rejection']] as const) {
          for (const [partition, from] of start.get(topic) ?? []) {
            for (const r of kcatRead(topic, partition, from)) {
              if (!r.value) continue;
              const value = codec.catalog.toPlainJson(record, await codec.decode(topic, r.value)) as { source: { topic: string; partition: number; offset: number } };
              if (value.source.topic !== TOPICS.exportsCreated) continue;
              const at = `${value.source.partition}:${value.source.offset}`;
              if (inputs.has(at)) outcomes.set(at, (outcomes.get(at) ?? 0) + 1);
            }
          }
        }
        return outcomes.size === inputs.size;
      },
      120_000,
    );
    expect([...outcomes.values()].every((n) => n === 1)).toBe(true);
    expect(messages(current, 'consumer replaced').length).toBeGreaterThan(0);
    expect(await fetch(`http://127.0.0.1:${metricsPort}/readyz`).then((r) => r.status)).toBe(200);
    expect(await stopGracefully(current)).toBe(0);
    process.stderr.write(`consumer-replacement: ${messages(current, 'replacing it').length} replacements while the foreign member held the group; ${outcomes.size} exports decided once each afterwards\n`);
  });
});
