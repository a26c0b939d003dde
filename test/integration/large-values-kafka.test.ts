import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel, type Admin } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCodec } from '../../cli/pipeline.js';
import { loadConfig } from '../../config.js';
import { generateEd25519KeyPair } from '../../contracts/ed25519.js';
import { MAX_EXPORT_BYTES, signExport, type ExportBody } from '../../contracts/export.js';
import type { MerkleRootRecord } from '../../contracts/merkle-root.js';
import { exportBody, exportStream, generateDemoKeys, keyringDocument } from '../../examples/exports.js';
import { avroExportBody } from '../../processors/validate-core.js';
import type { TimelineEntry } from '../../processors/projector.js';
import { TOPICS } from '../../topology.js';
import { kafkaBrokers, schemaRegistryUrl } from '../support/env.js';
import { killIfRunning, startLedger, waitFor, type Worker } from '../support/processes.js';
import { endOffsets, ensurePipelineTopics, kcatRead, startPipelineGroupsAtEnd } from '../support/topics.js';

// One tenant's large exports (under the 1 MiB contract limit) must not stop the pipeline for the tenants
// that share its partitions. Such an export is valid (DESIGN.md 3.3 bounds only the whole value),
// and its free-text fields travel on: bundleId into the Merkle root's bundleIds and the open
// batch's store value, every optional field into the timeline entry and the projector's store.
// A record the broker refuses (over max.message.bytes) aborts its transaction every time it is
// retried, which would halt that stage's partition for good; so would a store key the store
// refused (a tenantId starting with NUL). `ledger run` with all four stages; exports produced by
// KafkaJS; the outcome read back by kcat.

const run = `large-it-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
const KEY_ID = `${run}-signer`;
const BIG_TENANT = `${run}-big`;
const TENANTS = [`${run}-t0`, `${run}-t1`];
/** A tenantId that starts with NUL: its run keys begin with the character the stores once refused. */
const NUL_TENANT = `\u0000${run}-nul`;
const BIG_RUNS = 2;
const BIG_BUNDLE_ID_BYTES = 680_000;
const kafka = new Kafka({ clientId: run, brokers: kafkaBrokers(), logLevel: logLevel.NOTHING });
// Other tests write Confluent-framed records to the shared topics: reading those needs the registry.
const codec = createCodec(loadConfig({}, { SCHEMA_REGISTRY_URL: schemaRegistryUrl() }));
/** Writes what `ledger run` reads without a registry: Avro single-object encoding. */
const plainCodec = createCodec(loadConfig({}, {}));
const keys = generateDemoKeys();
const signer = generateEd25519KeyPair();

let dir: string;
let admin: Admin;
const workers: Worker[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'large-it-'));
  admin = kafka.admin();
  await admin.connect();
  await ensurePipelineTopics(admin);
});

afterAll(async () => {
  workers.forEach(killIfRunning);
  await admin?.disconnect();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/**
 * Signed JSON exports whose bundleId alone is ~680 KB, each a different one: the three statuses
 * of one run share its key and partition, so without a byte bound their bundleIds would meet in
 * one batch (~2 MB). On the old build, ~1 MB bundleIds made merkle retry MESSAGE_TOO_LARGE until
 * the max-wait seal happened to split the batch.
 */
function bigExports(runIndex: number): Array<{ key: string; value: Buffer; bundleId: string }> {
  return (['pending', 'running', 'succeeded'] as const).map((status) => {
    const body = exportBody({ tenantId: BIG_TENANT, runSeed: `${run}:big:${runIndex}`, status });
    const bundleId = `${run}-bundle-${runIndex}-${status}-${'b'.repeat(BIG_BUNDLE_ID_BYTES)}`;
    const value = Buffer.from(JSON.stringify(signExport({ ...body, bundleId }, keys.active.keyId, keys.active.privateKey)));
    if (value.length > MAX_EXPORT_BYTES) throw new Error(`big export has ${value.length} bytes`);
    return { key: `${BIG_TENANT}/${String(body.runId)}`, value, bundleId };
  });
}

/**
 * An Avro export whose bundleId is 200,000 NUL characters: 200 KB in Avro, but 1.2 MB in the
 * JSON of the merkle and projector store values (a control character is 6 bytes there). On the
 * old build, this one export made the merkle and projector tasks of its partition retry
 * MESSAGE_TOO_LARGE until the test gave up: their changelogs had the broker's 1 MB limit.
 */
/** A signed export as the Avro Export record holds it: the body's absent optional fields as null, and the signatures. */
const avroExport = (signed: ReturnType<typeof signExport>): Record<string, unknown> => ({ ...avroExportBody(signed as unknown as ExportBody), signatures: signed.signatures });

async function controlCharacterExport(): Promise<{ key: string; value: Buffer; bundleId: string }> {
  const bundleId = '\u0000'.repeat(200_000);
  const body: Record<string, unknown> = { ...exportBody({ tenantId: BIG_TENANT, runSeed: `${run}:nul`, status: 'running' }), bundleId };
  const value = await plainCodec.encode(TOPICS.exportsCreated, avroExport(signExport(body, keys.active.keyId, keys.active.privateKey)));
  return { key: `${BIG_TENANT}/${String(body.runId)}`, value, bundleId };
}

/**
 * Inputs that once made records no broker would take, or a key the store refused: a valid export
 * of a tenant whose id starts with NUL; and two that must be rejected: an Avro export with a byte
 * that is not UTF-8 in a string (avsc would have made it a 3-byte U+FFFD), and a JSON export whose
 * runId is 170,000 control characters (quoted whole, its message alone was 1 MB).
 */
async function oddExports(): Promise<{ nulTenant: { key: string; value: Buffer }; rejected: Array<{ value: Buffer; code: string }> }> {
  const nulBody = exportBody({ tenantId: NUL_TENANT, runSeed: `${run}:nul-tenant`, status: 'pending' });
  const nulTenant = { key: `${NUL_TENANT}/${String(nulBody.runId)}`, value: Buffer.from(JSON.stringify(signExport(nulBody, keys.active.keyId, keys.active.privateKey))) };
  const avro = await plainCodec.encode(TOPICS.exportsCreated, avroExport(signExport(exportBody({ tenantId: BIG_TENANT, runSeed: `${run}:utf8`, status: 'pending' }), keys.active.keyId, keys.active.privateKey)));
  const notUtf8 = Buffer.from(avro);
  const scanId = notUtf8.indexOf('scan-');
  if (scanId < 0) throw new Error('the Avro export holds no scanId to break');
  notUtf8[scanId + 4] = 0xff;
  const longRunId = Buffer.from(JSON.stringify(signExport({ ...exportBody({ tenantId: BIG_TENANT, runSeed: `${run}:long`, status: 'pending' }), runId: '\u0001'.repeat(170_000) }, keys.active.keyId, keys.active.privateKey)));
  return { nulTenant, rejected: [{ value: notUtf8, code: 'ERR_MALFORMED' }, { value: longRunId, code: 'ERR_INVALID_FIELD' }] };
}

/** Where each partition of the topics this test reads ended before it produced anything. */
const startOffsets = new Map<string, Map<number, number>>();

/** This test's records of a topic (from startOffsets on), decoded, read by kcat. */
async function readTopic<T>(topic: string, record: string, keep: (key: string) => boolean): Promise<Array<{ key: string; value: T }>> {
  const out: Array<{ key: string; value: T }> = [];
  for (const [partition, from] of startOffsets.get(topic) ?? []) {
    for (const r of kcatRead(topic, partition, from)) {
      // A rejection of a value nothing could be read from has no key.
      const key = r.key ?? '';
      if (r.value === null || !keep(key)) continue;
      out.push({ key, value: codec.catalog.toPlainJson(record, await codec.decode(topic, r.value)) as unknown as T });
    }
  }
  return out;
}

describe('large exports on the broker', () => {
  it('are anchored and projected like any other, and the other tenants on their partitions are not held up', async (context) => {
    context.onTestFailed(() => {
      for (const [i, w] of workers.entries()) process.stderr.write(`--- worker ${i} log, last 30 lines\n${w.logs.slice(-30).map((l) => JSON.stringify(l).slice(0, 600)).join('\n')}\n`);
    });
    const paths = { keyring: join(dir, 'keyring.json'), signingKey: join(dir, 'signer.pem'), state: join(dir, 'state') };
    await writeFile(paths.keyring, JSON.stringify(keyringDocument(keys)));
    await writeFile(paths.signingKey, signer.privateKeyPem);
    await startPipelineGroupsAtEnd(admin, run);
    for (const topic of [TOPICS.timeline, TOPICS.events, TOPICS.merkleRoots, TOPICS.rejected]) startOffsets.set(topic, await endOffsets(admin, topic));
    const worker = startLedger(['run'], {
      KAFKA_BROKERS: kafkaBrokers().join(','),
      LEDGER_APP_ID: run,
      LEDGER_STATE_DIR: paths.state,
      LEDGER_KEYRING: paths.keyring,
      LEDGER_SIGNING_KEY: paths.signingKey,
      LEDGER_SIGNING_KEY_ID: KEY_ID,
      LEDGER_MERKLE_BATCH_SIZE: '64',
      LEDGER_MERKLE_BATCH_MAX_WAIT_MS: '500',
      METRICS_PORT: '0',
    });
    workers.push(worker);

    // The large exports go first, so that the others' batches and projections queue behind them.
    const big = Array.from({ length: BIG_RUNS }, (_, i) => bigExports(i)).flat();
    const nul = await controlCharacterExport();
    const stream = exportStream({ count: 60, keys, tenants: TENANTS, seed: run });
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    // One request each: a record batch of several would pass the record limit of a topic created before it was raised.
    for (const b of [...big, nul]) await producer.send({ topic: TOPICS.exportsCreated, acks: -1, messages: [{ key: b.key, value: b.value }] });
    const odd = await oddExports();
    await producer.send({ topic: TOPICS.exportsCreated, acks: -1, messages: [{ key: odd.nulTenant.key, value: odd.nulTenant.value }] });
    const rejectedSources = new Map<string, string>();
    for (const r of odd.rejected) {
      const [sent] = await producer.send({ topic: TOPICS.exportsCreated, acks: -1, messages: [{ key: `${BIG_TENANT}/odd`, value: r.value }] });
      rejectedSources.set(`${sent.partition}/${sent.baseOffset}`, r.code);
    }
    await producer.send({ topic: TOPICS.exportsCreated, acks: -1, messages: stream.map((r) => ({ key: r.key, value: r.value })) });
    await producer.disconnect();

    const ours = (key: string): boolean => [BIG_TENANT, NUL_TENANT, ...TENANTS].some((t) => key.startsWith(`${t}/`));
    const runs = new Set([...big.map((b) => b.key), nul.key, odd.nulTenant.key, ...stream.filter((r) => r.expect === 'OK').map((r) => r.key)]);
    const alive = (): void => {
      if (worker.child.exitCode !== null) throw new Error(`ledger run exited with ${worker.child.exitCode}`);
    };
    // First every event, then every run's entry for its last event, anchored: an entry anchored
    // by an earlier status's batch may still be waiting for the run's last event.
    const expectedEvents = big.length + 2 + stream.filter((r) => r.expect === 'OK' && !r.replay).length;
    let events: Array<{ key: string; value: { eventHash: string } }> = [];
    await waitFor('every event of this test on ledger.events', async () => {
      alive();
      events = await readTopic<{ eventHash: string }>(TOPICS.events, 'LedgerEvent', ours);
      return events.length >= expectedEvents;
    }, 180_000);
    expect(events).toHaveLength(expectedEvents);
    // One run's events are on one partition, read in offset order: the last one read is its last.
    const lastEvent = new Map(events.map((e) => [e.key, e.value.eventHash]));
    expect([...lastEvent.keys()].sort()).toEqual([...runs].sort());
    let timeline = new Map<string, TimelineEntry>();
    await waitFor('every run of this test anchored on ledger.timeline with its last event', async () => {
      alive();
      timeline = new Map((await readTopic<TimelineEntry>(TOPICS.timeline, 'TimelineEntry', ours)).map((r) => [r.key, r.value]));
      return [...runs].every((key) => timeline.get(key)?.eventHash === lastEvent.get(key) && timeline.get(key)?.merkleRoot);
    }, 180_000);
    expect([...timeline.keys()].sort()).toEqual([...runs].sort());
    for (const b of big.filter((_, i) => i % 3 === 2)) expect(timeline.get(b.key)).toMatchObject({ status: 'succeeded', bundleId: b.bundleId });
    expect(timeline.get(nul.key)).toMatchObject({ status: 'running', bundleId: nul.bundleId });

    // Every event of this test is a leaf of exactly one root signed with this test's key, and the
    // roots holding the large ones list their bundleIds in full.
    const roots = (await readTopic<MerkleRootRecord>(TOPICS.merkleRoots, 'MerkleRoot', () => true)).map((r) => r.value).filter((r) => r.keyId === KEY_ID);
    const leaves = roots.flatMap((r) => r.leaves);
    for (const e of events) expect(leaves.filter((l) => l === e.value.eventHash)).toHaveLength(1);
    const listed = new Set(roots.flatMap((r) => r.bundleIds));
    for (const b of [...big, nul]) expect(listed.has(b.bundleId)).toBe(true);

    // The two bad exports are rejected with their codes and short messages.
    type Rejected = { code: string; message: string; source: { topic: string; partition: number; offset: number } };
    const sourceOf = (r: Rejected): string => `${r.source.partition}/${r.source.offset}`;
    let rejections: Rejected[] = [];
    await waitFor('both bad exports on ledger.exports.rejected', async () => {
      rejections = (await readTopic<Rejected>(TOPICS.rejected, 'Rejection', () => true))
        .map((r) => r.value)
        .filter((r) => r.source.topic === TOPICS.exportsCreated && rejectedSources.has(sourceOf(r)));
      return rejections.length >= rejectedSources.size;
    }, 60_000);
    expect(new Map(rejections.map((r) => [sourceOf(r), r.code]))).toEqual(rejectedSources);
    expect(rejections).toHaveLength(rejectedSources.size);
    expect(rejections.find((r) => r.code === 'ERR_MALFORMED')?.message).toMatch(/not UTF-8/);
    for (const r of rejections) expect(r.message.length).toBeLessThan(1_000);
  }, 600_000);
});
