import { verify as nodeVerify, createPublicKey } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildPipeline, type Pipeline } from '../../../cli/pipeline.js';
import { loadConfig } from '../../../config.js';
import { canonicalJsonBytes } from '../../../contracts/canonical-json.js';
import { generateEd25519KeyPair } from '../../../contracts/ed25519.js';
import type { LedgerEvent } from '../../../contracts/ledger-event.js';
import { airgapAnchorReference, batchRootHash, merkleRootSignatureValid, type MerkleRootRecord } from '../../../contracts/merkle-root.js';
import { ledgerEventFor } from '../../../examples/events.js';
import { MAX_BATCH_BYTES, MAX_BATCH_LEAVES, MERKLE_STORE, MerkleProcessor } from '../../../processors/merkle.js';
import { jsonLineLogger } from '../../../runtime/kafka/client.js';
import { LocalDriver } from '../../../runtime/local-driver.js';
import type { MetricsSink, ObservationName } from '../../../runtime/types.js';
import { MemoryBackend } from '../../../state/memory.js';
import { RocksDbBackend } from '../../../state/rocksdb.js';
import type { StoreBackend } from '../../../state/store.js';
import { changelogTopicName, MAX_RECORD_BYTES } from '../../../runtime/topology-types.js';
import { TOPICS } from '../../../topology.js';

// The merkle processor through the in-process driver with the real Avro codec: ledger events
// go straight onto ledger.events (explicit partitions), roots are read back from
// ledger.merkle.roots and decoded as an auditor would.

const dir = mkdtempSync(join(tmpdir(), 'merkle-unit-'));
const signer = generateEd25519KeyPair();
const KEY_ID = 'merkle-unit-signer';
const signingKeyPath = join(dir, 'signer.pem');
writeFileSync(signingKeyPath, signer.privateKeyPem);
const START_MS = Date.parse('2026-11-20T09:00:00.000Z');
const silent = jsonLineLogger('test', { write: () => true } as unknown as NodeJS.WritableStream);
const pipelines: Pipeline[] = [];
const drivers: LocalDriver[] = [];

afterAll(async () => {
  for (const d of drivers) await d.close().catch(() => undefined);
  for (const p of pipelines) await p.close();
  rmSync(dir, { recursive: true, force: true });
});

interface Observation {
  readonly processor: string;
  readonly name: ObservationName;
  readonly value: number;
}

async function setup(options: { batchSize: number; batchMaxWaitMs?: number; backend?: StoreBackend }) {
  const config = loadConfig(
    {},
    {
      LEDGER_ALLOW_UNSIGNED: 'true',
      LEDGER_PARTITIONS: '2',
      LEDGER_SIGNING_KEY: signingKeyPath,
      LEDGER_SIGNING_KEY_ID: KEY_ID,
      LEDGER_MERKLE_BATCH_SIZE: String(options.batchSize),
      LEDGER_MERKLE_BATCH_MAX_WAIT_MS: String(options.batchMaxWaitMs ?? 3_600_000),
    },
  );
  const pipeline = buildPipeline(config, silent, { workers: 0, watchKeyring: false });
  pipelines.push(pipeline);
  const observations: Observation[] = [];
  const metrics: MetricsSink = { outcome: () => undefined, observe: (processor, name, value) => void observations.push({ processor, name, value }), applied: () => undefined, consumerLag: () => undefined };
  const driver = await LocalDriver.create({ topology: pipeline.topology, backend: options.backend ?? new MemoryBackend(), serde: pipeline.serde, wallClockMs: START_MS, metrics });
  drivers.push(driver);
  const pipeEvents = (partition: number, events: readonly LedgerEvent[]): Promise<void> =>
    Promise.all(events.map(async (e) => ({ key: `${e.tenantId}/${e.runId}`, value: await pipeline.codec.encode(TOPICS.events, e), partition }))).then((inputs) => driver.pipeAll(TOPICS.events, inputs));
  const roots = async (partition?: number): Promise<Array<{ key: string | null; value: MerkleRootRecord }>> => {
    const records = driver.records(TOPICS.merkleRoots);
    const decoded = await Promise.all(
      records.map(async (r) => ({ key: r.key, value: pipeline.codec.catalog.toPlainJson('MerkleRoot', await pipeline.codec.decode(TOPICS.merkleRoots, r.value ?? Buffer.alloc(0))) as unknown as MerkleRootRecord })),
    );
    return decoded.filter((r) => partition === undefined || r.value.partition === partition);
  };
  return { driver, pipeline, pipeEvents, roots, observations };
}

/** A ledger event as dedupe makes it, for run `seed`. */
const ledgerEvent = (seed: string, bundleId: string | null): LedgerEvent => ledgerEventFor({ runSeed: `merkle-unit:${seed}`, bundleId });

const events = (prefix: string, count: number, bundle: (i: number) => string | null = (i) => `bundle-${i % 3}`): LedgerEvent[] =>
  Array.from({ length: count }, (_, i) => ledgerEvent(`${prefix}-${i}`, bundle(i)));

const hashes = (list: readonly LedgerEvent[]): string[] => list.map((e) => e.eventHash);

/** Ed25519 over JCS(the root without signature), checked with node:crypto directly. */
function signatureVerifiesIndependently(root: MerkleRootRecord): boolean {
  const { signature, ...unsigned } = root;
  return nodeVerify(null, canonicalJsonBytes(unsigned), createPublicKey(signer.publicKeyPem), Buffer.from(signature, 'base64'));
}

describe('merkle processor', () => {
  it('seals at batchSize: offsets, leaves in offset order, root, bundleIds, anchor, chained signatures', async () => {
    const { pipeEvents, roots, observations } = await setup({ batchSize: 4 });
    const list = events('size', 10, (i) => (i === 5 ? null : `bundle-${i % 3}`));
    await pipeEvents(0, list);
    const sealed = await roots();
    expect(sealed.map((r) => r.key)).toEqual(['0', '0']);
    const [first, second] = sealed.map((r) => r.value);
    expect(first).toMatchObject({ partition: 0, batchSeq: 0, firstOffset: 0, lastOffset: 3, leafCount: 4, leaves: hashes(list.slice(0, 4)), previousSignature: null, keyId: KEY_ID });
    expect(second).toMatchObject({ partition: 0, batchSeq: 1, firstOffset: 4, lastOffset: 7, leafCount: 4, leaves: hashes(list.slice(4, 8)), previousSignature: first.signature });
    expect(first.bundleIds).toEqual(['bundle-0', 'bundle-1', 'bundle-2']);
    expect(second.bundleIds).toEqual(['bundle-1', 'bundle-0']); // offsets 4..7: bundle-1, (null), bundle-0, bundle-1
    for (const root of [first, second]) {
      expect(root.rootHash).toBe(batchRootHash(root.leaves));
      expect(root.anchorReference).toBe(airgapAnchorReference(0, root.batchSeq));
      expect(root.anchorReference.startsWith('airgap::')).toBe(true);
      expect(root.sealedAt).toBe(new Date(START_MS).toISOString());
      expect(merkleRootSignatureValid(root, signer.publicKey)).toBe(true);
      expect(signatureVerifiesIndependently(root)).toBe(true);
      expect(merkleRootSignatureValid({ ...root, sealedAt: '2026-11-20T09:00:00.001Z' }, signer.publicKey)).toBe(false);
    }
    expect(observations).toEqual([
      { processor: 'merkle', name: 'merkle_batch_leaves', value: 4 },
      { processor: 'merkle', name: 'merkle_batch_leaves', value: 4 },
    ]);
  });

  it('groups leaves the same whether events arrive one by one or in one batch', async () => {
    const list = events('arrival', 11);
    const together = await setup({ batchSize: 3 });
    await together.pipeEvents(1, list);
    const oneByOne = await setup({ batchSize: 3 });
    for (const e of list) await oneByOne.pipeEvents(1, [e]);
    const shape = (rs: Array<{ value: MerkleRootRecord }>) => rs.map((r) => ({ ...r.value }));
    expect(shape(await oneByOne.roots())).toEqual(shape(await together.roots()));
    expect((await together.roots()).map((r) => r.value.leafCount)).toEqual([3, 3, 3]);
  });

  it('seals after batchMaxWaitMs of wall time since the batch opened, not before, and never an empty batch', async () => {
    const { driver, pipeEvents, roots } = await setup({ batchSize: 100, batchMaxWaitMs: 1_000 });
    // The wall clock moves in 10 ms steps, as a driver's punctuation timer ticks.
    const advance = async (ms: number): Promise<void> => {
      for (let left = ms; left > 0; left -= 10) await driver.advanceWallClock(Math.min(10, left));
    };
    const list = events('wait', 5);
    await pipeEvents(0, list.slice(0, 2));
    await advance(600);
    await pipeEvents(0, list.slice(2, 3)); // joins the open batch; the wait still counts from its first event
    await advance(399);
    expect(await roots()).toEqual([]);
    await advance(1);
    let sealed = await roots();
    expect(sealed).toHaveLength(1);
    expect(sealed[0].value).toMatchObject({ batchSeq: 0, firstOffset: 0, lastOffset: 2, leafCount: 3, leaves: hashes(list.slice(0, 3)), sealedAt: new Date(START_MS + 1_000).toISOString() });

    await advance(5_000); // nothing open, nothing sealed
    expect(await roots()).toHaveLength(1);
    await pipeEvents(0, list.slice(3));
    await advance(999);
    expect(await roots()).toHaveLength(1);
    await advance(1);
    sealed = await roots();
    expect(sealed).toHaveLength(2);
    expect(sealed[1].value).toMatchObject({ batchSeq: 1, firstOffset: 3, lastOffset: 4, leafCount: 2, previousSignature: sealed[0].value.signature, sealedAt: new Date(START_MS + 7_000).toISOString() });
    expect(await roots(1)).toEqual([]);
  });

  it('seals the open batch at the end of input, once', async () => {
    const { driver, pipeEvents, roots } = await setup({ batchSize: 4 });
    const list = events('eoi', 6);
    await pipeEvents(0, list);
    expect(await roots()).toHaveLength(1);
    await driver.endOfInput();
    const sealed = (await roots()).map((r) => r.value);
    expect(sealed).toHaveLength(2);
    expect(sealed[1]).toMatchObject({ batchSeq: 1, firstOffset: 4, lastOffset: 5, leafCount: 2, leaves: hashes(list.slice(4)), previousSignature: sealed[0].signature });
    await driver.endOfInput();
    expect(await roots()).toHaveLength(2);
  });

  it('numbers batches from 0 per partition, each partition its own chain', async () => {
    const { driver, pipeEvents, roots } = await setup({ batchSize: 2 });
    const a = events('p0', 5);
    const b = events('p1', 3);
    await pipeEvents(0, a);
    await pipeEvents(1, b);
    await driver.endOfInput();
    for (const [partition, list] of [[0, a], [1, b]] as const) {
      const sealed = await roots(partition);
      expect(sealed.every((r) => r.key === String(partition))).toBe(true);
      const values = sealed.map((r) => r.value);
      expect(values.map((r) => r.batchSeq)).toEqual(values.map((_, i) => i));
      expect(values.flatMap((r) => r.leaves)).toEqual(hashes(list));
      expect(values.map((r) => r.anchorReference)).toEqual(values.map((_, i) => `airgap::ledger.events/${partition}/${i}`));
      values.forEach((r, i) => expect(r.previousSignature).toBe(i === 0 ? null : values[i - 1].signature));
    }
  });

  it('writes the open batch to its changelog as one document holding every leaf so far, unchanged by later appends', async () => {
    const { driver, pipeline, pipeEvents, roots } = await setup({ batchSize: 5 });
    const list = events('changelog', 7, (i) => (i === 3 ? null : `bundle-${i % 2}`));
    const changelog = changelogTopicName(pipeline.topology.appId, MERKLE_STORE);
    const values = (): string[] => driver.partitionsOf(changelog)[0].map((r) => r.value?.toString('utf8') ?? 'tombstone');
    // Chunks as fetches would bring them: each is one unit of work with one changelog record.
    for (const chunk of [[0, 1], [1, 3], [3, 4], [4, 7]]) await pipeEvents(0, list.slice(...chunk));
    const [sealed] = (await roots()).map((r) => r.value);
    const open = (from: number, to: number, bundleIds: string[]) => ({ firstOffset: from, lastOffset: to - 1, leaves: hashes(list.slice(from, to)), bundleIds, openedAtMs: START_MS });
    expect(values()).toEqual([
      JSON.stringify({ nextBatchSeq: 0, previousSignature: null, lastSealedOffset: -1, open: open(0, 1, ['bundle-0']) }),
      JSON.stringify({ nextBatchSeq: 0, previousSignature: null, lastSealedOffset: -1, open: open(0, 3, ['bundle-0', 'bundle-1']) }),
      JSON.stringify({ nextBatchSeq: 0, previousSignature: null, lastSealedOffset: -1, open: open(0, 4, ['bundle-0', 'bundle-1']) }),
      JSON.stringify({ nextBatchSeq: 1, previousSignature: sealed.signature, lastSealedOffset: 4, open: open(5, 7, ['bundle-1', 'bundle-0']) }),
    ]);
    expect(sealed).toMatchObject({ firstOffset: 0, lastOffset: 4, leaves: hashes(list.slice(0, 5)), bundleIds: ['bundle-0', 'bundle-1'] });
  });

  it('seals early before a batch\'s leaves and bundleIds would pass MAX_BATCH_BYTES, the same whether events come one by one or together', async () => {
    const { driver, pipeline, pipeEvents, roots } = await setup({ batchSize: 64 });
    // bundleIds are free text: ~400 KB of letters, ~1.2 MB as JSON (200,000 control characters), and one shared by three events.
    const ids = { a: 'a'.repeat(400_000), ctrl: '\u0001'.repeat(200_000), b: 'b'.repeat(400_000), c: 'c'.repeat(400_000), shared: 's'.repeat(300_000) };
    const bundles = [ids.a, ids.b, ids.c, ids.ctrl, ids.a, ids.shared, ids.shared, ids.shared, null];
    for (const partition of [0, 1]) {
      const list = events(`bytes-${partition}`, bundles.length, (i) => bundles[i]);
      if (partition === 0) await pipeEvents(0, list);
      else for (const e of list) await pipeEvents(1, [e]);
    }
    await driver.endOfInput();
    for (const partition of [0, 1]) {
      const sealed = (await roots(partition)).map((r) => r.value);
      // a+b fit (~800 KB); c would pass 1 MiB; ctrl alone is over it and stays alone; the shared id counts once.
      expect(sealed.map((r) => [r.firstOffset, r.lastOffset])).toEqual([[0, 1], [2, 2], [3, 3], [4, 8]]);
      expect(sealed.map((r) => r.bundleIds.map((id) => id.length))).toEqual([[400_000, 400_000], [400_000], [200_000], [400_000, 300_000]]);
      for (const root of sealed) expect(merkleRootSignatureValid(root, signer.publicKey)).toBe(true);
    }
    // A batch of more than one event keeps its leaves and bundleIds, as the store's JSON, within
    // MAX_BATCH_BYTES; so does every open batch written to the changelog.
    const jsonBytes = (texts: readonly string[]): number => texts.reduce((sum, t) => sum + Buffer.byteLength(JSON.stringify(t)) + 1, 0);
    const sealed = (await roots()).map((r) => r.value);
    for (const root of sealed.filter((r) => r.leafCount > 1)) expect(jsonBytes([...root.leaves, ...root.bundleIds])).toBeLessThanOrEqual(MAX_BATCH_BYTES);
    const changelog = changelogTopicName(pipeline.topology.appId, MERKLE_STORE);
    for (const record of driver.records(changelog)) {
      const open = (JSON.parse(record.value?.toString('utf8') ?? 'null') as { open: { leaves: string[]; bundleIds: string[] } | null } | null)?.open;
      if (open && open.leaves.length > 1) expect(jsonBytes([...open.leaves, ...open.bundleIds])).toBeLessThanOrEqual(MAX_BATCH_BYTES);
    }
    for (const record of [...driver.records(TOPICS.merkleRoots), ...driver.records(changelog)]) expect(record.value?.length ?? 0).toBeLessThan(MAX_RECORD_BYTES);
  });

  it('lets a batch reach MAX_BATCH_BYTES exactly, and seals before the next byte', async () => {
    const { driver, pipeEvents, roots } = await setup({ batchSize: 64 });
    // Each event adds its leaf (71 characters, quoted, comma: 74) and its new bundleId (quoted, comma).
    const first = 'f'.repeat(500_000);
    const second = 's'.repeat(MAX_BATCH_BYTES - (74 + first.length + 3) - 74 - 3);
    await pipeEvents(0, events('exact', 3, (i) => [first, second, null][i]));
    await driver.endOfInput();
    expect((await roots(0)).map((r) => [r.value.firstOffset, r.value.lastOffset])).toEqual([[0, 1], [2, 2]]);
  });

  it('seals MAX_BATCH_LEAVES ordinary events at batchSize, as one root within the broker\'s default 1 MB record limit', async () => {
    const { driver, pipeline, pipeEvents, roots } = await setup({ batchSize: MAX_BATCH_LEAVES });
    const list = events('max-leaves', MAX_BATCH_LEAVES, () => 'bundle-max');
    await pipeEvents(0, list.slice(0, -1));
    const changelog = changelogTopicName(pipeline.topology.appId, MERKLE_STORE);
    const openState = driver.partitionsOf(changelog)[0].at(-1)?.value?.length ?? 0;
    expect(openState).toBeGreaterThan(MAX_BATCH_LEAVES * 71);
    expect(openState).toBeLessThan(Math.min(MAX_BATCH_BYTES, 1_000_000));
    await pipeEvents(0, list.slice(-1));
    const [root] = await roots(0);
    expect(root.value.leafCount).toBe(MAX_BATCH_LEAVES);
    expect(driver.records(TOPICS.merkleRoots)[0].value?.length).toBeLessThan(1_000_000);
  });

  it('refuses a batch size over MAX_BATCH_LEAVES', () => {
    const options = { topics: { roots: TOPICS.merkleRoots }, batchMaxWaitMs: 1_000, keyId: KEY_ID, sign: () => Buffer.alloc(64) };
    expect(() => new MerkleProcessor({ ...options, batchSize: MAX_BATCH_LEAVES + 1 })).toThrow(RangeError);
    expect(() => new MerkleProcessor({ ...options, batchSize: MAX_BATCH_LEAVES })).not.toThrow();
  });

  it('continues the open batch and the chain after a restart on the same RocksDB store, without resealing or skipping', async () => {
    const backendDir = join(dir, 'rocks-restart');
    const list = events('restart', 12);
    const before = await setup({ batchSize: 5, backend: new RocksDbBackend(backendDir) });
    await before.pipeEvents(0, list.slice(0, 7)); // batch 0 = offsets 0..4; offsets 5, 6 stay open
    const sealedBefore = (await before.roots()).map((r) => r.value);
    expect(sealedBefore.map((r) => [r.firstOffset, r.lastOffset])).toEqual([[0, 4]]);
    await before.driver.close();
    expect(await readState(backendDir, 0)).toMatchObject({ nextBatchSeq: 1, previousSignature: sealedBefore[0].signature, open: { firstOffset: 5, lastOffset: 6, leaves: hashes(list.slice(5, 7)), openedAtMs: START_MS } });

    const after = await setup({ batchSize: 5, backend: new RocksDbBackend(backendDir) });
    // The in-process driver keeps its logs in memory: the new one is given the same first seven
    // records so the log reaches the same offsets. The processor must not take them again.
    await after.pipeEvents(0, list.slice(0, 7));
    expect(await after.roots()).toEqual([]);
    await after.pipeEvents(0, list.slice(7));
    await after.driver.endOfInput();
    const sealedAfter = (await after.roots()).map((r) => r.value);
    expect(sealedAfter.map((r) => [r.batchSeq, r.firstOffset, r.lastOffset])).toEqual([
      [1, 5, 9],
      [2, 10, 11],
    ]);
    const chain = [...sealedBefore, ...sealedAfter];
    expect(chain.flatMap((r) => r.leaves)).toEqual(hashes(list));
    chain.forEach((r, i) => {
      expect(r.previousSignature).toBe(i === 0 ? null : chain[i - 1].signature);
      expect(merkleRootSignatureValid(r, signer.publicKey)).toBe(true);
    });
  });
});

/** The merkle store's state of one partition as RocksDB holds it (a JSON document). */
async function readState(backendDir: string, partition: number): Promise<unknown> {
  const store = await new RocksDbBackend(backendDir).open(MERKLE_STORE, partition);
  try {
    const bytes = await store.get('state');
    return bytes === undefined ? undefined : (JSON.parse(bytes.toString('utf8')) as unknown);
  } finally {
    await store.close();
  }
}
