import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel, type Admin } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCodec } from '../../cli/pipeline.js';
import { loadConfig } from '../../config.js';
import { generateEd25519KeyPair } from '../../contracts/ed25519.js';
import { airgapBundle, type BundleRecord } from '../../examples/bundles.js';
import { exportStream, generateDemoKeys, keyringDocument } from '../../examples/exports.js';
import type { RunsPage } from '../../processors/projector-queries.js';
import type { TimelineEntry } from '../../processors/projector.js';
import { TOPICS } from '../../topology.js';
import { kafkaBrokers, schemaRegistryUrl } from '../support/env.js';
import { freePort, killHard, killIfRunning, repoRoot, runLedger, startLedger, stopGracefully, waitFor, type Worker } from '../support/processes.js';
import { endOffsets, ensurePipelineTopics, kcatRead, startPipelineGroupsAtEnd } from '../support/topics.js';

// The projector on the real broker, scraped by a real Prometheus (DESIGN.md 5): `ledger run`
// with all four processors, exports produced by KafkaJS, bundle imports produced by kcat. Then:
// - Prometheus (Debian's package) scrapes /metrics; its query API returns
//   ledger_airgap_staleness_seconds for every tenant; `promtool check metrics` accepts the exposition;
// - the freshness API answers 200 / 409 ERR_AIRGAP_STALE, and so does `ledger freshness`;
// - ledger.timeline and ledger.airgap.timeline are compacted topics (Kafka's own ConfigCommand),
//   and kcat reading ledger.timeline from the beginning sees, per run, the latest event anchored
//   in a sealed batch — the same entry the query API lists;
// - after kill -9 and a wiped state directory, the projections restore from their changelogs.
// The topics are shared with other runs: this run's groups start at the current end offsets, its
// tenants and runIds are its own, and only roots signed with its key id anchor its projections.

const run = `projector-it-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
const KEY_ID = `${run}-signer`;
const TENANTS = [0, 1, 2, 3].map((i) => `${run}-t${i}`);
const STALE_TENANT = TENANTS[0];
const DAY_MS = 86_400_000;
const kafka = new Kafka({ clientId: run, brokers: kafkaBrokers(), logLevel: logLevel.NOTHING });
const registryEnv = { SCHEMA_REGISTRY_URL: schemaRegistryUrl() };
const codec = createCodec(loadConfig({}, registryEnv));
const keys = generateDemoKeys();
const signer = generateEd25519KeyPair();

let dir: string;
let admin: Admin;
const workers: Worker[] = [];
let prometheus: ReturnType<typeof spawn> | undefined;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'projector-it-'));
  admin = kafka.admin();
  await admin.connect();
  await ensurePipelineTopics(admin);
});

afterAll(async () => {
  workers.forEach(killIfRunning);
  prometheus?.kill('SIGKILL');
  await admin?.disconnect();
  if (dir) await rm(dir, { recursive: true, force: true });
});

function kcatProduce(topic: string, records: readonly BundleRecord[]): void {
  const input = Buffer.concat(records.map((r) => Buffer.from(`${r.key ?? ''}\t${r.value.toString('utf8')}\n`)));
  const result = spawnSync('kcat', ['-b', kafkaBrokers().join(','), '-P', '-t', topic, '-K', '\t', '-X', 'acks=all'], { input });
  if (result.status !== 0) throw new Error(`kcat -P exited ${result.status}: ${result.stderr?.toString('utf8')}`);
}

/** Kafka's own ConfigCommand (from the stack's jars), independent of KafkaJS. */
function topicConfig(topic: string): string {
  const args = ['scripts/stack.mjs', 'kafka-class', 'kafka.admin.ConfigCommand', '--bootstrap-server', kafkaBrokers()[0], '--describe', '--entity-type', 'topics', '--entity-name', topic];
  const result = spawnSync(process.execPath, args, { cwd: repoRoot, encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`ConfigCommand exited ${result.status}: ${result.stderr}`);
  return result.stdout;
}

/** The latest committed timeline entry of every run of this test, read from the beginning by kcat. */
async function timelineByKcat(): Promise<Map<string, TimelineEntry>> {
  const latest = new Map<string, TimelineEntry>();
  const partitions = [...(await endOffsets(admin, TOPICS.timeline)).keys()];
  for (const partition of partitions) {
    for (const record of kcatRead(TOPICS.timeline, partition, 0)) {
      if (record.key === null || record.value === null || !TENANTS.some((t) => record.key?.startsWith(`${t}/`))) continue;
      latest.set(record.key, codec.catalog.toPlainJson('TimelineEntry', await codec.decode(TOPICS.timeline, record.value)) as unknown as TimelineEntry);
    }
  }
  return latest;
}

describe('projector on the broker, scraped by Prometheus', () => {
  it('projects timelines and air-gap impacts, serves freshness and staleness, and restores after kill -9 with a wiped store', async (context) => {
    context.onTestFailed(() => {
      for (const [i, w] of workers.entries()) process.stderr.write(`--- worker ${i} log, last 40 lines\n${w.logs.slice(-40).map((l) => JSON.stringify(l)).join('\n')}\n`);
    });
    const paths = { keyring: join(dir, 'keyring.json'), signingKey: join(dir, 'signer.pem'), state: join(dir, 'state'), prometheus: join(dir, 'prometheus') };
    await writeFile(paths.keyring, JSON.stringify(keyringDocument(keys)));
    await writeFile(paths.signingKey, signer.privateKeyPem);
    await startPipelineGroupsAtEnd(admin, run);
    const metricsPort = await freePort();
    const env = {
      ...registryEnv,
      KAFKA_BROKERS: kafkaBrokers().join(','),
      LEDGER_APP_ID: run,
      LEDGER_STATE_DIR: paths.state,
      LEDGER_KEYRING: paths.keyring,
      LEDGER_SIGNING_KEY: paths.signingKey,
      LEDGER_SIGNING_KEY_ID: KEY_ID,
      LEDGER_MERKLE_BATCH_SIZE: '16',
      LEDGER_MERKLE_BATCH_MAX_WAIT_MS: '300',
      METRICS_PORT: String(metricsPort),
    };
    const start = (): Worker => {
      const worker = startLedger(['run'], env);
      workers.push(worker);
      return worker;
    };
    const http = async <T>(path: string): Promise<{ status: number; body: T | null }> => {
      try {
        const response = await fetch(`http://127.0.0.1:${metricsPort}${path}`);
        return { status: response.status, body: (await response.json().catch(() => null)) as T | null };
      } catch {
        return { status: 0, body: null };
      }
    };
    const ready = async (worker: Worker) =>
      waitFor('/readyz to answer 200', async () => {
        if (worker.child.exitCode !== null) throw new Error(`ledger run exited with ${worker.child.exitCode}`);
        return (await http('/readyz')).status === 200;
      }, 180_000);
    let pipeline = start();
    await ready(pipeline);

    // Exports through KafkaJS; bundles through kcat: the stale tenant's newest bundle is 10 days old.
    const stream = exportStream({ count: 240, keys, tenants: TENANTS, seed: run });
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    await producer.send({ topic: TOPICS.exportsCreated, acks: -1, messages: stream.map((r) => ({ key: r.key, value: r.value })) });
    await producer.disconnect();
    const now = Date.now();
    const bundles = TENANTS.flatMap((tenantId, t) => {
      const anchorMs = tenantId === STALE_TENANT ? now - 10 * DAY_MS : now - (t + 1) * 3_600_000;
      return [airgapBundle({ tenantId, n: 1, findings: 25, anchorMs: anchorMs - DAY_MS, seed: run }), airgapBundle({ tenantId, n: 2, findings: 25, anchorMs, seed: run })];
    });
    kcatProduce(TOPICS.airgapBundles, [
      ...bundles.map((b) => ({ key: b.tenantId, value: Buffer.from(JSON.stringify(b)), expect: 'IMPORTED' })),
      { key: TENANTS[1], value: Buffer.from('{"not": "a bundle"}'), expect: 'ERR_MISSING_FIELD' },
    ]);
    const newest = new Map(bundles.filter((b) => b.bundleId.endsWith('-b2')).map((b) => [b.tenantId, b]));

    // Every accepted run ends on ledger.timeline anchored in a sealed batch.
    const runs = new Set(stream.filter((r) => r.expect === 'OK').map((r) => r.key));
    let timeline = new Map<string, TimelineEntry>();
    await waitFor('every run of this test anchored on ledger.timeline', async () => {
      timeline = await timelineByKcat();
      return [...runs].every((key) => timeline.get(key)?.merkleRoot);
    }, 180_000);
    expect([...timeline.keys()].sort()).toEqual([...runs].sort());
    for (const entry of timeline.values()) expect(entry).toMatchObject({ type: 'ledger_export', anchorReference: expect.stringMatching(/^airgap::ledger\.events\//) });

    // The query API lists the same latest entries, in runId order.
    for (const tenant of TENANTS) {
      const page = await http<RunsPage>(`/v1/tenants/${encodeURIComponent(tenant)}/runs?limit=1000`);
      expect(page.status).toBe(200);
      const listed = page.body?.runs ?? [];
      expect(listed.map((r) => r.runId)).toEqual([...listed.map((r) => r.runId)].sort());
      for (const r of listed) expect(timeline.get(`${tenant}/${r.runId}`)).toMatchObject({ eventHash: r.eventHash, merkleRoot: r.merkleRoot, batchSeq: r.batchSeq });
      expect(listed).toHaveLength([...runs].filter((k) => k.startsWith(`${tenant}/`)).length);
    }

    // Freshness: 409 with the remediation JSON for the stale tenant, 200 for the others; the CLI agrees.
    const expectFreshness = async () => {
      await waitFor('every bundle of this test projected', async () => (await http<{ bundleId: string | null }>(`/v1/tenants/${STALE_TENANT}/freshness`)).body?.bundleId === newest.get(STALE_TENANT)?.bundleId, 120_000);
      for (const tenant of TENANTS) {
        const b = newest.get(tenant);
        const answer = await http<Record<string, unknown>>(`/v1/tenants/${encodeURIComponent(tenant)}/freshness`);
        if (tenant === STALE_TENANT) {
          expect(answer).toMatchObject({ status: 409, body: { code: 'ERR_AIRGAP_STALE', bundleId: b?.bundleId, timeAnchor: b?.timeAnchor, importOperator: b?.importOperator } });
        } else {
          expect(answer).toMatchObject({ status: 200, body: { stale: false, bundleId: b?.bundleId } });
        }
      }
      const cli = await runLedger(['freshness', '--tenant', STALE_TENANT, '--url', `http://127.0.0.1:${metricsPort}`], {});
      expect(cli.exitCode).toBe(1);
      expect(JSON.parse(cli.stdout)).toMatchObject({ code: 'ERR_AIRGAP_STALE', bundleId: newest.get(STALE_TENANT)?.bundleId });
      expect((await runLedger(['freshness', '--tenant', TENANTS[1], '--url', `http://127.0.0.1:${metricsPort}`], {})).exitCode).toBe(0);
    };
    await expectFreshness();

    // One AirgapImpact per import on the compacted ledger.airgap.timeline; the bad bundle is rejected.
    const impacts = new Map<string, Record<string, unknown>>();
    for (const partition of (await endOffsets(admin, TOPICS.airgapTimeline)).keys()) {
      for (const r of kcatRead(TOPICS.airgapTimeline, partition, 0)) {
        if (r.key && r.value && TENANTS.some((t) => r.key?.startsWith(`${t}/`))) impacts.set(r.key, codec.catalog.toPlainJson('AirgapImpact', await codec.decode(TOPICS.airgapTimeline, r.value)) as Record<string, unknown>);
      }
    }
    expect([...impacts.keys()].sort()).toEqual(bundles.map((b) => `${b.tenantId}/${b.bundleId}`).sort());
    for (const b of bundles.filter((x) => x.bundleId.endsWith('-b1'))) {
      expect(impacts.get(`${b.tenantId}/${b.bundleId}`)).toMatchObject({ newFindings: b.findings.filter((f) => f.status === 'open').length, resolvedFindings: 0 });
    }

    // Both timelines are compacted topics on the broker.
    for (const topic of [TOPICS.timeline, TOPICS.airgapTimeline]) expect(topicConfig(topic)).toMatch(/cleanup\.policy=compact/);

    // A real Prometheus scrapes /metrics; its query API returns the staleness of every tenant.
    // Once more if the kept-alive connection was closed by the server while spawnSync blocked this loop.
    const scrape = async () => (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    const exposition = await scrape().catch(scrape);
    // DESIGN.md 5's list: verification time per export and consumer lag per input partition too.
    expect(Number(/^ledger_dsse_verify_seconds_count (\d+)$/m.exec(exposition)?.[1])).toBeGreaterThan(0);
    expect(exposition).toMatch(new RegExp(`^ledger_consumer_lag_records\\{group="${run}-projector",topic="${TOPICS.airgapBundles.replace(/\./g, '\\.')}",partition="\\d"\\} \\d+$`, 'm'));
    const promtool = spawnSync('promtool', ['check', 'metrics'], { input: exposition, encoding: 'utf8' });
    expect(promtool.status, `${promtool.stdout}${promtool.stderr}`).toBe(0);
    const prometheusPort = await freePort();
    await writeFile(join(dir, 'prometheus.yml'), `global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: ledger\n    static_configs:\n      - targets: ['127.0.0.1:${metricsPort}']\n`);
    prometheus = spawn('prometheus', [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${paths.prometheus}`, `--web.listen-address=127.0.0.1:${prometheusPort}`], { stdio: 'ignore' });
    const staleness = new Map<string, number>();
    await waitFor('Prometheus to return ledger_airgap_staleness_seconds for every tenant', async () => {
      try {
        const response = await fetch(`http://127.0.0.1:${prometheusPort}/api/v1/query?query=${encodeURIComponent(`ledger_airgap_staleness_seconds{tenant=~"${run}-.*"}`)}`);
        const body = (await response.json()) as { data?: { result?: Array<{ metric: { tenant: string }; value: [number, string] }> } };
        for (const r of body.data?.result ?? []) staleness.set(r.metric.tenant, Number(r.value[1]));
      } catch {
        return false;
      }
      return TENANTS.every((t) => staleness.has(t));
    }, 120_000);
    for (const tenant of TENANTS) {
      const anchorMs = Date.parse(newest.get(tenant)?.timeAnchor ?? '');
      // Computed at scrape time: at least the age of the newest anchor when the bundles were produced.
      expect(staleness.get(tenant)).toBeGreaterThanOrEqual((now - anchorMs) / 1000);
    }
    expect(staleness.get(STALE_TENANT)).toBeGreaterThan(604_800);

    // kill -9 and a wiped state directory: the projections come back from their changelogs.
    await killHard(pipeline);
    await rm(paths.state, { recursive: true, force: true });
    pipeline = start();
    await ready(pipeline);
    expect(pipeline.logs.some((l) => l.message === 'restored store from changelog' && l.processor === 'projector')).toBe(true);
    await expectFreshness();
    const restoredRuns = await http<RunsPage>(`/v1/tenants/${encodeURIComponent(TENANTS[2])}/runs?limit=1000`);
    expect(restoredRuns.body?.runs.map((r) => `${TENANTS[2]}/${r.runId}`).sort()).toEqual([...runs].filter((k) => k.startsWith(`${TENANTS[2]}/`)).sort());
    expect(await stopGracefully(pipeline)).toBe(0);
  });
});
