import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel, type Admin, type Consumer, type KafkaMessage } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCodec } from '../../cli/pipeline.js';
import { loadConfig } from '../../config.js';
import { sha256Digest } from '../../contracts/digests.js';
import { signExport } from '../../contracts/export.js';
import { exportBody, exportStream, generateDemoKeys, keyringDocument, signedExport, type ExportSpec } from '../../examples/exports.js';
import { TOPICS } from '../../topology.js';
import { kafkaBrokers } from '../support/env.js';
import { freePort, killIfRunning, sleep, startLedger, stopGracefully, waitFor, type Worker } from '../support/processes.js';
import { endOffsets as topicEndOffsets, ensurePipelineTopics } from '../support/topics.js';

// `ledger run --processors validate` as a child process on the real broker, fed by an
// independent producer (kcat), checked by reading both output topics read_committed: every
// input record lands on exactly one of validated/rejected, once, with the code validate must give.
//
// The topics are shared with every other run on this broker, so the test isolates itself: its
// own LEDGER_APP_ID (consumer group, transactional ids) and only input offsets at or after the
// end offsets measured before producing. Integration files run one at a time, so no other
// pipeline instance decides the same input records meanwhile.

const run = `validate-it-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
const INPUT = TOPICS.exportsCreated;
const OUTPUTS = [TOPICS.validated, TOPICS.rejected] as const;
const kafka = new Kafka({ clientId: run, brokers: kafkaBrokers(), logLevel: logLevel.NOTHING });
const codec = createCodec(loadConfig({}));
const keys = generateDemoKeys();

let dir: string;
let admin: Admin;
let checker: Consumer;
let worker: Worker | undefined;
const received: Array<{ topic: string; partition: number; message: KafkaMessage }> = [];

type Offsets = Map<string, Map<number, number>>;

async function endOffsets(topics: readonly string[]): Promise<Offsets> {
  const result: Offsets = new Map();
  for (const topic of topics) result.set(topic, await topicEndOffsets(admin, topic));
  return result;
}

const atOrAfter = (offsets: Offsets, topic: string, partition: number, offset: number): boolean =>
  offset >= (offsets.get(topic)?.get(partition) ?? Number.POSITIVE_INFINITY);

function kcatProduce(file: string, headers: readonly string[] = []): void {
  const args = ['-b', kafkaBrokers().join(','), '-P', '-t', INPUT, '-K', '\t', '-X', 'acks=all', ...headers.flatMap((h) => ['-H', h]), '-l', file];
  const result = spawnSync('kcat', args, { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`kcat ${args.join(' ')} exited ${result.status}: ${result.stderr}`);
}

/** One produced line: key (null: no key delimiter on the line), value bytes, and validate's answer. */
interface Planned {
  readonly label: string;
  readonly key: string | null;
  readonly value: Buffer;
  readonly expect: string;
}

const spec = (runSeed: string, tenantId = 'acme'): ExportSpec => ({ tenantId, runSeed: `${run}:${runSeed}`, status: 'pending' });
const json = (value: unknown): Buffer => Buffer.from(JSON.stringify(value));

/** Hand-made records for the rules exportStream does not cover, and for what only a raw producer can send. */
function handMade(): Planned[] {
  const signed = (seed: string, tenantId?: string) => signedExport(spec(seed, tenantId), keys.active);
  const resign = (body: Record<string, unknown>) => json(signExport(body, keys.active.keyId, keys.active.privateKey));
  return [
    { label: 'invalid UTF-8', key: `${run}/bad-utf8`, value: Buffer.concat([Buffer.from(`{"runId": "${run}`), Buffer.from([0xc3, 0x28, 0xff, 0xfe]), Buffer.from('"}')]), expect: 'ERR_MALFORMED' },
    { label: 'empty value', key: `${run}/empty`, value: Buffer.alloc(0), expect: 'ERR_MALFORMED' },
    { label: 'not an object', key: `${run}/array`, value: Buffer.from(`["${run}"]`), expect: 'ERR_MALFORMED' },
    { label: 'no key', key: null, value: json(signed('no-key')), expect: 'OK' },
    { label: 'missing runId', key: `${run}/missing`, value: json({ ...exportBody(spec('missing')), runId: '' }), expect: 'ERR_MISSING_FIELD' },
    { label: 'unknown field', key: `${run}/unknown`, value: json({ ...signed('unknown'), note: run }), expect: 'ERR_INVALID_FIELD' },
    { label: 'runId not a UUID', key: `${run}/uuid`, value: resign({ ...exportBody(spec('uuid')), runId: `run-${run}` }), expect: 'ERR_INVALID_FIELD' },
    { label: 'bad timestamp', key: `${run}/ts`, value: resign({ ...exportBody(spec('ts')), startedAt: '2026-02-30T00:00:00Z' }), expect: 'ERR_INVALID_TIMESTAMP' },
    { label: 'bad status', key: `${run}/status`, value: resign({ ...exportBody(spec('status')), status: 'done' }), expect: 'ERR_INVALID_STATUS' },
    { label: 'wrong idempotencyKey', key: `${run}/idem`, value: resign({ ...exportBody(spec('idem')), idempotencyKey: sha256Digest(Buffer.from(run)) }), expect: 'ERR_IDEMPOTENCY_MISMATCH' },
    { label: 'unsupported signature type', key: `${run}/sigtype`, value: json({ ...signed('sigtype'), signatures: [{ ...(signed('sigtype').signatures as object[])[0], type: 'pgp' }] }), expect: 'ERR_SIGNATURE_UNSUPPORTED' },
    { label: 'unknown key', key: `${run}/unknown-key`, value: json(signExport(exportBody(spec('unknown-key')), 'nobody', keys.active.privateKey)), expect: 'ERR_DSSE_UNKNOWN_KEY' },
  ];
}

/** Sent with the header tenant-id=globex (kcat sets a header on every line of one invocation). */
const withTenantHeader = (): Planned[] => [
  { label: 'tenant-id header disagrees', key: `${run}/hdr-acme`, value: json(signedExport(spec('hdr-acme', 'acme'), keys.active)), expect: 'ERR_TENANT_MISMATCH' },
  { label: 'tenant-id header agrees', key: `${run}/hdr-globex`, value: json(signedExport(spec('hdr-globex', 'globex'), keys.active)), expect: 'OK' },
];

function ndjsonFile(records: readonly Planned[]): Buffer {
  for (const r of records) {
    if (r.value.includes(0x0a) || r.value.includes(0x09) || r.key?.includes('\t')) throw new Error(`${r.label}: cannot go through kcat's line mode`);
  }
  return Buffer.concat(records.flatMap((r) => [Buffer.from(r.key === null ? '' : `${r.key}\t`), r.value, Buffer.from('\n')]));
}

/** Identity of an input record independent of where it landed: key, value bytes, tenant-id header. */
const identity = (key: Buffer | string | null, value: Buffer | null, tenantHeader: string | undefined): string =>
  `${key === null ? '\u0000' : key.toString()}|${sha256Digest(value ?? Buffer.alloc(0))}|${tenantHeader ?? '\u0000'}`;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'validate-it-'));
  admin = kafka.admin();
  await admin.connect();
  await ensurePipelineTopics(admin);
});

afterAll(async () => {
  killIfRunning(worker);
  await checker?.disconnect();
  await admin?.disconnect();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const workerEnv = (metricsPort: number): Record<string, string> => ({
  KAFKA_BROKERS: kafkaBrokers().join(','),
  LEDGER_APP_ID: run,
  LEDGER_STATE_DIR: join(dir, 'state'),
  LEDGER_KEYRING: join(dir, 'keyring.json'),
  METRICS_PORT: String(metricsPort),
  SCHEMA_REGISTRY_URL: '',
  LEDGER_ALLOW_UNSIGNED: 'false',
});

describe('ledger run --processors validate on the broker', () => {
  it('routes every record produced by kcat to exactly one of validated/rejected, once, with the right code', async (context) => {
    context.onTestFailed(() => {
      process.stderr.write(`--- worker log (last 60 lines)\n${(worker?.logs ?? []).slice(-60).map((l) => JSON.stringify(l)).join('\n')}\n`);
    });
    const keyringPath = join(dir, 'keyring.json');
    await writeFile(keyringPath, JSON.stringify(keyringDocument(keys)));
    const metricsPort = await freePort();
    const t0 = Date.now();
    worker = startLedger(['run', '--processors', 'validate'], workerEnv(metricsPort));
    const http = async (path: string): Promise<{ status: number; body: string }> => {
      try {
        const response = await fetch(`http://127.0.0.1:${metricsPort}${path}`);
        return { status: response.status, body: await response.text() };
      } catch {
        return { status: 0, body: '' };
      }
    };
    await waitFor('/readyz to answer 200', async () => {
      if (worker?.child.exitCode !== null) throw new Error(`ledger run exited with ${worker?.child.exitCode}`);
      return (await http('/readyz')).status === 200;
    });
    const readyMs = Date.now() - t0;
    expect((await http('/healthz')).status).toBe(200);

    // Where this run's records start: everything before belongs to other runs.
    const start = await endOffsets([INPUT, ...OUTPUTS]);
    checker = kafka.consumer({ groupId: `${run}-checker`, readUncommitted: false, maxWaitTimeInMs: 200 });
    await checker.connect();
    await checker.subscribe({ topics: [INPUT, ...OUTPUTS], fromBeginning: false });
    const joined = new Promise<void>((resolve) => checker.on(checker.events.GROUP_JOIN, () => resolve()));
    await checker.run({
      eachMessage: async ({ topic, partition, message }) => {
        if (atOrAfter(start, topic, partition, Number(message.offset))) received.push({ topic, partition, message });
      },
    });
    await joined;
    for (const [topic, partitions] of start) {
      for (const [partition, offset] of partitions) checker.seek({ topic, partition, offset: String(offset) });
    }

    // 300 records of the demo stream (valid, replays, the invalid variants) plus hand-made ones.
    const stream: Planned[] = exportStream({ count: 300, keys, seed: run }).map((r, i) => ({ label: `stream #${i}`, key: r.key, value: r.value, expect: r.expect }));
    const plain = [...stream, ...handMade()];
    const headed = withTenantHeader();
    await writeFile(join(dir, 'plain.ndjson'), ndjsonFile(plain));
    await writeFile(join(dir, 'headed.ndjson'), ndjsonFile(headed));
    const tProduce = Date.now();
    kcatProduce(join(dir, 'plain.ndjson'));
    kcatProduce(join(dir, 'headed.ndjson'), ['tenant-id=globex']);
    const planned = [...plain, ...headed];

    // Where kcat's records landed: read them back and match them to the plan by content.
    const expectations = new Map<string, Planned[]>();
    for (const [list, header] of [[plain, undefined], [headed, 'globex']] as const) {
      for (const r of list) {
        const id = identity(r.key, r.value, header);
        expectations.set(id, [...(expectations.get(id) ?? []), r]);
      }
    }
    const inputs = new Map<string, Planned>(); // "partition:offset" → plan
    const collectInputs = (): number => {
      inputs.clear();
      const unmatched = new Map([...expectations].map(([id, list]) => [id, [...list]]));
      for (const { topic, partition, message } of received) {
        if (topic !== INPUT) continue;
        const header = message.headers?.['tenant-id'];
        const plan = unmatched.get(identity(message.key, message.value, header === undefined ? undefined : String(header)))?.shift();
        if (plan) inputs.set(`${partition}:${message.offset}`, plan);
      }
      return inputs.size;
    };
    await waitFor('kcat records to be read back from the input topic', () => collectInputs() === planned.length);

    interface Output {
      readonly topic: string;
      readonly partition: number;
      readonly offset: string;
      readonly key: string | null;
      readonly value: Record<string, unknown>;
    }
    const decoded = new Map<KafkaMessage, Output>();
    const outputs = async (): Promise<Output[]> => {
      const result: Output[] = [];
      for (const { topic, partition, message } of received) {
        if (topic === INPUT) continue;
        let output = decoded.get(message);
        if (!output) {
          const value = (await codec.decode(topic, message.value ?? Buffer.alloc(0))) as Record<string, unknown>;
          output = { topic, partition, offset: message.offset, key: message.key?.toString('utf8') ?? null, value };
          decoded.set(message, output);
        }
        const source = output.value.source as { topic: string; partition: number; offset: number };
        if (source.topic === INPUT && inputs.has(`${source.partition}:${source.offset}`)) result.push(output);
      }
      return result;
    };
    await waitFor('an output for every input record', async () => (await outputs()).length >= planned.length);
    const doneMs = Date.now() - tProduce;
    await sleep(1_500); // a duplicate would arrive now

    const mine = await outputs();
    const bySource = new Map<string, Output[]>();
    for (const o of mine) {
      const source = o.value.source as { partition: number; offset: number };
      const id = `${source.partition}:${source.offset}`;
      bySource.set(id, [...(bySource.get(id) ?? []), o]);
    }
    const repeated = [...bySource].filter(([, list]) => list.length > 1).map(([id, list]) => `${id}: ${list.map((o) => `${o.topic}@${o.partition}:${o.offset}`).join(', ')}`);
    expect(repeated).toEqual([]);
    expect(mine).toHaveLength(planned.length);

    for (const [sourceId, plan] of inputs) {
      const [output] = bySource.get(sourceId) ?? [];
      expect(output, `${plan.label} (${sourceId}) has no output`).toBeDefined();
      const [partition, offset] = sourceId.split(':').map(Number);
      const value = output.value;
      expect(value.source, plan.label).toEqual({ topic: INPUT, partition, offset });
      if (plan.expect === 'OK') {
        expect(output.topic, `${plan.label}: ${String(value.code)} ${String(value.message)}`).toBe(TOPICS.validated);
        expect(output.key, plan.label).toBe(`${String(value.tenantId)}/${String(value.runId)}`);
        const original = JSON.parse(plan.value.toString('utf8')) as { tenantId: string; runId: string };
        expect([value.tenantId, value.runId], plan.label).toEqual([original.tenantId, original.runId]);
        expect(Buffer.compare(value.originalBytes as Buffer, plan.value), plan.label).toBe(0);
      } else {
        expect(output.topic, plan.label).toBe(TOPICS.rejected);
        expect({ code: value.code, stage: value.stage }, plan.label).toEqual({ code: plan.expect, stage: 'validate' });
        expect(value.originalDigest, plan.label).toBe(sha256Digest(plan.value));
        expect(value.originalSize, plan.label).toBe(plan.value.length);
        expect(Buffer.compare(value.originalBytes as Buffer, plan.value), plan.label).toBe(0);
        const known = value.tenantId !== null && value.runId !== null;
        expect(output.key, plan.label).toBe(known ? `${String(value.tenantId)}/${String(value.runId)}` : null);
      }
    }

    const rejectedCount = planned.filter((p) => p.expect !== 'OK').length;
    const metrics = (await http('/metrics')).body;
    const counter = (outcome: string): number => {
      const match = new RegExp(`^ledger_records_total\\{processor="validate",outcome="${outcome}"\\} (\\d+)`, 'm').exec(metrics);
      return match ? Number(match[1]) : -1;
    };
    // The counters also count the older records of the shared input topic this new group read.
    expect(counter('rejected')).toBeGreaterThanOrEqual(rejectedCount);
    expect(counter('validated')).toBeGreaterThanOrEqual(planned.length - rejectedCount);
    expect(metrics).toMatch(/^ledger_rejected_total\{code="ERR_TENANT_MISMATCH"\} \d+/m);

    const exitCode = await stopGracefully(worker);
    expect(exitCode).toBe(0);
    expect(worker.logs.filter((l) => l.level === 'error')).toEqual([]);

    const codes = new Map<string, number>();
    for (const p of planned) codes.set(p.expect, (codes.get(p.expect) ?? 0) + 1);
    process.stderr.write(
      `validate-kafka: ${planned.length} records (${planned.length - rejectedCount} OK, ${rejectedCount} rejected: ${JSON.stringify(Object.fromEntries(codes))}); ` +
        `ready after ${readyMs} ms; all outputs ${doneMs} ms after kcat started; input backlog before this run ${[...(start.get(INPUT)?.values() ?? [])].reduce((a, b) => a + b, 0)} records; ` +
        `metrics validated=${counter('validated')} rejected=${counter('rejected')}\n`,
    );
  });

  it('stops cleanly on a SIGTERM that arrives during start-up', async () => {
    // Same application id as the test above, after it: the group's offsets are at the end of the
    // input, so this instance has nothing to decide. The signal goes out the moment the process
    // says it is starting, while it still registers, restores and joins its group.
    const early = startLedger(['run', '--processors', 'validate'], workerEnv(await freePort()));
    worker = early;
    let logsAtSignal = -1;
    early.child.stderr?.on('data', () => {
      if (logsAtSignal < 0 && early.logs.some((l) => l.message === 'starting')) {
        logsAtSignal = early.logs.length;
        early.child.kill('SIGTERM');
      }
    });
    const exitCode = await early.exited;
    const messages = early.logs.map((l) => l.message);
    expect(logsAtSignal, 'the signal went out after "starting"').toBeGreaterThan(0);
    expect(messages.slice(0, logsAtSignal), 'the signal went out before start-up finished').not.toContain('pipeline running');
    expect(exitCode, JSON.stringify(early.logs)).toBe(0);
    expect(messages).toContain('stopped');
    expect(early.logs.filter((l) => l.level === 'error')).toEqual([]);
  });
});
