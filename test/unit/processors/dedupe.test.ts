import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../config.js';
import { canonicalJsonBytes } from '../../../contracts/canonical-json.js';
import { expectedIdempotencyKey, sha256Digest } from '../../../contracts/digests.js';
import { generateEd25519KeyPair } from '../../../contracts/ed25519.js';
import { signExport } from '../../../contracts/export.js';
import { ledgerEventId } from '../../../contracts/ledger-event.js';
import { exportBody, exportStream, generateDemoKeys, keyringDocument, seededUuid, type ExportSpec } from '../../../examples/exports.js';
import { buildPipeline, type Pipeline } from '../../../cli/pipeline.js';
import { jsonLineLogger } from '../../../runtime/kafka/client.js';
import { LocalDriver } from '../../../runtime/local-driver.js';
import { MemoryBackend } from '../../../state/memory.js';
import { RocksDbBackend } from '../../../state/rocksdb.js';
import type { StoreBackend } from '../../../state/store.js';
import { TOPICS } from '../../../topology.js';

// The dedupe processor (DESIGN.md 3.4, 3.5) behind validate, through the in-process driver with
// the real Avro codec and keyring: the same code `ledger run` runs on Kafka.

const dir = mkdtempSync(join(tmpdir(), 'dedupe-'));
const keys = generateDemoKeys();
const secondSigner = { ...generateEd25519KeyPair(), keyId: 'second-signer' };
const keyringPath = join(dir, 'keyring.json');
const ring = keyringDocument(keys) as { keys: object[] };
writeFileSync(keyringPath, JSON.stringify({ keys: [...ring.keys, { keyId: secondSigner.keyId, publicKey: secondSigner.publicKeyPem, status: 'active' }] }));
const silent = jsonLineLogger('test', { write: () => true } as unknown as NodeJS.WritableStream);
const opened: Array<{ pipeline: Pipeline; driver: LocalDriver }> = [];

afterAll(async () => {
  for (const { driver, pipeline } of opened) {
    await driver.close();
    await pipeline.close();
  }
  rmSync(dir, { recursive: true, force: true });
});

type Plain = Record<string, unknown>;
const RETENTION_SECONDS = 3_600;
/** DedupeProcessor's default sweep interval (pipelineTopology does not override it). */
const SWEEP_MS = 60_000;

async function setup(options: { retentionSeconds?: number; backend?: StoreBackend } = {}) {
  const config = loadConfig({}, {
    LEDGER_KEYRING: keyringPath,
    LEDGER_PARTITIONS: '2',
    ...(options.retentionSeconds !== undefined ? { LEDGER_DEDUPE_RETENTION_SECONDS: String(options.retentionSeconds) } : {}),
  });
  const pipeline = buildPipeline(config, silent, { workers: 0, watchKeyring: false });
  const driver = await LocalDriver.create({ topology: pipeline.topology, backend: options.backend ?? new MemoryBackend(), serde: pipeline.serde });
  opened.push({ pipeline, driver });
  /** Records of a topic as {key, value as plain JSON} (what `ledger replay` writes). */
  const read = async (topic: string): Promise<Array<{ key: string | null; value: Plain }>> => {
    const out: Array<{ key: string | null; value: Plain }> = [];
    for (const r of driver.records(topic)) {
      const decoded = await pipeline.codec.decode(topic, r.value ?? Buffer.alloc(0));
      out.push({ key: r.key, value: pipeline.codec.catalog.toPlainJson(recordOf(topic), decoded) as Plain });
    }
    return out;
  };
  let sent = 0;
  /** Sends raw bytes to the input topic on partition 0 and returns the input offset. */
  const send = async (bytes: Buffer): Promise<number> => {
    await driver.pipe(TOPICS.exportsCreated, { key: null, value: bytes, partition: 0 });
    return sent++;
  };
  return { driver, pipeline, read, send };
}

const recordOf = (topic: string): string =>
  ({ [TOPICS.validated]: 'ValidatedExport', [TOPICS.rejected]: 'Rejection', [TOPICS.duplicates]: 'Duplicate', [TOPICS.events]: 'LedgerEvent' })[topic] ?? 'unknown';

const json = (value: unknown): Buffer => Buffer.from(JSON.stringify(value));
const spec = (status: ExportSpec['status'], tenantId = 'acme', runSeed = 'run-1'): ExportSpec => ({ tenantId, runSeed, status });
const signedBytes = (body: Record<string, unknown>, signer: { keyId: string; privateKey: Parameters<typeof signExport>[2] } = keys.active): Buffer =>
  json(signExport(body, signer.keyId, signer.privateKey));
const exportBytes = (s: ExportSpec): Buffer => signedBytes(exportBody(s));
const source = (offset: number) => ({ topic: TOPICS.exportsCreated, partition: 0, offset });
const sha256Hex = (bytes: Uint8Array): string => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
const withoutEventHash = (event: Plain): Plain => Object.fromEntries(Object.entries(event).filter(([name]) => name !== 'eventHash'));

/** DESIGN.md 3.1, computed here from the export as sent. */
function expectedDsseDigest(signed: { signatures: Array<{ keyId: string; signature: string }> } & Record<string, unknown>): string {
  const { signatures, ...body } = signed;
  const envelope = {
    payload: canonicalJsonBytes(body).toString('base64'),
    payloadType: 'application/vnd.findings-ledger.orchestrator-export.v1+json',
    signatures: signatures.map((s) => ({ keyid: s.keyId, sig: s.signature })),
  };
  return sha256Hex(canonicalJsonBytes(envelope));
}

describe('dedupe processor', () => {
  it('takes a tenantId that starts with NUL like any other (its run keys share the RocksDB store with the changelog offset)', async () => {
    const { read, send } = await setup({ backend: new RocksDbBackend(join(dir, 'nul-tenant')) });
    const tenant = '\u0000acme';
    await send(exportBytes(spec('pending', tenant)));
    await send(exportBytes(spec('running', tenant)));
    await send(exportBytes(spec('running', tenant)));
    await send(exportBytes(spec('pending', 'acme')));
    expect((await read(TOPICS.events)).map((e) => [e.value.tenantId, e.value.status])).toEqual([[tenant, 'pending'], [tenant, 'running'], ['acme', 'pending']]);
    expect((await read(TOPICS.duplicates)).map((d) => d.value.tenantId)).toEqual([tenant]);
    expect(await read(TOPICS.rejected)).toEqual([]);
  });

  it('turns an accepted export into one LedgerEvent with the fields of DESIGN 3.5 and a recomputable eventHash', async () => {
    const { read, send } = await setup();
    const body = exportBody(spec('running'));
    const signed = signExport(body, keys.active.keyId, keys.active.privateKey);
    const offset = await send(json(signed));
    const events = await read(TOPICS.events);
    expect(events).toHaveLength(1);
    const [{ key, value: event }] = events;
    const runId = seededUuid('run-1');
    const contentHash = sha256Hex(canonicalJsonBytes(body));
    expect(key).toBe(`acme/${runId}`);
    expect(Object.keys(event).sort()).toEqual(['contentHash', 'dsseDigest', 'eventHash', 'eventId', 'export', 'idempotencyKey', 'runId', 'source', 'status', 'tenantId', 'type']);
    expect(event).toMatchObject({
      type: 'ledger_export',
      tenantId: 'acme',
      runId,
      status: 'running',
      idempotencyKey: body.idempotencyKey,
      contentHash,
      dsseDigest: expectedDsseDigest(signed),
      export: body,
      source: source(offset),
    });
    expect(event.eventId).toBe(ledgerEventId({ tenantId: 'acme', runId, status: 'running', contentHash }));
    expect(event.eventHash).toBe(sha256Hex(canonicalJsonBytes(withoutEventHash(event))));
    expect(await read(TOPICS.duplicates)).toEqual([]);
    expect(await read(TOPICS.rejected)).toEqual([]);
  });

  it('produces byte-identical events for the same input in another pipeline (no wall clock, no random ids)', async () => {
    const inputs = [exportBytes(spec('pending')), exportBytes(spec('succeeded')), exportBytes(spec('running', 'globex', 'run-2'))];
    const first = await setup();
    const second = await setup();
    await second.driver.advanceWallClock(123_456_789);
    for (const bytes of inputs) {
      await first.send(bytes);
      await second.send(bytes);
    }
    const valuesOf = (s: typeof first) => s.driver.records(TOPICS.events).map((r) => r.value?.toString('base64'));
    expect(valuesOf(first)).toHaveLength(3);
    expect(valuesOf(second)).toEqual(valuesOf(first));
  });

  it('absorbs an identical replay as a Duplicate with code DUPLICATE and the replay’s source, without an event', async () => {
    const { read, send } = await setup();
    const bytes = exportBytes(spec('running'));
    await send(bytes);
    const replayOffset = await send(bytes);
    const duplicates = await read(TOPICS.duplicates);
    expect(duplicates).toHaveLength(1);
    const runId = seededUuid('run-1');
    expect(duplicates[0].key).toBe(`acme/${runId}`);
    expect(duplicates[0].value).toMatchObject({ code: 'DUPLICATE', tenantId: 'acme', runId, status: 'running', source: source(replayOffset) });
    expect((await read(TOPICS.events)).map((e) => e.value.source)).toEqual([source(0)]);
    expect(await read(TOPICS.rejected)).toEqual([]);
  });

  it('treats the same body re-signed (another signature) as a duplicate; the Duplicate carries the replay’s dsseDigest', async () => {
    const { read, send } = await setup();
    const body = exportBody(spec('succeeded'));
    const reSigned = signExport(body, secondSigner.keyId, secondSigner.privateKey);
    await send(signedBytes(body));
    await send(json(reSigned));
    const [event] = await read(TOPICS.events);
    const duplicates = await read(TOPICS.duplicates);
    expect(duplicates).toHaveLength(1);
    expect(duplicates[0].value).toMatchObject({ code: 'DUPLICATE', contentHash: event.value.contentHash, dsseDigest: expectedDsseDigest(reSigned), source: source(1) });
    expect(duplicates[0].value.dsseDigest).not.toBe(event.value.dsseDigest);
    expect(await read(TOPICS.events)).toHaveLength(1);
  });

  it('keeps tenants apart: the same runId under two tenants is two runs, both accepted', async () => {
    const { read, send } = await setup();
    await send(exportBytes(spec('running', 'acme')));
    await send(exportBytes(spec('running', 'globex')));
    const events = await read(TOPICS.events);
    const runId = seededUuid('run-1');
    expect(events.map((e) => e.key).sort()).toEqual([`acme/${runId}`, `globex/${runId}`]);
    expect(events.map((e) => e.value.runId)).toEqual([runId, runId]);
    expect(await read(TOPICS.duplicates)).toEqual([]);
    expect(await read(TOPICS.rejected)).toEqual([]);
  });

  it('accepts forward moves, skips included (pending → succeeded)', async () => {
    const { read, send } = await setup();
    await send(exportBytes(spec('pending')));
    await send(exportBytes(spec('succeeded')));
    await send(exportBytes(spec('pending', 'acme', 'run-3')));
    await send(exportBytes(spec('running', 'acme', 'run-3')));
    await send(exportBytes(spec('canceled', 'acme', 'run-3')));
    const events = await read(TOPICS.events);
    const statusesOf = (runSeed: string) => events.filter((e) => e.value.runId === seededUuid(runSeed)).map((e) => e.value.status);
    expect(events).toHaveLength(5);
    expect(statusesOf('run-1')).toEqual(['pending', 'succeeded']);
    expect(statusesOf('run-3')).toEqual(['pending', 'running', 'canceled']);
    expect(await read(TOPICS.rejected)).toEqual([]);
  });

  it('sends conflicts and bad transitions to ledger.exports.rejected with stage dedupe, ids, source and the original bytes', async () => {
    const { read, send } = await setup();
    const runId = seededUuid('run-1');
    await send(exportBytes(spec('running')));
    // Same status, other content (same idempotencyKey: it covers runId, artifactHash, tenantId only).
    const conflict = signedBytes({ ...exportBody(spec('running')), scanId: 'scan-other' });
    // Another artifact for the same run: a valid export whose idempotencyKey differs from the stored one.
    const otherArtifact = sha256Digest(Buffer.from('artifact:other'));
    const mismatch = signedBytes({ ...exportBody(spec('succeeded')), artifactHash: otherArtifact, idempotencyKey: expectedIdempotencyKey(runId, otherArtifact, 'acme') });
    const backward = exportBytes(spec('pending'));
    const inputs = [conflict, mismatch, backward];
    const offsets: number[] = [];
    for (const bytes of inputs) offsets.push(await send(bytes));
    await send(exportBytes(spec('succeeded')));
    const afterTerminal = exportBytes(spec('failed'));
    inputs.push(afterTerminal);
    offsets.push(await send(afterTerminal));

    expect((await read(TOPICS.validated)).length).toBe(6);
    const rejected = await read(TOPICS.rejected);
    expect(rejected.map((r) => r.value.code)).toEqual(['ERR_IDEMPOTENCY_CONFLICT', 'ERR_REPLAY_MISMATCH', 'ERR_INVALID_TRANSITION', 'ERR_INVALID_TRANSITION']);
    rejected.forEach((r, i) => {
      expect(r.key).toBe(`acme/${runId}`);
      expect(r.value).toMatchObject({
        stage: 'dedupe',
        runId,
        tenantId: 'acme',
        source: source(offsets[i]),
        originalBytes: inputs[i].toString('base64'),
        originalDigest: sha256Hex(inputs[i]),
        originalSize: inputs[i].length,
      });
      expect(String(r.value.message)).not.toBe('');
    });
    expect((await read(TOPICS.events)).map((e) => e.value.status)).toEqual(['running', 'succeeded']);
  });

  it('with retention, forgets terminal runs after it: a later identical replay is accepted again (documented trade-off)', async () => {
    const { driver, read, send } = await setup({ retentionSeconds: RETENTION_SECONDS });
    const done = exportBytes(spec('succeeded'));
    const open = exportBytes(spec('running', 'acme', 'run-open'));
    await send(done);
    await send(open);
    // Within the retention the run is remembered.
    await driver.advanceWallClock(SWEEP_MS);
    await send(done);
    expect((await read(TOPICS.duplicates)).map((d) => d.value.source)).toEqual([source(2)]);
    // Past it (the sweep is due again too), the terminal run is forgotten; the open run is not.
    await driver.advanceWallClock(RETENTION_SECONDS * 1000);
    await send(done);
    await send(open);
    const offsetsOf = async (topic: string) => (await read(topic)).map((r) => (r.value.source as { offset: number }).offset).sort((a, b) => a - b);
    expect(await offsetsOf(TOPICS.events)).toEqual([0, 1, 3]);
    expect(await offsetsOf(TOPICS.duplicates)).toEqual([2, 4]);
    // The re-accepted event is the same event but its source: events are a pure function of the input.
    const doneEvents = (await read(TOPICS.events)).filter((e) => e.value.runId === seededUuid('run-1'));
    expect(doneEvents).toHaveLength(2);
    expect({ ...doneEvents[1].value, source: null, eventHash: null }).toEqual({ ...doneEvents[0].value, source: null, eventHash: null });
  });

  it('without retention, the same replay long after is still a duplicate', async () => {
    const { driver, read, send } = await setup();
    const done = exportBytes(spec('succeeded'));
    await send(done);
    await driver.advanceWallClock(SWEEP_MS + RETENTION_SECONDS * 1000 * 24 * 365);
    await send(done);
    expect(await read(TOPICS.events)).toHaveLength(1);
    expect((await read(TOPICS.duplicates)).map((d) => d.value.source)).toEqual([source(1)]);
  });

  it('decides every input exactly once: validated → (events | duplicates | rejected) or rejected by validate', async () => {
    const { driver, read } = await setup();
    const stream = exportStream({ count: 300, keys });
    // Extra dedupe cases on top of the generator's valid, replayed and invalid records.
    // Run demo:0 (tenant acme) went pending → running → succeeded in the stream; same key, so same partition, later offsets.
    const extras = [exportBytes(spec('failed', 'acme', 'demo:0')), signedBytes({ ...exportBody(spec('running', 'acme', 'demo:0')), scanId: 'x' }), exportBytes(spec('pending', 'acme', 'demo:0'))];
    const extraKey = `acme/${seededUuid('demo:0')}`;
    expect(stream.filter((r) => r.key === extraKey).map((r) => r.expect)).toEqual(['OK', 'OK', 'OK']);
    const inputs = [...stream.map((r) => ({ key: r.key, value: r.value })), ...extras.map((value) => ({ key: extraKey, value }))];
    await driver.pipeAll(TOPICS.exportsCreated, inputs);

    const coordinate = (s: unknown): string => {
      const { partition, offset } = s as { partition: number; offset: number };
      return `${partition}:${offset}`;
    };
    const validated = (await read(TOPICS.validated)).map((r) => coordinate(r.value.source));
    const rejected = await read(TOPICS.rejected);
    const byStage = (stage: string) => rejected.filter((r) => r.value.stage === stage).map((r) => coordinate(r.value.source));
    const decided = [...(await read(TOPICS.events)), ...(await read(TOPICS.duplicates))].map((r) => coordinate(r.value.source)).concat(byStage('dedupe'));

    const all = driver.partitionsOf(TOPICS.exportsCreated).flatMap((records) => records.map((r) => `${r.partition}:${r.offset}`));
    expect(all).toHaveLength(inputs.length);
    // Validate decides each input once; dedupe decides each validated record once.
    expect([...validated, ...byStage('validate')].sort()).toEqual([...all].sort());
    expect([...decided].sort()).toEqual([...validated].sort());
    expect(rejected.every((r) => r.value.stage === 'validate' || r.value.stage === 'dedupe')).toBe(true);

    // The generator's labels: invalid ones are rejected by validate, replays are duplicates.
    expect(byStage('validate')).toHaveLength(stream.filter((r) => r.expect !== 'OK').length);
    expect(await read(TOPICS.duplicates)).toHaveLength(stream.filter((r) => r.replay).length + 1);
    expect(rejected.filter((r) => r.value.stage === 'dedupe').map((r) => r.value.code).sort()).toEqual(['ERR_IDEMPOTENCY_CONFLICT', 'ERR_INVALID_TRANSITION']);
  });
});
