// The validate stage's throughput next to its ceiling, measured in the same run: raw Ed25519
// verify/s (node:crypto, one core, the same PAE size), validate records/s on one thread, and
// validate records/s over all cores through the processor's worker pool.
import { availableParallelism } from 'node:os';
import { nodeEd25519Verifier } from '../contracts/ed25519.js';
import type { ValidationResult } from '../contracts/export.js';
import { Keyring, parseKeyring } from '../contracts/keyring.js';
import { exportBody, generateDemoKeys, keyringDocument, signedExport } from '../examples/exports.js';
import { canonicalJsonBytes } from '../contracts/canonical-json.js';
import { EXPORT_PAYLOAD_TYPE, pae } from '../contracts/dsse.js';
import { signEd25519 } from '../contracts/ed25519.js';
import { keyringToTransfer, validateItem, type ValidateItem } from '../processors/validate-core.js';
import type { WorkerConfig } from '../processors/validate-worker.js';
import { compiledModuleUrl, WorkerPool } from '../runtime/worker-pool.js';
import { opsPerSecond, withCeiling, type BenchResult } from './report.js';

const RECORD_BYTES = 1024;

export async function benchValidate(options: { seconds?: number } = {}): Promise<BenchResult[]> {
  const seconds = options.seconds ?? 3;
  const keys = generateDemoKeys();
  const keyring: Keyring = parseKeyring(keyringDocument(keys));
  const records: ValidateItem[] = Array.from({ length: 1_000 }, (_, i) => ({
    bytes: Buffer.from(JSON.stringify(signedExport({ tenantId: 'acme', runSeed: `bench-${i}`, status: 'running', approxBytes: RECORD_BYTES }, keys.active))),
    headers: {},
  }));
  const settings = { keyring, signaturesRequired: true };
  for (const r of records.slice(0, 10)) {
    if (!validateItem(r, settings).ok) throw new Error('bench: a generated export does not validate');
  }

  // Ceiling: one Ed25519 verification of a PAE of the same size, the same implementation.
  const message = pae(EXPORT_PAYLOAD_TYPE, canonicalJsonBytes(exportBody({ tenantId: 'acme', runSeed: 'x', status: 'running', approxBytes: RECORD_BYTES })));
  const signature = signEd25519(message, keys.active.privateKey);
  const raw: BenchResult = {
    name: 'ed25519.verify',
    unit: 'verifies/s',
    value: opsPerSecond(() => void nodeEd25519Verifier.verify(keys.active.publicKey, message, signature), seconds),
    params: { impl: nodeEd25519Verifier.name, threads: 1, messageBytes: message.length },
  };

  let i = 0;
  const single: BenchResult = {
    name: 'validate.single_thread',
    unit: 'records/s',
    value: opsPerSecond(() => void validateItem(records[i++ % records.length], settings), seconds),
    params: { threads: 1, recordBytes: records[0].bytes.length, signatures: 1 },
  };

  const workers = availableParallelism();
  const pool = new WorkerPool<WorkerConfig, ValidateItem, ValidationResult>(compiledModuleUrl(import.meta.url, '../processors/validate-worker.js'), workers, {
    keys: keyringToTransfer(keyring),
    signaturesRequired: true,
  });
  const batch = 500;
  await pool.map(records.slice(0, batch)); // warm-up
  let done = 0;
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(seconds * 1e9);
  for (let round = 0; process.hrtime.bigint() < deadline; round++) {
    const from = (round % 2) * batch;
    done += (await pool.map(records.slice(from, from + batch))).length;
  }
  const allCores: BenchResult = {
    name: 'validate.all_cores',
    unit: 'records/s',
    value: done / (Number(process.hrtime.bigint() - start) / 1e9),
    params: { workers, batch, recordBytes: records[0].bytes.length, signatures: 1 },
  };
  await pool.close();
  return [
    raw,
    withCeiling(single, raw),
    { ...withCeiling(allCores, raw), params: { ...allCores.params, speedupOverSingleThread: Math.round((allCores.value / single.value) * 100) / 100 } },
  ];
}
