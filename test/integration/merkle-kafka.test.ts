import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel, type Admin, type Consumer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dumpTopicPath, LineFileWriter, readDumpTopic } from '../../cli/dump-files.js';
import { createCodec } from '../../cli/pipeline.js';
import { loadConfig } from '../../config.js';
import { generateEd25519KeyPair } from '../../contracts/ed25519.js';
import type { LedgerEvent } from '../../contracts/ledger-event.js';
import type { MerkleRootRecord } from '../../contracts/merkle-root.js';
import { exportStream, generateDemoKeys, keyringDocument } from '../../examples/exports.js';
import type { DumpRecord } from '../../merkle/audit.js';
import { TOPICS } from '../../topology.js';
import { kafkaBrokers, schemaRegistryUrl } from '../support/env.js';
import { freePort, killHard, killIfRunning, runLedger, sleep, startLedger as startLedgerChild, stopGracefully, waitFor, type Worker } from '../support/processes.js';
import { endOffsets as topicEndOffsets, ensurePipelineTopics } from '../support/topics.js';

function startLedger(args: readonly string[], env: Record<string, string>): Worker {
  const worker = startLedgerChild(args, env);
  workers.push(worker);
  return worker;
}

const endOffsets = (topic: string) => topicEndOffsets(admin, topic);

// The merkle stage on the real broker, killed with SIGKILL while it seals: `ledger run
// --processors validate,dedupe` in one child, `ledger run --processors merkle` in another that
// is killed again and again (once with its RocksDB directory wiped) while exports keep flowing.
// Afterwards `ledger dump` of ledger.events and ledger.merkle.roots, reduced to what this run's
// merkle instance sealed, must pass `ledger verify`, and every event must be in exactly one batch.
//
// The topics are shared with every other run on this broker. This run's merkle consumer group
// is new, so it reads ledger.events from the beginning and seals the older events too (correct:
// the Merkle log covers the whole partition). Its roots are told apart by a signing key id of
// its own; roots of other runs (other keys) chain separately and are left out. The events
// audited are then ALL events of each partition up to the last offset this run sealed, whoever
// wrote them; this run's own exports (their runIds derive from the run name) must all be among them.
//
// KafkaJS 2.2.4's read_committed filter lets records of an aborted transaction through when a
// fetch starts inside it while an older aborted transaction of another producer is still listed
// (src/consumer/filterAbortedMessages.js activates one aborted transaction per message). Several
// merkle tasks write to one ledger.merkle.roots partition, so after a kill -9 the follower below
// may see aborted roots: it only paces the test. What is audited, the dump, is checked record by
// record against kcat (librdkafka) reading read_committed.

const run = `merkle-it-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
const KEY_ID = `${run}-signer`;
const BATCH_SIZE = 20;
const MAX_WAIT_MS = 500;
const KILLS = 4;
const MIN_RECORDS = 300;
const kafka = new Kafka({ clientId: run, brokers: kafkaBrokers(), logLevel: logLevel.NOTHING });
// Events on the shared topics may be in Confluent framing (written with the registry): decode with it.
const registryEnv = { SCHEMA_REGISTRY_URL: schemaRegistryUrl() };
const codec = createCodec(loadConfig({}, registryEnv));
const exportKeys = generateDemoKeys();
const signer = generateEd25519KeyPair();

let dir: string;
let admin: Admin;
let checker: Consumer | undefined;
const workers: Worker[] = [];

/** Offsets of the committed records of one partition, read by librdkafka (kcat), independent of KafkaJS. */
function committedOffsets(topic: string, partition: number): number[] {
  const args = ['-b', kafkaBrokers().join(','), '-C', '-t', topic, '-p', String(partition), '-o', 'beginning', '-e', '-q', '-X', 'isolation.level=read_committed', '-f', '%o\\n'];
  const result = spawnSync('kcat', args, { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  if (result.status !== 0) throw new Error(`kcat ${args.join(' ')} exited ${result.status}: ${result.stderr}`);
  return result.stdout.split('\n').filter((l) => l !== '').map(Number);
}

// Line by line: a dump of a broker that has run for a while outgrows one string.
const readDump = <V>(dumpDir: string, topic: string): Promise<Array<DumpRecord<V>>> => readDumpTopic<V>(dumpDir, topic, 'dump');

const writeDump = async <V>(dumpDir: string, topic: string, records: ReadonlyArray<DumpRecord<V>>): Promise<void> => {
  const file = new LineFileWriter(dumpTopicPath(dumpDir, topic));
  for (const r of records) await file.write(JSON.stringify(r));
  await file.close();
};

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'merkle-it-'));
  admin = kafka.admin();
  await admin.connect();
  await ensurePipelineTopics(admin);
});

afterAll(async () => {
  workers.forEach(killIfRunning);
  await checker?.disconnect();
  await admin?.disconnect();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('merkle stage on the broker under kill -9', () => {
  it('seals every event exactly once in a contiguous, unbroken, verifiable chain per partition', async (context) => {
    context.onTestFailed(() => {
      for (const [i, w] of workers.entries()) {
        process.stderr.write(`--- worker ${i} (${w.child.spawnargs.slice(2).join(' ')}) log, last 30 lines\n${w.logs.slice(-30).map((l) => JSON.stringify(l)).join('\n')}\n`);
      }
    });
    const paths = {
      exportKeyring: join(dir, 'exports-keyring.json'),
      signingKey: join(dir, 'signer.pem'),
      signerKeyring: join(dir, 'signer-keyring.json'),
      upstreamState: join(dir, 'state-upstream'),
      merkleState: join(dir, 'state-merkle'),
      dump: join(dir, 'dump'),
      audited: join(dir, 'audited'),
    };
    await writeFile(paths.exportKeyring, JSON.stringify(keyringDocument(exportKeys)));
    await writeFile(paths.signingKey, signer.privateKeyPem);
    await writeFile(paths.signerKeyring, JSON.stringify({ keys: [{ keyId: KEY_ID, publicKey: signer.publicKeyPem, status: 'active' }] }));
    const common = { KAFKA_BROKERS: kafkaBrokers().join(','), LEDGER_APP_ID: run, LEDGER_KEYRING: paths.exportKeyring, LEDGER_ALLOW_UNSIGNED: 'false', ...registryEnv };
    const merkleEnv = async () => ({
      ...common,
      LEDGER_STATE_DIR: paths.merkleState,
      METRICS_PORT: String(await freePort()),
      LEDGER_SIGNING_KEY: paths.signingKey,
      LEDGER_SIGNING_KEY_ID: KEY_ID,
      LEDGER_MERKLE_BATCH_SIZE: String(BATCH_SIZE),
      LEDGER_MERKLE_BATCH_MAX_WAIT_MS: String(MAX_WAIT_MS),
    });

    // Follow this run's roots (by key id) and the events of this run's exports (by runId), read_committed.
    const stream = exportStream({ count: 4_000, keys: exportKeys, seed: run });
    const runIds = new Set(stream.filter((r) => r.expect === 'OK').map((r) => (JSON.parse(r.value.toString('utf8')) as { runId: string }).runId));
    const eventsStart = await endOffsets(TOPICS.events);
    const rootsStart = await endOffsets(TOPICS.merkleRoots);
    // Latest root seen per partition/batchSeq (a repeat is an aborted root KafkaJS let through, or its reseal).
    const myRoots = new Map<string, MerkleRootRecord>();
    let rootRepeats = 0;
    const myEvents: Array<{ partition: number; offset: number; runId: string; status: string }> = [];
    const follower = kafka.consumer({ groupId: `${run}-checker`, readUncommitted: false, maxWaitTimeInMs: 200 });
    checker = follower;
    await follower.connect();
    await follower.subscribe({ topics: [TOPICS.events, TOPICS.merkleRoots], fromBeginning: false });
    const joined = new Promise<void>((resolve) => follower.on(follower.events.GROUP_JOIN, () => resolve()));
    await follower.run({
      eachMessage: async ({ topic, partition, message }) => {
        if (message.value === null) return;
        if (topic === TOPICS.merkleRoots) {
          const root = codec.catalog.toPlainJson('MerkleRoot', await codec.decode(topic, message.value)) as unknown as MerkleRootRecord;
          if (root.keyId !== KEY_ID) return;
          if (myRoots.has(`${root.partition}/${root.batchSeq}`)) rootRepeats++;
          myRoots.set(`${root.partition}/${root.batchSeq}`, root);
        } else {
          const event = (await codec.decode(topic, message.value)) as { runId: string; status: string };
          if (runIds.has(event.runId)) myEvents.push({ partition, offset: Number(message.offset), runId: event.runId, status: event.status });
        }
      },
    });
    await joined;
    for (const [topic, start] of [[TOPICS.events, eventsStart], [TOPICS.merkleRoots, rootsStart]] as const) {
      for (const [partition, offset] of start) follower.seek({ topic, partition, offset: String(offset) });
    }

    startLedger(['run', '--processors', 'validate,dedupe'], { ...common, LEDGER_STATE_DIR: paths.upstreamState, METRICS_PORT: String(await freePort()) });
    let merkle = startLedger(['run', '--processors', 'merkle'], await merkleEnv());

    // A steady stream of exports for as long as the faults last (and at least MIN_RECORDS).
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    let produced = 0;
    let faultsDone = false;
    const produceAll = (async () => {
      while ((!faultsDone || produced < MIN_RECORDS) && produced < stream.length) {
        const chunk = stream.slice(produced, produced + 10);
        await producer.send({ topic: TOPICS.exportsCreated, messages: chunk.map((r) => ({ key: r.key, value: r.value })), acks: -1 });
        produced += chunk.length;
        await sleep(300);
      }
    })();

    // kill -9 while it is sealing: each round waits for fresh roots from the current instance.
    let restoredAfterWipe = 0;
    for (let round = 0; round < KILLS; round++) {
      const seen = myRoots.size;
      await waitFor(`merkle to seal in round ${round}`, () => {
        if (merkle.child.exitCode !== null) throw new Error(`ledger run --processors merkle exited with ${merkle.child.exitCode}`);
        return myRoots.size >= seen + 5;
      }, 180_000);
      await sleep(50 + ((round * 337) % 600));
      await killHard(merkle);
      if (round === 1) await rm(paths.merkleState, { recursive: true, force: true }); // restore from the changelog
      merkle = startLedger(['run', '--processors', 'merkle'], await merkleEnv());
      if (round === 1) {
        const restarted = merkle;
        await waitFor('the wiped merkle store to restore from its changelog', () => restarted.logs.some((l) => l.message === 'restored store from changelog' && l.processor === 'merkle'), 180_000);
        restoredAfterWipe = restarted.logs.filter((l) => l.message === 'restored store from changelog').reduce((n, l) => n + Number(l.records), 0);
      }
    }
    faultsDone = true;
    await produceAll;
    await producer.disconnect();

    // Expected: one event per accepted export (first record of a run or a forward move), none for replays and invalid ones.
    const producedRecords = stream.slice(0, produced);
    const expected = new Set(
      producedRecords.filter((r) => r.expect === 'OK' && !r.replay).map((r) => {
        const value = JSON.parse(r.value.toString('utf8')) as { runId: string; status: string };
        return `${value.runId}|${value.status}`;
      }),
    );
    const sealedUpTo = (): Map<number, number> => {
      const ends = new Map<number, number>();
      for (const r of myRoots.values()) ends.set(r.partition, Math.max(ends.get(r.partition) ?? -1, r.lastOffset));
      return ends;
    };
    await waitFor(
      'every event of this run to be on ledger.events and sealed',
      () => {
        if (merkle.child.exitCode !== null) throw new Error(`ledger run --processors merkle exited with ${merkle.child.exitCode}`);
        const ends = sealedUpTo();
        return new Set(myEvents.map((e) => `${e.runId}|${e.status}`)).size >= expected.size && myEvents.every((e) => e.offset <= (ends.get(e.partition) ?? -1));
      },
      300_000,
    );
    // Stop both; from here on nothing of this run is sealed, so the dump is a stable picture.
    expect(await stopGracefully(merkle)).toBe(0);
    expect(await stopGracefully(workers[0])).toBe(0);
    expect(workers.flatMap((w) => w.logs.filter((l) => l.level === 'error'))).toEqual([]);
    expect(restoredAfterWipe).toBeGreaterThan(0);

    const dump = await runLedger(['dump', '--out', paths.dump, '--topics', `${TOPICS.events},${TOPICS.merkleRoots}`], { ...common });
    expect(dump.exitCode, dump.stderr).toBe(0);
    const dumpedRoots = (await readDump<MerkleRootRecord>(paths.dump, TOPICS.merkleRoots)).filter((r) => r.value.keyId === KEY_ID);
    const dumpedEvents = await readDump<LedgerEvent>(paths.dump, TOPICS.events);
    // The dump holds exactly the committed records (librdkafka's read_committed view), up to where it read.
    for (const [topic, records] of [[TOPICS.events, dumpedEvents], [TOPICS.merkleRoots, await readDump<MerkleRootRecord>(paths.dump, TOPICS.merkleRoots)]] as const) {
      for (const partition of new Set<number>(records.map((r) => r.partition))) {
        const dumped = records.filter((r) => r.partition === partition).map((r) => r.offset);
        const last = dumped.reduce((a, b) => Math.max(a, b), -1); // no spread: a long-used broker has more offsets than call arguments fit
        expect(dumped, `${topic} partition ${partition}: ledger dump vs kcat read_committed`).toEqual(committedOffsets(topic, partition).filter((o) => o <= last));
      }
    }
    expect(new Set(dumpedRoots.map((r) => `${r.value.partition}/${r.value.batchSeq}`)).size, 'one root per partition/batchSeq').toBe(dumpedRoots.length);

    // What this run sealed: per partition, every event up to the last sealed offset.
    const sealedEnd = new Map<number, number>();
    for (const r of dumpedRoots) sealedEnd.set(r.value.partition, Math.max(sealedEnd.get(r.value.partition) ?? -1, r.value.lastOffset));
    const audited = dumpedEvents.filter((e) => e.offset <= (sealedEnd.get(e.partition) ?? -1));
    await mkdir(paths.audited, { recursive: true });
    await writeDump(paths.audited, TOPICS.events, audited);
    await writeDump(paths.audited, TOPICS.merkleRoots, dumpedRoots);
    const verify = await runLedger(['verify', '--dir', paths.audited, '--keys', paths.signerKeyring], {});
    expect(verify.exitCode, verify.stderr).toBe(0);
    const summary = JSON.parse(verify.stdout) as { ok: boolean; events: number; batches: number; partitions: number };
    expect(summary).toMatchObject({ ok: true, events: audited.length, batches: dumpedRoots.length });

    // The same, spelled out: per partition the batches are 0..n-1, chained, and their leaves are
    // the partition's events from its first offset to the last sealed one, each exactly once.
    for (const [partition, end] of sealedEnd) {
      const roots = dumpedRoots.map((r) => r.value).filter((r) => r.partition === partition).sort((a, b) => a.batchSeq - b.batchSeq);
      expect(roots.map((r) => r.batchSeq)).toEqual(roots.map((_, i) => i));
      roots.forEach((r, i) => expect(r.previousSignature, `partition ${partition} batch ${i}`).toBe(i === 0 ? null : roots[i - 1].signature));
      const events = audited.filter((e) => e.partition === partition).sort((a, b) => a.offset - b.offset);
      expect(roots.flatMap((r) => r.leaves)).toEqual(events.map((e) => e.value.eventHash));
      expect(roots[0].firstOffset).toBe(events[0].offset);
      expect(roots.at(-1)?.lastOffset).toBe(end);
      for (let i = 1; i < roots.length; i++) expect(roots[i].firstOffset).toBeGreaterThan(roots[i - 1].lastOffset);
    }
    // Every partition holding an event of this run was sealed by this run, past that event.
    const mine = dumpedEvents.filter((e) => runIds.has(e.value.runId));
    expect(new Set(mine.map((e) => `${e.value.runId}|${e.value.status}`))).toEqual(expected);
    for (const e of mine) expect(e.offset, `${e.value.runId} ${e.value.status}`).toBeLessThanOrEqual(sealedEnd.get(e.partition) ?? -1);

    const restarts = workers.length - 2;
    const warnings = new Map<string, number>();
    for (const l of workers.flatMap((w) => w.logs.filter((x) => x.level === 'warn'))) warnings.set(String(l.message), (warnings.get(String(l.message)) ?? 0) + 1);
    process.stderr.write(
      `merkle-kafka: ${produced} exports produced, ${rootRepeats} roots delivered again by the KafkaJS read_committed follower, ${expected.size} events of this run (${mine.length} records); ${restarts} kill -9 of the merkle process (store wiped once, ${restoredAfterWipe} changelog records restored); ` +
        `audited ${summary.events} events in ${summary.batches} batches over ${summary.partitions} partitions (events before this run: ${[...eventsStart.values()].reduce((a, b) => a + b, 0)}); warnings ${JSON.stringify(Object.fromEntries(warnings))}\n`,
    );
  });
});
