// The validate stage's throughput next to its ceiling, measured in the same run: raw Ed25519
// verify/s (node:crypto, one core, PAEs of the same size, each message signed once), the upper
// bound of one thread (a verification plus the primitives the contract cannot do without), the
// export contract alone on one thread, validate records/s on one thread, and validate records/s
// over all cores through the processor's worker pool.
//
// Both processor figures drive ValidateProcessor.processBatch — the call the Kafka driver makes —
// on records laid out as kafkajs hands them over (views into one fetch buffer), the single-thread
// one inline (pool: null), the all-cores one with the worker pool and one batch in flight per
// input partition (the driver consumes partitions concurrently). All measurements take turns in
// short slices, so a shared machine's changing load weighs on all of them alike.
import { availableParallelism } from 'node:os';
import { decodeBase64 } from '../contracts/base64.js';
import { canonicalJsonBytes, findDuplicateMemberName } from '../contracts/canonical-json.js';
import { dsseDigest, expectedIdempotencyKey, sha256Digest } from '../contracts/digests.js';
import { EXPORT_PAYLOAD_TYPE, pae } from '../contracts/dsse.js';
import { nodeEd25519Verifier } from '../contracts/ed25519.js';
import type { ExportRecord } from '../contracts/export.js';
import { parseKeyring } from '../contracts/keyring.js';
import { validateItem } from '../processors/validate-core.js';
import { generateDemoKeys, keyringDocument, signedExport } from '../examples/exports.js';
import { createValidatePool, ValidateProcessor } from '../processors/validate.js';
import { KeyringSource } from '../runtime/keyring-source.js';
import type { InputRecord, ProcessorContext } from '../runtime/types.js';
import { DISTINCT_MESSAGES, signedMessages, verifyInTurn } from './ed25519.js';
import { withCeiling, type BenchResult } from './report.js';

const RECORD_BYTES = 1024;
const RECORDS = 1_000;
const BATCH = 500;
/** LEDGER_PARTITIONS' default; the Kafka driver consumes up to 4 partitions concurrently. */
const PARTITIONS_IN_FLIGHT = 3;
const TOPIC = 'bench.exports';

interface Tally {
  ops: number;
  ns: bigint;
  /** CPU time of the whole process (every thread), user + system. */
  cpuUs: number;
}

const tally = (): Tally => ({ ops: 0, ns: 0n, cpuUs: 0 });
const perSecond = (t: Tally): number => t.ops / (Number(t.ns) / 1e9);

/**
 * Where the time went, for reading a figure from a shared machine: CPU µs per operation, and
 * how many cores the process kept busy (under 1 or 2 when other work took the CPUs).
 */
const cpuParams = (t: Tally): Record<string, number> => ({
  cpuUsPerOp: Math.round((t.cpuUs / t.ops) * 10) / 10,
  coresBusy: Math.round((t.cpuUs / (Number(t.ns) / 1e3)) * 100) / 100,
});

function addCpu(into: Tally, since: NodeJS.CpuUsage): void {
  const used = process.cpuUsage(since);
  into.cpuUs += used.user + used.system;
}

/** Runs `fn` until `ms` have passed; adds its calls and the time to `tally`. */
function syncSlice(fn: () => void, ms: number, into: Tally): void {
  const cpu = process.cpuUsage();
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(ms * 1e6);
  let now = start;
  while (now < deadline) {
    fn();
    into.ops++;
    now = process.hrtime.bigint();
  }
  into.ns += now - start;
  addCpu(into, cpu);
}

/** Keeps each lane (a loop of batches, resolving to the batch size) going until `ms` have passed. */
async function asyncSlice(lanes: ReadonlyArray<() => Promise<number>>, ms: number, into: Tally): Promise<void> {
  const cpu = process.cpuUsage();
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(ms * 1e6);
  await Promise.all(
    lanes.map(async (next) => {
      while (process.hrtime.bigint() < deadline) {
        // Not `into.ops += await next()`: that reads into.ops before the await and loses the other lanes' counts.
        const done = await next();
        into.ops += done;
      }
    }),
  );
  into.ns += process.hrtime.bigint() - start;
  addCpu(into, cpu);
}

/** What the Task gives a processor, reduced to what validate uses; outputs are only counted. */
function countingContext(): ProcessorContext & { validated: number; rejected: number } {
  const context = {
    processorName: 'validate',
    partition: 0,
    validated: 0,
    rejected: 0,
    forward: () => undefined,
    store: () => {
      throw new Error('bench: validate has no store');
    },
    schedule: () => undefined,
    wallClockMs: () => 0,
    decode: () => Promise.reject(new Error('bench: the inputs are JSON')),
    recordOutcome: (outcome: string) => {
      if (outcome === 'validated') context.validated++;
      else context.rejected++;
    },
    observe: () => undefined,
  };
  return context;
}

/** Signed ~1 KiB exports as one partition's fetched records: views into one contiguous buffer. */
function fetchedRecords(keys: ReturnType<typeof generateDemoKeys>, partition: number): InputRecord<Buffer>[] {
  const values = Array.from({ length: RECORDS }, (_, i) =>
    Buffer.from(JSON.stringify(signedExport({ tenantId: 'acme', runSeed: `bench-${partition}-${i}`, status: 'running', approxBytes: RECORD_BYTES }, keys.active))),
  );
  const fetchBuffer = Buffer.concat(values);
  let at = 0;
  return values.map((value, offset) => {
    const raw = fetchBuffer.subarray(at, (at += value.length));
    return { topic: TOPIC, partition, offset, key: null, value: raw, raw, headers: {}, timestamp: 0 };
  });
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * What any implementation of the export contract computes for a valid signed export, whatever
 * else it does: strict UTF-8 and JSON (#2), the duplicate member name scan (I-JSON), JCS of the
 * export without signatures, the PAE, the signature's base64, and the three SHA-256 of DESIGN.md
 * 3.1 (contentHash, idempotencyKey, dsseDigest). The rules' own checks and the output records come
 * on top of this, and so does the verification.
 */
function contractPrimitives(bytes: Uint8Array): void {
  const text = strictUtf8.decode(bytes);
  const { signatures, ...body } = JSON.parse(text) as ExportRecord & { signatures: NonNullable<ExportRecord['signatures']> };
  if (findDuplicateMemberName(text) !== undefined) throw new Error('bench: a generated export repeats a member name');
  const payload = canonicalJsonBytes(body);
  pae(EXPORT_PAYLOAD_TYPE, payload);
  decodeBase64(signatures[0].signature);
  sha256Digest(payload);
  expectedIdempotencyKey(body.runId, body.artifactHash, body.tenantId);
  dsseDigest({ payload, signatures });
}

export async function benchValidate(options: { seconds?: number } = {}): Promise<BenchResult[]> {
  const seconds = options.seconds ?? 3;
  const slices = 10;
  const keys = generateDemoKeys();
  const keyring = KeyringSource.fixed(parseKeyring(keyringDocument(keys)));
  const partitions = Array.from({ length: PARTITIONS_IN_FLIGHT }, (_, p) => fetchedRecords(keys, p));
  const batches = partitions.map((records) => [records.slice(0, BATCH), records.slice(BATCH, 2 * BATCH)]);

  // Ceiling: Ed25519 verifications of PAEs of the same size, the same implementation, each message
  // signed once, as in a stream (bench/ed25519.ts: one repeated message flatters the rate).
  const samples = signedMessages(keys.active.privateKey, DISTINCT_MESSAGES, RECORD_BYTES);
  const verifyOnce = verifyInTurn(nodeEd25519Verifier, keys.active.publicKey, samples);

  // The contract alone (what `ledger validate` runs per line): no processor, no stream outputs.
  const settings = { keyring: keyring.current(), signaturesRequired: true };
  let nextItem = 0;
  let nextPrimitives = 0;
  const primitivesOnce = (): void => contractPrimitives(partitions[0][nextPrimitives++ % RECORDS].value);
  const validateOnce = (): void => {
    const record = partitions[0][nextItem++ % RECORDS];
    if (!validateItem({ bytes: record.value, headers: record.headers }, settings).ok) throw new Error('bench: a generated export did not validate');
  };

  const inline = new ValidateProcessor({ topics: { input: TOPIC, validated: 'v', rejected: 'r' }, keyring, signaturesRequired: true, pool: null });
  const inlineContext = countingContext();
  inline.init(inlineContext);
  // Small batches inline, so a slice ends close to its deadline.
  const inlineBatches = Array.from({ length: RECORDS / 10 }, (_, i) => partitions[0].slice(i * 10, i * 10 + 10));
  let nextInline = 0;
  const inlineLane = async (): Promise<number> => {
    const batch = inlineBatches[nextInline++ % inlineBatches.length];
    await inline.processBatch(batch);
    return batch.length;
  };

  const workers = availableParallelism();
  const pool = createValidatePool({ workers, keyring, signaturesRequired: true });
  const pooledContexts = partitions.map(() => countingContext());
  const lanes = batches.map((pair, p) => {
    const processor = new ValidateProcessor({ topics: { input: TOPIC, validated: 'v', rejected: 'r' }, keyring, signaturesRequired: true, pool });
    processor.init(pooledContexts[p]);
    let round = 0;
    return async (): Promise<number> => {
      const batch = pair[round++ % 2];
      await processor.processBatch(batch);
      return batch.length;
    };
  });

  // Warm-up: JIT, key objects, worker start-up.
  const raw = tally();
  const primitives = tally();
  const contract = tally();
  const single = tally();
  const allCores = tally();
  syncSlice(verifyOnce, 200, tally());
  syncSlice(primitivesOnce, 200, tally());
  syncSlice(validateOnce, 200, tally());
  await asyncSlice([inlineLane], 200, tally());
  await asyncSlice(lanes, 300, tally());
  inlineContext.validated = 0;
  for (const c of pooledContexts) c.validated = 0;

  const sliceMs = (seconds * 1000) / slices;
  for (let s = 0; s < slices; s++) {
    syncSlice(verifyOnce, sliceMs, raw);
    syncSlice(primitivesOnce, sliceMs, primitives);
    syncSlice(validateOnce, sliceMs, contract);
    await asyncSlice([inlineLane], sliceMs, single);
    await asyncSlice(lanes, sliceMs, allCores);
  }
  await pool.close();

  const pooledValidated = pooledContexts.reduce((sum, c) => sum + c.validated, 0);
  const rejected = inlineContext.rejected + pooledContexts.reduce((sum, c) => sum + c.rejected, 0);
  if (rejected > 0 || inlineContext.validated !== single.ops || pooledValidated !== allCores.ops) {
    throw new Error('bench: a generated export did not validate');
  }

  const rawResult: BenchResult = {
    name: 'ed25519.verify',
    unit: 'verifies/s',
    value: perSecond(raw),
    params: { impl: nodeEd25519Verifier.name, threads: 1, messages: samples.length, messageBytes: samples[0].message.length, ...cpuParams(raw) },
  };
  // Costs add: a record costs a verification plus the primitives, at best.
  const upperBound: BenchResult = {
    name: 'validate.single_thread.upper-bound',
    unit: 'records/s',
    value: 1 / (1 / rawResult.value + 1 / perSecond(primitives)),
    params: {
      derivedFrom: 'ed25519.verify + contract primitives (strict UTF-8, JSON.parse, duplicate names, JCS, PAE, base64, 3 SHA-256)',
      primitivesPerSecond: Math.round(perSecond(primitives)),
      threads: 1,
    },
  };
  const contractResult: BenchResult = {
    name: 'validate.contract_single_thread',
    unit: 'records/s',
    value: perSecond(contract),
    params: { path: 'validateItem', threads: 1, recordBytes: partitions[0][0].value.length, signatures: 1, ...cpuParams(contract) },
  };
  const singleResult: BenchResult = {
    name: 'validate.single_thread',
    unit: 'records/s',
    value: perSecond(single),
    params: { path: 'ValidateProcessor.processBatch, pool: null', threads: 1, recordBytes: partitions[0][0].value.length, signatures: 1, ...cpuParams(single) },
  };
  const allCoresValue = perSecond(allCores);
  const allCoresResult: BenchResult = {
    name: 'validate.all_cores',
    unit: 'records/s',
    value: allCoresValue,
    params: {
      path: 'ValidateProcessor.processBatch, worker pool',
      workers,
      batch: BATCH,
      partitionsInFlight: PARTITIONS_IN_FLIGHT,
      recordBytes: partitions[0][0].value.length,
      signatures: 1,
      speedupOverSingleThread: Math.round((allCoresValue / singleResult.value) * 100) / 100,
      ...cpuParams(allCores),
    },
  };
  return [rawResult, withCeiling(upperBound, rawResult), withCeiling(contractResult, rawResult), withCeiling(singleResult, rawResult), withCeiling(allCoresResult, rawResult)];
}
