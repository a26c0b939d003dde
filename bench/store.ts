// State store throughput: one get and one put per record, batched as the runtime batches them
// (one getMany for a batch's keys, then one atomic write with the changelog offset). RocksDB is
// the figure; the in-memory backend running the same loop is its ceiling (the cost of the
// StorePartition contract itself, with no database behind it).
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RunState } from '../contracts/transitions.js';
import { seededUuid } from '../examples/exports.js';
import { runKey } from '../processors/validate-core.js';
import { MemoryBackend } from '../state/memory.js';
import { RocksDbBackend } from '../state/rocksdb.js';
import type { ChangelogEntry, StoreBackend, StorePartition } from '../state/store.js';
import { StoreTransaction } from '../state/transaction.js';
import { withCeiling, type BenchResult } from './report.js';

/** A run's statuses in the order the benchmarks send them, and the tenants runs are spread over. */
export const BENCH_STATUSES = ['pending', 'running', 'succeeded'] as const;
export const BENCH_TENANTS = ['acme', 'globex', 'initech'] as const;
const digest = (seed: string, c: string): string => `sha256:${seed.padEnd(64, c).slice(0, 64)}`;

/** The dedupe store key of bench run `run` (tenant/UUID, as processors/dedupe.ts keys it). */
export const benchRunKey = (run: number): string => runKey(BENCH_TENANTS[run % BENCH_TENANTS.length], seededUuid(`bench-run:${run}`));

/**
 * A realistic dedupe-store value: the RunState of run `run` after `phase` + 1 accepted
 * statuses (pending, running, succeeded); about 210 to 415 bytes as JSON.
 */
export function benchRunState(run: number, phase: number): RunState {
  const hex = run.toString(16);
  const contentHashes: Partial<Record<(typeof BENCH_STATUSES)[number], string>> = {};
  for (let p = 0; p <= phase; p++) contentHashes[BENCH_STATUSES[p]] = digest(hex, 'abc'[p]);
  return {
    idempotencyKey: digest(hex, 'e'),
    status: BENCH_STATUSES[phase],
    contentHashes,
    ...(phase === 2 ? { terminalAtMs: 1_795_000_000_000 + run } : {}),
  };
}

/**
 * Record `i` of the store workload, in batches of `batch` records: batch 3b holds `batch` new
 * runs (every read misses), batches 3b+1 and 3b+2 move the same runs forward (every read hits),
 * the order a stream of exports gives when each run's statuses arrive a few batches apart.
 */
const workloadRecord = (i: number, batch: number): { run: number; phase: number } => {
  const block = Math.floor(i / (3 * batch));
  const phase = Math.floor(i / batch) % 3;
  return { run: block * batch + (i % batch), phase };
};

export async function withTempDir<T>(prefix: string, fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Bytes under `dir` (apparent sizes, like `du -sb`). */
export async function directoryBytes(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    total += entry.isDirectory() ? await directoryBytes(path) : await fileBytes(path);
  }
  return total;
}

// An open RocksDB store deletes obsolete WAL and table files in the background: one listed a
// moment ago may be gone by the time it is measured, and then it holds no bytes.
async function fileBytes(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw error;
  }
}

interface Workload {
  readonly batch: number;
  readonly seconds: number;
  /** Pre-built keys and values, so the loop measures the store and not the generator. */
  readonly keys: readonly string[];
  readonly values: readonly Buffer[];
  readonly states: readonly RunState[];
}

function buildWorkload(batch: number, seconds: number, records: number): Workload {
  const keys: string[] = [];
  const values: Buffer[] = [];
  const states: RunState[] = [];
  for (let i = 0; i < records; i++) {
    const { run, phase } = workloadRecord(i, batch);
    keys.push(benchRunKey(run));
    states.push(benchRunState(run, phase));
    values.push(Buffer.from(JSON.stringify(states[i])));
  }
  return { batch, seconds, keys, values, states };
}

interface LoopResult {
  readonly rate: number;
  readonly records: number;
  /** Share of reads that found a value (the workload is built for 2/3). */
  readonly hitRatio: number;
}

/** Runs `step(firstRecord)` batch after batch until `seconds` have passed; `step` returns its read hits. */
async function recordsPerSecond(workload: Workload, step: (first: number) => Promise<number>): Promise<LoopResult> {
  const batches = Math.floor(workload.keys.length / workload.batch);
  await step(0); // warm-up (opens files, JIT)
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(Math.round(workload.seconds * 1e9));
  let done = 0;
  let hits = 0;
  for (let b = 1; process.hrtime.bigint() < deadline && b < batches; b++) {
    hits += await step(b * workload.batch);
    done += workload.batch;
  }
  return { rate: done / (Number(process.hrtime.bigint() - start) / 1e9), records: done, hitRatio: hits / done };
}

/** Partition level: getMany of the batch's keys, then one write of the new values. */
async function rawGetPut(partition: StorePartition, workload: Workload): Promise<LoopResult> {
  let offset = 0;
  return recordsPerSecond(workload, async (first) => {
    const keys = workload.keys.slice(first, first + workload.batch);
    const found = await partition.getMany(keys);
    const entries: ChangelogEntry[] = keys.map((key, i) => ({ key, value: workload.values[first + i] }));
    await partition.write(entries, offset++);
    return found.filter((v) => v !== undefined).length;
  });
}

/** What a processor batch does: prefetch, per record get (JSON decode) and put (JSON encode), then write. */
async function transactionGetPut(partition: StorePartition, workload: Workload): Promise<LoopResult> {
  let offset = 0;
  return recordsPerSecond(workload, async (first) => {
    const tx = new StoreTransaction<RunState>(partition);
    const keys = workload.keys.slice(first, first + workload.batch);
    await tx.prefetch(keys);
    let hits = 0;
    for (let i = 0; i < keys.length; i++) {
      if ((await tx.get(keys[i])) !== undefined) hits++;
      tx.put(keys[i], workload.states[first + i]);
    }
    await partition.write(tx.changes(), offset++);
    return hits;
  });
}

async function measure(
  backend: StoreBackend,
  store: string,
  workload: Workload,
  loop: (p: StorePartition, w: Workload) => Promise<LoopResult>,
): Promise<LoopResult> {
  const partition = await backend.open(store, 0);
  try {
    return await loop(partition, workload);
  } finally {
    await partition.close();
  }
}

export async function benchStore(options: { seconds?: number; batch?: number } = {}): Promise<BenchResult[]> {
  const seconds = options.seconds ?? 3;
  const batch = options.batch ?? 1_000;
  // Enough records for the RocksDB loop at several times its expected rate; loops stop at the deadline.
  const workload = buildWorkload(batch, seconds, 600_000);
  const valueBytes = Math.round(workload.values.reduce((n, v) => n + v.length, 0) / workload.values.length);
  const params = { batch, opsPerRecord: 'get+put', mix: '1/3 new keys, 2/3 updates', valueBytes, keyBytes: workload.keys[0].length };

  const memoryRaw = await measure(new MemoryBackend(), 'bench', workload, rawGetPut);
  const memoryTx = await measure(new MemoryBackend(), 'bench', workload, transactionGetPut);
  const { rocksRaw, rocksTx, diskBytes } = await withTempDir('bench-store-', async (dir) => {
    const backend = new RocksDbBackend(dir);
    const raw = await measure(backend, 'raw', workload, rawGetPut);
    const tx = await measure(backend, 'tx', workload, transactionGetPut);
    return { rocksRaw: raw, rocksTx: tx, diskBytes: await directoryBytes(join(dir, 'raw')) };
  });

  const result = (name: string, loop: LoopResult, extra: Record<string, unknown>): BenchResult => ({
    name,
    unit: 'records/s',
    value: loop.rate,
    params: { ...params, ...extra, records: loop.records, hitRatio: Math.round(loop.hitRatio * 1000) / 1000 },
  });
  const raw = { level: 'StorePartition (bytes)' };
  const tx = { level: 'StoreTransaction (JSON values)' };
  const memory = result('store.memory.get_put', memoryRaw, { ...raw, backend: 'memory' });
  const memoryTxResult = result('store.memory.transaction_get_put', memoryTx, { ...tx, backend: 'memory' });
  return [
    memory,
    withCeiling(result('store.rocksdb.get_put', rocksRaw, { ...raw, backend: 'rocksdb', diskBytes }), memory),
    memoryTxResult,
    withCeiling(result('store.rocksdb.transaction_get_put', rocksTx, { ...tx, backend: 'rocksdb' }), memoryTxResult),
  ];
}

/**
 * records/s of the RocksDB transaction loop above alone, for benchmarks that need the store's
 * share of a record's cost measured in their own run (bench/dedupe.ts's upper bound).
 */
export async function rocksDbTransactionGetPutRate(options: { seconds: number; batch: number }): Promise<number> {
  // Whole blocks of three batches (new runs, then two moves forward: the 2/3 hit mix), enough for
  // ~200,000 records/s over `seconds`; the loop stops at its deadline.
  const block = 3 * options.batch;
  const records = Math.min(600_000, Math.ceil((options.seconds * 200_000) / block) * block);
  const workload = buildWorkload(options.batch, options.seconds, records);
  return withTempDir('bench-store-', async (dir) => (await measure(new RocksDbBackend(dir), 'tx', workload, transactionGetPut)).rate);
}
