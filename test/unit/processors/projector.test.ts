import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildPipeline, type Pipeline } from '../../../cli/pipeline.js';
import { loadConfig } from '../../../config.js';
import { sha256Digest } from '../../../contracts/digests.js';
import { generateEd25519KeyPair } from '../../../contracts/ed25519.js';
import type { LedgerEvent } from '../../../contracts/ledger-event.js';
import type { MerkleRootRecord } from '../../../contracts/merkle-root.js';
import { createMetrics, metricsSink } from '../../../metrics.js';
import { airgapBundle, bundleStream } from '../../../examples/bundles.js';
import { ledgerEventFor } from '../../../examples/events.js';
import { exportStream, generateDemoKeys, keyringDocument } from '../../../examples/exports.js';
import { ProjectionQueries, projectorRoutes } from '../../../processors/projector-queries.js';
import type { TimelineEntry } from '../../../processors/projector.js';
import { jsonLineLogger } from '../../../runtime/kafka/client.js';
import { LocalDriver } from '../../../runtime/local-driver.js';
import { MemoryBackend } from '../../../state/memory.js';
import { TOPICS, type ProcessorName } from '../../../topology.js';

// The projector through the in-process driver with the real Avro codec (DESIGN.md 5): timeline
// entries per event, re-emitted with the Merkle anchor when the batch seals (whichever of event
// and root arrives first), air-gap impacts per import, rejections, the queries and the gauges.

const dir = mkdtempSync(join(tmpdir(), 'projector-unit-'));
const signer = generateEd25519KeyPair();
const KEY_ID = 'projector-unit-signer';
const signingKeyPath = join(dir, 'signer.pem');
writeFileSync(signingKeyPath, signer.privateKeyPem);
const keys = generateDemoKeys();
const keyringPath = join(dir, 'keyring.json');
writeFileSync(keyringPath, JSON.stringify(keyringDocument(keys)));
const NOW = Date.parse('2026-11-22T12:00:00.000Z');
const DAY_MS = 86_400_000;
const silent = jsonLineLogger('test', { write: () => true } as unknown as NodeJS.WritableStream);
const cleanups: Array<() => Promise<void>> = [];

afterAll(async () => {
  for (const c of cleanups) await c().catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
});

async function setup(options: { processors?: readonly ProcessorName[]; batchSize?: number; threshold?: number } = {}) {
  const config = loadConfig(
    {},
    {
      LEDGER_KEYRING: keyringPath,
      LEDGER_PARTITIONS: '2',
      LEDGER_SIGNING_KEY: signingKeyPath,
      LEDGER_SIGNING_KEY_ID: KEY_ID,
      LEDGER_MERKLE_BATCH_SIZE: String(options.batchSize ?? 4),
      LEDGER_MERKLE_BATCH_MAX_WAIT_MS: '3600000',
      AIRGAP_FRESHNESS_THRESHOLD_SECONDS: String(options.threshold ?? 604_800),
    },
  );
  const base: Pipeline = buildPipeline(config, silent, { workers: 0, watchKeyring: false });
  const pipeline = options.processors ? { ...base, topology: { ...base.topology, processors: base.topology.processors.filter((p) => options.processors?.includes(p.name as ProcessorName)) } } : base;
  let clock = NOW;
  const metrics = createMetrics({ defaultMetrics: false, clock: () => clock });
  const driver = await LocalDriver.create({ topology: pipeline.topology, backend: new MemoryBackend(), serde: base.serde, wallClockMs: NOW, metrics: metricsSink(metrics) });
  cleanups.push(async () => {
    await driver.close();
    await base.close();
  });
  const queries = new ProjectionQueries({ stores: driver, partitions: 2, freshnessThresholdSeconds: config.freshnessThresholdSeconds, clock: () => clock });
  metrics.useStaleness((at) => queries.staleness(at));
  const decoded = async <T>(topic: string, record: string): Promise<Array<{ partition: number; key: string | null; value: T }>> =>
    Promise.all(
      driver.records(topic).map(async (r) => ({
        partition: r.partition,
        key: r.key,
        value: base.codec.catalog.toPlainJson(record, await base.codec.decode(topic, r.value ?? Buffer.alloc(0))) as unknown as T,
      })),
    );
  return {
    driver,
    codec: base.codec,
    queries,
    metrics,
    setClock: (ms: number) => void (clock = ms),
    timeline: () => decoded<TimelineEntry>(TOPICS.timeline, 'TimelineEntry'),
    impacts: () => decoded<Record<string, unknown>>(TOPICS.airgapTimeline, 'AirgapImpact'),
    rejections: () => decoded<Record<string, unknown>>(TOPICS.rejected, 'Rejection'),
    roots: () => decoded<MerkleRootRecord>(TOPICS.merkleRoots, 'MerkleRoot'),
  };
}

/** The latest entry per key of a compacted topic, as a consumer reading it from the beginning sees after compaction. */
const latestPerKey = <T>(records: ReadonlyArray<{ key: string | null; value: T }>): Map<string, T> => new Map(records.map((r) => [r.key ?? '', r.value]));

const ledgerEvent = (seed: string, tenantId = 'acme'): LedgerEvent => ledgerEventFor({ runSeed: `projector-unit:${seed}`, tenantId });

function rootOf(events: readonly LedgerEvent[], keyId = KEY_ID, batchSeq = 0): MerkleRootRecord {
  return {
    partition: 0,
    batchSeq,
    firstOffset: 0,
    lastOffset: events.length - 1,
    leafCount: events.length,
    leaves: events.map((e) => e.eventHash),
    rootHash: sha256Digest(Buffer.from(events.map((e) => e.eventHash).join())),
    anchorReference: `airgap::ledger.events/0/${batchSeq}`,
    bundleIds: [],
    previousSignature: null,
    keyId,
    sealedAt: '2026-11-22T12:00:00.000Z',
    signature: 'c2lnbmF0dXJl',
  };
}

describe('projector: ledger.timeline', () => {
  it('emits an entry per accepted export and re-emits it with merkleRoot, anchorReference and batchSeq when its batch seals', async () => {
    const { driver, timeline, roots } = await setup({ batchSize: 1000 });
    const stream = exportStream({ count: 90, keys, seed: 'timeline' });
    await driver.pipeAll(TOPICS.exportsCreated, stream.map((r) => ({ key: r.key, value: r.value })));
    const beforeSeal = await timeline();
    expect(beforeSeal.length).toBeGreaterThan(0);
    expect(beforeSeal.every((e) => e.value.merkleRoot === null && e.value.anchorReference === null && e.value.batchSeq === null)).toBe(true);
    for (const e of beforeSeal) expect(e.key).toBe(`${e.value.tenantId}/${e.value.runId}`);

    await driver.endOfInput(); // seals the open batches
    const sealed = await roots();
    const rootOfEvent = new Map(sealed.flatMap((r) => r.value.leaves.map((leaf) => [leaf, r.value] as const)));
    const latest = latestPerKey(await timeline());
    expect(latest.size).toBe(latestPerKey(beforeSeal).size);
    for (const entry of latest.values()) {
      const root = rootOfEvent.get(entry.eventHash);
      expect(root, entry.runId).toBeDefined();
      expect(entry).toMatchObject({ type: 'ledger_export', merkleRoot: root?.rootHash, anchorReference: root?.anchorReference, batchSeq: root?.batchSeq });
    }
    // Entries land on the partition of their run, like the events they project.
    const events = await Promise.all(driver.records(TOPICS.events).map(async (r) => ({ partition: r.partition, key: r.key })));
    const eventPartition = new Map(events.map((e) => [e.key, e.partition]));
    for (const e of await timeline()) expect(e.partition).toBe(eventPartition.get(e.key));
  });

  it('keeps the latest event per run: an anchor for an earlier event of the run does not overwrite it', async () => {
    const { driver, codec, timeline } = await setup({ processors: ['projector'] });
    const first = ledgerEvent('run-a');
    const later = { ...first, status: 'running', eventHash: sha256Digest(Buffer.from('later')) };
    for (const e of [first, later]) await driver.pipe(TOPICS.events, { key: `acme/${first.runId}`, value: await codec.encode(TOPICS.events, e), partition: 0 });
    await driver.pipe(TOPICS.merkleRoots, { key: '0', value: await codec.encode(TOPICS.merkleRoots, rootOf([first])), partition: 0 });
    const entries = await timeline();
    expect(entries).toHaveLength(2);
    expect(latestPerKey(entries).get(`acme/${first.runId}`)).toMatchObject({ status: 'running', merkleRoot: null });
  });

  it('anchors an event whose root arrived first (the topics are read independently)', async () => {
    const { driver, codec, timeline } = await setup({ processors: ['projector'] });
    const event = ledgerEvent('root-first');
    await driver.pipe(TOPICS.merkleRoots, { key: '0', value: await codec.encode(TOPICS.merkleRoots, rootOf([event])), partition: 0 });
    expect(await timeline()).toHaveLength(0);
    await driver.pipe(TOPICS.events, { key: `acme/${event.runId}`, value: await codec.encode(TOPICS.events, event), partition: 0 });
    const entries = await timeline();
    expect(entries).toHaveLength(1);
    expect(entries[0].value).toMatchObject({ eventHash: event.eventHash, anchorReference: 'airgap::ledger.events/0/0', batchSeq: 0 });
  });

  it('ignores roots signed with another key id (another ledger sharing the topic)', async () => {
    const { driver, codec, timeline } = await setup({ processors: ['projector'] });
    const event = ledgerEvent('foreign-root');
    await driver.pipe(TOPICS.events, { key: `acme/${event.runId}`, value: await codec.encode(TOPICS.events, event), partition: 0 });
    await driver.pipe(TOPICS.merkleRoots, { key: '0', value: await codec.encode(TOPICS.merkleRoots, rootOf([event], 'someone-else')), partition: 0 });
    expect(await timeline()).toHaveLength(1);
    await driver.pipe(TOPICS.merkleRoots, { key: '0', value: await codec.encode(TOPICS.merkleRoots, rootOf([event])), partition: 0 });
    expect((await timeline()).map((e) => e.value.batchSeq)).toEqual([null, 0]);
  });
});

describe('projector: air-gap bundles', () => {
  const tenants = ['acme', 'globex', 'initech', 'umbrella', 'hooli'];
  const stream = bundleStream({ tenants, perTenant: 4, findings: 40, lastAnchorMs: NOW - 2 * DAY_MS, seed: 'unit' });
  const pipeBundles = (driver: LocalDriver, records: typeof stream) =>
    driver.pipeAll(TOPICS.airgapBundles, records.map((r) => ({ key: r.key, value: r.value })));

  it('emits one AirgapImpact per import, counted as DESIGN.md 5 defines, keyed tenantId/bundleId', async () => {
    const { driver, impacts } = await setup({ processors: ['projector'] });
    await pipeBundles(driver, stream);
    const emitted = await impacts();
    expect(emitted).toHaveLength(stream.filter((r) => r.expect === 'IMPORTED' || r.expect === 'DUPLICATE').length);
    for (const e of emitted) expect(e.key).toBe(`${String(e.value.tenant)}/${String(e.value.bundleId)}`);
    // Model: per tenant, bundles in arrival order; a finding takes the state of the newest-anchored bundle that listed it.
    for (const tenant of tenants) {
      const findings = new Map<string, { open: boolean; critical: boolean; anchor: string }>();
      const mine = emitted.filter((e) => e.value.tenant === tenant);
      const imports = stream.filter((r) => r.key === tenant && r.expect === 'IMPORTED').map((r) => JSON.parse(r.value.toString()) as ReturnType<typeof airgapBundle>);
      // Keyed tenantId/bundleId, so one tenant's impacts spread over the partitions: match by bundle.
      expect([...new Set(mine.map((e) => e.value.bundleId))].sort()).toEqual(imports.map((b) => b.bundleId).sort());
      const impactOf = new Map(mine.map((e) => [e.value.bundleId, e.value]));
      imports.forEach((b) => {
        const openBefore = new Set([...findings].filter(([, f]) => f.open).map(([id]) => id));
        const criticalBefore = [...findings.values()].filter((f) => f.open && f.critical).length;
        for (const f of b.findings) {
          const known = findings.get(f.findingId);
          if (!known || known.anchor <= b.timeAnchor) findings.set(f.findingId, { open: f.status === 'open', critical: f.severity === 'critical', anchor: b.timeAnchor });
        }
        const openAfter = [...findings].filter(([, f]) => f.open).map(([id]) => id);
        const resolvedAfter = [...findings].filter(([, f]) => !f.open).map(([id]) => id);
        expect(impactOf.get(b.bundleId), `${tenant} ${b.bundleId}`).toEqual({
          tenant,
          bundleId: b.bundleId,
          newFindings: openAfter.filter((id) => !openBefore.has(id)).length,
          resolvedFindings: resolvedAfter.filter((id) => openBefore.has(id)).length,
          criticalDelta: [...findings.values()].filter((f) => f.open && f.critical).length - criticalBefore,
          timeAnchor: b.timeAnchor,
          sealedMode: true,
        });
      });
      // The late bundle (oldest anchor, arriving last) resolved nothing a newer bundle had stated.
      expect(impactOf.get(imports[imports.length - 1].bundleId)).toMatchObject({ resolvedFindings: 0 });
    }
  });

  it('rejects bad bundles to ledger.exports.rejected with stage airgap, their code, source and original bytes; a re-import is not a second impact', async () => {
    const { driver, rejections, impacts } = await setup({ processors: ['projector'] });
    await pipeBundles(driver, stream);
    const bad = stream.filter((r) => r.expect.startsWith('ERR_'));
    // Rejections keep the input's key (and so its partition); match them by source offset.
    const rejected = await rejections();
    expect(rejected).toHaveLength(bad.length);
    const inputs = driver.partitionsOf(TOPICS.airgapBundles);
    for (const r of rejected) {
      const source = r.value.source as { topic: string; partition: number; offset: number };
      const input = inputs[source.partition][source.offset];
      const planned = bad.find((b) => b.value.equals(input.value ?? Buffer.alloc(0)) && b.key === input.key);
      expect(planned, JSON.stringify(source)).toBeDefined();
      expect(r.value).toMatchObject({ code: planned?.expect, stage: 'airgap', source: { topic: TOPICS.airgapBundles } });
      expect(Buffer.from(String(r.value.originalBytes), 'base64').equals(input.value ?? Buffer.alloc(0))).toBe(true);
    }
    // The re-import repeats the first impact of that bundle, unchanged.
    const emitted = await impacts();
    const byKey = new Map<string, unknown[]>();
    for (const e of emitted) byKey.set(String(e.key), [...(byKey.get(String(e.key)) ?? []), e.value]);
    const repeated = [...byKey].filter(([, values]) => values.length > 1);
    expect(repeated).toHaveLength(stream.filter((r) => r.expect === 'DUPLICATE').length);
    for (const [, values] of repeated) expect(values).toEqual([values[0], values[0]]);
  });

  it('keeps tenants apart: the same findingIds under two tenants are two sets of findings', async () => {
    const { driver, impacts } = await setup({ processors: ['projector'] });
    const one = airgapBundle({ tenantId: 'acme', n: 1, findings: 12, anchorMs: NOW, seed: 'same' });
    const other = { ...one, tenantId: 'globex' };
    await driver.pipeAll(TOPICS.airgapBundles, [one, other].map((b) => ({ key: b.tenantId, value: Buffer.from(JSON.stringify(b)) })));
    const [a, g] = (await impacts()).sort((x, y) => String(x.value.tenant).localeCompare(String(y.value.tenant)));
    expect(a.value.newFindings).toBeGreaterThan(0);
    expect({ ...g.value, tenant: 'acme' }).toEqual(a.value);
  });

  it('freshness: the newest timeAnchor counts, staleness grows with the clock and crosses the threshold into ERR_AIRGAP_STALE', async () => {
    const { driver, queries, setClock } = await setup({ processors: ['projector'], threshold: 3 * DAY_MS / 1000 });
    await pipeBundles(driver, stream);
    const newestOfAcme = JSON.parse(stream.filter((r) => r.key === 'acme' && r.expect === 'IMPORTED')[3].value.toString()) as { bundleId: string; timeAnchor: string; importOperator: string };
    const fresh = await queries.freshness('acme');
    expect(fresh).toMatchObject({ stale: false, bundleId: newestOfAcme.bundleId, timeAnchor: newestOfAcme.timeAnchor, stalenessSeconds: 2 * 86_400 });
    setClock(NOW + 2 * DAY_MS);
    const stale = await queries.freshness('acme');
    expect(stale).toMatchObject({ stale: true, code: 'ERR_AIRGAP_STALE', bundleId: newestOfAcme.bundleId, importOperator: newestOfAcme.importOperator, stalenessSeconds: 4 * 86_400 });
    expect(await queries.freshness('never-imported')).toMatchObject({ stale: false, stalenessSeconds: null });
  });

  it('finds a tenant wherever its producer partitioned it (librdkafka hashes keys with CRC32, not murmur2); newest anchor wins', async () => {
    const { driver, queries, metrics } = await setup({ processors: ['projector'] });
    const older = airgapBundle({ tenantId: 'acme', n: 1, findings: 3, anchorMs: NOW - 2 * DAY_MS, seed: 'split' });
    const newer = airgapBundle({ tenantId: 'acme', n: 2, findings: 3, anchorMs: NOW - DAY_MS, seed: 'split' });
    await driver.pipe(TOPICS.airgapBundles, { key: 'acme', value: Buffer.from(JSON.stringify(newer)), partition: 0 });
    await driver.pipe(TOPICS.airgapBundles, { key: 'acme', value: Buffer.from(JSON.stringify(older)), partition: 1 });
    expect(await queries.freshness('acme')).toMatchObject({ bundleId: newer.bundleId, stalenessSeconds: 86_400 });
    const series = (await metrics.registry.metrics()).split('\n').filter((l) => l.startsWith('ledger_airgap_staleness_seconds{tenant="acme"}'));
    expect(series).toEqual(['ledger_airgap_staleness_seconds{tenant="acme"} 86400']);
  });

  it('exposes ledger_airgap_staleness_seconds per tenant at scrape time, and ledger_projection_lag_seconds per input topic', async () => {
    const { driver, metrics, setClock } = await setup({ processors: ['projector'] });
    await driver.pipeAll(TOPICS.airgapBundles, stream.map((r) => ({ key: r.key, value: r.value, timestamp: NOW - 60_000 })));
    const scrape = async (): Promise<string> => metrics.registry.metrics();
    const first = await scrape();
    for (const t of tenants) expect(first).toMatch(new RegExp(`ledger_airgap_staleness_seconds\\{tenant="${t}"\\} \\d+`));
    expect(first).toContain(`ledger_projection_lag_seconds{topic="${TOPICS.airgapBundles}"} 60`);
    setClock(NOW + 1000);
    const later = await scrape();
    const value = (text: string) => Number(/ledger_airgap_staleness_seconds\{tenant="acme"\} (\S+)/.exec(text)?.[1]);
    expect(value(later) - value(first)).toBe(1);
  });
});

describe('projector queries: runs of a tenant', () => {
  it('pages through every run in (runId, startedAt) order without repeats or gaps, also when runs arrive between pages', async () => {
    const { driver, codec, queries } = await setup({ processors: ['projector'] });
    const pipeEvents = async (events: readonly LedgerEvent[]) =>
      driver.pipeAll(TOPICS.events, await Promise.all(events.map(async (e) => ({ key: `${e.tenantId}/${e.runId}`, value: await codec.encode(TOPICS.events, e) }))));
    await pipeEvents(Array.from({ length: 23 }, (_, i) => ledgerEvent(`page-${i}`)));
    await pipeEvents(Array.from({ length: 5 }, (_, i) => ledgerEvent(`other-${i}`, 'globex')));
    // Keys `acme/sub/<runId>` share the prefix `acme/`: another tenant's, never listed for acme.
    await pipeEvents(Array.from({ length: 9 }, (_, i) => ledgerEvent(`nested-${i}`, 'acme/sub')));
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page = await queries.runsOf('acme', { limit: 7, cursor });
      expect(page.partitions).toEqual({ hosted: [0, 1], total: 2 });
      seen.push(...page.runs.map((r) => r.runId));
      cursor = page.nextCursor;
      if (++pages === 2) await pipeEvents([ledgerEvent('late-arrival')]);
    } while (cursor && pages < 10); // 24 runs, 7 a page: a cursor that never ends fails here instead of looping
    expect(cursor).toBeNull();
    const all = (await queries.runsOf('acme', { limit: 1000 })).runs.map((r) => r.runId);
    expect(all).toHaveLength(24);
    expect([...all].sort()).toEqual(all);
    const late = ledgerEvent('late-arrival').runId;
    // The late run is listed iff it sorts after the page it arrived behind; never twice.
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen.filter((id) => id !== late)).toEqual(all.filter((id) => id !== late));
  });

  it('answers the HTTP routes: freshness 200/409, runs 200, bad query 400', async () => {
    const { driver, queries, setClock } = await setup({ processors: ['projector'] });
    const b = airgapBundle({ tenantId: 'acme', n: 1, findings: 3, anchorMs: NOW - DAY_MS });
    await driver.pipe(TOPICS.airgapBundles, { key: 'acme', value: Buffer.from(JSON.stringify(b)) });
    const routes = projectorRoutes(queries);
    const get = async (path: string) => {
      for (const route of routes) {
        const answer = await route({} as never, new URL(path, 'http://localhost'));
        if (answer) return answer;
      }
      return null;
    };
    expect(await get('/v1/tenants/acme/freshness')).toMatchObject({ status: 200, body: { stale: false, bundleId: b.bundleId } });
    setClock(NOW + 30 * DAY_MS);
    expect(await get('/v1/tenants/acme/freshness')).toMatchObject({ status: 409, body: { code: 'ERR_AIRGAP_STALE', bundleId: b.bundleId, timeAnchor: b.timeAnchor, importOperator: b.importOperator } });
    expect(await get('/v1/tenants/acme/runs?limit=5')).toMatchObject({ status: 200, body: { tenant: 'acme', runs: [], nextCursor: null } });
    expect(await get('/v1/tenants/acme/runs?limit=0')).toMatchObject({ status: 400 });
    expect(await get('/v1/tenants/acme/runs?cursor=garbage')).toMatchObject({ status: 400 });
    expect(await get('/v1/other')).toBeNull();
  });
});
