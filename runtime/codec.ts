import type { Resolver, Type } from 'avsc';
import { findBodyProblem } from './avro-body-guard.js';
import { FrameWriter } from './avro-frame-writer.js';
import {
  asBuffer,
  confluentHeader,
  detectFormat,
  singleObjectHeader,
  unframeConfluent,
  unframeSingleObject,
} from './avro-wire.js';
import type { CatalogEntry, SchemaCatalog } from './codec-catalog.js';
import { CodecError, describeCause } from './codec-errors.js';
import { assertMatchesSchema } from './codec-plain-json.js';
import { RegistryClient, subjectForTopic, type RegistryConnection } from './codec-registry.js';

export { detectFormat, type WireFormat } from './avro-wire.js';
export { CodecError, isCodecError, type CodecErrorCode } from './codec-errors.js';
export { SchemaCatalog, defaultSchemaDirectory, type CatalogEntry, type SchemaCatalogOptions } from './codec-catalog.js';
export { subjectForTopic, type RegistryConnection } from './codec-registry.js';
export type { PlainJson } from './codec-plain-json.js';

/** Encodes a topic's values and decodes whatever format a producer used. */
export interface ValueCodec {
  encode(topic: string, value: unknown): Promise<Buffer>;
  decode(topic: string, bytes: Uint8Array): Promise<unknown>;
}

export interface ValueCodecOptions {
  readonly catalog: SchemaCatalog;
  /** topic → record name of its values, e.g. `{ 'ledger.events': 'LedgerEvent' }`. */
  readonly topics: Readonly<Record<string, string>>;
  /** Topics whose producers may write JSON objects instead of Avro (the input topics). */
  readonly jsonTopics?: readonly string[];
  /** When set, values are written in the Confluent wire format with ids from this registry. */
  readonly registry?: RegistryConnection;
}

export type EncodingMode = 'single-object' | 'confluent';

// A writer schema we can read a body with: from a single-object fingerprint or a registry id.
interface Writer {
  readonly type: Type;
  readonly label: string;
}

// How to read one topic's bodies written with one writer schema (null resolver: the reader's own).
interface ReadPlan {
  readonly writer: Writer;
  readonly resolver: Resolver | null;
}

const NO_UNDECLARED_FIELDS = { noUndeclaredFields: true } as const;

const utf8 = new TextDecoder('utf-8', { fatal: true });

const hexPrefix = (bytes: Uint8Array): string => Buffer.from(bytes.subarray(0, 8)).toString('hex');

/**
 * The Avro codec of DESIGN 6. Writes single-object encoding (0xC3 0x01 + CRC-64-AVRO) without a
 * registry, the Confluent wire format (0x00 + schema id) with one; reads both in either mode,
 * plus JSON on `jsonTopics`. Readers resolve older writer schemas into the current record.
 *
 * Decoded Avro values are avsc records parsed without methods: only the schema's fields, as own
 * enumerable properties (deep-equal to plain objects; the prototype is a generated constructor).
 * `long` fields are JS numbers, exact up to 2^53 (offsets and sequence numbers stay far below);
 * a body holding a larger long is reported as corrupt rather than rounded, and encoding one is
 * refused. `bytes` fields decode to Buffers. Absent optional fields are written as null.
 */
export class AvroValueCodec implements ValueCodec {
  readonly mode: EncodingMode;
  private readonly jsonTopics: ReadonlySet<string>;
  private readonly registry: RegistryClient | undefined;
  private readonly resolvers = new Map<string, Resolver | null>();
  /** topic → single-object fingerprint (8 bytes as latin1) → plan: no per-record string building. */
  private readonly singleObjectPlans = new Map<string, Map<string, ReadPlan>>();
  /** topic → header to write before its bodies (fixed once the schema id is known). */
  private readonly headers = new Map<string, Buffer>();
  private readonly writer = new FrameWriter();
  private registration: Promise<ReadonlyMap<string, number>> | undefined;

  constructor(private readonly options: ValueCodecOptions) {
    for (const [topic, recordName] of Object.entries(options.topics)) {
      if (!options.catalog.has(recordName)) {
        throw new CodecError('CODEC_UNKNOWN_SCHEMA', `topic ${topic} maps to record ${recordName}, which is not in ${options.catalog.directory}`);
      }
    }
    this.jsonTopics = new Set(options.jsonTopics ?? []);
    this.registry = options.registry ? new RegistryClient(options.registry) : undefined;
    this.mode = this.registry ? 'confluent' : 'single-object';
  }

  get catalog(): SchemaCatalog {
    return this.options.catalog;
  }

  /** Record name of a topic's values. */
  recordFor(topic: string): string {
    const recordName = this.options.topics[topic];
    if (recordName === undefined) throw new CodecError('CODEC_UNKNOWN_TOPIC', `no record declared for topic ${topic}`);
    return recordName;
  }

  /**
   * Registers every topic's schema under `<topic>-value` (BACKWARD). Call once at start-up so an
   * incompatible schema fails the deployment, not the first write. Idempotent; a failed attempt
   * is retried by the next call. Resolves to topic → schema id (empty without a registry).
   */
  registerAll(): Promise<ReadonlyMap<string, number>> {
    if (!this.registry) return Promise.resolve(new Map());
    this.registration ??= this.registerTopics(this.registry).catch((error: unknown) => {
      this.registration = undefined;
      throw error;
    });
    return this.registration;
  }

  async encode(topic: string, value: unknown): Promise<Buffer> {
    const entry = this.options.catalog.entry(this.recordFor(topic));
    // The plain check is cheap; the error hook that names the offending paths only runs for a
    // value already known not to match.
    if (!entry.type.isValid(value, NO_UNDECLARED_FIELDS)) assertMatchesSchema(entry.type, value, `topic ${topic}`);
    const header = this.headers.get(topic) ?? (await this.headerFor(topic, entry));
    try {
      return this.writer.write(header, entry.type, value);
    } catch (error) {
      throw new CodecError('CODEC_INVALID_VALUE', `topic ${topic}: cannot encode ${entry.fullName}: ${describeCause(error)}`, { cause: error });
    }
  }

  async decode(topic: string, bytes: Uint8Array): Promise<unknown> {
    const buffer = asBuffer(bytes);
    const reader = this.options.catalog.type(this.recordFor(topic));
    switch (detectFormat(buffer)) {
      case 'json':
        if (!this.jsonTopics.has(topic)) {
          throw new CodecError('CODEC_UNKNOWN_FORMAT', `topic ${topic}: JSON values are accepted only on input topics`);
        }
        return parseJsonObject(topic, buffer);
      case 'single-object':
        return this.decodeSingleObject(topic, reader, buffer);
      case 'confluent':
        return this.decodeConfluent(topic, reader, buffer);
      case 'unknown':
        throw new CodecError('CODEC_UNKNOWN_FORMAT', `topic ${topic}: value starting ${hexPrefix(buffer) || '(empty)'} is neither JSON, single-object nor Confluent Avro`);
    }
  }

  private async headerFor(topic: string, entry: CatalogEntry): Promise<Buffer> {
    const header = this.mode === 'single-object' ? singleObjectHeader(entry.fingerprint) : confluentHeader((await this.registerAll()).get(topic)!);
    this.headers.set(topic, header);
    return header;
  }

  private async registerTopics(registry: RegistryClient): Promise<ReadonlyMap<string, number>> {
    const schemaIds = new Map<string, number>();
    // One at a time: a handful of subjects, and a failure names the first offending one.
    for (const [topic, recordName] of Object.entries(this.options.topics)) {
      const schemaId = await registry.register(subjectForTopic(topic), this.options.catalog.registrySchema(recordName));
      schemaIds.set(topic, schemaId);
    }
    return schemaIds;
  }

  private decodeSingleObject(topic: string, reader: Type, bytes: Buffer): unknown {
    const framed = unframeSingleObject(bytes);
    if (!framed) throw new CodecError('CODEC_CORRUPT', `topic ${topic}: single-object header truncated (${bytes.length} bytes)`);
    let plans = this.singleObjectPlans.get(topic);
    if (!plans) {
      plans = new Map();
      this.singleObjectPlans.set(topic, plans);
    }
    const key = framed.fingerprint.toString('latin1');
    let plan = plans.get(key);
    if (!plan) {
      plan = this.singleObjectPlan(topic, reader, framed.fingerprint);
      plans.set(key, plan);
    }
    return this.readBody(topic, reader, plan, framed.body);
  }

  private singleObjectPlan(topic: string, reader: Type, fingerprint: Buffer): ReadPlan {
    const hex = fingerprint.toString('hex');
    const entry = this.options.catalog.writerByFingerprint(fingerprint);
    if (!entry) throw new CodecError('CODEC_UNKNOWN_SCHEMA', `topic ${topic}: single-object fingerprint ${hex} names no known schema`);
    const writer = { type: entry.type, label: `fingerprint ${hex}` };
    return { writer, resolver: this.resolverFor(topic, reader, writer) };
  }

  private async decodeConfluent(topic: string, reader: Type, bytes: Buffer): Promise<unknown> {
    const framed = unframeConfluent(bytes);
    if (!framed) throw new CodecError('CODEC_CORRUPT', `topic ${topic}: Confluent header truncated (${bytes.length} bytes)`);
    const label = `schema id ${framed.schemaId}`;
    if (!this.registry) {
      throw new CodecError('CODEC_UNKNOWN_SCHEMA', `topic ${topic}: Confluent-framed value (${label}) but no schema registry is configured`);
    }
    const writer = { type: await this.registry.writerType(framed.schemaId), label };
    return this.readBody(topic, reader, { writer, resolver: this.resolverFor(topic, reader, writer) }, framed.body);
  }

  private readBody(topic: string, reader: Type, { writer, resolver }: ReadPlan, body: Buffer): unknown {
    // Input topics carry other teams' bytes; the others, what this pipeline's encoder wrote.
    const problem = findBodyProblem(writer.type, body, { utf8: this.jsonTopics.has(topic) });
    if (problem !== undefined) {
      throw new CodecError('CODEC_CORRUPT', `topic ${topic}: ${writer.label}: corrupt Avro body: ${problem}`);
    }
    try {
      return reader.fromBuffer(body, resolver ?? undefined);
    } catch (error) {
      throw new CodecError('CODEC_CORRUPT', `topic ${topic}: ${writer.label}: corrupt Avro body: ${describeCause(error)}`, { cause: error });
    }
  }

  // null = the writer is the reader itself; no resolution needed.
  private resolverFor(topic: string, reader: Type, writer: Writer): Resolver | null {
    const key = `${reader.name ?? ''}|${writer.label}`;
    const cached = this.resolvers.get(key);
    if (cached !== undefined) return cached;
    let resolver: Resolver | null;
    try {
      resolver = writer.type === reader || writer.type.equals(reader) ? null : reader.createResolver(writer.type);
    } catch (error) {
      throw new CodecError(
        'CODEC_SCHEMA_MISMATCH',
        `topic ${topic}: ${writer.label} (${writer.type.name ?? writer.type.typeName}) cannot be read as ${reader.name ?? reader.typeName}: ${describeCause(error)}`,
        { cause: error },
      );
    }
    this.resolvers.set(key, resolver);
    return resolver;
  }
}

function parseJsonObject(topic: string, bytes: Buffer): unknown {
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch (error) {
    throw new CodecError('CODEC_CORRUPT', `topic ${topic}: JSON value is not valid UTF-8`, { cause: error });
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new CodecError('CODEC_CORRUPT', `topic ${topic}: malformed JSON: ${describeCause(error)}`, { cause: error });
  }
}

export const createValueCodec = (options: ValueCodecOptions): AvroValueCodec => new AvroValueCodec(options);
