import { afterAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { loadConfig } from '../../../config.js';
import { sha256Digest } from '../../../contracts/digests.js';
import { signExport } from '../../../contracts/export.js';
import { exportStream, generateDemoKeys, keyringDocument, signedExport } from '../../../examples/exports.js';
import { buildPipeline, type Pipeline } from '../../../cli/pipeline.js';
import { LocalDriver } from '../../../runtime/local-driver.js';
import { NO_METRICS } from '../../../runtime/types.js';
import { MemoryBackend } from '../../../state/memory.js';
import { TOPICS } from '../../../topology.js';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jsonLineLogger } from '../../../runtime/kafka/client.js';

// The validate processor through the in-process driver, with the real Avro codec
// (single-object encoding): the same code `ledger run` runs on Kafka.

const keys = generateDemoKeys();
const keyringPath = join(mkdtempSync(join(tmpdir(), 'validate-')), 'keyring.json');
writeFileSync(keyringPath, JSON.stringify(keyringDocument(keys)));
const silent = jsonLineLogger('test', { write: () => true } as unknown as NodeJS.WritableStream);
const pipelines: Pipeline[] = [];

async function setup(workers = 0) {
  const config = loadConfig({}, { LEDGER_KEYRING: keyringPath, LEDGER_PARTITIONS: '2' });
  const pipeline = buildPipeline(config, silent, { workers, watchKeyring: false });
  pipelines.push(pipeline);
  const verifySeconds: number[] = [];
  const metrics = { ...NO_METRICS, observe: (processor: string, name: string, value: number) => void (name === 'dsse_verify_seconds' && verifySeconds.push(value)) };
  const driver = await LocalDriver.create({ topology: pipeline.topology, backend: new MemoryBackend(), serde: pipeline.serde, metrics });
  const read = async (topic: string) =>
    Promise.all(driver.records(topic).map(async (r) => ({ key: r.key, partition: r.partition, value: (await pipeline.codec.decode(topic, r.value ?? Buffer.alloc(0))) as Record<string, unknown> })));
  return { driver, pipeline, read, verifySeconds };
}

afterAll(async () => {
  for (const p of pipelines) await p.close();
});

const spec = { tenantId: 'acme', runSeed: 'run-1', status: 'running' as const };

describe('validate processor', () => {
  it('re-keys a valid JSON export to tenantId/runId with hashes, source and the original bytes', async () => {
    const { driver, read } = await setup();
    const exp = signedExport(spec, keys.active);
    const bytes = Buffer.from(JSON.stringify(exp));
    await driver.pipe(TOPICS.exportsCreated, { key: 'whatever', value: bytes, partition: 1 });
    const [out] = await read(TOPICS.validated);
    expect(out.key).toBe(`acme/${exp.runId}`);
    expect(out.value).toMatchObject({ tenantId: 'acme', runId: exp.runId, status: 'running', idempotencyKey: exp.idempotencyKey, source: { topic: TOPICS.exportsCreated, partition: 1, offset: 0 } });
    expect(out.value.contentHash).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(out.value.dsseDigest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(Buffer.compare(out.value.originalBytes as Buffer, bytes)).toBe(0);
    expect(driver.records(TOPICS.rejected)).toHaveLength(0);
  });

  it('rejects with code, stage, source, ids and original bytes; key null when the run is unknown', async () => {
    const { driver, read } = await setup();
    const unsigned = Buffer.from(JSON.stringify({ ...signedExport(spec, keys.active), signatures: [] }));
    await driver.pipe(TOPICS.exportsCreated, { value: Buffer.from([0xff, 0xfe, 0x7b]), partition: 0 });
    await driver.pipe(TOPICS.exportsCreated, { value: unsigned, partition: 0 });
    const rejected = await read(TOPICS.rejected);
    expect(rejected.map((r) => r.value.code)).toEqual(['ERR_MALFORMED', 'ERR_SIGNATURE_REQUIRED']);
    expect(rejected[0].key).toBeNull();
    expect(rejected[0].value).toMatchObject({ stage: 'validate', runId: null, tenantId: null, source: { topic: TOPICS.exportsCreated, partition: 0, offset: 0 }, originalSize: 3, originalDigest: sha256Digest(Buffer.from([0xff, 0xfe, 0x7b])) });
    expect(rejected[1].key).toMatch(/^acme\//);
    expect(rejected[1].value).toMatchObject({ tenantId: 'acme', source: { offset: 1 } });
    expect(Buffer.compare(rejected[1].value.originalBytes as Buffer, unsigned)).toBe(0);
  });

  it('accepts Avro single-object input and rejects undecodable Avro as ERR_MALFORMED', async () => {
    const { driver, pipeline, read } = await setup();
    const avro = await pipeline.codec.encode(TOPICS.exportsCreated, { ...nullFilled(signedExport(spec, keys.active)) });
    expect(avro.subarray(0, 2)).toEqual(Buffer.from([0xc3, 0x01]));
    await driver.pipe(TOPICS.exportsCreated, { value: avro });
    await driver.pipe(TOPICS.exportsCreated, { value: Buffer.concat([avro.subarray(0, 10), Buffer.from([0xff, 0xff, 0xff])]) });
    expect((await read(TOPICS.validated)).map((r) => r.value.runId)).toHaveLength(1);
    expect((await read(TOPICS.rejected)).map((r) => r.value.code)).toEqual(['ERR_MALFORMED']);
  });

  it('rejects Avro whose strings are not UTF-8 as ERR_MALFORMED (avsc would make each bad byte a 3-byte U+FFFD)', async () => {
    const { driver, pipeline, read } = await setup();
    const avro = await pipeline.codec.encode(TOPICS.exportsCreated, { ...nullFilled(signedExport(spec, keys.active)) });
    const at = avro.indexOf('scan-');
    expect(at).toBeGreaterThan(0);
    const bad = Buffer.from(avro);
    bad[at + 4] = 0xff;
    await driver.pipe(TOPICS.exportsCreated, { value: bad });
    const [r] = await read(TOPICS.rejected);
    expect(r.value).toMatchObject({ code: 'ERR_MALFORMED', message: expect.stringMatching(/not UTF-8/) });
    expect(await read(TOPICS.validated)).toHaveLength(0);
  });

  it('checks the 1 MiB limit on the raw bytes: the rejection keeps only the digest', async () => {
    const { driver, read } = await setup();
    const huge = Buffer.alloc(1_048_577, 0x20);
    await driver.pipe(TOPICS.exportsCreated, { value: huge });
    const [r] = await read(TOPICS.rejected);
    expect(r.value).toMatchObject({ code: 'ERR_PAYLOAD_TOO_LARGE', originalBytes: null, originalSize: 1_048_577, originalDigest: sha256Digest(huge) });
  });

  it('rejects a tenant-id header that disagrees with tenantId', async () => {
    const { driver, read } = await setup();
    await driver.pipe(TOPICS.exportsCreated, { value: Buffer.from(JSON.stringify(signedExport(spec, keys.active))), headers: { 'tenant-id': 'globex' } });
    expect((await read(TOPICS.rejected)).map((r) => r.value.code)).toEqual(['ERR_TENANT_MISMATCH']);
  });

  it('observes ledger_dsse_verify_seconds once per export whose signatures were checked, inline and through the pool', async () => {
    const stream = exportStream({ count: 400, keys });
    // Signatures are checked (#12) for every record that passes #1-#11 and carries any.
    const checked = stream.filter((r) => r.expect === 'OK' || r.expect.startsWith('ERR_DSSE')).length;
    for (const workers of [0, 2]) {
      const { driver, verifySeconds } = await setup(workers);
      await driver.pipeAll(TOPICS.exportsCreated, stream.map((r) => ({ key: r.key, value: r.value })));
      expect(verifySeconds).toHaveLength(checked);
      for (const s of verifySeconds) expect(s).toBeGreaterThan(0);
    }
  });

  it('spreads a batch over worker threads and still decides every record, in order, as inline', async () => {
    const stream = exportStream({ count: 400, keys });
    const inline = await setup(0);
    const pooled = await setup(2);
    for (const { driver } of [inline, pooled]) {
      await driver.pipeAll(TOPICS.exportsCreated, stream.map((r) => ({ key: r.key, value: r.value })));
    }
    const decisions = async (s: Awaited<ReturnType<typeof setup>>) => {
      const all = [...(await s.read(TOPICS.validated)).map((r) => ({ ...r.value.source as object, code: 'OK' })), ...(await s.read(TOPICS.rejected)).map((r) => ({ ...r.value.source as object, code: r.value.code }))];
      return all as Array<{ partition: number; offset: number; code: string }>;
    };
    const a = await decisions(inline);
    const b = await decisions(pooled);
    expect(b.length).toBe(stream.length);
    const byCoordinate = (xs: typeof a) => Object.fromEntries(xs.map((x) => [`${x.partition}:${x.offset}`, x.code]));
    expect(byCoordinate(b)).toEqual(byCoordinate(a));
    // Within each output partition, source offsets only grow: order is preserved.
    for (const topic of [TOPICS.validated, TOPICS.rejected]) {
      for (const records of pooled.driver.partitionsOf(topic)) {
        const offsets = await Promise.all(records.map(async (r) => ((await pooled.pipeline.codec.decode(topic, r.value ?? Buffer.alloc(0))) as { source: { partition: number; offset: number } }).source));
        for (let i = 1; i < offsets.length; i++) {
          if (offsets[i].partition === offsets[i - 1].partition) expect(offsets[i].offset).toBeGreaterThan(offsets[i - 1].offset);
        }
      }
    }
    // The labelled expectations of the generator hold.
    const expected = Object.fromEntries(stream.map((r, i) => [i, r.expect]));
    expect(Object.values(byCoordinate(b)).filter((c) => c !== 'OK').length).toBe(Object.values(expected).filter((c) => c !== 'OK').length);
  });

  it('gives every output value the inline path gives, through the pool, for a mixed batch of views into one buffer', async () => {
    const inline = await setup(0);
    const pooled = await setup(2);
    const avro = await pooled.pipeline.codec.encode(TOPICS.exportsCreated, signedExport({ ...spec, runSeed: 'avro-1' }, keys.active));
    const values = [
      ...exportStream({ count: 60, keys }).map((r) => r.value),
      avro,
      Buffer.concat([avro.subarray(0, 10), Buffer.from([0xff, 0xff, 0xff])]),
      Buffer.alloc(1_048_577, 0x20),
      Buffer.from(JSON.stringify(signExport(signedExport({ ...spec, runSeed: 'two-signatures' }, keys.active), keys.active.keyId, keys.active.privateKey))),
    ];
    // As kafkajs hands them over: every value a view into one fetch buffer.
    const fetched = Buffer.concat(values);
    let at = 0;
    const views = values.map((v) => fetched.subarray(at, (at += v.length)));
    const headers = (i: number): Record<string, string> => (i % 7 === 3 ? { 'tenant-id': 'globex' } : {});
    for (const { driver } of [inline, pooled]) {
      await driver.pipeAll(TOPICS.exportsCreated, views.map((value, i) => ({ value, partition: 0, headers: headers(i) })));
    }
    for (const topic of [TOPICS.validated, TOPICS.rejected]) {
      const want = await inline.read(topic);
      expect(await pooled.read(topic)).toEqual(want);
      expect(want.length).toBeGreaterThan(0);
    }
    expect((await pooled.read(TOPICS.rejected)).map((r) => r.value.code)).toEqual(expect.arrayContaining(['ERR_MALFORMED', 'ERR_PAYLOAD_TOO_LARGE', 'ERR_TENANT_MISMATCH']));
    expect((await pooled.read(TOPICS.validated)).some((r) => r.value.runId === signedExport({ ...spec, runSeed: 'avro-1' }, keys.active).runId)).toBe(true);
    // The pool copied the values; the fetch buffer it was given is intact.
    expect(Buffer.concat(views).equals(fetched)).toBe(true);
    expect(fetched.byteLength).toBe(values.reduce((n, v) => n + v.length, 0));
  });
});

describe('validate processor under fuzzing', () => {
  it('puts every random or mutated value on exactly one output topic and never throws', async () => {
    const { driver, pipeline } = await setup();
    const valid = Buffer.from(JSON.stringify(signedExport(spec, keys.active)));
    const avro = await pipeline.codec.encode(TOPICS.exportsCreated, signedExport(spec, keys.active));
    const mutate = (base: Buffer) =>
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }).map((edits) => {
        const copy = Buffer.from(base);
        for (const [at, byte] of edits) copy[at % copy.length] = byte;
        return copy;
      });
    const values = fc.oneof(
      fc.uint8Array({ maxLength: 300 }).map((u) => Buffer.from(u)),
      fc.json().map((j) => Buffer.from(j)),
      mutate(valid),
      mutate(avro),
      fc.integer({ min: 1, max: 5_000 }).map((depth) => Buffer.from('['.repeat(depth) + ']'.repeat(depth))),
      fc.constant(Buffer.concat([Buffer.from([0xc3, 0x01]), Buffer.alloc(8, 0xab), Buffer.from([0x02, 0x41])])),
    );
    const samples = fc.sample(values, { numRuns: 600, seed: 4242 });
    await driver.pipeAll(TOPICS.exportsCreated, samples.map((value) => ({ value, partition: 0 })));
    const decided = [...driver.records(TOPICS.validated), ...driver.records(TOPICS.rejected)];
    expect(decided).toHaveLength(samples.length);
    const sources = await Promise.all(
      decided.map(async (r) => {
        const topic = driver.records(TOPICS.validated).includes(r) ? TOPICS.validated : TOPICS.rejected;
        return ((await pipeline.codec.decode(topic, r.value ?? Buffer.alloc(0))) as { source: { offset: number } }).source.offset;
      }),
    );
    expect(new Set(sources).size).toBe(samples.length);
  });
});

function nullFilled(exp: Record<string, unknown>): Record<string, unknown> {
  return { ...exp };
}
