import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import avro from 'avsc';
import { describe, expect, it } from 'vitest';
import { parsingCanonicalForm } from '../../runtime/avro-fingerprint.js';
import { SchemaCatalog, defaultSchemaDirectory } from '../../runtime/codec.js';

// The record contracts of DESIGN.md 3–5: field names and order, fixed here so a rename is a
// deliberate change of two files, not an accident.
const EXPORT_BODY_FIELDS = [
  'runId', 'jobType', 'artifactHash', 'policyHash', 'startedAt', 'completedAt', 'status', 'manifestPath',
  'logsPath', 'tenantId', 'environment', 'idempotencyKey', 'bundleId', 'scanId',
];
const EXPECTED_FIELDS: Record<string, string[]> = {
  Source: ['topic', 'partition', 'offset'],
  ExportSignature: ['type', 'keyId', 'signature'],
  ExportBody: EXPORT_BODY_FIELDS,
  Export: [...EXPORT_BODY_FIELDS.slice(0, 12), 'signatures', 'bundleId', 'scanId'],
  ValidatedExport: ['tenantId', 'runId', 'status', 'idempotencyKey', 'contentHash', 'dsseDigest', 'export', 'signatures', 'source', 'originalBytes'],
  Rejection: ['code', 'message', 'stage', 'runId', 'tenantId', 'source', 'originalBytes', 'originalDigest', 'originalSize'],
  Duplicate: ['code', 'tenantId', 'runId', 'status', 'idempotencyKey', 'contentHash', 'dsseDigest', 'source'],
  LedgerEvent: ['eventId', 'type', 'tenantId', 'runId', 'status', 'idempotencyKey', 'contentHash', 'dsseDigest', 'export', 'source', 'eventHash'],
  MerkleRoot: ['partition', 'batchSeq', 'firstOffset', 'lastOffset', 'leafCount', 'leaves', 'rootHash', 'anchorReference', 'bundleIds', 'previousSignature', 'keyId', 'sealedAt', 'signature'],
  TimelineEntry: ['type', 'tenantId', 'runId', 'status', 'artifactHash', 'policyHash', 'manifestPath', 'logsPath', 'dsseDigest', 'idempotencyKey', 'bundleId', 'scanId', 'eventHash', 'merkleRoot', 'anchorReference', 'batchSeq'],
  AirgapImpact: ['tenant', 'bundleId', 'newFindings', 'resolvedFindings', 'criticalDelta', 'timeAnchor', 'sealedMode'],
  AirgapFinding: ['findingId', 'severity', 'status'],
  AirgapBundleImport: ['tenantId', 'bundleId', 'merkleRoot', 'timeAnchor', 'sourceRegion', 'importedAt', 'importOperator', 'sealedMode', 'findings'],
};

interface RawField {
  name: string;
  type: unknown;
  doc?: string;
  default?: unknown;
}
interface RawRecord {
  type: string;
  name: string;
  namespace?: string;
  doc?: string;
  fields: RawField[];
}

const directory = defaultSchemaDirectory();
const rawSchemas = new Map(
  readdirSync(directory)
    .filter((file) => file.endsWith('.avsc'))
    .map((file) => [file.replace(/\.avsc$/, ''), JSON.parse(readFileSync(join(directory, file), 'utf8')) as RawRecord]),
);

// Every record reachable from a schema, including ones declared inline in a field type.
function recordsWithin(schema: unknown): RawRecord[] {
  if (Array.isArray(schema)) return schema.flatMap(recordsWithin);
  if (typeof schema !== 'object' || schema === null) return [];
  const node = schema as Partial<RawRecord> & { items?: unknown; values?: unknown };
  const nested = [node.items, node.values, ...(node.fields ?? []).map((field) => field.type)].flatMap(recordsWithin);
  return node.type === 'record' ? [node as RawRecord, ...nested] : nested;
}

describe('schemas/*.avsc', () => {
  const catalog = SchemaCatalog.load();

  it('parse together into exactly the records of the design', () => {
    expect(catalog.recordNames()).toEqual(Object.keys(EXPECTED_FIELDS).sort());
  });

  it.each(Object.entries(EXPECTED_FIELDS))('%s has the contract fields in order', (recordName, fields) => {
    expect(catalog.entry(recordName).fullName).toBe(`findings.ledger.${recordName}`);
    expect(rawSchemas.get(recordName)?.fields.map((field) => field.name)).toEqual(fields);
  });

  it('document every record and every field', () => {
    const undocumented = [...rawSchemas.values()].flatMap(recordsWithin).flatMap((record) => [
      ...(record.doc ? [] : [record.name]),
      ...record.fields.filter((field) => !field.doc).map((field) => `${record.name}.${field.name}`),
    ]);
    expect(undocumented).toEqual([]);
  });

  it('all live in the findings.ledger namespace', () => {
    expect([...rawSchemas.values()].map((schema) => schema.namespace)).toEqual([...rawSchemas.values()].map(() => 'findings.ledger'));
  });

  it('give every nullable field a null default, so adding or removing one stays compatible', () => {
    const nullableWithoutDefault = [...rawSchemas.values()].flatMap((record) =>
      record.fields
        .filter((field) => Array.isArray(field.type) && field.type[0] === 'null' && field.default !== null)
        .map((field) => `${record.name}.${field.name}`),
    );
    expect(nullableWithoutDefault).toEqual([]);
  });

  it('keep Export and ExportBody identical but for signatures', () => {
    const withoutSignatures = rawSchemas.get('Export')!.fields.filter((field) => field.name !== 'signatures');
    expect(withoutSignatures).toEqual(rawSchemas.get('ExportBody')!.fields);
  });

  it.each(Object.keys(EXPECTED_FIELDS))('%s registry text is self-contained and parses to the same canonical form', (recordName) => {
    const standalone = avro.Type.forSchema(JSON.parse(catalog.registrySchema(recordName)));
    expect(parsingCanonicalForm(standalone)).toBe(catalog.entry(recordName).canonicalForm);
  });

  it('has distinct fingerprints for distinct records', () => {
    const fingerprints = catalog.recordNames().map((name) => catalog.entry(name).fingerprint.toString('hex'));
    expect(new Set(fingerprints).size).toBe(fingerprints.length);
  });
});
