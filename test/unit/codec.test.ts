import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import avro from 'avsc';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { parsingCanonicalForm, rabinFingerprint64, schemaFingerprint } from '../../runtime/avro-fingerprint.js';
import {
  CodecError,
  SchemaCatalog,
  createValueCodec,
  defaultSchemaDirectory,
  detectFormat,
  type CodecErrorCode,
  type ValueCodec,
} from '../../runtime/codec.js';
import { JSON_INPUT_TOPICS, TOPICS as PIPELINE_TOPICS } from '../../topology.js';

// Parsing Canonical Form and CRC-64-AVRO vectors of the Apache Avro project
// (share/test/data/schema-tests.txt), fingerprints as the signed Java longs published there.
const AVRO_SPEC_VECTORS: Array<{ input: string; canonical: string; fingerprint: bigint }> = [
  { input: '"null"', canonical: '"null"', fingerprint: 7195948357588979594n },
  { input: '{"type":"null"}', canonical: '"null"', fingerprint: 7195948357588979594n },
  { input: '"boolean"', canonical: '"boolean"', fingerprint: -6970731678124411036n },
  { input: '"int"', canonical: '"int"', fingerprint: 8247732601305521295n },
  { input: '"long"', canonical: '"long"', fingerprint: -3434872931120570953n },
  { input: '"float"', canonical: '"float"', fingerprint: 5583340709985441680n },
  { input: '"double"', canonical: '"double"', fingerprint: -8181574048448539266n },
  { input: '"bytes"', canonical: '"bytes"', fingerprint: 5746618253357095269n },
  { input: '"string"', canonical: '"string"', fingerprint: -8142146995180207161n },
  { input: '[ "int"  ]', canonical: '["int"]', fingerprint: -5232228896498058493n },
  { input: '[ "int" , {"type":"boolean"} ]', canonical: '["int","boolean"]', fingerprint: 5392556393470105090n },
  { input: '{"fields":[], "type":"record", "name":"foo"}', canonical: '{"name":"foo","type":"record","fields":[]}', fingerprint: -4824392279771201922n },
  { input: '{"fields":[], "type":"record", "name":"foo", "namespace":"x.y"}', canonical: '{"name":"x.y.foo","type":"record","fields":[]}', fingerprint: 5916914534497305771n },
  { input: '{"fields":[], "type":"record", "name":"a.b.foo", "namespace":"x.y"}', canonical: '{"name":"a.b.foo","type":"record","fields":[]}', fingerprint: -4616218487480524110n },
  { input: '{"fields":[], "type":"record", "name":"foo", "doc":"Useful info"}', canonical: '{"name":"foo","type":"record","fields":[]}', fingerprint: -4824392279771201922n },
  { input: '{"fields":[], "type":"record", "name":"foo", "aliases":["foo","bar"]}', canonical: '{"name":"foo","type":"record","fields":[]}', fingerprint: -4824392279771201922n },
  { input: '{"fields":[{"type":{"type":"boolean"}, "name":"f1"}], "type":"record", "name":"foo"}', canonical: '{"name":"foo","type":"record","fields":[{"name":"f1","type":"boolean"}]}', fingerprint: 7843277075252814651n },
  {
    input: '{ "fields":[{"type":"boolean", "aliases":[], "name":"f1", "default":true}, {"order":"descending","name":"f2","doc":"Hello","type":"int"}],"type":"record", "name":"foo"}',
    canonical: '{"name":"foo","type":"record","fields":[{"name":"f1","type":"boolean"},{"name":"f2","type":"int"}]}',
    fingerprint: -4860222112080293046n,
  },
  { input: '{"type":"enum", "name":"foo", "symbols":["A1"]}', canonical: '{"name":"foo","type":"enum","symbols":["A1"]}', fingerprint: -6342190197741309591n },
  { input: '{"namespace":"x.y.z", "type":"enum", "name":"foo", "doc":"foo bar", "symbols":["A1", "A2"]}', canonical: '{"name":"x.y.z.foo","type":"enum","symbols":["A1","A2"]}', fingerprint: -4448647247586288245n },
  { input: '{"name":"foo","type":"fixed","size":15}', canonical: '{"name":"foo","type":"fixed","size":15}', fingerprint: 1756455273707447556n },
  { input: '{"namespace":"x.y.z", "type":"fixed", "name":"foo", "doc":"foo bar", "size":32}', canonical: '{"name":"x.y.z.foo","type":"fixed","size":32}', fingerprint: -3064184465700546786n },
  { input: '{ "items":{"type":"null"}, "type":"array"}', canonical: '{"type":"array","items":"null"}', fingerprint: -589620603366471059n },
  { input: '{ "values":"string", "type":"map"}', canonical: '{"type":"map","values":"string"}', fingerprint: -8732877298790414990n },
  {
    input: '{"name":"PigValue","type":"record", "fields":[{"name":"value", "type":["null", "int", "long", "PigValue"]}]}',
    canonical: '{"name":"PigValue","type":"record","fields":[{"name":"value","type":["null","int","long","PigValue"]}]}',
    fingerprint: -1759257747318642341n,
  },
];

const hash = (char: string): string => `sha256:${char.repeat(64)}`;
const source = { topic: 'orchestrator.export.created', partition: 2, offset: 41 };
const exportBody = {
  runId: '3f1c2b9e-5d4a-4c1b-9a7e-2b6f0c8d1e45',
  jobType: 'scan',
  artifactHash: hash('a'),
  policyHash: null,
  startedAt: '2025-01-01T00:00:00Z',
  completedAt: null,
  status: 'running',
  manifestPath: 'cas://manifests/1',
  logsPath: 'dsse://logs/1',
  tenantId: 'acme',
  environment: 'prod',
  idempotencyKey: hash('b'),
  bundleId: 'bundle-7',
  scanId: null,
};
const signatures = [{ type: 'dsse', keyId: 'key-1', signature: 'c2lnbmF0dXJl' }];

/** One representative value of every record, as a processor would produce it. */
const SAMPLES: Record<string, unknown> = {
  Source: source,
  ExportSignature: signatures[0],
  ExportBody: exportBody,
  Export: { ...exportBody, signatures },
  ValidatedExport: {
    tenantId: 'acme', runId: exportBody.runId, status: 'running', idempotencyKey: hash('b'), contentHash: hash('c'),
    dsseDigest: hash('d'), export: exportBody, signatures, source, originalBytes: Buffer.from('{"runId":"…"}'),
  },
  Rejection: {
    code: 'ERR_MALFORMED', message: 'not JSON', stage: 'validate', runId: null, tenantId: null, source,
    originalBytes: Buffer.from([0xff, 0x00, 0x7b]), originalDigest: hash('e'), originalSize: 3,
  },
  Duplicate: {
    code: 'DUPLICATE', tenantId: 'acme', runId: exportBody.runId, status: 'running', idempotencyKey: hash('b'),
    contentHash: hash('c'), dsseDigest: null, source,
  },
  LedgerEvent: {
    eventId: 'evt-1', type: 'ledger_export', tenantId: 'acme', runId: exportBody.runId, status: 'running',
    idempotencyKey: hash('b'), contentHash: hash('c'), dsseDigest: hash('d'), export: exportBody, source, eventHash: hash('f'),
  },
  MerkleRoot: {
    partition: 0, batchSeq: 3, firstOffset: 768, lastOffset: 2 ** 40, leafCount: 2, leaves: [hash('1'), hash('2')],
    rootHash: hash('3'), anchorReference: 'airgap::local', bundleIds: ['bundle-7'], previousSignature: 'cHJldg==',
    keyId: 'ledger-1', sealedAt: '2025-01-01T00:05:00Z', signature: 'c2ln',
  },
  TimelineEntry: {
    type: 'ledger_export', tenantId: 'acme', runId: exportBody.runId, status: 'running', artifactHash: hash('a'),
    policyHash: null, manifestPath: 'cas://manifests/1', logsPath: 'dsse://logs/1', dsseDigest: hash('d'),
    idempotencyKey: hash('b'), bundleId: 'bundle-7', scanId: null, eventHash: hash('f'), merkleRoot: null,
    anchorReference: null, batchSeq: null,
  },
  AirgapImpact: {
    tenant: 'acme', bundleId: 'bundle-7', newFindings: 2, resolvedFindings: 1, criticalDelta: -1,
    timeAnchor: '2025-01-01T00:00:00Z', sealedMode: true,
  },
  AirgapFinding: { findingId: 'F-1', severity: 'critical', status: 'open' },
  AirgapBundleImport: {
    tenantId: 'acme', bundleId: 'bundle-7', merkleRoot: hash('9'), timeAnchor: '2025-01-01T00:00:00Z',
    sourceRegion: 'eu-1', importedAt: '2025-01-02T00:00:00Z', importOperator: 'ops@acme', sealedMode: true,
    findings: [{ findingId: 'F-1', severity: 'critical', status: 'open' }, { findingId: 'F-2', severity: 'low', status: 'resolved' }],
  },
};

const catalog = SchemaCatalog.load();
// Every record gets a topic named after it; the two input topics also accept JSON.
const TOPICS: Record<string, string> = {
  ...Object.fromEntries(catalog.recordNames().map((name) => [`test.${name}`, name])),
  'orchestrator.export.created': 'Export',
  'ledger.events': 'LedgerEvent',
};
const codec = createValueCodec({ catalog, topics: TOPICS, jsonTopics: ['orchestrator.export.created'] });

async function codecErrorOf(action: () => Promise<unknown>): Promise<CodecError> {
  try {
    await action();
  } catch (error) {
    expect(error).toBeInstanceOf(CodecError);
    return error as CodecError;
  }
  throw new Error('expected a CodecError, nothing was thrown');
}

async function expectCode(action: () => Promise<unknown>, code: CodecErrorCode): Promise<CodecError> {
  const error = await codecErrorOf(action);
  expect(error.code).toBe(code);
  return error;
}

const temporaryDirectories: string[] = [];
afterAll(() => temporaryDirectories.forEach((path) => rmSync(path, { recursive: true, force: true })));

/** A copy of schemas/ in a temporary directory, edited by `change`. */
function schemaCopy(change: (directory: string) => void = () => undefined): string {
  const directory = mkdtempSync(join(tmpdir(), 'ledger-schemas-'));
  temporaryDirectories.push(directory);
  cpSync(defaultSchemaDirectory(), directory, { recursive: true });
  change(directory);
  return directory;
}

function editSchema(directory: string, recordName: string, edit: (schema: { fields: Array<{ name: string }> }) => void): void {
  const file = join(directory, `${recordName}.avsc`);
  const schema = JSON.parse(readFileSync(file, 'utf8')) as { fields: Array<{ name: string }> };
  edit(schema);
  writeFileSync(file, JSON.stringify(schema));
}

describe('CRC-64-AVRO fingerprint', () => {
  it.each(AVRO_SPEC_VECTORS)('$canonical', ({ input, canonical, fingerprint }) => {
    expect(parsingCanonicalForm(avro.Type.forSchema(JSON.parse(input)))).toBe(canonical);
    expect(BigInt.asIntN(64, rabinFingerprint64(Buffer.from(canonical, 'utf8')))).toBe(fingerprint);
  });

  it('fingerprints an empty union, which avsc cannot parse, from its canonical text', () => {
    expect(BigInt.asIntN(64, rabinFingerprint64(Buffer.from('[]')))).toBe(-1241056759729112623n);
  });

  it('is written little-endian in the single-object header', () => {
    // Little-endian byte strings as fastavro's tests list them.
    expect(schemaFingerprint(avro.Type.forSchema('null')).toString('hex')).toBe('8a8f25cce724dd63');
    expect(schemaFingerprint(avro.Type.forSchema('int')).toString('hex')).toBe('8f5c393f1ad57572');
  });
});

describe('detectFormat', () => {
  it.each([
    [' \n\t{"a":1}', 'json'],
    ['{}', 'json'],
    ['[1]', 'unknown'],
    ['"text"', 'unknown'],
    ['', 'unknown'],
    ['   ', 'unknown'],
  ])('%j is %s', (text, format) => {
    expect(detectFormat(Buffer.from(text, 'utf8'))).toBe(format);
  });

  it('recognises the Avro markers from the first bytes only', () => {
    expect(detectFormat(Uint8Array.from([0xc3, 0x01]))).toBe('single-object');
    expect(detectFormat(Uint8Array.from([0xc3]))).toBe('unknown');
    expect(detectFormat(Uint8Array.from([0xc3, 0x02, 0, 0]))).toBe('unknown');
    expect(detectFormat(Uint8Array.from([0x00, 0, 0, 0, 7]))).toBe('confluent');
  });
});

describe('single-object encoding', () => {
  it('covers every record with a sample', () => {
    expect(Object.keys(SAMPLES).sort()).toEqual(catalog.recordNames());
  });

  it.each(Object.keys(SAMPLES))('round trips a %s', async (recordName) => {
    const bytes = await codec.encode(`test.${recordName}`, SAMPLES[recordName]);
    expect(detectFormat(bytes)).toBe('single-object');
    expect(bytes.subarray(0, 2)).toEqual(Buffer.from([0xc3, 0x01]));
    expect(bytes.subarray(2, 10)).toEqual(catalog.entry(recordName).fingerprint);
    expect(await codec.decode(`test.${recordName}`, bytes)).toEqual(SAMPLES[recordName]);
  });

  it('round trips random values of every record', async () => {
    for (const recordName of catalog.recordNames()) {
      const type = catalog.type(recordName);
      for (let sample = 0; sample < 20; sample += 1) {
        const value: unknown = type.random();
        const decoded = await codec.decode(`test.${recordName}`, await codec.encode(`test.${recordName}`, value));
        expect(type.compare(decoded, value)).toBe(0);
      }
    }
  });

  it('writes absent optional fields as null', async () => {
    const { policyHash: _policyHash, completedAt: _completedAt, scanId: _scanId, ...sparse } = exportBody;
    const decoded = await codec.decode('test.ExportBody', await codec.encode('test.ExportBody', sparse));
    expect(decoded).toEqual({ ...sparse, policyHash: null, completedAt: null, scanId: null });
  });

  it('encodes values of any size, each into bytes of its own', async () => {
    const rejection = (size: number, fill: number): unknown => ({ ...(SAMPLES.Rejection as object), originalBytes: Buffer.alloc(size, fill), originalSize: size });
    const small = await codec.encode('test.Rejection', rejection(3, 1));
    const copy = Buffer.from(small);
    for (const [size, fill] of [[40_000, 2], [2 * 1024 * 1024, 3], [5, 4]]) {
      expect(await codec.decode('test.Rejection', await codec.encode('test.Rejection', rejection(size, fill)))).toEqual(rejection(size, fill));
    }
    expect(small).toEqual(copy);
  });

  it('decodes bytes as views of the record instead of copies, with the same content', async () => {
    const value = { ...(SAMPLES.ValidatedExport as object), originalBytes: Buffer.from('{"runId":"r"}') };
    const bytes = await codec.encode('test.ValidatedExport', value);
    const decoded = (await codec.decode('test.ValidatedExport', bytes)) as { originalBytes: Buffer };
    expect(decoded).toEqual(value);
    expect(Buffer.isBuffer(decoded.originalBytes)).toBe(true);
    expect(decoded.originalBytes.buffer).toBe(bytes.buffer);
  });

  it('decodes a Uint8Array view as well as a Buffer', async () => {
    const bytes = await codec.encode('ledger.events', SAMPLES.LedgerEvent);
    const copy = new Uint8Array(bytes.length + 3);
    copy.set(bytes, 3);
    expect(await codec.decode('ledger.events', copy.subarray(3))).toEqual(SAMPLES.LedgerEvent);
  });
});

describe('decoding failures', () => {
  it('reports a truncated header as corrupt', async () => {
    const bytes = await codec.encode('ledger.events', SAMPLES.LedgerEvent);
    await expectCode(() => codec.decode('ledger.events', bytes.subarray(0, 6)), 'CODEC_CORRUPT');
    await expectCode(() => codec.decode('ledger.events', Buffer.from([0, 0, 1])), 'CODEC_CORRUPT');
  });

  it('reports a truncated body as corrupt', async () => {
    const bytes = await codec.encode('ledger.events', SAMPLES.LedgerEvent);
    const error = await expectCode(() => codec.decode('ledger.events', bytes.subarray(0, bytes.length - 5)), 'CODEC_CORRUPT');
    expect(error.message).toContain('ledger.events');
  });

  it('refuses a string that is not UTF-8 on an input topic, and checks only the structure elsewhere', async () => {
    const bytes = Buffer.from(await codec.encode('orchestrator.export.created', SAMPLES.Export));
    const tenant = bytes.indexOf(String((SAMPLES.Export as { tenantId: string }).tenantId));
    expect(tenant).toBeGreaterThan(0);
    bytes[tenant] = 0xff;
    const error = await expectCode(() => codec.decode('orchestrator.export.created', bytes), 'CODEC_CORRUPT');
    expect(error.message).toMatch(/is not UTF-8/);
    // The pipeline's own topics hold what its encoder wrote (same schema, so the same body decodes).
    expect(await codec.decode('test.Export', bytes)).toMatchObject({ tenantId: expect.stringContaining('\ufffd') });
  });

  it('treats both of the pipeline\'s input topics as input topics', () => {
    expect([...JSON_INPUT_TOPICS].sort()).toEqual([PIPELINE_TOPICS.airgapBundles, PIPELINE_TOPICS.exportsCreated].sort());
  });

  it('reports trailing bytes as corrupt', async () => {
    const bytes = await codec.encode('ledger.events', SAMPLES.LedgerEvent);
    await expectCode(() => codec.decode('ledger.events', Buffer.concat([bytes, Buffer.from([0])])), 'CODEC_CORRUPT');
  });

  it('names an unknown fingerprint', async () => {
    const bytes = Buffer.from(await codec.encode('ledger.events', SAMPLES.LedgerEvent));
    bytes.fill(0xab, 2, 10);
    const error = await expectCode(() => codec.decode('ledger.events', bytes), 'CODEC_UNKNOWN_SCHEMA');
    expect(error.message).toContain('abababababababab');
  });

  it('refuses a wrong magic', async () => {
    const bytes = Buffer.from(await codec.encode('ledger.events', SAMPLES.LedgerEvent));
    bytes[1] = 0x02;
    await expectCode(() => codec.decode('ledger.events', bytes), 'CODEC_UNKNOWN_FORMAT');
  });

  it('refuses a record of another schema on a topic', async () => {
    const rejection = await codec.encode('test.Rejection', SAMPLES.Rejection);
    await expectCode(() => codec.decode('ledger.events', rejection), 'CODEC_SCHEMA_MISMATCH');
  });

  it('keeps refusing it after reading it on its own topic (read plans are per topic)', async () => {
    const rejection = await codec.encode('test.Rejection', SAMPLES.Rejection);
    expect(await codec.decode('test.Rejection', rejection)).toEqual(SAMPLES.Rejection);
    await expectCode(() => codec.decode('ledger.events', rejection), 'CODEC_SCHEMA_MISMATCH');
    await expectCode(() => codec.decode('ledger.events', rejection), 'CODEC_SCHEMA_MISMATCH');
    expect(await codec.decode('test.Rejection', rejection)).toEqual(SAMPLES.Rejection);
  });

  it('cannot read a Confluent-framed value without a registry', async () => {
    await expectCode(() => codec.decode('ledger.events', Buffer.from([0, 0, 0, 0, 9, 2])), 'CODEC_UNKNOWN_SCHEMA');
  });

  it('accepts JSON only on the topics declared for it', async () => {
    const json = Buffer.from(` ${JSON.stringify({ ...exportBody, unknownField: 1 })}`);
    expect(await codec.decode('orchestrator.export.created', json)).toEqual({ ...exportBody, unknownField: 1 });
    await expectCode(() => codec.decode('ledger.events', json), 'CODEC_UNKNOWN_FORMAT');
  });

  it('reports JSON that is not UTF-8 or not JSON as corrupt', async () => {
    await expectCode(() => codec.decode('orchestrator.export.created', Buffer.from([0x7b, 0xff, 0x7d])), 'CODEC_CORRUPT');
    await expectCode(() => codec.decode('orchestrator.export.created', Buffer.from('{"runId": ')), 'CODEC_CORRUPT');
  });

  it('names an undeclared topic', async () => {
    await expectCode(() => codec.decode('nowhere', Buffer.from('{}')), 'CODEC_UNKNOWN_TOPIC');
    await expectCode(() => codec.encode('nowhere', {}), 'CODEC_UNKNOWN_TOPIC');
  });

  it('stops at a block count larger than the bytes left, instead of looping on it', async () => {
    const bytes = Buffer.from(await codec.encode('test.AirgapBundleImport', { ...(SAMPLES.AirgapBundleImport as object), findings: [] }));
    // The body ends with the empty array's 0x00 terminator: replace it by a count of 2^30 items.
    const hostile = Buffer.concat([bytes.subarray(0, bytes.length - 1), Buffer.from([0x80, 0x80, 0x80, 0x80, 0x08])]);
    const error = await expectCode(() => codec.decode('test.AirgapBundleImport', hostile), 'CODEC_CORRUPT');
    expect(error.message).toContain('block of 1073741824 items');
  });

  it('refuses a long beyond 2^53 rather than rounding it', async () => {
    const header = (await codec.encode('test.Source', source)).subarray(0, 10);
    const body = Buffer.from([0x02, 0x74, 0x00, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
    await expectCode(() => codec.decode('test.Source', Buffer.concat([header, body])), 'CODEC_CORRUPT');
  });

  it('never throws anything but a CodecError on arbitrary bytes', async () => {
    const fingerprints = catalog.recordNames().map((name) => catalog.entry(name).fingerprint);
    const arbitraryValue = fc.oneof(
      fc.uint8Array({ maxLength: 200 }),
      fc.tuple(fc.constantFrom(...fingerprints), fc.uint8Array({ maxLength: 300 })).map(([fingerprint, body]) =>
        Buffer.concat([Buffer.from([0xc3, 0x01]), fingerprint, body]),
      ),
      fc.uint8Array({ maxLength: 200 }).map((body) => Buffer.concat([Buffer.from([0x00, 0, 0, 0, 1]), body])),
    );
    await fc.assert(
      fc.asyncProperty(arbitraryValue, fc.constantFrom('orchestrator.export.created', 'ledger.events', 'test.MerkleRoot'), async (bytes, topic) => {
        try {
          await codec.decode(topic, bytes);
        } catch (error) {
          if (!(error instanceof CodecError)) throw error;
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('never throws anything but a CodecError on damaged encodings', async () => {
    const valid = await codec.encode('test.ValidatedExport', SAMPLES.ValidatedExport);
    const damage = fc.record({
      position: fc.nat({ max: valid.length - 1 }),
      byte: fc.integer({ min: 0, max: 255 }),
      keep: fc.nat({ max: valid.length }),
    });
    await fc.assert(
      fc.asyncProperty(damage, async ({ position, byte, keep }) => {
        const damaged = Buffer.from(valid);
        damaged[position] = byte;
        try {
          await codec.decode('test.ValidatedExport', damaged.subarray(0, keep));
        } catch (error) {
          if (!(error instanceof CodecError)) throw error;
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe('encoding failures', () => {
  it('names the path of a wrongly typed field', async () => {
    const bad = { ...(SAMPLES.LedgerEvent as object), export: { ...exportBody, runId: 42 } };
    const error = await expectCode(() => codec.encode('ledger.events', bad), 'CODEC_INVALID_VALUE');
    expect(error.message).toContain('export.runId');
  });

  it('refuses fields the schema would silently drop', async () => {
    const error = await expectCode(() => codec.encode('ledger.events', { ...(SAMPLES.LedgerEvent as object), extra: 1 }), 'CODEC_INVALID_VALUE');
    expect(error.message).toContain('extra');
  });

  it('refuses a long that a JS number cannot hold exactly', async () => {
    await expectCode(() => codec.encode('test.Source', { ...source, offset: 2 ** 60 }), 'CODEC_INVALID_VALUE');
  });
});

describe('schema evolution', () => {
  // "Old" Duplicate schema: before dsseDigest was added.
  const withoutDsseDigest = (directory: string): void =>
    editSchema(directory, 'Duplicate', (schema) => {
      schema.fields = schema.fields.filter((field) => field.name !== 'dsseDigest');
    });
  const oldDirectory = schemaCopy(withoutDsseDigest);
  const oldCodec = createValueCodec({ catalog: SchemaCatalog.load({ directory: oldDirectory }), topics: TOPICS });
  const { dsseDigest: _dsseDigest, ...oldDuplicate } = SAMPLES.Duplicate as Record<string, unknown>;

  it('reads records written with a previous version kept under schemas/previous/', async () => {
    const currentDirectory = schemaCopy((directory) => cpSync(oldDirectory, join(directory, 'previous', 'v0'), { recursive: true }));
    const reader: ValueCodec = createValueCodec({ catalog: SchemaCatalog.load({ directory: currentDirectory }), topics: TOPICS });
    const bytes = await oldCodec.encode('test.Duplicate', oldDuplicate);
    expect(await reader.decode('test.Duplicate', bytes)).toEqual({ ...oldDuplicate, dsseDigest: null });
  });

  it('reads bytes through a schema resolution as views too', async () => {
    // Old Rejection: before originalDigest was added (it defaults to null).
    const oldRejections = schemaCopy((directory) =>
      editSchema(directory, 'Rejection', (schema) => {
        schema.fields = schema.fields.filter((field) => field.name !== 'originalDigest');
      }),
    );
    const currentDirectory = schemaCopy((directory) => cpSync(oldRejections, join(directory, 'previous', 'v0'), { recursive: true }));
    const reader = createValueCodec({ catalog: SchemaCatalog.load({ directory: currentDirectory }), topics: TOPICS });
    const writer = createValueCodec({ catalog: SchemaCatalog.load({ directory: oldRejections }), topics: TOPICS });
    const { originalDigest: _originalDigest, ...oldRejection } = SAMPLES.Rejection as Record<string, unknown>;
    const bytes = await writer.encode('test.Rejection', oldRejection);
    const decoded = (await reader.decode('test.Rejection', bytes)) as { originalBytes: Buffer };
    expect(decoded).toEqual({ ...oldRejection, originalDigest: null });
    expect(decoded.originalBytes.buffer).toBe(bytes.buffer);
  });

  it('does not guess a writer schema it was not given', async () => {
    const bytes = await oldCodec.encode('test.Duplicate', oldDuplicate);
    await expectCode(() => codec.decode('test.Duplicate', bytes), 'CODEC_UNKNOWN_SCHEMA');
  });

  it('refuses a schema directory whose records do not resolve', () => {
    const broken = schemaCopy((directory) => rmSync(join(directory, 'Source.avsc')));
    expect(() => SchemaCatalog.load({ directory: broken })).toThrow(expect.objectContaining({ code: 'CODEC_SCHEMA_LOAD' }));
  });

  it('refuses a topic mapped to an unknown record', () => {
    expect(() => createValueCodec({ catalog, topics: { t: 'Nope' } })).toThrow(expect.objectContaining({ code: 'CODEC_UNKNOWN_SCHEMA' }));
  });
});

describe('plain JSON rendering', () => {
  it('renders bytes as base64 and absent optional fields as null, and reads back', async () => {
    const { runId: _runId, tenantId: _tenantId, ...partial } = SAMPLES.Rejection as Record<string, unknown>;
    const json = catalog.toPlainJson('Rejection', partial);
    expect(json).toEqual({ ...partial, runId: null, tenantId: null, originalBytes: '/wB7' });
    expect(JSON.parse(JSON.stringify(json))).toEqual(json);
    const value = catalog.fromPlainJson('Rejection', json);
    expect(await codec.encode('test.Rejection', value)).toEqual(await codec.encode('test.Rejection', partial));
  });

  it('keeps field order and longs as numbers', () => {
    const json = catalog.toPlainJson('MerkleRoot', SAMPLES.MerkleRoot) as Record<string, unknown>;
    expect(Object.keys(json)).toEqual(Object.keys(SAMPLES.MerkleRoot as object));
    expect(json.lastOffset).toBe(2 ** 40);
  });

  it('round trips random values of every record through plain JSON', () => {
    for (const recordName of catalog.recordNames()) {
      const type = catalog.type(recordName);
      for (let sample = 0; sample < 20; sample += 1) {
        const value: unknown = type.random();
        const json = JSON.parse(JSON.stringify(catalog.toPlainJson(recordName, value))) as unknown;
        expect(type.compare(catalog.fromPlainJson(recordName, json), value)).toBe(0);
      }
    }
  });

  it('refuses a value that does not match', () => {
    expect(() => catalog.toPlainJson('Source', { topic: 1 })).toThrow(expect.objectContaining({ code: 'CODEC_INVALID_VALUE' }));
    expect(() => catalog.fromPlainJson('Rejection', { ...(SAMPLES.Rejection as object), originalBytes: 7 })).toThrow(
      expect.objectContaining({ code: 'CODEC_INVALID_VALUE' }),
    );
  });
});
