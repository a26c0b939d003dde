// Projector benchmarks (issue 6): events/s in-process next to the codec ceiling of the same
// records (decode a LedgerEvent + encode a TimelineEntry), and the latency of GET /metrics
// with 10,000 tenants and 1,000,000 findings in the projections (RocksDB stores).
import { mkdtemp, rm } from 'node:fs/promises';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { buildPipeline } from '../cli/pipeline.js';
import { loadConfig } from '../config.js';
import type { LedgerEvent } from '../contracts/ledger-event.js';
import { airgapBundle } from '../examples/bundles.js';
import { ledgerEventFor } from '../examples/events.js';
import { createMetrics, metricsSink } from '../metrics.js';
import { ProjectionQueries } from '../processors/projector-queries.js';
import type { TimelineEntry } from '../processors/projector.js';
import { startHttpServer } from '../runtime/http.js';
import { jsonLineLogger } from '../runtime/kafka/client.js';
import { LocalDriver } from '../runtime/local-driver.js';
import { RocksDbBackend } from '../state/rocksdb.js';
import { pipelineTopology, TOPICS } from '../topology.js';
import type { BenchResult } from './report.js';

const PARTITIONS = 3;
const silent = jsonLineLogger('bench', { write: () => true } as unknown as NodeJS.WritableStream);

const events = (count: number): LedgerEvent[] =>
  Array.from({ length: count }, (_, i) => ledgerEventFor({ tenantId: `tenant-${i % 50}`, runSeed: `projector-bench:${i}`, status: 'running', approxBytes: 1024, sourceOffset: i }));

async function projectorDriver(stateDir: string) {
  const config = loadConfig({}, { LEDGER_ALLOW_UNSIGNED: 'true', LEDGER_PARTITIONS: String(PARTITIONS) });
  const pipeline = buildPipeline(config, silent, { workers: 0, watchKeyring: false });
  const topology = pipelineTopology({
    appId: 'bench',
    partitions: PARTITIONS,
    keyring: pipeline.keyring,
    signaturesRequired: false,
    validatePool: null,
    dedupeRetentionMs: 0,
    merkle: null,
    processors: ['projector'],
  });
  const metrics = createMetrics({ defaultMetrics: true });
  const driver = await LocalDriver.create({ topology, backend: new RocksDbBackend(stateDir), serde: pipeline.serde, wallClockMs: Date.now(), metrics: metricsSink(metrics) });
  return { pipeline, driver, metrics, config };
}

export async function benchProjector(options: { events?: number; tenants?: number; findingsPerTenant?: number; scrapes?: number } = {}): Promise<BenchResult[]> {
  const eventCount = options.events ?? 20_000;
  const tenants = options.tenants ?? 10_000;
  const findingsPerTenant = options.findingsPerTenant ?? 100;
  const scrapes = options.scrapes ?? 100;
  const dir = await mkdtemp(join(tmpdir(), 'bench-projector-'));
  const results: BenchResult[] = [];
  const { pipeline, driver, metrics, config } = await projectorDriver(join(dir, 'state'));
  let server: Server | null = null;
  try {
    // Events/s: pre-encoded LedgerEvents (~1 KiB exports) in batches of 500.
    const list = events(eventCount);
    const encoded = await Promise.all(list.map(async (e) => ({ key: `${e.tenantId}/${e.runId}`, value: await pipeline.codec.encode(TOPICS.events, e) })));
    const started = performance.now();
    for (let i = 0; i < encoded.length; i += 500) await driver.pipeAll(TOPICS.events, encoded.slice(i, i + 500));
    const eventsPerSecond = eventCount / ((performance.now() - started) / 1000);

    // Ceiling: the codec work every event needs at least (decode the event, encode its entry).
    const sample = encoded.slice(0, 2_000);
    const entry = (e: LedgerEvent): TimelineEntry => ({
      type: 'ledger_export', tenantId: e.tenantId, runId: e.runId, status: e.status, artifactHash: String(e.export.artifactHash),
      policyHash: null, manifestPath: null, logsPath: null, dsseDigest: e.dsseDigest, idempotencyKey: e.idempotencyKey,
      bundleId: null, scanId: null, eventHash: e.eventHash, merkleRoot: null, anchorReference: null, batchSeq: null,
    });
    const codecStart = performance.now();
    let codecOps = 0;
    while (performance.now() - codecStart < 2_000) {
      for (const r of sample) {
        const decoded = (await pipeline.codec.decode(TOPICS.events, r.value)) as LedgerEvent;
        await pipeline.codec.encode(TOPICS.timeline, entry(decoded));
      }
      codecOps += sample.length;
    }
    const codecPerSecond = codecOps / ((performance.now() - codecStart) / 1000);
    results.push({
      name: 'projector.events',
      unit: 'records/s',
      value: eventsPerSecond,
      params: { events: eventCount, exportBytes: 1024, partitions: PARTITIONS, store: 'rocksdb' },
      ceiling: { name: 'codec.ledgerEventDecode+timelineEncode', value: codecPerSecond, ratio: eventsPerSecond / codecPerSecond },
    });

    // 10,000 tenants × 100 findings: one bundle each, then GET /metrics as Prometheus does.
    const loadStart = performance.now();
    const anchorBase = Date.now() - 3 * 86_400_000;
    for (let t = 0; t < tenants; t += 200) {
      const chunk = [];
      for (let i = t; i < Math.min(tenants, t + 200); i++) {
        const tenantId = `tenant-${String(i).padStart(5, '0')}`;
        chunk.push({ key: tenantId, value: Buffer.from(JSON.stringify(airgapBundle({ tenantId, n: 1, findings: findingsPerTenant, anchorMs: anchorBase + i * 1000, seed: 'bench' }))) });
      }
      await driver.pipeAll(TOPICS.airgapBundles, chunk);
    }
    const loadSeconds = (performance.now() - loadStart) / 1000;
    results.push({ name: 'projector.bundles.load', unit: 'findings/s', value: (tenants * findingsPerTenant) / loadSeconds, params: { tenants, findings: tenants * findingsPerTenant, seconds: Math.round(loadSeconds * 10) / 10 } });

    const queries = new ProjectionQueries({ stores: driver, partitions: PARTITIONS, freshnessThresholdSeconds: config.freshnessThresholdSeconds, clock: Date.now });
    metrics.useStaleness((now) => queries.staleness(now));
    server = await startHttpServer({ port: 0, host: '127.0.0.1', registry: metrics.registry, isReady: () => true });
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    const latencies: number[] = [];
    let series = 0;
    for (let i = 0; i < scrapes + 5; i++) {
      const t0 = performance.now();
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      const ms = performance.now() - t0;
      if (i >= 5) latencies.push(ms); // the first scrapes warm the iterators and the JIT
      series = text.split('\n').filter((l) => l.startsWith('ledger_airgap_staleness_seconds{')).length;
    }
    latencies.sort((a, b) => a - b);
    const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.ceil(q * latencies.length) - 1)];
    results.push({ name: 'projector.scrape.p50', unit: 'ms', value: at(0.5), params: { tenants, findings: tenants * findingsPerTenant, stalenessSeries: series, scrapes } });
    results.push({ name: 'projector.scrape.p99', unit: 'ms', value: at(0.99), params: { tenants, findings: tenants * findingsPerTenant, stalenessSeries: series, scrapes, targetMs: 250 } });
  } finally {
    if (server) await new Promise((resolve) => server?.close(resolve));
    await driver.close();
    await pipeline.close();
    await rm(dir, { recursive: true, force: true });
  }
  return results;
}
