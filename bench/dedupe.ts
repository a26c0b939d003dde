// The dedupe stage alone, in-process: pre-encoded ledger.exports.validated values piped through
// the in-process driver into a topology holding only the dedupe processor of topology.ts, with
// the RocksDB backend. Each piped chunk is one batch (one prefetch, one store write), as one
// Kafka fetch would be. The ceiling is the Avro work every record needs whatever dedupe does:
// decode one ValidatedExport and encode one LedgerEvent, measured in the same run.
import { loadavg } from 'node:os';
import { contentHash, sha256Digest } from '../contracts/digests.js';
import { exportBody, type ExportSpec } from '../examples/exports.js';
import { ledgerEventOf } from '../processors/dedupe.js';
import { runKey } from '../processors/validate-core.js';
import { createValueCodec, SchemaCatalog } from '../runtime/codec.js';
import { KeyringSource } from '../runtime/keyring-source.js';
import { Keyring } from '../contracts/keyring.js';
import { LocalDriver, type PipeInput } from '../runtime/local-driver.js';
import { TopicSerde, type AvroValueCodec } from '../runtime/serde.js';
import type { Topology } from '../runtime/topology-types.js';
import { MemoryBackend } from '../state/memory.js';
import { RocksDbBackend } from '../state/rocksdb.js';
import type { StoreBackend } from '../state/store.js';
import { JSON_INPUT_TOPICS, pipelineTopology, TOPIC_RECORDS, TOPICS } from '../topology.js';
import { opsPerSecond, withCeiling, type BenchResult } from './report.js';
import { BENCH_STATUSES, BENCH_TENANTS, rocksDbTransactionGetPutRate, withTempDir } from './store.js';

/** One exact replay (a duplicate) after every this many records. */
const REPLAY_EVERY = 20;

/** topology.ts's pipeline reduced to its dedupe processor (one partition: one task, one store). */
export function dedupeOnlyTopology(): Topology {
  const full = pipelineTopology({
    appId: 'bench',
    partitions: 1,
    keyring: KeyringSource.fixed(new Keyring([])),
    signaturesRequired: false,
    validatePool: null,
    dedupeRetentionMs: 0,
    merkle: null,
  });
  return { ...full, processors: full.processors.filter((p) => p.name === 'dedupe') };
}

/** The fields of a ValidatedExport (schemas/ValidatedExport.avsc) this benchmark builds. */
interface ValidatedValue {
  readonly tenantId: string;
  readonly runId: string;
  readonly status: string;
  readonly idempotencyKey: string;
  readonly contentHash: string;
  readonly dsseDigest: string;
  readonly export: Record<string, unknown>;
  readonly signatures: ReadonlyArray<{ type: string; keyId: string; signature: string }>;
  readonly source: { readonly topic: string; readonly partition: number; readonly offset: number };
  readonly originalBytes: Buffer;
}

/** The ValidatedExport the validate stage would emit for this export (signature not re-verified here). */
function validatedExport(spec: ExportSpec, offset: number): ValidatedValue {
  const body = exportBody(spec);
  const signatures = [{ type: 'dsse', keyId: 'bench-signer', signature: Buffer.alloc(64, offset % 251).toString('base64') }];
  const original = Buffer.from(JSON.stringify({ ...body, signatures }));
  return {
    tenantId: spec.tenantId,
    runId: String(body.runId),
    status: spec.status,
    idempotencyKey: String(body.idempotencyKey),
    contentHash: contentHash(body),
    dsseDigest: sha256Digest(original),
    export: body,
    signatures,
    source: { topic: TOPICS.exportsCreated, partition: 0, offset },
    originalBytes: original,
  };
}

export interface DedupeWorkload {
  readonly chunks: PipeInput[][];
  readonly values: ValidatedValue[];
  readonly accepted: number;
  readonly duplicates: number;
}

/**
 * Runs in blocks of `batch`: a block's runs arrive as new (pending), then move forward
 * (running, then succeeded) one batch later each, so two reads in three hit the store. After
 * every REPLAY_EVERY-1 records comes an exact replay of a record from the previous batch: a
 * duplicate.
 */
export async function buildDedupeWorkload(codec: AvroValueCodec, blocks: number, batch: number, approxBytes: number): Promise<DedupeWorkload> {
  const chunks: PipeInput[][] = [];
  const values: ValidatedValue[] = [];
  let previous: PipeInput[] = [];
  let accepted = 0;
  let duplicates = 0;
  for (let b = 0; b < blocks; b++) {
    for (const status of BENCH_STATUSES) {
      const chunk: PipeInput[] = [];
      for (let r = 0; r < batch; r++) {
        const run = b * batch + r;
        const tenantId = BENCH_TENANTS[run % BENCH_TENANTS.length];
        const value = validatedExport({ tenantId, runSeed: `bench-dedupe:${run}`, status, approxBytes }, values.length);
        values.push(value);
        chunk.push({ key: runKey(tenantId, value.runId), value: await codec.encode(TOPICS.validated, value), timestamp: 1_795_000_000_000 + values.length });
        accepted++;
        if (chunk.length % REPLAY_EVERY === REPLAY_EVERY - 1) {
          chunk.push((previous.length > 0 ? previous : chunk)[chunk.length % Math.max(previous.length, 1)]);
          duplicates++;
        }
      }
      chunks.push(chunk);
      previous = chunk;
    }
  }
  return { chunks, values, accepted, duplicates };
}

export interface DedupeRun {
  readonly recordsPerSecond: number;
  /**
   * Process CPU time (all threads: GC helpers, RocksDB's pool) per timed record. On a shared
   * machine the wall-clock rate moves with the load; this moves much less, so it tells a code
   * change from a busy neighbour.
   */
  readonly cpuMicrosPerRecord: number;
}

/** Pipes the workload batch by batch (the first untimed), after which it checks every outcome. */
export async function runDedupe(topology: Topology, serde: TopicSerde, backend: StoreBackend, workload: DedupeWorkload): Promise<DedupeRun> {
  const driver = await LocalDriver.create({ topology, backend, serde });
  try {
    await driver.pipeAll(TOPICS.validated, workload.chunks[0]); // warm-up, not timed
    const start = process.hrtime.bigint();
    const cpuStart = process.cpuUsage();
    let records = 0;
    for (const chunk of workload.chunks.slice(1)) {
      await driver.pipeAll(TOPICS.validated, chunk);
      records += chunk.length;
    }
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    const cpu = process.cpuUsage(cpuStart);
    const events = driver.records(TOPICS.events).length;
    const duplicates = driver.records(TOPICS.duplicates).length;
    const rejected = driver.records(TOPICS.rejected).length;
    if (events !== workload.accepted || duplicates !== workload.duplicates || rejected !== 0) {
      throw new Error(`bench dedupe: expected ${workload.accepted} events and ${workload.duplicates} duplicates, got ${events}, ${duplicates} and ${rejected} rejections`);
    }
    return { recordsPerSecond: records / seconds, cpuMicrosPerRecord: (cpu.user + cpu.system) / records };
  } finally {
    await driver.close();
  }
}

type EventInput = Parameters<typeof ledgerEventOf>[0];

/** Up to 3,000 of the workload's inputs (replays included) with their decoded values. */
interface DecodedSample {
  readonly inputs: readonly Buffer[];
  readonly decoded: readonly EventInput[];
}

async function decodedSample(codec: AvroValueCodec, workload: DedupeWorkload): Promise<DecodedSample> {
  const inputs = workload.chunks.flat().slice(0, 3_000).map((input) => input.value as Buffer);
  const decoded: EventInput[] = [];
  for (const input of inputs) decoded.push((await codec.decode(TOPICS.validated, input)) as EventInput);
  return { inputs, decoded };
}

/** The ceiling: Avro decode of a ValidatedExport plus encode of the LedgerEvent it leads to. */
async function codecCeiling(codec: AvroValueCodec, sample: DecodedSample, seconds: number): Promise<DedupeRun> {
  const { inputs } = sample;
  const events = sample.decoded.map(ledgerEventOf);
  let n = 0;
  const start = process.hrtime.bigint();
  const cpuStart = process.cpuUsage();
  const deadline = start + BigInt(Math.round(seconds * 1e9));
  while (process.hrtime.bigint() < deadline) {
    for (let i = 0; i < inputs.length; i++) {
      await codec.decode(TOPICS.validated, inputs[i]);
      await codec.encode(TOPICS.events, events[i]);
    }
    n += inputs.length;
  }
  const cpu = process.cpuUsage(cpuStart);
  return { recordsPerSecond: n / (Number(process.hrtime.bigint() - start) / 1e9), cpuMicrosPerRecord: (cpu.user + cpu.system) / n };
}

/**
 * The most any dedupe could reach here with these parts: the three costs every accepted record
 * carries whatever the driver around them does, each measured alone in this run and added up —
 * the Avro work (the codec ceiling), the event's two hashes (DESIGN.md 3.5: JCS + SHA-256 for
 * eventId and eventHash) and one get + put on the RocksDB store (StoreTransaction, batched).
 */
async function upperBound(sample: DecodedSample, codecRun: DedupeRun, batch: number, seconds: number): Promise<BenchResult> {
  let next = 0;
  const eventsPerSecond = opsPerSecond(() => void ledgerEventOf(sample.decoded[next++ % sample.decoded.length]), seconds);
  const storePerSecond = await rocksDbTransactionGetPutRate({ seconds, batch });
  return {
    name: 'dedupe.in_process.upper-bound',
    unit: 'records/s',
    value: 1 / (1 / codecRun.recordsPerSecond + 1 / eventsPerSecond + 1 / storePerSecond),
    params: {
      derivedFrom: 'codec.validated_decode_event_encode + ledgerEventOf + store.rocksdb.transaction_get_put',
      codecPerSecond: Math.round(codecRun.recordsPerSecond),
      eventHashesPerSecond: Math.round(eventsPerSecond),
      storeGetPutPerSecond: Math.round(storePerSecond),
      target: 50_000,
    },
  };
}

const cpu = (run: DedupeRun): { cpuMicrosPerRecord: number } => ({ cpuMicrosPerRecord: Math.round(run.cpuMicrosPerRecord * 10) / 10 });

export async function benchDedupe(options: { blocks?: number; batch?: number; approxBytes?: number; seconds?: number } = {}): Promise<BenchResult[]> {
  const blocks = options.blocks ?? 30;
  const batch = options.batch ?? 1_000;
  const approxBytes = options.approxBytes ?? 1024;
  const topology = dedupeOnlyTopology();
  const codec = createValueCodec({ catalog: SchemaCatalog.load(), topics: TOPIC_RECORDS, jsonTopics: JSON_INPUT_TOPICS });
  const serde = new TopicSerde(topology, codec);
  const workload = await buildDedupeWorkload(codec, blocks, batch, approxBytes);

  const seconds = options.seconds ?? 3;
  const sample = await decodedSample(codec, workload);
  const codecRun = await codecCeiling(codec, sample, seconds);
  const ceiling: BenchResult = {
    name: 'codec.validated_decode_event_encode',
    unit: 'records/s',
    value: codecRun.recordsPerSecond,
    params: { encoding: 'single-object', validatedBytes: (workload.chunks[0][0].value as Buffer).length, ...cpu(codecRun) },
  };
  const bound = await upperBound(sample, codecRun, workload.chunks[0].length, seconds);
  // One whole untimed pass first: the timed runs then measure code V8 has finished optimising
  // (warming on one batch only left the first timed run 15-20 % below a second pass).
  await runDedupe(topology, serde, new MemoryBackend(), workload);
  const rocksdb = await withTempDir('bench-dedupe-', (dir) => runDedupe(topology, serde, new RocksDbBackend(dir), workload));
  const memory = await runDedupe(topology, serde, new MemoryBackend(), workload);
  const records = workload.accepted + workload.duplicates;
  const params = {
    records,
    timedRecords: records - workload.chunks[0].length,
    batch: workload.chunks[0].length,
    mix: { newRuns: workload.accepted / 3, forwardTransitions: (workload.accepted * 2) / 3, duplicates: workload.duplicates },
    validatedBytes: ceiling.params?.validatedBytes,
    driver: 'in-process',
    target: 50_000,
    loadAverage1m: Math.round(loadavg()[0] * 100) / 100,
  };
  return [
    ceiling,
    bound,
    withCeiling({ name: 'dedupe.in_process', unit: 'records/s', value: rocksdb.recordsPerSecond, params: { ...params, backend: 'rocksdb', ...cpu(rocksdb) } }, ceiling),
    withCeiling({ name: 'dedupe.in_process.memory_backend', unit: 'records/s', value: memory.recordsPerSecond, params: { ...params, backend: 'memory', ...cpu(memory) } }, ceiling),
  ];
}
