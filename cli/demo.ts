import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { logLevel, Kafka } from 'kafkajs';
import { loadConfig } from '../config.js';
import { generateDemoKeys, exportStream, keyringDocument } from '../examples/exports.js';
import { createMetrics, metricsSink } from '../metrics.js';
import { startHttpServer } from '../runtime/http.js';
import { createKafka, jsonLineLogger } from '../runtime/kafka/client.js';
import { KafkaDriver } from '../runtime/kafka/driver.js';
import { ensureTopics } from '../runtime/kafka/topics.js';
import { packageRoot } from '../runtime/paths.js';
import { allTopics } from '../runtime/topology-types.js';
import { RocksDbBackend } from '../state/rocksdb.js';
import { TOPICS } from '../topology.js';
import { integerFlag, parseFlags } from './args.js';
import { UsageError } from './errors.js';
import { buildPipeline } from './pipeline.js';

export const DEMO_USAGE = 'ledger demo [--count N]   start the local stack, produce signed exports, run the pipeline, print a summary';

const say = (line: string): void => void process.stdout.write(`${line}\n`);

/**
 * The README's main command: on a fresh machine, brings up Kafka and the registry
 * (scripts/stack.mjs), generates a signing key and a keyring, produces a realistic stream
 * (duplicates and invalid records included), runs the processors, and prints what happened.
 */
export async function demoCommand(argv: readonly string[]): Promise<number> {
  const flags = parseFlags('demo', argv, { count: { type: 'string' }, 'no-stack': { type: 'boolean' } });
  const count = integerFlag('demo', 'count', flags.count, 3_000);
  const root = packageRoot(import.meta.url);
  const external = process.env.KAFKA_BROKERS !== undefined;

  say(`[1/5] local stack: ${external || flags['no-stack'] ? 'using KAFKA_BROKERS as given' : 'starting Kafka (KRaft) and the schema registry'}`);
  if (!external && !flags['no-stack']) {
    const up = spawnSync(process.execPath, [join(root, 'scripts', 'stack.mjs'), 'up'], { stdio: 'inherit' });
    if (up.status !== 0) throw new UsageError('ledger demo: the local stack did not start (see the line above)');
  }
  const outDir = join(root, 'out', 'demo');
  mkdirSync(outDir, { recursive: true });
  const keys = generateDemoKeys();
  const keyringPath = join(outDir, 'keyring.json');
  writeFileSync(keyringPath, `${JSON.stringify(keyringDocument(keys), null, 2)}\n`);
  writeFileSync(join(outDir, 'signing-key.pem'), keys.active.privateKeyPem, { mode: 0o600 });
  say(`[2/5] keys: signer ${keys.active.keyId} (active), ${keys.revoked.keyId} (revoked) → ${keyringPath}`);

  const config = loadConfig(
    { ...process.env, SCHEMA_REGISTRY_URL: process.env.SCHEMA_REGISTRY_URL ?? (external ? '' : 'http://127.0.0.1:18081/apis/ccompat/v7') },
    { LEDGER_KEYRING: keyringPath, LEDGER_STATE_DIR: process.env.LEDGER_STATE_DIR ?? join(outDir, 'state') },
  );
  const logger = jsonLineLogger('demo', process.stderr, { quietInfo: true });
  const pipeline = buildPipeline(config, logger);
  const kafka = createKafka(config.kafka, logger);
  const admin = kafka.admin();
  await admin.connect();
  await ensureTopics(admin, allTopics(pipeline.topology));
  await admin.disconnect();
  const ids = await pipeline.codec.registerAll();
  say(`[3/5] topics created; ${ids.size > 0 ? `${ids.size} schemas registered (Confluent wire format)` : 'no registry: Avro single-object encoding'}`);

  // Count this run's outputs: a fresh group that starts at the end of both output topics.
  const quiet = new Kafka({ clientId: 'ledger-demo-reader', brokers: [...config.kafka.brokers], logLevel: logLevel.NOTHING });
  const reader = quiet.consumer({ groupId: `ledger-demo-${Date.now()}`, maxWaitTimeInMs: 200 });
  const tallies = { validated: 0, rejected: new Map<string, number>() };
  await reader.connect();
  await reader.subscribe({ topics: [TOPICS.validated, TOPICS.rejected], fromBeginning: false });
  const joined = new Promise<void>((resolve) => reader.on(reader.events.GROUP_JOIN, () => resolve()));
  await reader.run({
    eachMessage: async ({ topic, message }) => {
      if (topic === TOPICS.validated) tallies.validated++;
      else {
        const rejection = (await pipeline.codec.decode(topic, message.value ?? Buffer.alloc(0))) as { code: string };
        tallies.rejected.set(rejection.code, (tallies.rejected.get(rejection.code) ?? 0) + 1);
      }
    },
  });
  await joined;

  const metrics = createMetrics();
  const driver = new KafkaDriver({
    topology: pipeline.topology,
    kafka,
    backend: new RocksDbBackend(config.stateDir),
    serde: pipeline.serde,
    logger,
    metrics: metricsSink(metrics),
  });
  const server = await startHttpServer({ port: config.metricsPort, registry: metrics.registry, isReady: () => driver.isReady() });
  await driver.start();

  const stream = exportStream({ count, keys });
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  for (let i = 0; i < stream.length; i += 500) {
    await producer.send({ topic: TOPICS.exportsCreated, acks: -1, messages: stream.slice(i, i + 500).map((r) => ({ key: r.key, value: r.value })) });
  }
  await producer.disconnect();
  const expectedRejected = stream.filter((r) => r.expect !== 'OK').length;
  say(`[4/5] produced ${stream.length} exports to ${TOPICS.exportsCreated} (${stream.filter((r) => r.replay).length} exact replays, ${expectedRejected} invalid)`);

  const started = Date.now();
  const done = (): number => tallies.validated + [...tallies.rejected.values()].reduce((a, b) => a + b, 0);
  while (done() < stream.length) {
    say(`      … ${done()}/${stream.length} records decided (${((Date.now() - started) / 1000).toFixed(1)} s)`);
    await new Promise((r) => setTimeout(r, 1_000));
    if (Date.now() - started > 300_000) throw new Error('demo: the pipeline did not finish within 5 minutes');
  }
  const seconds = (Date.now() - started) / 1000;
  say(`[5/5] all ${stream.length} records decided in ${seconds.toFixed(1)} s`);
  say('');
  say('summary');
  say(`  validated → ${TOPICS.validated}: ${tallies.validated} (includes ${stream.filter((r) => r.replay && r.expect === 'OK').length} exact replays; the dedupe stage absorbs those)`);
  say(`  rejected  → ${TOPICS.rejected}: ${done() - tallies.validated}`);
  for (const [code, n] of [...tallies.rejected].sort()) say(`      ${code.padEnd(28)} ${n}`);
  say('');
  say(`look at: http://127.0.0.1:${config.metricsPort}/metrics (while running) · kcat -b ${config.kafka.brokers[0]} -t ${TOPICS.rejected} -C -e`);
  say('stop the local stack with: npm run stack -- down');
  await reader.disconnect();
  await driver.stop();
  await pipeline.close();
  await new Promise((r) => server.close(r));
  const mismatch = done() - tallies.validated !== expectedRejected;
  if (mismatch) say(`!! expected ${expectedRejected} rejections, saw ${done() - tallies.validated}`);
  return mismatch ? 1 : 0;
}
