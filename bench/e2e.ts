// `npm run bench -- e2e` (issue 7): exports/s through the real broker with all four processors
// and exactly-once on (`ledger run` children: one by default, BENCH_E2E_PROCESSES chooses),
// p50/p99 latency from produce to the run's first ledger.timeline entry at half that rate, and —
// same run, same data — the validate-only in-process rate (all cores), the ceiling the end-to-end
// figure is a ratio of, measured while no pipeline process runs (before and after; the faster
// counts). Also the CPU split between the broker and the pipeline processes over the throughput
// phase. Both phases run once unmeasured first (warm-up), and the run deletes its own changelog
// topics and groups at the end.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Kafka, logLevel, type Consumer } from 'kafkajs';
import { buildPipeline } from '../cli/pipeline.js';
import { loadConfig } from '../config.js';
import { generateEd25519KeyPair } from '../contracts/ed25519.js';
import { exportStream, generateDemoKeys, keyringDocument, type StreamRecord } from '../examples/exports.js';
import { jsonLineLogger } from '../runtime/kafka/client.js';
import { ensureTopics } from '../runtime/kafka/topics.js';
import { LocalDriver } from '../runtime/local-driver.js';
import { packageRoot } from '../runtime/paths.js';
import { MemoryBackend } from '../state/memory.js';
import { pipelineTopics, pipelineTopology, PROCESSOR_NAMES, TOPICS } from '../topology.js';
import type { BenchResult } from './report.js';
import { FETCH_LIMITS } from '../runtime/topology-types.js';

const root = packageRoot(import.meta.url);

/** The `ledger run` processes of the pipeline, each with the processors it runs. */
export type ProcessLayout = ReadonlyArray<readonly string[]>;
export const DEFAULT_LAYOUT: ProcessLayout = [[...PROCESSOR_NAMES]];

/** `validate|dedupe,merkle,projector`: one process per `|`-separated group, each processor once. */
export function parseLayout(text: string): ProcessLayout {
  const layout = text.split('|').map((group) => group.split(',').map((name) => name.trim()).filter(Boolean));
  const named = layout.flat();
  const wellFormed = layout.every((group) => group.length > 0) && named.length === PROCESSOR_NAMES.length && PROCESSOR_NAMES.every((name) => named.includes(name));
  if (!wellFormed) throw new Error(`BENCH_E2E_PROCESSES must name each of ${PROCESSOR_NAMES.join(',')} once, processes separated by | (got "${text}")`);
  return layout;
}

const silent = jsonLineLogger('bench', { write: () => true } as unknown as NodeJS.WritableStream);

/** CPU seconds (user + system) a process has used so far, from /proc. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ 100)
}

/** A child killed by a signal has a null exitCode and a signalCode instead. */
const isRunning = (child: ChildProcess): boolean => child.exitCode === null && child.signalCode === null;

function brokerPid(): number {
  const status = spawnSync(process.execPath, [join(root, 'scripts', 'stack.mjs'), 'status'], { encoding: 'utf8' });
  return (JSON.parse(status.stdout) as { kafka: { pid: number } }).kafka.pid;
}

/** The validate stage alone, in-process over all cores, on exactly these records. */
async function validateInProcess(stream: readonly StreamRecord[], keyringPath: string): Promise<number> {
  const config = loadConfig({}, { LEDGER_KEYRING: keyringPath, SCHEMA_REGISTRY_URL: '' });
  const pipeline = buildPipeline(config, silent, { watchKeyring: false });
  const topology = pipelineTopology({ appId: 'bench-e2e', partitions: config.partitions, keyring: pipeline.keyring, signaturesRequired: true, validatePool: pipeline.pool, dedupeRetentionMs: 0, merkle: null, processors: ['validate'] });
  const driver = await LocalDriver.create({ topology, backend: new MemoryBackend(), serde: pipeline.serde });
  try {
    const inputs = stream.map((r) => ({ key: r.key, value: r.value }));
    await driver.pipeAll(TOPICS.exportsCreated, inputs.slice(0, 1_000)); // warm-up (workers, JIT)
    const started = performance.now();
    for (let i = 1_000; i < inputs.length; i += 500) await driver.pipeAll(TOPICS.exportsCreated, inputs.slice(i, i + 500));
    return (inputs.length - 1_000) / ((performance.now() - started) / 1000);
  } finally {
    await driver.close();
    await pipeline.close();
  }
}

export async function benchEndToEnd(options: { brokers: readonly string[]; exports?: number; warmupExports?: number; latencySeconds?: number; layout?: ProcessLayout }): Promise<BenchResult[]> {
  const count = options.exports ?? 20_000;
  const layout = options.layout ?? DEFAULT_LAYOUT;
  const latencySeconds = options.latencySeconds ?? 20;
  const warmupCount = options.warmupExports ?? count;
  const run = `bench-e2e-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
  const dir = await mkdtemp(join(tmpdir(), 'bench-e2e-'));
  const keys = generateDemoKeys();
  const signer = generateEd25519KeyPair();
  const keyringPath = join(dir, 'keyring.json');
  await writeFile(keyringPath, JSON.stringify(keyringDocument(keys)));
  await writeFile(join(dir, 'signer.pem'), signer.privateKeyPem);
  const kafka = new Kafka({ clientId: run, brokers: [...options.brokers], logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  let children: ChildProcess[] = [];
  let follower: Consumer | null = null;
  const stopPipeline = async (): Promise<void> => {
    await follower?.disconnect().catch(() => undefined);
    follower = null;
    await Promise.all(
      children.filter(isRunning).map((child) => {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        return exited;
      }),
    );
    children = [];
  };
  try {
    const tenants = [`${run}-a`, `${run}-b`, `${run}-c`];
    const stream = exportStream({ count, keys, tenants, seed: run, approxBytes: 1024 });
    // The ceiling, measured while no pipeline process runs: before it starts and after it stops
    // (the faster counts), so neither their idle polling nor the broker's work on their output
    // (log cleaning of the compacted topics) is taken from it.
    const validateBefore = await validateInProcess(stream, keyringPath);

    // On a fresh broker the topics do not exist yet, and the follower and the producer below
    // would race the pipeline's own creation of them.
    await ensureTopics(admin, pipelineTopics(loadConfig(process.env, { SCHEMA_REGISTRY_URL: '' }).partitions)); // the children's partitions

    // The pipeline's groups start at the end of their inputs: only this run's records count.
    for (const [processor, topics] of [['validate', [TOPICS.exportsCreated]], ['dedupe', [TOPICS.validated]], ['merkle', [TOPICS.events]], ['projector', [TOPICS.events, TOPICS.merkleRoots, TOPICS.airgapBundles]]] as const) {
      for (const topic of topics) {
        const ends = await admin.fetchTopicOffsets(topic).catch(() => []);
        if (ends.length > 0) await admin.setOffsets({ groupId: `${run}-${processor}`, topic, partitions: ends.map((p) => ({ partition: p.partition, offset: p.high })) });
      }
    }
    const env = { ...process.env, KAFKA_BROKERS: options.brokers.join(','), SCHEMA_REGISTRY_URL: '', LEDGER_APP_ID: run, LEDGER_KEYRING: keyringPath, LEDGER_SIGNING_KEY: join(dir, 'signer.pem'), LEDGER_SIGNING_KEY_ID: `${run}-signer`, METRICS_PORT: '0' };
    children = layout.map((processors, i) =>
      spawn(process.execPath, [join(root, 'dist', 'cli', 'ledger.js'), 'run', '--processors', processors.join(',')], { cwd: root, env: { ...env, LEDGER_STATE_DIR: join(dir, `state-${i}`) }, stdio: ['ignore', 'ignore', 'ignore'] }),
    );
    const pipelineCpuSeconds = (): number => children.reduce((sum, child) => sum + cpuSeconds(child.pid as number), 0);

    // Follow ledger.timeline: the first entry of each run of this benchmark, and when it arrived.
    const firstEntryAt = new Map<string, number>();
    follower = kafka.consumer({ groupId: `${run}-follower`, maxWaitTimeInMs: 50, ...FETCH_LIMITS });
    await follower.connect();
    await follower.subscribe({ topic: TOPICS.timeline, fromBeginning: false });
    const joined = new Promise<void>((resolve) => follower?.on(follower.events.GROUP_JOIN, () => resolve()));
    await follower.run({
      eachMessage: async ({ message }) => {
        const key = message.key?.toString('utf8');
        if (key?.includes(run) && !firstEntryAt.has(key)) firstEntryAt.set(key, performance.now());
      },
    });
    await joined;
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    const waitForRuns = async (keysWanted: ReadonlySet<string>, timeoutMs: number): Promise<void> => {
      const deadline = Date.now() + timeoutMs;
      while ([...keysWanted].some((k) => !firstEntryAt.has(k))) {
        if (Date.now() > deadline) throw new Error(`e2e: ${[...keysWanted].filter((k) => !firstEntryAt.has(k)).length} runs never reached ${TOPICS.timeline}`);
        const exited = children.find((child) => !isRunning(child));
        if (exited) throw new Error(`e2e: ledger run exited (${exited.signalCode ?? exited.exitCode})`);
        await new Promise((r) => setTimeout(r, 100));
      }
    };

    const sendAll = async (records: readonly StreamRecord[]): Promise<void> => {
      for (let i = 0; i < records.length; i += 1_000) {
        await producer.send({ topic: TOPICS.exportsCreated, acks: -1, messages: records.slice(i, i + 1_000).map((r) => ({ key: r.key, value: r.value })) });
      }
    };
    // Throughput: exports (one signature, ~1 KiB; 5% replays, 5% invalid) as fast as the producer goes.
    const throughputPhase = async (records: readonly StreamRecord[]) => {
      const accepted = new Set(records.filter((r) => r.expect === 'OK').map((r) => r.key));
      const cpuBefore = { broker: cpuSeconds(brokerPid()), pipeline: pipelineCpuSeconds() };
      const started = performance.now();
      await sendAll(records);
      await waitForRuns(accepted, 600_000);
      const seconds = [...accepted].reduce((latest, k) => Math.max(latest, firstEntryAt.get(k) ?? 0), 0) / 1000 - started / 1000;
      const cpu = { broker: cpuSeconds(brokerPid()) - cpuBefore.broker, pipeline: pipelineCpuSeconds() - cpuBefore.pipeline };
      return { throughput: records.length / seconds, seconds, cpu };
    };
    // Latency: produce in 100 ms ticks at `rate`, first timeline entry per run; sorted, in ms.
    const latencyPhase = async (rate: number, seconds: number, seed: string): Promise<number[]> => {
      const paced = exportStream({ count: Math.ceil(rate * seconds), keys, tenants, seed, approxBytes: 1024 });
      const producedAt = new Map<string, number>();
      const pacedStart = performance.now();
      for (let i = 0; i < paced.length; ) {
        const due = Math.min(paced.length, Math.ceil(((performance.now() - pacedStart) / 1000) * rate));
        if (due > i) {
          const slice = paced.slice(i, due);
          const sentAt = performance.now();
          await producer.send({ topic: TOPICS.exportsCreated, acks: -1, messages: slice.map((r) => ({ key: r.key, value: r.value })) });
          for (const r of slice) if (r.expect === 'OK' && !producedAt.has(r.key)) producedAt.set(r.key, sentAt);
          i = due;
        }
        await new Promise((r) => setTimeout(r, 100));
      }
      await waitForRuns(new Set(producedAt.keys()), 300_000);
      return [...producedAt].map(([key, at]) => (firstEntryAt.get(key) ?? at) - at).sort((a, b) => a - b);
    };

    // Warm-up: both phases once, unmeasured, the throughput phase as large as the measured one.
    // Otherwise the figures are a cold broker's (JIT, heap). First runs on a freshly started
    // broker here: with 300 warm-up exports its CPU for the throughput phase was 3.5–5.1 s against
    // 1.0–1.8 in later runs, and the latency phase (many small transactions, paths the throughput
    // phase hardly takes) had p50 271–444 ms against 84–200; 10,000 or 30,000 warm-up exports at
    // full speed left p50 at 444–517 ms; this warm-up, 235 ms and 2.3 s.
    const warmup = await throughputPhase(exportStream({ count: warmupCount, keys, tenants, seed: `${run}-warm`, approxBytes: 1024 }));
    await latencyPhase(warmup.throughput / 2, latencySeconds / 2, `${run}-warm-paced`);

    const { throughput, seconds, cpu } = await throughputPhase(stream);
    const rate = throughput / 2;
    const latencies = await latencyPhase(rate, latencySeconds, `${run}-paced`);
    const quantile = (q: number) => latencies[Math.min(latencies.length - 1, Math.ceil(q * latencies.length) - 1)];
    await producer.disconnect();

    await stopPipeline();
    const validateAfter = await validateInProcess(stream, keyringPath);
    const validateRate = Math.max(validateBefore, validateAfter);
    const params = { exports: count, warmupExports: warmupCount, exportBytes: 1024, signatures: 1, processes: layout.map((processors) => processors.join(',')).join(' | '), exactlyOnce: true };
    return [
      { name: 'e2e.throughput', unit: 'exports/s', value: throughput, params: { ...params, seconds: Math.round(seconds * 10) / 10, validateInProcessBefore: Math.round(validateBefore), validateInProcessAfter: Math.round(validateAfter) }, ceiling: { name: 'validate.in-process.all-cores (same data)', value: validateRate, ratio: throughput / validateRate } },
      { name: 'e2e.latency.p50', unit: 'ms', value: quantile(0.5), params: { rate: Math.round(rate), runs: latencies.length, until: 'first ledger.timeline entry of the run' } },
      { name: 'e2e.latency.p99', unit: 'ms', value: quantile(0.99), params: { rate: Math.round(rate), runs: latencies.length, targetMs: 1000 } },
      { name: 'e2e.cpu', unit: 'cpu-seconds', value: cpu.broker + cpu.pipeline, params: { broker: Math.round(cpu.broker * 10) / 10, pipeline: Math.round(cpu.pipeline * 10) / 10, brokerShare: Math.round((cpu.broker / (cpu.broker + cpu.pipeline)) * 100) / 100, wallSeconds: Math.round(seconds * 10) / 10 } },
    ];
  } finally {
    await stopPipeline();
    // The run's own groups and changelog topics: each run would otherwise leave five groups and
    // five changelog topics (15 partitions with the default three) behind on the user's broker.
    for (const suffix of ['validate', 'dedupe', 'merkle', 'projector', 'follower']) await admin.deleteGroups([`${run}-${suffix}`]).catch(() => undefined);
    const ownTopics = (await admin.listTopics().catch(() => [])).filter((topic) => topic.startsWith(`${run}-`));
    if (ownTopics.length > 0) await admin.deleteTopics({ topics: ownTopics }).catch(() => undefined);
    await admin.disconnect();
    await rm(dir, { recursive: true, force: true });
  }
}
