import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildPipeline, type Pipeline } from '../../../cli/pipeline.js';
import { loadConfig } from '../../../config.js';
import { sha256Digest } from '../../../contracts/digests.js';
import { generateEd25519KeyPair } from '../../../contracts/ed25519.js';
import { ledgerEventFor } from '../../../examples/events.js';
import { jsonLineLogger } from '../../../runtime/kafka/client.js';
import { LocalDriver } from '../../../runtime/local-driver.js';
import type { MetricsSink } from '../../../runtime/types.js';
import { MemoryBackend } from '../../../state/memory.js';
import { TOPICS } from '../../../topology.js';

// A value on an internal topic that can never be decoded must not fail its batch on every retry
// (holding the partition forever) nor vanish: it goes to ledger.exports.rejected as
// ERR_MALFORMED, with the processor as stage, its coordinates and its bytes, in the same unit of
// work as the batch's other records, which are processed as usual.

const dir = mkdtempSync(join(tmpdir(), 'dead-letter-'));
const signingKey = join(dir, 'signer.pem');
writeFileSync(signingKey, generateEd25519KeyPair().privateKeyPem);
const silent = jsonLineLogger('test', { write: () => true } as unknown as NodeJS.WritableStream);
const pipelines: Pipeline[] = [];
const drivers: LocalDriver[] = [];

afterAll(async () => {
  for (const d of drivers) await d.close().catch(() => undefined);
  for (const p of pipelines) await p.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('undecodable values on internal topics', () => {
  it('go to the dead-letter topic as ERR_MALFORMED; the rest of the batch is processed', async () => {
    const config = loadConfig({}, { LEDGER_ALLOW_UNSIGNED: 'true', LEDGER_PARTITIONS: '1', LEDGER_SIGNING_KEY: signingKey, LEDGER_SIGNING_KEY_ID: 'k', LEDGER_MERKLE_BATCH_SIZE: '2', LEDGER_MERKLE_BATCH_MAX_WAIT_MS: '3600000' });
    const pipeline = buildPipeline(config, silent, { workers: 0, watchKeyring: false });
    pipelines.push(pipeline);
    const outcomes: string[] = [];
    const metrics: MetricsSink = { outcome: (processor, outcome, code) => void outcomes.push(`${processor}:${outcome}:${code ?? ''}`), observe: () => undefined, applied: () => undefined, consumerLag: () => undefined };
    const driver = await LocalDriver.create({ topology: pipeline.topology, backend: new MemoryBackend(), serde: pipeline.serde, wallClockMs: Date.parse('2026-12-01T00:00:00Z'), metrics });
    drivers.push(driver);

    const event = async (i: number) => pipeline.codec.encode(TOPICS.events, ledgerEventFor({ runSeed: `dead-letter-${i}`, approxBytes: 512, sourceOffset: i }));
    const notAvro = Buffer.from('not an Avro value');
    // Single-object framing (0xC3 0x01) with a fingerprint no schema has.
    const unknownSchema = Buffer.concat([Buffer.from([0xc3, 0x01]), Buffer.alloc(8, 0xee), Buffer.from([0x02, 0x61])]);
    await driver.pipeAll(TOPICS.events, [
      { key: 'a/1', value: await event(1), partition: 0 },
      { key: 'x/1', value: notAvro, partition: 0 },
      { key: 'x/2', value: unknownSchema, partition: 0 },
      { key: 'a/2', value: await event(2), partition: 0 },
    ]);

    const rejected = await Promise.all(driver.records(TOPICS.rejected).map(async (r) => pipeline.codec.catalog.toPlainJson('Rejection', await pipeline.codec.decode(TOPICS.rejected, r.value ?? Buffer.alloc(0))) as Record<string, unknown>));
    // Both processors that read ledger.events (merkle and projector) reject each bad value once.
    expect(rejected).toHaveLength(4);
    for (const stage of ['merkle', 'projector']) {
      const mine = rejected.filter((r) => r.stage === stage);
      expect(mine.map((r) => [r.code, r.source, r.originalSize])).toEqual([
        ['ERR_MALFORMED', { topic: TOPICS.events, partition: 0, offset: 1 }, notAvro.length],
        ['ERR_MALFORMED', { topic: TOPICS.events, partition: 0, offset: 2 }, unknownSchema.length],
      ]);
      expect(String(mine[1].message)).toMatch(new RegExp(`${stage} cannot decode this ledger\\.events value`));
      expect(mine.map((r) => r.originalDigest)).toEqual([sha256Digest(notAvro), sha256Digest(unknownSchema)]);
    }
    // The two good events filled a batch of two: it sealed.
    expect(driver.records(TOPICS.merkleRoots)).toHaveLength(1);
    expect(outcomes.filter((o) => o === 'merkle:rejected:ERR_MALFORMED')).toHaveLength(2);
    expect(driver.records(TOPICS.timeline).length).toBeGreaterThan(0);
  });
});
