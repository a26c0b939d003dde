import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel, type Admin, type Consumer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildPipeline, createCodec } from '../../cli/pipeline.js';
import { loadConfig } from '../../config.js';
import { canonicalJsonBytes } from '../../contracts/canonical-json.js';
import { expectedIdempotencyKey, sha256Digest } from '../../contracts/digests.js';
import { signExport } from '../../contracts/export.js';
import { exportStream, generateDemoKeys, keyringDocument, type DemoKeys, type StreamRecord } from '../../examples/exports.js';
import { jsonLineLogger } from '../../runtime/kafka/client.js';
import { LocalDriver } from '../../runtime/local-driver.js';
import { partitionFor } from '../../runtime/partitioner.js';
import { changelogTopicName } from '../../runtime/topology-types.js';
import { RUNS_STORE } from '../../processors/dedupe.js';
import { MemoryBackend } from '../../state/memory.js';
import { TOPICS } from '../../topology.js';
import { kafkaBrokers } from '../support/env.js';
import { freePort, killHard, killIfRunning, sleep, startLedger as startLedgerChild, stopGracefully, waitFor, type Worker } from '../support/processes.js';
import { endOffsets as topicEndOffsets, ensurePipelineTopics, kcatRead } from '../support/topics.js';

// The dedupe stage on the real broker under kill -9 (DESIGN.md 3.4, 3.5, 6): `ledger run
// --processors validate` keeps running in one child while `ledger run --processors dedupe` is
// killed with SIGKILL again and again under a steady stream of exports, once with its RocksDB
// directory deleted (the store must come back from its changelog), and for a while next to a
// second dedupe instance that takes some partitions (and their stores) and is killed too.
// Afterwards every input is on exactly one of ledger.events / ledger.exports.duplicates /
// ledger.exports.rejected, once, with exactly the output an in-process replay of the same input
// sequence (LocalDriver) gives, and no eventId is on ledger.events twice.
//
// exportStream replays a record a few records after its original, which says little about state
// that must survive a kill or a wiped directory; so the stream also carries LATE records about
// runs that finished long before (an exact replay, a conflicting re-send, a terminal → failed
// move, another artifact). Each is answered from the run's stored state only: with a lost store
// they would become events.
//
// The topics are shared with every other run on this broker. The test isolates itself: its own
// LEDGER_APP_ID (consumer groups, transactional ids, changelog), runIds derived from the run
// name, and only outputs whose `source` is one of the input coordinates this test produced (known
// exactly from the produce responses). Its consumer groups start at the end offsets measured
// before producing (committed up front), so older records of other runs are not re-decided.
// Integration files run one at a time, so no other pipeline instance decides these inputs.
// What is asserted is read by kcat (librdkafka, read_committed), independent of KafkaJS; the
// KafkaJS follower below paces the test and must agree with it.

const run = `dedupe-it-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
const INPUT = TOPICS.exportsCreated;
const OUTPUTS = [TOPICS.events, TOPICS.duplicates, TOPICS.rejected] as const;
const RECORD_OF: Readonly<Record<string, string>> = { [TOPICS.events]: 'LedgerEvent', [TOPICS.duplicates]: 'Duplicate', [TOPICS.rejected]: 'Rejection' };
const PARTITIONS = 3;
/** The steady stream: CHUNK records every PAUSE_MS, at least MIN_RECORDS, for as long as the faults last. */
const CHUNK = 40;
const PAUSE_MS = 150;
const MIN_RECORDS = 3_000;
const MAX_RECORDS = 24_000;
const KILLS = 4;
const WIPE_ROUND = 1;
/** Records the dedupe instance must decide before it is killed, so every kill lands mid-stream. */
const PROGRESS_PER_ROUND = 200;
/** One late record after every LATE_EVERY stream records, once LATE_FROM records are out. */
const LATE_EVERY = 25;
const LATE_FROM = 1_000;

const kafka = new Kafka({ clientId: run, brokers: kafkaBrokers(), logLevel: logLevel.NOTHING });
// The children write Avro single-object encoding (no registry); that is what is decoded here.
const codec = createCodec(loadConfig({}));
const exportKeys = generateDemoKeys();
const silent = jsonLineLogger('test', { write: () => true } as unknown as NodeJS.WritableStream);

type Plain = Record<string, unknown>;
interface Source {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
}
/** One output record of the pipeline that answers an input: where it is and what it says. */
interface Decision {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  readonly key: string | null;
  readonly value: Plain;
}

let dir: string;
let admin: Admin;
let follower: Consumer | undefined;
const workers: Worker[] = [];
/** Set when the test passed: only then are this run's changelog topic and consumer groups deleted (otherwise kept to look at). */
let passed = false;

const coordinate = (partition: number, offset: number): string => `${partition}:${offset}`;
const sourceOf = (value: Plain): Source => value.source as Source;
const withoutFields = (value: Plain, ...names: string[]): Plain => Object.fromEntries(Object.entries(value).filter(([name]) => !names.includes(name)));

/** What an output says about its input: accepted, DUPLICATE, or `<stage>:<code>`. */
function outcomeOf(topic: string, value: Plain): string {
  if (topic === TOPICS.events) return 'accepted';
  if (topic === TOPICS.duplicates) return String(value.code);
  return `${String(value.stage)}:${String(value.code)}`;
}

const decidedByDedupe = (d: Decision): boolean => d.topic !== TOPICS.rejected || d.value.stage === 'dedupe';

/** Decodes one output value; null for Confluent-framed values (a registry writer: never these children). */
async function decodeOutput(topic: string, bytes: Buffer | null): Promise<Plain | null> {
  if (bytes === null || bytes.length === 0 || bytes[0] === 0x00) return null;
  return codec.catalog.toPlainJson(RECORD_OF[topic], await codec.decode(topic, bytes)) as Plain;
}

/** A stream record, or a late record about a finished run with the dedupe answer it must get. */
interface Planned extends StreamRecord {
  readonly late: 'DUPLICATE' | 'ERR_IDEMPOTENCY_CONFLICT' | 'ERR_INVALID_TRANSITION' | 'ERR_REPLAY_MISMATCH' | null;
}

const LATE_VARIANTS: ReadonlyArray<{ late: NonNullable<Planned['late']>; make: (original: StreamRecord, keys: DemoKeys) => Buffer }> = [
  { late: 'DUPLICATE', make: (original) => original.value },
  { late: 'ERR_IDEMPOTENCY_CONFLICT', make: (original, keys) => resigned(original, keys, (body) => ({ ...body, scanId: `${String(body.scanId)}-resent` })) },
  { late: 'ERR_INVALID_TRANSITION', make: (original, keys) => resigned(original, keys, (body) => ({ ...body, status: 'failed' })) },
  {
    late: 'ERR_REPLAY_MISMATCH',
    make: (original, keys) =>
      resigned(original, keys, (body) => {
        const artifactHash = sha256Digest(Buffer.from(`other-artifact:${String(body.runId)}`));
        return { ...body, artifactHash, idempotencyKey: expectedIdempotencyKey(String(body.runId), artifactHash, String(body.tenantId)) };
      }),
  },
];

function resigned(original: StreamRecord, keys: DemoKeys, change: (body: Plain) => Plain): Buffer {
  const body = withoutFields(JSON.parse(original.value.toString('utf8')) as Plain, 'signatures');
  return Buffer.from(JSON.stringify(signExport(change(body), keys.active.keyId, keys.active.privateKey)));
}

const isFinishedOriginal = (r: StreamRecord): boolean => r.expect === 'OK' && !r.replay && (JSON.parse(r.value.toString('utf8')) as Plain).status === 'succeeded';

/** `stream` with a late record (cycling through LATE_VARIANTS) about a run that succeeded 600-3000 records earlier. */
function withLateRecords(stream: readonly StreamRecord[], keys: DemoKeys): Planned[] {
  const planned: Planned[] = [];
  let lates = 0;
  for (const [i, record] of stream.entries()) {
    planned.push({ ...record, late: null });
    if (i < LATE_FROM || i % LATE_EVERY !== LATE_EVERY - 1) continue;
    let target = i - 600 - ((lates * 131) % 2_400);
    while (target > 0 && !isFinishedOriginal(stream[target])) target--;
    if (target <= 0) continue;
    const variant = LATE_VARIANTS[lates++ % LATE_VARIANTS.length];
    const original = stream[target];
    planned.push({ key: original.key, value: variant.make(original, keys), expect: 'OK', replay: variant.late === 'DUPLICATE', late: variant.late });
  }
  return planned;
}

/** ledger_records_total{processor="dedupe",outcome=…} of one `ledger run` instance (committed outcomes). */
async function dedupeOutcomes(metricsPort: number, outcome: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  return text
    .split('\n')
    .filter((l) => l.startsWith('ledger_records_total{') && l.includes('processor="dedupe"') && l.includes(`outcome="${outcome}"`))
    .reduce((n, l) => n + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
}

const endOffsets = (topic: string) => topicEndOffsets(admin, topic);


/** Consumer groups on this broker, other than this run's, that decide exports right now (for a failure message). */
async function otherActiveDeciders(): Promise<string[]> {
  const { groups } = await admin.listGroups();
  const candidates = groups.map((g) => g.groupId).filter((id) => !id.startsWith(run) && /-(validate|dedupe)$/.test(id));
  if (candidates.length === 0) return [];
  const described = await admin.describeGroups(candidates);
  return described.groups.filter((g) => g.members.length > 0).map((g) => `${g.groupId} (${g.members.length} members)`);
}

/**
 * The expected output of every input, by the in-process driver on the same input sequence: the
 * same records, in the same order, on the same partitions. The dedupe decision of a record
 * depends only on earlier records of its run, and all records of a run share one input
 * partition, so the replay's i-th record of partition P answers like the broker's i-th.
 */
async function replayLocally(keyringPath: string, records: readonly Planned[], partitionOfRecord: readonly number[]): Promise<Map<string, Decision>> {
  const config = loadConfig({}, { LEDGER_KEYRING: keyringPath, LEDGER_PARTITIONS: String(PARTITIONS), LEDGER_APP_ID: run });
  const pipeline = buildPipeline(config, silent, { workers: 0, watchKeyring: false });
  const driver = await LocalDriver.create({ topology: pipeline.topology, backend: new MemoryBackend(), serde: pipeline.serde });
  try {
    await driver.pipeAll(INPUT, records.map((r, i) => ({ key: r.key, value: r.value, partition: partitionOfRecord[i] })));
    const byLocalCoordinate = new Map<string, Decision>();
    for (const topic of OUTPUTS) {
      for (const r of driver.records(topic)) {
        const value = codec.catalog.toPlainJson(RECORD_OF[topic], await pipeline.codec.decode(topic, r.value ?? Buffer.alloc(0))) as Plain;
        const source = sourceOf(value);
        byLocalCoordinate.set(coordinate(source.partition, source.offset), { topic, partition: r.partition, offset: r.offset, key: r.key, value });
      }
    }
    return byLocalCoordinate;
  } finally {
    await driver.close();
    await pipeline.close();
  }
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dedupe-it-'));
  admin = kafka.admin();
  await admin.connect();
  await ensurePipelineTopics(admin);
});

afterAll(async () => {
  workers.forEach(killIfRunning);
  await follower?.disconnect();
  if (passed) {
    const cleanupFailed = (what: string) => (error: unknown) => process.stderr.write(`dedupe-kafka: could not delete ${what}: ${String(error)}\n`);
    await admin.deleteGroups([`${run}-validate`, `${run}-dedupe`, `${run}-checker`]).catch(cleanupFailed('consumer groups'));
    await admin.deleteTopics({ topics: [changelogTopicName(run, RUNS_STORE)] }).catch(cleanupFailed('changelog topic'));
  }
  await admin?.disconnect();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('dedupe stage on the broker under kill -9', () => {
  it('decides every input exactly once, as an in-process replay does, across kill -9, a wiped store and a rebalance', async (context) => {
    context.onTestFailed(() => {
      for (const [i, w] of workers.entries()) {
        process.stderr.write(`--- worker ${i} (${w.child.spawnargs.slice(2).join(' ')}) log, last 30 lines\n${w.logs.slice(-30).map((l) => JSON.stringify(l)).join('\n')}\n`);
      }
    });
    const paths = {
      keyring: join(dir, 'keyring.json'),
      validateState: join(dir, 'state-validate'),
      dedupeState: join(dir, 'state-dedupe'),
      secondDedupeState: join(dir, 'state-dedupe-second'),
    };
    await writeFile(paths.keyring, JSON.stringify(keyringDocument(exportKeys)));
    const metricsPorts = new Map<Worker, number>();
    const startLedger = async (processor: 'validate' | 'dedupe', stateDir: string): Promise<Worker> => {
      const metricsPort = await freePort();
      const env = {
        KAFKA_BROKERS: kafkaBrokers().join(','),
        SCHEMA_REGISTRY_URL: '', // empty counts as unset: Avro single-object encoding
        LEDGER_APP_ID: run,
        LEDGER_KEYRING: paths.keyring,
        LEDGER_ALLOW_UNSIGNED: 'false',
        LEDGER_PARTITIONS: String(PARTITIONS),
        LEDGER_STATE_DIR: stateDir,
        METRICS_PORT: String(metricsPort),
      };
      const worker = startLedgerChild(['run', '--processors', processor], env);
      workers.push(worker);
      metricsPorts.set(worker, metricsPort);
      return worker;
    };

    const stream = withLateRecords(exportStream({ count: MAX_RECORDS, keys: exportKeys, seed: run }), exportKeys);
    const partitionOfRecord = stream.map((r) => partitionFor(r.key, PARTITIONS, 0));
    expect((await topicEndOffsets(admin, INPUT)).size, `${INPUT} partitions`).toBe(PARTITIONS);

    // Where this run starts: the input's end offsets before producing, and the groups' positions.
    const inputStart = await endOffsets(INPUT);
    const validatedStart = await endOffsets(TOPICS.validated);
    const outputStart = new Map<string, Map<number, number>>();
    for (const topic of OUTPUTS) outputStart.set(topic, await endOffsets(topic));
    const positions = (ends: Map<number, number>) => [...ends].map(([partition, offset]) => ({ partition, offset: String(offset) }));
    await admin.setOffsets({ groupId: `${run}-validate`, topic: INPUT, partitions: positions(inputStart) });
    await admin.setOffsets({ groupId: `${run}-dedupe`, topic: TOPICS.validated, partitions: positions(validatedStart) });

    // Follow the outputs (read_committed) that answer inputs produced from here on; paces the test.
    const followed: Decision[] = [];
    let dedupeDecisions = 0;
    const isCandidate = (source: Source): boolean => source.topic === INPUT && source.offset >= (inputStart.get(source.partition) ?? Number.POSITIVE_INFINITY);
    const checker = kafka.consumer({ groupId: `${run}-checker`, readUncommitted: false, maxWaitTimeInMs: 200 });
    follower = checker;
    await checker.connect();
    await checker.subscribe({ topics: [...OUTPUTS], fromBeginning: false });
    const joined = new Promise<void>((resolve) => checker.on(checker.events.GROUP_JOIN, () => resolve()));
    await checker.run({
      eachMessage: async ({ topic, partition, message }) => {
        const value = await decodeOutput(topic, message.value);
        if (value === null || !isCandidate(sourceOf(value))) return;
        const decision = { topic, partition, offset: Number(message.offset), key: message.key?.toString('utf8') ?? null, value };
        followed.push(decision);
        if (decidedByDedupe(decision)) dedupeDecisions++;
      },
    });
    await joined;
    for (const topic of OUTPUTS) {
      for (const [partition, offset] of outputStart.get(topic) ?? []) checker.seek({ topic, partition, offset: String(offset) });
    }

    const validate = await startLedger('validate', paths.validateState);
    let dedupe = await startLedger('dedupe', paths.dedupeState);
    const alive = (...ws: Worker[]): void => {
      for (const w of ws) {
        if (w.child.exitCode !== null) throw new Error(`${w.child.spawnargs.slice(2).join(' ')} exited with ${w.child.exitCode}`);
      }
    };

    // The steady stream, with the exact input coordinate of every record from the produce responses.
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    const coordinates: string[] = [];
    let faultsDone = false;
    const produceAll = (async () => {
      while ((!faultsDone || coordinates.length < MIN_RECORDS) && coordinates.length < stream.length) {
        const first = coordinates.length;
        const chunk = stream.slice(first, first + CHUNK);
        const results = await producer.send({
          topic: INPUT,
          acks: -1,
          messages: chunk.map((r, i) => ({ key: r.key, value: r.value, partition: partitionOfRecord[first + i] })),
        });
        const next = new Map(results.map((r) => [r.partition, Number(r.baseOffset)]));
        chunk.forEach((_, i) => {
          const partition = partitionOfRecord[first + i];
          const offset = next.get(partition);
          if (offset === undefined) throw new Error(`no produce response for partition ${partition}`);
          coordinates.push(coordinate(partition, offset));
          next.set(partition, offset + 1);
        });
        await sleep(PAUSE_MS);
      }
    })();

    // kill -9 at varied moments, each time after the instance has decided fresh records.
    let restoredAfterWipe = 0;
    const kills: string[] = [];
    for (let round = 0; round < KILLS; round++) {
      const seen = dedupeDecisions;
      await waitFor(`dedupe to decide records in round ${round}`, () => {
        alive(validate, dedupe);
        return dedupeDecisions >= seen + PROGRESS_PER_ROUND;
      }, 180_000);
      const delay = 50 + ((round * 397) % 1_100);
      await sleep(delay);
      kills.push(`round ${round}: ${delay} ms after ${dedupeDecisions - seen} fresh decisions`);
      await killHard(dedupe);
      if (round === WIPE_ROUND) await rm(paths.dedupeState, { recursive: true, force: true });
      dedupe = await startLedger('dedupe', paths.dedupeState);
      if (round === WIPE_ROUND) {
        const restarted = dedupe;
        await waitFor('the wiped dedupe store to restore from its changelog', () => {
          alive(validate, restarted);
          return restarted.logs.some((l) => l.message === 'restored store from changelog' && l.processor === 'dedupe');
        }, 180_000);
        // Restores are logged per partition as they finish; wait until the instance processes again.
        const before = dedupeDecisions;
        await waitFor('the restored instance to decide records', () => {
          alive(validate, restarted);
          return dedupeDecisions > before;
        }, 180_000);
        restoredAfterWipe = restarted.logs.filter((l) => l.message === 'restored store from changelog').reduce((n, l) => n + Number(l.records), 0);
      }
    }

    // A second instance joins: partitions and their stores move to it; it is killed, and the
    // first takes them back (restoring what the second wrote meanwhile) while the stream goes on.
    const beforeLast = dedupeDecisions;
    await waitFor('the last restarted dedupe instance to decide records', () => {
      alive(validate, dedupe);
      return dedupeDecisions >= beforeLast + PROGRESS_PER_ROUND;
    }, 180_000);
    const second = await startLedger('dedupe', paths.secondDedupeState);
    await waitFor('the second dedupe instance to take partitions (restore from the changelog)', () => {
      alive(validate, dedupe, second);
      return second.logs.some((l) => l.message === 'restored store from changelog');
    }, 180_000);
    const beforeSecond = dedupeDecisions;
    // Until the second has committed state of its own (accepted records), which must move back.
    await waitFor('both dedupe instances to decide records', async () => {
      alive(validate, dedupe, second);
      return dedupeDecisions >= beforeSecond + PROGRESS_PER_ROUND && (await dedupeOutcomes(metricsPorts.get(second) ?? 0, 'accepted')) > 0;
    }, 180_000);
    await sleep(700);
    await killHard(second);
    kills.push(`second instance: after ${dedupeDecisions - beforeSecond} decisions with two instances`);
    const primary = dedupe;
    const primaryLogsAtSecondKill = primary.logs.length;
    const restoredBack = (): Array<Record<string, unknown>> =>
      primary.logs.slice(primaryLogsAtSecondKill).filter((l) => l.message === 'restored store from changelog' && l.processor === 'dedupe');
    await waitFor('the first instance to take the partitions back and restore them', () => {
      alive(validate, primary);
      return restoredBack().length > 0;
    }, 180_000);
    const afterMoveBack = dedupeDecisions;
    await waitFor('the first instance to decide records after the move back', () => {
      alive(validate, primary);
      return dedupeDecisions >= afterMoveBack + PROGRESS_PER_ROUND;
    }, 180_000);
    faultsDone = true;

    await produceAll;
    await producer.disconnect();
    const produced = coordinates.length;
    const indexOf = new Map(coordinates.map((c, i) => [c, i]));
    expect(indexOf.size, 'distinct input coordinates').toBe(produced);

    // What the same input sequence gives in-process (computed while the pipeline drains).
    const local = await replayLocally(paths.keyring, stream.slice(0, produced), partitionOfRecord.slice(0, produced));
    expect(local.size, 'the replay decides every input once').toBe(produced);
    const localCoordinate: string[] = [];
    const perPartition = new Map<number, number>();
    for (let i = 0; i < produced; i++) {
      const p = partitionOfRecord[i];
      localCoordinate.push(coordinate(p, perPartition.get(p) ?? 0));
      perPartition.set(p, (perPartition.get(p) ?? 0) + 1);
    }

    const ours = (d: Decision): boolean => indexOf.has(coordinate(sourceOf(d.value).partition, sourceOf(d.value).offset));
    await waitFor('every input to be decided', () => {
      alive(validate, dedupe);
      return new Set(followed.filter(ours).map((d) => coordinate(sourceOf(d.value).partition, sourceOf(d.value).offset))).size >= produced;
    }, 240_000);
    await sleep(2_000); // an extra answer (a duplicate) would arrive now
    expect(await stopGracefully(dedupe), 'dedupe exit code on SIGTERM').toBe(0);
    expect(await stopGracefully(validate), 'validate exit code on SIGTERM').toBe(0);
    expect(workers.flatMap((w) => w.logs.filter((l) => l.level === 'error')), 'error log lines').toEqual([]);
    expect(restoredAfterWipe, 'changelog records restored into the wiped store').toBeGreaterThan(0);
    // The partitions the killed second instance had came back with what it wrote meanwhile.
    expect(restoredBack().reduce((n, l) => n + Number(l.records), 0), 'changelog records restored when the partitions moved back').toBeGreaterThan(0);

    // The committed outputs, by librdkafka read_committed, from where this run started.
    const committed: Decision[] = [];
    let foreignFraming = 0;
    for (const topic of OUTPUTS) {
      for (const [partition, from] of outputStart.get(topic) ?? []) {
        for (const r of kcatRead(topic, partition, from)) {
          const value = await decodeOutput(topic, r.value);
          if (value === null) foreignFraming++;
          else if (isCandidate(sourceOf(value))) committed.push({ topic, partition, offset: r.offset, key: r.key, value });
        }
      }
    }
    // Answers written in transactions a kill -9 left open (aborted when the next owner fenced them): evidence the kills hit mid-transaction.
    let abortedAnswers = 0;
    for (const topic of OUTPUTS) {
      for (const [partition, from] of outputStart.get(topic) ?? []) {
        for (const r of kcatRead(topic, partition, from, 'read_uncommitted')) {
          const value = await decodeOutput(topic, r.value);
          if (value !== null && isCandidate(sourceOf(value))) abortedAnswers++;
        }
      }
    }
    abortedAnswers -= committed.length;
    const answers = (decisions: readonly Decision[]): Map<string, Decision[]> => {
      const byInput = new Map<string, Decision[]>(coordinates.map((c) => [c, []]));
      for (const d of decisions) byInput.get(coordinate(sourceOf(d.value).partition, sourceOf(d.value).offset))?.push(d);
      return byInput;
    };
    const committedAnswers = answers(committed);
    const lost = coordinates.filter((c) => committedAnswers.get(c)?.length === 0);
    const twice = [...committedAnswers].filter(([, ds]) => ds.length > 1).map(([c, ds]) => `${c}: ${ds.map((d) => `${d.topic}[${d.partition}]@${d.offset} ${outcomeOf(d.topic, d.value)}`).join(', ')}`);
    const interference = twice.length > 0 ? await otherActiveDeciders() : [];
    expect(lost.slice(0, 20), `inputs without an answer (${lost.length} of ${produced})`).toEqual([]);
    expect(twice.slice(0, 20), `inputs answered more than once (${twice.length}); other active deciders: ${interference.join(', ') || 'none'}`).toEqual([]);
    // The KafkaJS follower saw the same committed answers (a difference would be a read_committed leak).
    const followedAnswers = answers(followed.filter(ours));
    const disagreements = coordinates.filter((c) => (followedAnswers.get(c)?.length ?? 0) !== 1 || followedAnswers.get(c)?.[0].offset !== committedAnswers.get(c)?.[0].offset);
    expect(disagreements.slice(0, 20), `inputs the KafkaJS follower saw differently from kcat (${disagreements.length})`).toEqual([]);

    const events = committed.filter((d) => d.topic === TOPICS.events);
    const eventIds = events.map((d) => String(d.value.eventId));
    expect(eventIds.length - new Set(eventIds).size, 'eventIds on ledger.events more than once').toBe(0);

    // Each input's answer is the replay's: same topic, key, partition and value (but the source
    // coordinates); an event's eventHash is sha256 of JCS of the event without it, so it commits
    // to the real source.
    const mismatches: string[] = [];
    for (const [i, c] of coordinates.entries()) {
      const actual = committedAnswers.get(c)?.[0];
      const expected = local.get(localCoordinate[i]);
      if (!actual || !expected) continue;
      const same =
        actual.topic === expected.topic &&
        actual.key === expected.key &&
        actual.partition === expected.partition &&
        JSON.stringify(withoutFields(actual.value, 'source', 'eventHash')) === JSON.stringify(withoutFields(expected.value, 'source', 'eventHash')) &&
        (actual.topic !== TOPICS.events || actual.value.eventHash === sha256Digest(canonicalJsonBytes(withoutFields(actual.value, 'eventHash'))));
      if (!same) mismatches.push(`${c} (record ${i}): ${actual.topic} ${outcomeOf(actual.topic, actual.value)} vs replay ${expected.topic} ${outcomeOf(expected.topic, expected.value)}`);
    }
    expect(mismatches.slice(0, 20), `answers that differ from the in-process replay (${mismatches.length})`).toEqual([]);

    const outcomes = new Map<string, number>();
    for (const c of coordinates) {
      const d = committedAnswers.get(c)?.[0];
      if (d) outcomes.set(outcomeOf(d.topic, d.value), (outcomes.get(outcomeOf(d.topic, d.value)) ?? 0) + 1);
    }
    // The labels agree: one event per distinct (run, status) among valid non-replays of the
    // generator, a duplicate per replay, a dedupe rejection per conflicting late record.
    const records = stream.slice(0, produced);
    const firstSeen = new Set(records.filter((r) => r.expect === 'OK' && !r.replay && r.late === null).map((r) => {
      const v = JSON.parse(r.value.toString('utf8')) as { runId: string; status: string };
      return `${v.runId}|${v.status}`;
    }));
    expect(outcomes.get('accepted') ?? 0, 'events').toBe(firstSeen.size);
    expect(outcomes.get('DUPLICATE') ?? 0, 'duplicates').toBe(records.filter((r) => r.replay).length);
    for (const code of ['ERR_IDEMPOTENCY_CONFLICT', 'ERR_INVALID_TRANSITION', 'ERR_REPLAY_MISMATCH'] as const) {
      const planned = records.filter((r) => r.late === code).length;
      expect(planned, `late ${code} records produced`).toBeGreaterThan(0);
      expect(outcomes.get(`dedupe:${code}`) ?? 0, `dedupe:${code}`).toBe(planned);
    }

    const restores = workers.flatMap((w) => w.logs.filter((l) => l.message === 'restored store from changelog' && l.processor === 'dedupe'));
    const warnings = new Map<string, number>();
    for (const l of workers.flatMap((w) => w.logs.filter((x) => x.level === 'warn'))) warnings.set(String(l.message), (warnings.get(String(l.message)) ?? 0) + 1);
    process.stderr.write(
      `dedupe-kafka: ${produced} exports produced; outcomes ${JSON.stringify(Object.fromEntries(outcomes))}; ${kills.length} kill -9 (${kills.join('; ')}); ` +
        `wiped store restored ${restoredAfterWipe} changelog records; ${restores.length} dedupe restores logged (${restores.reduce((n, l) => n + Number(l.records), 0)} records); ` +
        `${abortedAnswers} answers in aborted transactions; partitions moved back with ${restoredBack().reduce((n, l) => n + Number(l.records), 0)} records; ` +
        `${foreignFraming} Confluent-framed output records of other runs skipped; ${workers.flatMap((w) => w.logs.filter((l) => l.level === 'raw')).length} non-JSON log lines; warnings ${JSON.stringify(Object.fromEntries(warnings))}\n`,
    );
    // Aborted transactions the runtime retried (a fenced producer after a kill or a rebalance): which instance, which task, why.
    for (const [i, w] of workers.entries()) {
      for (const l of w.logs.filter((x) => x.message === 'transaction aborted; retrying the batch')) {
        process.stderr.write(`dedupe-kafka: worker ${i} (${w.child.spawnargs.slice(2).join(' ')}) at ${String(l.time)}: ${String(l.task)} ${String(l.error)}\n`);
      }
    }
    passed = true;
  });
});
