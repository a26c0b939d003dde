// Avro encode+decode of pipeline records (single-object encoding, the registry-free default).
import { createValueCodec, SchemaCatalog } from '../runtime/codec.js';
import { TOPIC_RECORDS, TOPICS } from '../topology.js';
import type { BenchResult } from './report.js';

export async function benchCodec(options: { seconds?: number } = {}): Promise<BenchResult[]> {
  const seconds = options.seconds ?? 3;
  const codec = createValueCodec({ catalog: SchemaCatalog.load(), topics: TOPIC_RECORDS });
  const hash = (c: string) => `sha256:${c.repeat(64)}`;
  const body = {
    runId: '3f2b8c1e-9a4d-4e6f-8b7a-1c2d3e4f5a6b', jobType: 'sbom-scan', artifactHash: hash('a'), policyHash: hash('b'),
    startedAt: '2026-11-20T08:00:00Z', completedAt: null, status: 'running', manifestPath: 'cas://manifests/abc',
    logsPath: 'dsse://logs/abc', tenantId: 'acme', environment: 'prod', idempotencyKey: hash('c'), bundleId: 'bundle-1', scanId: null,
  };
  const event = {
    eventId: hash('e'), type: 'ledger_export', tenantId: 'acme', runId: body.runId, status: 'running', idempotencyKey: hash('c'),
    contentHash: hash('d'), dsseDigest: hash('f'), export: body, source: { topic: TOPICS.validated, partition: 1, offset: 123456 }, eventHash: hash('9'),
  };
  const encoded = await codec.encode(TOPICS.events, event);
  let n = 0;
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(seconds * 1e9);
  while (process.hrtime.bigint() < deadline) {
    for (let i = 0; i < 1000; i++) await codec.decode(TOPICS.events, await codec.encode(TOPICS.events, event));
    n += 1000;
  }
  const value = n / (Number(process.hrtime.bigint() - start) / 1e9);
  return [{ name: 'codec.avro_encode_decode', unit: 'records/s', value, params: { record: 'LedgerEvent', encoding: 'single-object', bytes: encoded.length } }];
}
