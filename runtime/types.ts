// The Processor API, in the spirit of Kafka Streams: processors see records, a context and
// stores — never a Kafka client. Both drivers (in-process and Kafka) run the same processors.

export type Headers = Readonly<Record<string, string>>;

/** Where a record was read from: carried into rejections and events as `source`. */
export interface SourceCoordinates {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
}

export interface InputRecord<V = unknown> {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  readonly key: string | null;
  /** Decoded value for typed topics; for `raw` topics the same bytes as `raw`. */
  readonly value: V;
  /** The bytes exactly as they were on the topic (null for a tombstone). */
  readonly raw: Buffer | null;
  readonly headers: Headers;
  readonly timestamp: number;
}

export interface OutputRecord {
  readonly topic: string;
  readonly key: string | null;
  readonly value: unknown;
  readonly headers?: Headers;
  /**
   * An explicit partition, for outputs that describe a partition rather than a key (Merkle
   * roots of ledger.events partition P go to partition P); default: murmur2 of the key.
   */
  readonly partition?: number;
  /** Defaults to the timestamp of the record being processed (or the punctuation time). */
  readonly timestamp?: number;
}

/** A processor's view of one state store, scoped to the task's partition and transaction. */
export interface KeyValueStore<V> {
  get(key: string): Promise<V | undefined>;
  /** Many keys in one read of the database (RocksDB's multi-get), answered as `get` would, in order. */
  getMany(keys: readonly string[]): Promise<Array<V | undefined>>;
  put(key: string, value: V): void;
  delete(key: string): void;
  /** Entries whose key starts with `prefix`, in key order, merged with this transaction's writes. */
  range(prefix: string): AsyncIterable<readonly [string, V]>;
}

export type Punctuator = (wallClockMs: number) => void | Promise<void>;

export interface ProcessorContext {
  readonly processorName: string;
  readonly partition: number;
  forward(record: OutputRecord): void;
  store<V>(name: string): KeyValueStore<V>;
  /** Wall-clock punctuation, like Kafka Streams' PunctuationType.WALL_CLOCK_TIME. */
  schedule(intervalMs: number, punctuator: Punctuator): void;
  /** The driver's wall clock (the in-process driver's is advanced by the test or replay). */
  wallClockMs(): number;
  /** Decodes a value of a typed topic (for processors that read raw input and decode late). */
  decode(topic: string, bytes: Buffer): Promise<unknown>;
  /** Counts a record's outcome (ledger_records_total, and ledger_rejected_total by code). */
  recordOutcome(outcome: string, code?: string): void;
  /** Records one observation of a histogram (counted, like outcomes, when the work commits). */
  observe(name: ObservationName, value: number): void;
}

export type ObservationName = 'merkle_batch_leaves' | 'dsse_verify_seconds';

/** Where the runtime reports committed outcomes and observations (metrics.ts in production). */
export interface MetricsSink {
  outcome(processor: string, outcome: string, code?: string): void;
  observe(processor: string, name: ObservationName, value: number): void;
  /** A batch of `topic` up to a record with this timestamp has been applied (committed). */
  applied(processor: string, topic: string, timestampMs: number): void;
  /** Records left between a committed batch and the end of its partition (Kafka driver only). */
  consumerLag(group: string, topic: string, partition: number, records: number): void;
}

export const NO_METRICS: MetricsSink = { outcome: () => undefined, observe: () => undefined, applied: () => undefined, consumerLag: () => undefined };

export interface Processor<V = unknown> {
  init?(context: ProcessorContext): void | Promise<void>;
  process(record: InputRecord<V>): void | Promise<void>;
  /**
   * Optional: a whole batch at once (records of one partition, in offset order), for processors
   * that can work on records in parallel; it must forward in record order. When present the
   * runtime calls it instead of `process`.
   */
  processBatch?(records: ReadonlyArray<InputRecord<V>>): Promise<void>;
  /**
   * Store keys a record will read, so the runtime can fetch a whole batch's keys in one
   * multi-get before processing (optional; a get of an unfetched key still works).
   */
  keysToPrefetch?(record: InputRecord<V>): ReadonlyArray<{ readonly store: string; readonly key: string }>;
  /** Called once when a finite input ends (offline replay), e.g. to seal open batches. */
  endOfInput?(): void | Promise<void>;
  close?(): void | Promise<void>;
}
