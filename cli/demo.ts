import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { generateEd25519KeyPair } from '../contracts/ed25519.js';
import { join } from 'node:path';
import { logLevel, Kafka } from 'kafkajs';
import { loadConfig } from '../config.js';
import { bundleStream } from '../examples/bundles.js';
import { generateDemoKeys, exportStream, keyringDocument } from '../examples/exports.js';
import { createKafka, jsonLineLogger } from '../runtime/kafka/client.js';
import { partitionOffsetsOf, startNewGroupsAtEnd, uncommittedBefore } from '../runtime/kafka/groups.js';
import { ensureTopics } from '../runtime/kafka/topics.js';
import { packageRoot } from '../runtime/paths.js';
import { allTopics, FETCH_LIMITS } from '../runtime/topology-types.js';
import { TOPICS } from '../topology.js';
import { integerFlag, parseFlags } from './args.js';
import { UsageError } from './errors.js';
import { buildPipeline, servePipeline } from './pipeline.js';

export const DEMO_USAGE = 'ledger demo [--count N]   start the local stack, produce signed exports and bundle imports, run validate → dedupe → merkle → projector, print a summary';

const LEDGER_KEY_ID = 'demo-ledger-1';
const DEMO_TENANTS = ['acme', 'globex', 'initech'];

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
  // The ledger's own signing key outlives a demo run: its batches chain across runs.
  const ledgerKeyPath = join(outDir, 'ledger-signing-key.pem');
  const ledgerKeyringPath = join(outDir, 'ledger-keyring.json');
  if (!existsSync(ledgerKeyPath)) {
    const ledgerKey = generateEd25519KeyPair();
    writeFileSync(ledgerKeyPath, ledgerKey.privateKeyPem, { mode: 0o600 });
    writeFileSync(ledgerKeyringPath, `${JSON.stringify({ keys: [{ keyId: LEDGER_KEY_ID, publicKey: ledgerKey.publicKeyPem, status: 'active' }] }, null, 2)}\n`);
  }
  say(`[2/5] keys: exports signed by ${keys.active.keyId} (active) and ${keys.revoked.keyId} (revoked) → ${keyringPath}; Merkle roots signed by ${LEDGER_KEY_ID} → ${ledgerKeyringPath}`);

  const config = loadConfig(
    { ...process.env, SCHEMA_REGISTRY_URL: process.env.SCHEMA_REGISTRY_URL ?? (external ? '' : 'http://127.0.0.1:18081/apis/ccompat/v7') },
    {
      LEDGER_KEYRING: keyringPath,
      LEDGER_STATE_DIR: process.env.LEDGER_STATE_DIR ?? join(outDir, 'state'),
      LEDGER_SIGNING_KEY: ledgerKeyPath,
      LEDGER_SIGNING_KEY_ID: LEDGER_KEY_ID,
    },
  );
  const logger = jsonLineLogger('demo', process.stderr, { quietInfo: true });
  const pipeline = buildPipeline(config, logger);
  const kafka = createKafka(config.kafka, logger);
  const admin = kafka.admin();
  await admin.connect();
  await ensureTopics(admin, allTopics(pipeline.topology));
  // On a broker that already holds records (other runs, benchmarks) a first demo decides only its
  // own stream; a later demo resumes where the last one stopped.
  const startedAtEnd = await startNewGroupsAtEnd(admin, pipeline.topology);
  // Where this run's stream starts: outcomes of earlier records are not counted (the topics may
  // hold other runs' records, and a resumed demo decides what was written since it last stopped).
  const inputStart = new Map<string, Map<number, number>>();
  for (const topic of [TOPICS.exportsCreated, TOPICS.airgapBundles]) {
    inputStart.set(topic, await partitionOffsetsOf(admin, topic, 'high'));
  }
  const backlog = await uncommittedBefore(admin, pipeline.topology, inputStart);
  const ids = await pipeline.codec.registerAll();
  const groups = startedAtEnd.length > 0 ? `; ${startedAtEnd.length} new consumer groups start at the end of their inputs` : '';
  const resumed = backlog > 0 ? `; the pipeline first works through ${backlog} earlier input records, written since the last demo stopped` : '';
  say(`[3/5] topics created; ${ids.size > 0 ? `${ids.size} schemas registered (Confluent wire format)` : 'no registry: Avro single-object encoding'}${groups}${resumed}`);

  // A fresh seed per run: new runs and bundles each time (a replayed demo stream would be all duplicates).
  const seed = `demo-${Date.now()}`;
  const stream = exportStream({ count, keys, seed, tenants: DEMO_TENANTS });
  const runKeys = new Set(stream.filter((r) => r.expect === 'OK').map((r) => r.key));
  // Air-gap bundle imports: acme and globex imported hours ago, initech's newest is 9 days old (stale).
  const hourMs = 3_600_000;
  const bundles = [
    ...bundleStream({ tenants: DEMO_TENANTS.slice(0, 2), perTenant: 3, findings: 200, lastAnchorMs: Date.now() - 6 * hourMs, seed }),
    ...bundleStream({ tenants: DEMO_TENANTS.slice(2), perTenant: 3, findings: 200, lastAnchorMs: Date.now() - 9 * 24 * hourMs, seed }),
  ];
  const bundleIds = new Set(bundles.filter((b) => b.expect === 'IMPORTED').map((b) => { const v = JSON.parse(b.value.toString('utf8')) as { tenantId: string; bundleId: string }; return `${v.tenantId}/${v.bundleId}`; }));

  // Count this run's final outcomes: a fresh group that starts at the end of the output topics.
  const quiet = new Kafka({ clientId: 'ledger-demo-reader', brokers: [...config.kafka.brokers], logLevel: logLevel.NOTHING });
  const reader = quiet.consumer({ groupId: `ledger-demo-${Date.now()}`, maxWaitTimeInMs: 200, ...FETCH_LIMITS });
  const tallies = { accepted: 0, duplicates: 0, rejected: new Map<string, number>() };
  const sealedLeaves = new Map<string, string>(); // eventHash → partition/batchSeq
  const sealedOfOurs = (): string[] => [...acceptedEvents].filter((e) => sealedLeaves.has(e));
  // Only outcomes whose source is one of this run's input records count.
  const ours = (value: unknown): boolean => {
    const source = (value as { source?: { topic: string; partition: number; offset: number } }).source;
    return source !== undefined && source.offset >= (inputStart.get(source.topic)?.get(source.partition) ?? Infinity);
  };
  const acceptedEvents = new Set<string>();
  await reader.connect();
  const impacts = new Map<string, { tenant: string; newFindings: number; resolvedFindings: number; criticalDelta: number }>();
  const anchoredRuns = new Map<string, boolean>(); // tenantId/runId → latest timeline entry anchored
  await reader.subscribe({ topics: [TOPICS.events, TOPICS.duplicates, TOPICS.rejected, TOPICS.merkleRoots, TOPICS.timeline, TOPICS.airgapTimeline], fromBeginning: false });
  const joined = new Promise<void>((resolve) => reader.on(reader.events.GROUP_JOIN, () => resolve()));
  await reader.run({
    eachMessage: async ({ topic, message }) => {
      const value = await pipeline.codec.decode(topic, message.value ?? Buffer.alloc(0));
      if (topic === TOPICS.merkleRoots) {
        const root = value as { partition: number; batchSeq: number; leaves: string[] };
        for (const leaf of root.leaves) sealedLeaves.set(leaf, `${root.partition}/${root.batchSeq}`);
        return;
      }
      if (topic === TOPICS.airgapTimeline) {
        if (bundleIds.has(String(message.key))) impacts.set(String(message.key), value as { tenant: string; newFindings: number; resolvedFindings: number; criticalDelta: number });
        return;
      }
      if (topic === TOPICS.timeline) {
        if (runKeys.has(String(message.key))) anchoredRuns.set(String(message.key), (value as { merkleRoot: string | null }).merkleRoot !== null);
        return;
      }
      if (!ours(value)) return;
      if (topic === TOPICS.events) {
        tallies.accepted++;
        acceptedEvents.add((value as { eventHash: string }).eventHash);
      } else if (topic === TOPICS.duplicates) tallies.duplicates++;
      else {
        const rejection = value as { code: string; stage: string };
        const label = `${rejection.code} (${rejection.stage})`;
        tallies.rejected.set(label, (tallies.rejected.get(label) ?? 0) + 1);
      }
    },
  });
  await joined;

  const { driver, server, queries } = await servePipeline(config, pipeline, { kafka, logger });
  await driver.start();
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  for (let i = 0; i < stream.length; i += 500) {
    await producer.send({ topic: TOPICS.exportsCreated, acks: -1, messages: stream.slice(i, i + 500).map((r) => ({ key: r.key, value: r.value })) });
  }
  await producer.send({ topic: TOPICS.airgapBundles, acks: -1, messages: bundles.map((b) => ({ key: b.key, value: b.value })) });
  await producer.disconnect();
  const expectedRejected = stream.filter((r) => r.expect !== 'OK').length + bundles.filter((b) => b.expect.startsWith('ERR_')).length;
  say(`[4/5] produced ${stream.length} exports to ${TOPICS.exportsCreated} (${stream.filter((r) => r.replay).length} exact replays, ${stream.filter((r) => r.expect !== 'OK').length} invalid) and ${bundles.length} bundle imports to ${TOPICS.airgapBundles} (1 re-import and 1 invalid per tenant)`);

  const started = Date.now();
  const rejectedCount = (): number => [...tallies.rejected.values()].reduce((a, b) => a + b, 0);
  const bundleRejections = bundles.filter((b) => b.expect.startsWith('ERR_')).length;
  const done = (): number => tallies.accepted + tallies.duplicates + rejectedCount() - bundleRejections;
  const anchored = (): number => [...anchoredRuns.values()].filter(Boolean).length;
  let earlier = backlog;
  while (done() < stream.length || sealedOfOurs().length < tallies.accepted || anchored() < runKeys.size || impacts.size < bundleIds.size) {
    if (earlier > 0) earlier = await uncommittedBefore(admin, pipeline.topology, inputStart);
    const catchingUp = earlier > 0 ? `, ${earlier} earlier input records still to read` : '';
    say(`      … ${Math.max(0, done())}/${stream.length} exports decided, ${sealedOfOurs().length} events sealed, ${anchored()}/${runKeys.size} runs anchored on ${TOPICS.timeline}, ${impacts.size}/${bundleIds.size} bundle impacts${catchingUp} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
    await new Promise((r) => setTimeout(r, 1_000));
    if (Date.now() - started > 300_000) throw new Error('demo: the pipeline did not finish within 5 minutes');
  }
  const seconds = (Date.now() - started) / 1000;
  say(`[5/5] all ${stream.length} exports decided, every accepted event sealed and projected, every bundle counted, in ${seconds.toFixed(1)} s`);
  say('');
  say('summary');
  say(`  accepted   → ${TOPICS.events}: ${tallies.accepted}`);
  say(`  duplicates → ${TOPICS.duplicates}: ${tallies.duplicates}`);
  say(`  rejected   → ${TOPICS.rejected}: ${rejectedCount()}`);
  for (const [code, n] of [...tallies.rejected].sort()) say(`      ${code.padEnd(40)} ${n}`);
  const sealed = sealedOfOurs();
  say(`  sealed into Merkle batches → ${TOPICS.merkleRoots}: ${sealed.length} events in ${new Set(sealed.map((e) => sealedLeaves.get(e))).size} batches`);
  say(`  runs on ${TOPICS.timeline} (compacted), anchored: ${anchored()}`);
  say(`  bundle imports → ${TOPICS.airgapTimeline}: ${impacts.size}`);
  say('  air-gap freshness (threshold ' + `${config.freshnessThresholdSeconds} s)`);
  for (const tenant of DEMO_TENANTS) {
    const mine = [...impacts.values()].filter((i) => i.tenant === tenant);
    const report = await queries.freshness(tenant);
    const sum = (f: (i: (typeof mine)[number]) => number) => mine.reduce((n, i) => n + f(i), 0);
    say(`      ${tenant.padEnd(10)} staleness ${String(Math.round(report.stalenessSeconds ?? 0)).padStart(7)} s  ${report.stale ? 'STALE (ERR_AIRGAP_STALE)' : 'fresh'}  bundles ${mine.length}: +${sum((i) => i.newFindings)} new, ${sum((i) => i.resolvedFindings)} resolved, critical Δ ${sum((i) => i.criticalDelta)}`);
  }
  say('');
  say(`look at: http://127.0.0.1:${config.metricsPort}/metrics and /v1/tenants/initech/freshness (while running) · kcat -b ${config.kafka.brokers[0]} -t ${TOPICS.rejected} -C -e`);
  say(`audit offline: npx ledger dump --out out/demo/dump && npx ledger verify --dir out/demo/dump --keys ${ledgerKeyringPath}`);
  say('  (with SCHEMA_REGISTRY_URL=http://127.0.0.1:18081/apis/ccompat/v7 when the demo used the local registry)');
  say('stop the local stack with: npm run stack -- down');
  await reader.disconnect();
  await admin.disconnect();
  await driver.stop();
  await pipeline.close();
  await new Promise((r) => server.close(r));
  const expectedDuplicates = stream.filter((r) => r.replay && r.expect === 'OK').length;
  const mismatch = rejectedCount() !== expectedRejected || tallies.duplicates !== expectedDuplicates;
  if (mismatch) say(`!! expected ${expectedRejected} rejections and ${expectedDuplicates} duplicates, saw ${rejectedCount()} and ${tallies.duplicates}`);
  return mismatch ? 1 : 0;
}
