// The validate processor (DESIGN.md 3): every export ends as a ValidatedExport re-keyed to
// tenantId/runId, or as a Rejection carrying code, message, source and the original bytes.
// The checks themselves are contracts/export.ts; this module is the stream around them.
import { MAX_EXPORT_BYTES } from '../contracts/export.js';
import { detectFormat } from '../runtime/codec.js';
import type { KeyringSource } from '../runtime/keyring-source.js';
import type { InputRecord, Processor, ProcessorContext } from '../runtime/types.js';
import { compiledModuleUrl, WorkerPool } from '../runtime/worker-pool.js';
import { keyringToTransfer, rejectionValue, runKey, validatedValue, validateOutcome, type ValidateItem, type ValidateOutcome } from './validate-core.js';
import type { WorkerConfig } from './validate-worker.js';
import { validateChunkCodec, type ValidateWire } from './validate-wire.js';

export interface ValidateTopics {
  readonly input: string;
  readonly validated: string;
  readonly rejected: string;
}

export type ValidatePool = WorkerPool<WorkerConfig, ValidateItem, ValidateOutcome, ValidateWire>;

export interface ValidateOptions {
  readonly topics: ValidateTopics;
  readonly keyring: KeyringSource;
  readonly signaturesRequired: boolean;
  /** Worker threads shared by all validate tasks of the process (null: validate inline). */
  readonly pool: ValidatePool | null;
}

/** Below this many records a batch is validated inline: a worker round trip costs more. */
const MIN_RECORDS_FOR_POOL = 8;

export class ValidateProcessor implements Processor<Buffer> {
  private context!: ProcessorContext;

  constructor(private readonly options: ValidateOptions) {}

  init(context: ProcessorContext): void {
    this.context = context;
  }

  process(record: InputRecord<Buffer>): Promise<void> {
    return this.processBatch([record]);
  }

  async processBatch(records: ReadonlyArray<InputRecord<Buffer>>): Promise<void> {
    const items = records.map((r) => this.toItem(r));
    // Only Avro values wait for the codec; a batch of JSON values costs no promise per record.
    const ready = items.some((item) => item instanceof Promise) ? await Promise.all(items) : (items as ValidateItem[]);
    const results = await this.validate(ready);
    records.forEach((record, i) => this.emit(record, results[i]));
  }

  private async validate(items: readonly ValidateItem[]): Promise<readonly ValidateOutcome[]> {
    const { pool, keyring, signaturesRequired } = this.options;
    if (pool && items.length >= MIN_RECORDS_FOR_POOL) return pool.map(items);
    const settings = { keyring: keyring.current(), signaturesRequired, clockMs: () => performance.now() };
    return items.map((item) => validateOutcome(item, settings));
  }

  /** Avro values are decoded here (the codec lives on this thread); JSON is parsed by the contract. */
  private toItem(record: InputRecord<Buffer>): ValidateItem | Promise<ValidateItem> {
    const bytes = record.raw ?? Buffer.alloc(0);
    const base = { bytes, headers: record.headers };
    // #1 before any parsing work: an oversized value is never decoded.
    if (bytes.byteLength > MAX_EXPORT_BYTES) return base;
    const format = detectFormat(bytes);
    if (format !== 'single-object' && format !== 'confluent') return base;
    return this.decodeItem(record.topic, bytes, base);
  }

  private async decodeItem(topic: string, bytes: Buffer, base: ValidateItem): Promise<ValidateItem> {
    try {
      // Spelled out rather than spread: cheaper per record on Node 20 (README, Benchmarks).
      return { bytes: base.bytes, headers: base.headers, decoded: plainObject(await this.context.decode(topic, bytes)) };
    } catch (error) {
      return { bytes: base.bytes, headers: base.headers, undecodable: error instanceof Error ? error.message : String(error) };
    }
  }

  private emit(record: InputRecord<Buffer>, result: ValidateOutcome): void {
    if (result.verifySeconds !== undefined) this.context.observe('dsse_verify_seconds', result.verifySeconds);
    const source = { topic: record.topic, partition: record.partition, offset: record.offset };
    const original = record.raw ?? Buffer.alloc(0);
    if (result.ok) {
      this.context.forward({
        topic: this.options.topics.validated,
        key: runKey(result.tenantId, result.runId),
        value: validatedValue(result, source, original),
        timestamp: record.timestamp,
      });
      this.context.recordOutcome('validated');
      return;
    }
    const known = result.tenantId !== undefined && result.runId !== undefined;
    this.context.forward({
      topic: this.options.topics.rejected,
      key: known ? runKey(result.tenantId as string, result.runId as string) : null,
      value: rejectionValue({ code: result.code, message: result.message, stage: 'validate', runId: result.runId, tenantId: result.tenantId, source, original }),
      timestamp: record.timestamp,
    });
    this.context.recordOutcome('rejected', result.code);
  }
}

/** avsc records carry a generated prototype; the contract wants plain JSON-like data. */
function plainObject(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value)) as unknown;
}

const poolConfig = (keyring: KeyringSource, signaturesRequired: boolean): WorkerConfig => ({
  keys: keyringToTransfer(keyring.current()),
  signaturesRequired,
});

/** Validate worker threads that follow the keyring: a reload reaches every batch validated after it. */
export function createValidatePool(options: { workers: number; keyring: KeyringSource; signaturesRequired: boolean }): ValidatePool {
  const { workers, keyring, signaturesRequired } = options;
  const pool: ValidatePool = new WorkerPool(compiledModuleUrl(import.meta.url, './validate-worker.js'), workers, poolConfig(keyring, signaturesRequired), validateChunkCodec);
  keyring.onChange(() => pool.configure(poolConfig(keyring, signaturesRequired)));
  return pool;
}
