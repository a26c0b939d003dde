import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Kafka, logLevel, type Admin } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readDumpTopic } from '../../cli/dump-files.js';
import { createCodec } from '../../cli/pipeline.js';
import { loadConfig } from '../../config.js';
import { generateEd25519KeyPair } from '../../contracts/ed25519.js';
import { bundleStream } from '../../examples/bundles.js';
import { exportStream, generateDemoKeys, keyringDocument } from '../../examples/exports.js';
import { TOPICS } from '../../topology.js';
import { kafkaBrokers, schemaRegistryUrl } from '../support/env.js';
import { freePort, killHard, killIfRunning, repoRoot, runLedger, sleep, startLedger, stopGracefully, waitFor, type Worker } from '../support/processes.js';
import { endOffsets, ensurePipelineTopics, kcatRead, startGroupAtEnd } from '../support/topics.js';

// The whole pipeline under load and faults (issue 7): 20,000 exports (about 5% exact replays and
// 5% invalid) and air-gap bundle imports flow while two instances of each of the four processors
// (one `ledger run --processors X` child each, own state directory) are killed with SIGKILL at
// random moments — every processor at least three times — and the broker itself is restarted
// once. Afterwards, read back by kcat (read_committed):
// - every export on the input topic has exactly one outcome (ledger.events, .duplicates or
//   .rejected, matched by source coordinates), and ledger.events holds no eventId twice;
// - `ledger verify` passes on a dump of ledger.events and this run's roots;
// - the compacted ledger.timeline and ledger.airgap.timeline equal what `ledger replay` computes
//   from the same input records (same partitions and order); timeline anchors depend on when
//   batches sealed, so they are compared as "present and pointing at a sealed batch holding the
//   event", and eventHash (which covers the source offset) as "the hash of that run's event".
// Shared topics: this run's groups start at the current end offsets; its tenants are its own.

const run = `chaos-it-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
const KEY_ID = `${run}-signer`;
const TENANTS = ['a', 'b', 'c', 'd'].map((t) => `${run}-${t}`);
const PROCESSORS = ['validate', 'dedupe', 'merkle', 'projector'] as const;
type ProcessorName = (typeof PROCESSORS)[number];
const INPUTS: Readonly<Record<ProcessorName, readonly string[]>> = {
  validate: [TOPICS.exportsCreated],
  dedupe: [TOPICS.validated],
  merkle: [TOPICS.events],
  projector: [TOPICS.events, TOPICS.merkleRoots, TOPICS.airgapBundles],
};
const EXPORTS = 20_000;
/** How long the pipeline may take to drain after the last export (a deadline, not a performance bound). */
const WAIT_MS = 480_000;
const KILLS_PER_PROCESSOR = 3;
const BATCH_SIZE = 64;
const kafka = new Kafka({ clientId: run, brokers: kafkaBrokers(), logLevel: logLevel.NOTHING });
const registryEnv = { SCHEMA_REGISTRY_URL: schemaRegistryUrl() };
const codec = createCodec(loadConfig({}, registryEnv));
const keys = generateDemoKeys();
const signer = generateEd25519KeyPair();
/** A broker this test may restart: only the local stack's (KAFKA_BROKERS unset). */
const ownBroker = (process.env.KAFKA_BROKERS ?? '').trim() === '';

interface StackApi {
  up(options: { registry: boolean; log?: (line: string) => void }): Promise<unknown>;
  down(options: { components: string[]; log?: (line: string) => void }): Promise<unknown>;
}

let dir: string;
let admin: Admin;
/** Every instance's stderr, kept under out/ (git-ignored) for a post-mortem. */
const logDir = join(repoRoot, 'out', 'chaos', run);
interface Instance {
  readonly worker: Worker;
  readonly metricsPort: number;
}
const live = new Map<string, Instance>();
let passed = false;
const workers: Array<{ processor: ProcessorName; instance: number; worker: Worker }> = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'chaos-it-'));
  await mkdir(logDir, { recursive: true });
  admin = kafka.admin();
  await admin.connect();
  await ensurePipelineTopics(admin);
});

afterAll(async () => {
  for (const { worker } of workers) killIfRunning(worker);
  await admin?.disconnect().catch(() => undefined);
  if (dir) await rm(dir, { recursive: true, force: true });
  // The instances' logs are for a post-mortem: kept only when the test failed.
  if (passed) await rm(logDir, { recursive: true, force: true });
});

/** Records each of this run's groups has yet to commit, per input topic (for a stall's report). */
async function groupLags(): Promise<string> {
  const lags: string[] = [];
  for (const processor of PROCESSORS) {
    for (const topic of INPUTS[processor]) {
      const [committed] = await admin.fetchOffsets({ groupId: `${run}-${processor}`, topics: [topic] });
      const ends = await endOffsets(admin, topic);
      const lag = (committed?.partitions ?? []).map((p) => (ends.get(p.partition) ?? 0) - Math.max(Number(p.offset), 0));
      lags.push(`${processor}@${topic}=[${lag.join(',')}]`);
    }
  }
  return lags.join(' ');
}

type Coordinates = `${number}:${number}`;
const at = (partition: number, offset: number): Coordinates => `${partition}:${offset}`;

type TopicRecord = { partition: number; offset: number; key: string | null; raw: Buffer | null; value: Record<string, unknown> | null };

/**
 * The committed records of every partition of `topic` from `from` (per partition) on, decoded when
 * Avro; each poll reads only what arrived since the last one (the wait below polls for minutes on
 * two shared cores, so re-reading everything each time would compete with the pipeline it waits for).
 */
class TopicTail {
  readonly records: TopicRecord[] = [];
  private readonly next: Map<number, number>;
  constructor(
    private readonly topic: string,
    from: ReadonlyMap<number, number>,
    private readonly record?: string,
  ) {
    this.next = new Map(from);
  }
  async poll(): Promise<TopicRecord[]> {
    for (const [partition, start] of this.next) {
      const read = kcatRead(this.topic, partition, start);
      for (const r of read) {
        const value = this.record && r.value ? (codec.catalog.toPlainJson(this.record, await codec.decode(this.topic, r.value)) as Record<string, unknown>) : null;
        this.records.push({ partition, offset: r.offset, key: r.key, raw: r.value, value });
      }
      if (read.length > 0) this.next.set(partition, (read.at(-1)?.offset ?? start) + 1);
    }
    return this.records;
  }
}

const readTopic = (topic: string, from: ReadonlyMap<number, number>, record?: string): Promise<TopicRecord[]> => new TopicTail(topic, from, record).poll();

describe('the whole pipeline under kill -9 and a broker restart', () => {
  it('accounts for every input exactly once, verifies, and projects what an offline replay projects', async (context) => {
    // A post-mortem: the instances alive at the end, their last words, and where every log is.
    context.onTestFailed(async () => {
      for (const [name, worker] of live) {
        const ready = await fetch(`http://127.0.0.1:${worker.metricsPort}/readyz`).then((r) => r.text(), (e: unknown) => String(e));
        const last = worker.worker.logs.slice(-12).map((l) => JSON.stringify(l).slice(0, 400));
        process.stderr.write(`--- ${name} (pid ${worker.worker.child.pid}, exit ${worker.worker.child.exitCode}, readyz ${ready}), last lines:\n${last.join('\n')}\n`);
      }
      process.stderr.write(`chaos: every instance's log is in ${logDir}\n`);
    });
    const paths = { keyring: join(dir, 'keyring.json'), signingKey: join(dir, 'signer.pem'), signerKeyring: join(dir, 'signer-keyring.json'), dump: join(dir, 'dump'), audited: join(dir, 'audited'), replayIn: join(dir, 'replay-input.ndjson'), replayOut: join(dir, 'replay') };
    await writeFile(paths.keyring, JSON.stringify(keyringDocument(keys)));
    await writeFile(paths.signingKey, signer.privateKeyPem);
    await writeFile(paths.signerKeyring, JSON.stringify({ keys: [{ keyId: KEY_ID, publicKey: signer.publicKeyPem, status: 'active' }] }));
    for (const processor of PROCESSORS) await startGroupAtEnd(admin, `${run}-${processor}`, INPUTS[processor]);
    const start = new Map<string, Map<number, number>>();
    for (const topic of Object.values(TOPICS)) start.set(topic, await endOffsets(admin, topic));

    const env = async (processor: ProcessorName, instance: number, metricsPort: number): Promise<Record<string, string>> => ({
      ...registryEnv,
      KAFKA_BROKERS: kafkaBrokers().join(','),
      LEDGER_APP_ID: run,
      LEDGER_STATE_DIR: join(dir, `state-${processor}-${instance}`),
      LEDGER_KEYRING: paths.keyring,
      LEDGER_SIGNING_KEY: paths.signingKey,
      LEDGER_SIGNING_KEY_ID: KEY_ID,
      LEDGER_MERKLE_BATCH_SIZE: String(BATCH_SIZE),
      LEDGER_MERKLE_BATCH_MAX_WAIT_MS: '500',
      METRICS_PORT: String(metricsPort),
    });
    const launch = async (processor: ProcessorName, instance: number): Promise<Instance> => {
      const metricsPort = await freePort();
      const logFile = join(logDir, `${processor}-${instance}-${workers.length}.log`);
      const worker = startLedger(['run', '--processors', processor], await env(processor, instance, metricsPort), logFile);
      workers.push({ processor, instance, worker });
      return { worker, metricsPort };
    };
    for (const processor of PROCESSORS) for (const instance of [0, 1]) live.set(`${processor}#${instance}`, await launch(processor, instance));

    // Steady load: exports in chunks, bundle imports spread among them; the producer rides out the broker restart.
    const stream = exportStream({ count: EXPORTS, keys, tenants: TENANTS, seed: run });
    const bundles = bundleStream({ tenants: TENANTS, perTenant: 4, findings: 60, lastAnchorMs: Date.now() - 3_600_000, seed: run });
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, retry: { retries: 30, maxRetryTime: 5_000 } });
    await producer.connect();
    let produced = 0;
    const produceAll = (async () => {
      const chunk = 250;
      for (let i = 0; i < stream.length; i += chunk) {
        const bundle = bundles[i / chunk];
        for (let attempt = 0; ; attempt++) {
          try {
            await producer.sendBatch({
              acks: -1,
              topicMessages: [
                { topic: TOPICS.exportsCreated, messages: stream.slice(i, i + chunk).map((r) => ({ key: r.key, value: r.value })) },
                ...(bundle ? [{ topic: TOPICS.airgapBundles, messages: [{ key: bundle.key, value: bundle.value }] }] : []),
              ],
            });
            break;
          } catch (error) {
            // A retry may write a chunk twice: the input is what the topic holds, read back below.
            if (attempt > 30) throw error;
            await sleep(1_000);
          }
        }
        produced = i + chunk;
        await sleep(150);
      }
      for (const bundle of bundles.slice(Math.ceil(stream.length / chunk))) await producer.send({ topic: TOPICS.airgapBundles, acks: -1, messages: [{ key: bundle.key, value: bundle.value }] });
    })();

    // Chaos: every processor is killed KILLS_PER_PROCESSOR times (a random instance, at a random
    // moment) and restarted with the same state directory; the broker restarts once midway.
    const random = (n: number): number => randomBytes(4).readUInt32BE() % n;
    const schedule = PROCESSORS.flatMap((p) => Array.from({ length: KILLS_PER_PROCESSOR }, () => p)).sort(() => random(3) - 1);
    let brokerRestarted = false;
    for (const [k, processor] of schedule.entries()) {
      await sleep(500 + random(2_500));
      const instance = random(2);
      const name = `${processor}#${instance}`;
      await killHard((live.get(name) as Instance).worker);
      live.set(name, await launch(processor, instance));
      if (k === Math.floor(schedule.length / 2) && ownBroker) {
        const stack = (await import(pathToFileURL(join(repoRoot, 'scripts', 'stack.mjs')).href)) as StackApi;
        const log = (line: string) => process.stderr.write(`chaos: ${line}\n`);
        await stack.down({ components: ['kafka'], log });
        await sleep(3_000);
        await stack.up({ registry: false, log });
        brokerRestarted = true;
      }
    }
    await produceAll;
    await producer.disconnect();
    const exitedEarly = () => {
      for (const [name, { worker }] of live) if (worker.child.exitCode !== null) throw new Error(`${name} exited with ${worker.child.exitCode}: ${JSON.stringify(worker.logs.at(-1))}`);
    };
    exitedEarly();

    // The inputs are what the input topics hold after this run's start offsets.
    const inputs = await readTopic(TOPICS.exportsCreated, start.get(TOPICS.exportsCreated) as Map<number, number>);
    expect(inputs.length).toBeGreaterThanOrEqual(EXPORTS);
    const bundleInputs = await readTopic(TOPICS.airgapBundles, start.get(TOPICS.airgapBundles) as Map<number, number>);
    const inputSet = new Set(inputs.map((r) => at(r.partition, r.offset)));

    // Wait until every input has an outcome and every event of this run is sealed and anchored.
    type Outcome = { topic: string; key: string | null; value: Record<string, unknown> };
    let outcomes: Outcome[] = [];
    let events: Awaited<ReturnType<typeof readTopic>> = [];
    let roots: Awaited<ReturnType<typeof readTopic>> = [];
    const decided = new Map<Coordinates, number>();
    const tails = {
      events: new TopicTail(TOPICS.events, start.get(TOPICS.events) as Map<number, number>, 'LedgerEvent'),
      duplicates: new TopicTail(TOPICS.duplicates, start.get(TOPICS.duplicates) as Map<number, number>, 'Duplicate'),
      rejected: new TopicTail(TOPICS.rejected, start.get(TOPICS.rejected) as Map<number, number>, 'Rejection'),
      roots: new TopicTail(TOPICS.merkleRoots, start.get(TOPICS.merkleRoots) as Map<number, number>, 'MerkleRoot'),
    };
    let progress = '';
    const settled = async (): Promise<boolean> => {
      exitedEarly();
      events = await tails.events.poll();
      const duplicates = await tails.duplicates.poll();
      const rejected = await tails.rejected.poll();
      outcomes = [...events.map((r) => ({ topic: TOPICS.events, key: r.key, value: r.value ?? {} })), ...duplicates.map((r) => ({ topic: TOPICS.duplicates, key: r.key, value: r.value ?? {} })), ...rejected.map((r) => ({ topic: TOPICS.rejected, key: r.key, value: r.value ?? {} }))];
      decided.clear();
      for (const o of outcomes) {
        const source = o.value.source as { topic: string; partition: number; offset: number };
        if (source.topic !== TOPICS.exportsCreated) continue;
        decided.set(at(source.partition, source.offset), (decided.get(at(source.partition, source.offset)) ?? 0) + 1);
      }
      roots = (await tails.roots.poll()).filter((r) => r.value?.keyId === KEY_ID);
      const sealed = new Set(roots.flatMap((r) => r.value?.leaves as string[]));
      const undecided = [...inputSet].filter((c) => !decided.has(c)).length;
      const unsealed = events.filter((e) => !sealed.has(String(e.value?.eventHash))).length;
      progress = `${inputSet.size - undecided}/${inputSet.size} inputs decided, ${events.length - unsealed}/${events.length} events sealed`;
      return undecided === 0 && unsealed === 0;
    };
    // Polled every 2 s (each poll runs kcat and decodes what is new); progress every 30 s, and on
    // a timeout what is missing and each group's lag, so a stall names its stage.
    const waitStarted = Date.now();
    for (let lastReport = Date.now(); !(await settled()); await sleep(2_000)) {
      if (Date.now() - waitStarted > WAIT_MS) {
        throw new Error(`timed out after ${WAIT_MS / 1000} s waiting for every input decided and every event sealed: ${progress}; lag by group: ${await groupLags()}`);
      }
      if (Date.now() - lastReport > 30_000) {
        process.stderr.write(`chaos: ${progress} (${Math.round((Date.now() - waitStarted) / 1000)} s after the last export)\n`);
        lastReport = Date.now();
      }
    }
    process.stderr.write(`chaos: ${progress} ${Math.round((Date.now() - waitStarted) / 1000)} s after the last export\n`);

    // Exactly once: one outcome per input, none for anything else; no eventId twice.
    const twice = [...decided].filter(([, n]) => n > 1);
    expect(twice, 'inputs with more than one outcome').toEqual([]);
    expect([...decided.keys()].filter((c) => !inputSet.has(c)), 'outcomes without an input').toEqual([]);
    const eventIds = events.map((e) => String(e.value?.eventId));
    expect(new Set(eventIds).size).toBe(eventIds.length);
    const rejectedByCode = new Map<string, number>();
    for (const o of outcomes.filter((x) => x.topic === TOPICS.rejected)) rejectedByCode.set(String(o.value.code), (rejectedByCode.get(String(o.value.code)) ?? 0) + 1);

    // `ledger verify` on a dump of the events and this run's roots.
    const dumped = await runLedger(['dump', '--out', paths.dump, '--topics', `${TOPICS.events},${TOPICS.merkleRoots}`], { ...registryEnv, KAFKA_BROKERS: kafkaBrokers().join(',') });
    expect(dumped.exitCode, dumped.stderr).toBe(0);
    const dumpLines = (topic: string) => readDumpTopic<Record<string, unknown>>(paths.dump, topic, 'dump'); // line by line: the topics hold every earlier run too
    const eventsStart = start.get(TOPICS.events) as Map<number, number>;
    const auditedEvents = (await dumpLines(TOPICS.events)).filter((l) => l.offset >= (eventsStart.get(l.partition) ?? Infinity));
    const auditedRoots = (await dumpLines(TOPICS.merkleRoots)).filter((l) => l.value.keyId === KEY_ID);
    await mkdir(paths.audited, { recursive: true });
    await writeFile(join(paths.audited, `${TOPICS.events}.ndjson`), auditedEvents.map((l) => `${JSON.stringify(l)}\n`).join(''));
    await writeFile(join(paths.audited, `${TOPICS.merkleRoots}.ndjson`), auditedRoots.map((l) => `${JSON.stringify(l)}\n`).join(''));
    const verify = await runLedger(['verify', '--dir', paths.audited, '--keys', paths.signerKeyring], {});
    expect(verify.exitCode, `${verify.stdout}${verify.stderr}`).toBe(0);

    // The same input through `ledger replay` (explicit partitions, input order): same timelines.
    const replayLines = [
      ...inputs.map((r) => ({ topic: TOPICS.exportsCreated, partition: r.partition, key: r.key, value: r.raw?.toString('utf8') ?? '' })),
      ...bundleInputs.map((r) => ({ topic: TOPICS.airgapBundles, partition: r.partition, key: r.key, value: r.raw?.toString('utf8') ?? '' })),
    ];
    await writeFile(paths.replayIn, replayLines.map((l) => `${JSON.stringify(l)}\n`).join(''));
    const replay = await runLedger(['replay', '--in', paths.replayIn, '--out', paths.replayOut, '--keys', paths.keyring, '--signing-key', paths.signingKey, '--signing-key-id', KEY_ID, '--batch-size', String(BATCH_SIZE), '--partitions', '3'], {});
    expect(replay.exitCode, replay.stderr).toBe(0);
    const replayed = async (topic: string) => new Map((await readFile(join(paths.replayOut, `${topic}.ndjson`), 'utf8')).split('\n').filter(Boolean).map((l) => JSON.parse(l) as { key: string; value: Record<string, unknown> }).map((l) => [l.key, l.value]));
    // An event's hash covers its source offset; the replay numbers the same records from 0, so
    // eventHash is compared as "the hash of this run's event with that status on ledger.events".
    const comparable = ({ merkleRoot: _r, anchorReference: _a, batchSeq: _b, eventHash: _h, ...rest }: Record<string, unknown>) => rest;
    const eventOf = new Map(events.map((e) => [String(e.value?.eventHash), e.value ?? {}]));
    const sealedBy = new Map(roots.flatMap((r) => (r.value?.leaves as string[]).map((leaf) => [leaf, r.value] as const)));
    const mine = (key: string | null) => TENANTS.some((t) => key?.startsWith(`${t}/`));
    let timeline = new Map<string, Record<string, unknown>>();
    const expectedTimeline = await replayed(TOPICS.timeline);
    const timelineTail = new TopicTail(TOPICS.timeline, start.get(TOPICS.timeline) as Map<number, number>, 'TimelineEntry');
    await waitFor('every run anchored on ledger.timeline', async () => {
      timeline = new Map((await timelineTail.poll()).filter((r) => mine(r.key)).map((r) => [String(r.key), r.value ?? {}]));
      return [...expectedTimeline.keys()].every((k) => timeline.get(k)?.merkleRoot);
    }, 180_000);
    expect([...timeline.keys()].sort()).toEqual([...expectedTimeline.keys()].sort());
    for (const [key, entry] of timeline) {
      expect(comparable(entry), key).toEqual(comparable(expectedTimeline.get(key) ?? {}));
      expect(eventOf.get(String(entry.eventHash)), key).toMatchObject({ tenantId: entry.tenantId, runId: entry.runId, status: entry.status });
      const root = sealedBy.get(String(entry.eventHash));
      expect(entry, key).toMatchObject({ merkleRoot: root?.rootHash, anchorReference: root?.anchorReference, batchSeq: root?.batchSeq });
    }
    const airgap = new Map((await readTopic(TOPICS.airgapTimeline, start.get(TOPICS.airgapTimeline) as Map<number, number>, 'AirgapImpact')).filter((r) => mine(r.key)).map((r) => [String(r.key), r.value]));
    expect(airgap).toEqual(await replayed(TOPICS.airgapTimeline));

    // Graceful stop: every instance finishes its transaction and exits 0 on SIGTERM.
    for (const [name, { worker }] of live) expect(await stopGracefully(worker), name).toBe(0);
    passed = true;
    process.stderr.write(
      `chaos-kafka: ${inputs.length} exports (${produced} planned) and ${bundleInputs.length} bundle imports; ${schedule.length} kill -9 over 8 instances, broker restarted: ${brokerRestarted}; ` +
        `outcomes: ${events.length} events, ${outcomes.filter((o) => o.topic === TOPICS.duplicates).length} duplicates, rejected ${JSON.stringify(Object.fromEntries(rejectedByCode))}; ` +
        `${roots.length} batches verified; ${timeline.size} timeline entries and ${airgap.size} air-gap impacts equal to the replay\n`,
    );
  }, 900_000);
});
