import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import avro from 'avsc';
import type { Type } from 'avsc';
import { parsingCanonicalForm, schemaFingerprint } from './avro-fingerprint.js';
import { CodecError, describeCause } from './codec-errors.js';
import { fromPlainJson, toPlainJson, type PlainJson } from './codec-plain-json.js';

/** One record schema of the catalog, parsed, with what the wire formats need. */
export interface CatalogEntry {
  /** Record name without namespace, e.g. `LedgerEvent` (also the file name, `LedgerEvent.avsc`). */
  readonly name: string;
  /** Full name, e.g. `findings.ledger.LedgerEvent`. */
  readonly fullName: string;
  readonly type: Type;
  readonly file: string;
  /** Parsing Canonical Form: what the fingerprint covers. */
  readonly canonicalForm: string;
  /** CRC-64-AVRO of the canonical form, 8 bytes little-endian (single-object header). */
  readonly fingerprint: Buffer;
}

export interface SchemaCatalogOptions {
  /** Directory of `*.avsc` files; default: `schemas/` of this package. */
  readonly directory?: string | URL;
}

/** Older complete snapshots of the schemas, kept so single-object records they wrote stay readable. */
const PREVIOUS_VERSIONS_DIRECTORY = 'previous';

type AvroSchema = Parameters<typeof avro.Type.forSchema>[0];

/** What BytesViewType reads through: avsc's Tap (lib/utils.js), which its typings leave out. */
interface AvroReadTap {
  readonly buf: Buffer;
  pos: number;
  readLong(): number;
  _invalidate(): void;
}

/**
 * Avro `bytes` decoded as views of the record's buffer instead of copies. avsc copies every value
 * into a 4 KiB pool slab, and a new ArrayBuffer costs ~5 µs on this machine: with the copy of a
 * ValidatedExport's original bytes, dedupe spent ~20 % more CPU per record (the dedupe
 * benchmark's workload on the memory backend, median of four alternating rounds: ~61 against
 * ~50 µs). Records are decoded from buffers nothing writes to again (a fetched Kafka record, a
 * stored value, a file), so sharing their memory is safe; the encoder copies bytes into each
 * record it writes. Same checks as avsc's Tap.readBytes.
 * A view keeps its whole fetch response alive: code that holds a decoded value beyond its batch
 * (stores keep their own JSON encoding) or posts it to a worker (the structured clone copies the
 * response) must copy the bytes first.
 */
class BytesViewType extends avro.types.BytesType {
  _read(tap: AvroReadTap): Buffer | undefined {
    const length = tap.readLong();
    if (length < 0) {
      tap._invalidate();
      return undefined;
    }
    const start = tap.pos;
    tap.pos += length;
    return tap.pos > tap.buf.length ? undefined : tap.buf.subarray(start, tap.pos);
  }
}

const BYTES_VIEW = new BytesViewType();
const isPlainBytes = (schema: unknown): boolean =>
  schema === 'bytes' || (typeof schema === 'object' && schema !== null && (schema as { type?: unknown }).type === 'bytes' && !('logicalType' in schema));

// Shared named types (Source, ExportBody, …) must stay unwrapped plain records for every reader.
const PARSE_OPTIONS = {
  omitRecordMethods: true,
  wrapUnions: 'auto',
  typeHook: (schema: unknown) => (isPlainBytes(schema) ? BYTES_VIEW : undefined),
} as const;

/**
 * `schemas/` next to this package's package.json, found by walking up from this module, so the
 * same code works from the TypeScript sources (runtime/) and from the build (dist/runtime/).
 */
export function defaultSchemaDirectory(): string {
  let directory = dirname(fileURLToPath(import.meta.url));
  for (let level = 0; level < 4; level += 1) {
    const candidate = join(directory, 'schemas');
    if (existsSync(join(directory, 'package.json')) && existsSync(candidate)) return candidate;
    directory = dirname(directory);
  }
  throw new CodecError('CODEC_SCHEMA_LOAD', `no schemas/ directory found above ${fileURLToPath(import.meta.url)}`);
}

const toPath = (directory: string | URL): string =>
  directory instanceof URL ? fileURLToPath(directory) : resolve(directory);

interface SchemaFile {
  readonly file: string;
  readonly schema: unknown;
}

function readSchemaFiles(directory: string): SchemaFile[] {
  let names: string[];
  try {
    names = readdirSync(directory).filter((name) => name.endsWith('.avsc')).sort();
  } catch (error) {
    throw new CodecError('CODEC_SCHEMA_LOAD', `cannot read schema directory ${directory}: ${describeCause(error)}`, { cause: error });
  }
  if (names.length === 0) throw new CodecError('CODEC_SCHEMA_LOAD', `no .avsc files in ${directory}`);
  return names.map((name) => {
    const file = join(directory, name);
    try {
      return { file, schema: JSON.parse(readFileSync(file, 'utf8')) as unknown };
    } catch (error) {
      throw new CodecError('CODEC_SCHEMA_LOAD', `${file} is not valid JSON: ${describeCause(error)}`, { cause: error });
    }
  });
}

/**
 * Parses files that reference each other's named types (Source is defined once, used by most
 * records) without a declared order: each pass parses what it can against the names defined so
 * far, on a copy of the registry so a failed attempt leaves nothing half-registered.
 */
function parseSharingNames(files: readonly SchemaFile[]): Map<string, Type> {
  let registry: Record<string, Type> = {};
  const parsed = new Map<string, Type>();
  let pending = [...files];
  while (pending.length > 0) {
    const failures: string[] = [];
    const stillPending: SchemaFile[] = [];
    for (const entry of pending) {
      const attempt = { ...registry };
      try {
        parsed.set(entry.file, avro.Type.forSchema(entry.schema as AvroSchema, { ...PARSE_OPTIONS, registry: attempt }));
        registry = attempt;
      } catch (error) {
        stillPending.push(entry);
        failures.push(`${basename(entry.file)}: ${describeCause(error)}`);
      }
    }
    if (stillPending.length === pending.length) {
      throw new CodecError('CODEC_SCHEMA_LOAD', `schemas do not parse: ${failures.join('; ')}`);
    }
    pending = stillPending;
  }
  return parsed;
}

function toEntry(file: string, type: Type): CatalogEntry {
  const fullName = type.name;
  if (type.typeName !== 'record' || fullName === undefined) {
    throw new CodecError('CODEC_SCHEMA_LOAD', `${file} must define one named record`);
  }
  const name = fullName.slice(fullName.lastIndexOf('.') + 1);
  if (basename(file) !== `${name}.avsc`) {
    throw new CodecError('CODEC_SCHEMA_LOAD', `${file} defines ${fullName}; one record per file, named after it`);
  }
  return { name, fullName, type, file, canonicalForm: parsingCanonicalForm(type), fingerprint: schemaFingerprint(type) };
}

function loadEntries(directory: string): CatalogEntry[] {
  const parsed = parseSharingNames(readSchemaFiles(directory));
  return [...parsed].map(([file, type]) => toEntry(file, type));
}

function previousVersionDirectories(directory: string): string[] {
  const root = join(directory, PREVIOUS_VERSIONS_DIRECTORY);
  if (!existsSync(root)) return [];
  return readdirSync(root)
    .sort()
    .map((name) => join(root, name))
    .filter((path) => statSync(path).isDirectory());
}

/**
 * The record schemas of `schemas/`, by record name, plus every writer schema a single-object
 * record may name by fingerprint: the current ones and those of `schemas/previous/<version>/`
 * (complete snapshots; copy the whole directory there before changing a schema).
 */
export class SchemaCatalog {
  private readonly writersByFingerprint = new Map<string, CatalogEntry>();

  private constructor(
    readonly directory: string,
    private readonly entries: ReadonlyMap<string, CatalogEntry>,
    previousEntries: readonly CatalogEntry[],
  ) {
    for (const entry of [...entries.values(), ...previousEntries]) this.addWriter(entry);
  }

  static load(options: SchemaCatalogOptions = {}): SchemaCatalog {
    const directory = options.directory === undefined ? defaultSchemaDirectory() : toPath(options.directory);
    const current = new Map(loadEntries(directory).map((entry) => [entry.name, entry]));
    const previous = previousVersionDirectories(directory).flatMap((path) => loadEntries(path));
    return new SchemaCatalog(directory, current, previous);
  }

  /** Record names (without namespace), sorted. */
  recordNames(): string[] {
    return [...this.entries.keys()].sort();
  }

  has(recordName: string): boolean {
    return this.entries.has(recordName);
  }

  entry(recordName: string): CatalogEntry {
    const entry = this.entries.get(recordName);
    if (!entry) {
      throw new CodecError('CODEC_UNKNOWN_SCHEMA', `no record ${recordName} in ${this.directory} (known: ${this.recordNames().join(', ')})`);
    }
    return entry;
  }

  type(recordName: string): Type {
    return this.entry(recordName).type;
  }

  /** The writer schema a single-object fingerprint names, current or previous version. */
  writerByFingerprint(fingerprint: Uint8Array): CatalogEntry | undefined {
    return this.writersByFingerprint.get(Buffer.from(fingerprint).toString('hex'));
  }

  /** Self-contained schema text for a registry: named types inlined, docs and defaults kept. */
  registrySchema(recordName: string): string {
    return JSON.stringify(this.type(recordName).schema({ exportAttrs: true }));
  }

  /** DESIGN 7 rendering of a value: optional fields null, bytes base64, longs numbers. */
  toPlainJson(recordName: string, value: unknown): PlainJson {
    return toPlainJson(this.type(recordName), value, recordName);
  }

  /** Inverse of toPlainJson; the result encodes with this record's schema. */
  fromPlainJson(recordName: string, json: unknown): unknown {
    return fromPlainJson(this.type(recordName), json, recordName);
  }

  private addWriter(entry: CatalogEntry): void {
    const key = entry.fingerprint.toString('hex');
    const known = this.writersByFingerprint.get(key);
    if (known && known.canonicalForm !== entry.canonicalForm) {
      throw new CodecError('CODEC_SCHEMA_LOAD', `fingerprint collision ${key}: ${known.file} and ${entry.file}`);
    }
    if (!known) this.writersByFingerprint.set(key, entry);
  }
}
