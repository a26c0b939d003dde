import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import {
  CodecError,
  SchemaCatalog,
  createValueCodec,
  defaultSchemaDirectory,
  detectFormat,
  type CodecErrorCode,
} from '../../runtime/codec.js';
import { schemaRegistryUrl } from '../support/env.js';

// Against the real Apicurio Registry of the local stack (Confluent-compatible API). Every run
// uses its own subject prefix: the registry keeps subjects between runs.
const prefix = `itest-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;

const DESIGN_TOPICS: Record<string, string> = {
  'orchestrator.export.created': 'Export',
  'ledger.airgap.bundles': 'AirgapBundleImport',
  'ledger.exports.validated': 'ValidatedExport',
  'ledger.exports.rejected': 'Rejection',
  'ledger.exports.duplicates': 'Duplicate',
  'ledger.events': 'LedgerEvent',
  'ledger.merkle.roots': 'MerkleRoot',
  'ledger.timeline': 'TimelineEntry',
  'ledger.airgap.timeline': 'AirgapImpact',
};
const topic = (name: string): string => `${prefix}.${name}`;
const topics = Object.fromEntries(Object.entries(DESIGN_TOPICS).map(([name, record]) => [topic(name), record]));
const eventsTopic = topic('ledger.events');

const hash = (char: string): string => `sha256:${char.repeat(64)}`;
const ledgerEvent = {
  eventId: 'evt-1',
  type: 'ledger_export',
  tenantId: 'acme',
  runId: '3f1c2b9e-5d4a-4c1b-9a7e-2b6f0c8d1e45',
  status: 'succeeded',
  idempotencyKey: hash('b'),
  contentHash: hash('c'),
  dsseDigest: null,
  export: {
    runId: '3f1c2b9e-5d4a-4c1b-9a7e-2b6f0c8d1e45', jobType: 'scan', artifactHash: hash('a'), policyHash: null,
    startedAt: '2025-01-01T00:00:00Z', completedAt: '2025-01-01T00:10:00Z', status: 'succeeded',
    manifestPath: 'cas://m/1', logsPath: 'cas://l/1', tenantId: 'acme', environment: null,
    idempotencyKey: hash('b'), bundleId: null, scanId: null,
  },
  source: { topic: 'orchestrator.export.created', partition: 0, offset: 12 },
  eventHash: hash('f'),
};

const catalog = SchemaCatalog.load();
const registry = { url: schemaRegistryUrl() };

const temporaryDirectories: string[] = [];
afterAll(() => temporaryDirectories.forEach((path) => rmSync(path, { recursive: true, force: true })));

/** schemas/ copied to a temporary directory with one extra field appended to LedgerEvent. */
function catalogWithExtraEventField(field: Record<string, unknown>): SchemaCatalog {
  const directory = mkdtempSync(join(tmpdir(), 'ledger-schemas-'));
  temporaryDirectories.push(directory);
  cpSync(defaultSchemaDirectory(), directory, { recursive: true });
  const file = join(directory, 'LedgerEvent.avsc');
  const schema = JSON.parse(readFileSync(file, 'utf8')) as { fields: unknown[] };
  schema.fields.push(field);
  writeFileSync(file, JSON.stringify(schema));
  return SchemaCatalog.load({ directory });
}

async function expectCode(action: () => Promise<unknown>, code: CodecErrorCode): Promise<CodecError> {
  const error = await action().then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  expect(error).toBeInstanceOf(CodecError);
  expect((error as CodecError).code).toBe(code);
  return error as CodecError;
}

describe('Avro codec with the Confluent-compatible registry', () => {
  const codec = createValueCodec({ catalog, topics, registry });

  it('registers every topic schema under <topic>-value, idempotently', async () => {
    const ids = await codec.registerAll();
    expect([...ids.keys()].sort()).toEqual(Object.keys(topics).sort());
    for (const id of ids.values()) expect(id).toBeGreaterThan(0);
    const again = await createValueCodec({ catalog, topics, registry }).registerAll();
    expect(again).toEqual(ids);
  });

  it('lets several instances starting together register the same new subjects', async () => {
    // Apicurio answers all but one concurrent creator of a subject 409 "already exists".
    const racePrefix = `${prefix}-race`;
    const raceTopics = Object.fromEntries(Object.entries(DESIGN_TOPICS).map(([name, record]) => [`${racePrefix}.${name}`, record]));
    const results = await Promise.all(Array.from({ length: 4 }, () => createValueCodec({ catalog, topics: raceTopics, registry }).registerAll()));
    for (const ids of results) expect(ids).toEqual(results[0]);
  });

  it('round trips in the Confluent wire format, also through a codec with a cold cache', async () => {
    const bytes = await codec.encode(eventsTopic, ledgerEvent);
    expect(detectFormat(bytes)).toBe('confluent');
    expect(bytes.readUInt32BE(1)).toBe((await codec.registerAll()).get(eventsTopic));
    expect(await codec.decode(eventsTopic, bytes)).toEqual(ledgerEvent);
    expect(await createValueCodec({ catalog, topics, registry }).decode(eventsTopic, bytes)).toEqual(ledgerEvent);
  });

  it('still reads single-object records', async () => {
    const singleObject = createValueCodec({ catalog, topics });
    const bytes = await singleObject.encode(eventsTopic, ledgerEvent);
    expect(detectFormat(bytes)).toBe('single-object');
    expect(await codec.decode(eventsTopic, bytes)).toEqual(ledgerEvent);
  });

  it('accepts a compatible change and reads old records with the new reader', async () => {
    const oldBytes = await codec.encode(eventsTopic, ledgerEvent);
    const evolved = createValueCodec({
      catalog: catalogWithExtraEventField({ name: 'note', type: ['null', 'string'], default: null, doc: 'Added later.' }),
      topics,
      registry,
    });
    const ids = await evolved.registerAll();
    expect(ids.get(eventsTopic)).not.toBe((await codec.registerAll()).get(eventsTopic));
    expect(await evolved.decode(eventsTopic, oldBytes)).toEqual({ ...ledgerEvent, note: null });
  });

  it('is refused by the registry (409) on an incompatible change', async () => {
    const incompatible = createValueCodec({
      catalog: catalogWithExtraEventField({ name: 'mandatory', type: 'string', doc: 'Required, no default: old records lack it.' }),
      topics,
      registry,
    });
    const error = await expectCode(() => incompatible.registerAll(), 'CODEC_REGISTRY_INCOMPATIBLE');
    expect(error.message).toContain(`${eventsTopic}-value`);
  });

  it('names an unknown schema id', async () => {
    const unknownId = Buffer.from([0x00, 0x7f, 0xff, 0xff, 0xf0, 0x00]);
    const error = await expectCode(() => codec.decode(eventsTopic, unknownId), 'CODEC_UNKNOWN_SCHEMA');
    expect(error.message).toContain(String(0x7ffffff0));
  });

  it('reports an unreachable registry as transient', async () => {
    const unreachable = createValueCodec({ catalog, topics, registry: { url: 'http://127.0.0.1:9/apis/ccompat/v7' } });
    const error = await expectCode(() => unreachable.decode(eventsTopic, Buffer.from([0, 0, 0, 0, 1, 0])), 'CODEC_REGISTRY_UNAVAILABLE');
    expect(error.transient).toBe(true);
    await expectCode(() => unreachable.registerAll(), 'CODEC_REGISTRY_UNAVAILABLE');
  });
});
