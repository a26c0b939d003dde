import { partitionFor } from './partitioner.js';
import { SerdeError, type TopicSerde } from './serde.js';
import { isCodecError } from './codec-errors.js';
import { changelogTopicName, topicSpec, type ProcessorSpec, type Topology } from './topology-types.js';
import { NO_METRICS, type Headers, type InputRecord, type KeyValueStore, type MetricsSink, type ObservationName, type OutputRecord, type Processor, type ProcessorContext, type Punctuator } from './types.js';
import type { ChangelogEntry, StoreBackend, StorePartition } from '../state/store.js';
import { StoreTransaction } from '../state/transaction.js';
import type { CommittedWrites } from '../state/query.js';

/** A record as a driver hands it over: bytes, not yet decoded. */
export interface RawInput {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  readonly key: string | null;
  readonly value: Buffer | null;
  readonly headers: Headers;
  readonly timestamp: number;
}

export interface EncodedOutput {
  readonly topic: string;
  readonly partition: number;
  readonly key: string | null;
  readonly value: Buffer;
  readonly headers: Headers;
  readonly timestamp: number;
}

export interface ChangelogWrite {
  readonly store: string;
  readonly topic: string;
  readonly partition: number;
  readonly entries: readonly ChangelogEntry[];
}

/**
 * What one batch (or punctuation) produced: the outputs and changelog records a driver must
 * commit atomically, plus the store writes to apply locally once it has.
 */
export interface UnitOfWork {
  readonly outputs: readonly EncodedOutput[];
  readonly changelog: readonly ChangelogWrite[];
  /** Metrics to report once the unit is committed (so a retried batch is not counted twice). */
  readonly metrics: readonly PendingMetric[];
}

export type PendingMetric =
  | { readonly kind: 'outcome'; readonly outcome: string; readonly code?: string }
  | { readonly kind: 'observe'; readonly name: ObservationName; readonly value: number }
  | { readonly kind: 'applied'; readonly topic: string; readonly timestampMs: number };

interface PendingOutput {
  readonly record: OutputRecord;
  readonly timestamp: number;
}

interface Schedule {
  readonly intervalMs: number;
  readonly punctuator: Punctuator;
  nextMs: number;
}

/**
 * One processor instance on one partition, with its store partitions: the unit both drivers
 * run. It owns the processor's context; drivers own commits.
 */
export class Task {
  readonly id: string;
  private readonly processor: Processor;
  private transactions = new Map<string, StoreTransaction<unknown>>();
  private pendingOutputs: PendingOutput[] = [];
  private pendingMetrics: PendingMetric[] = [];
  private currentTimestamp = 0;
  private readonly schedules: Schedule[] = [];

  private constructor(
    private readonly topology: Topology,
    readonly spec: ProcessorSpec,
    readonly partition: number,
    private readonly stores: ReadonlyMap<string, StorePartition>,
    private readonly serde: TopicSerde,
    private readonly clock: () => number,
    private readonly metrics: MetricsSink,
    private readonly committed: CommittedWrites | null,
  ) {
    this.id = `${spec.name}-${partition}`;
    this.processor = spec.create();
  }

  static async open(options: {
    topology: Topology;
    spec: ProcessorSpec;
    partition: number;
    backend: StoreBackend;
    serde: TopicSerde;
    clock: () => number;
    metrics?: MetricsSink;
    /** Told about every store write once its unit of work has committed (state/query.ts). */
    committed?: CommittedWrites;
  }): Promise<Task> {
    const stores = new Map<string, StorePartition>();
    for (const name of options.spec.stores) stores.set(name, await options.backend.open(name, options.partition));
    return new Task(options.topology, options.spec, options.partition, stores, options.serde, options.clock, options.metrics ?? NO_METRICS, options.committed ?? null);
  }

  /** Calls the processor's init; separate from open so drivers can restore stores first. */
  async init(): Promise<void> {
    this.beginUnit();
    await this.processor.init?.(this.context());
    // Nothing an init writes is committed: init must only wire things up.
    this.beginUnit();
  }

  storePartition(name: string): StorePartition {
    const store = this.stores.get(name);
    if (!store) throw new Error(`task ${this.id} has no store ${name}`);
    return store;
  }

  storeNames(): readonly string[] {
    return [...this.stores.keys()];
  }

  async processBatch(records: readonly RawInput[]): Promise<UnitOfWork> {
    this.beginUnit();
    const decoded: InputRecord[] = [];
    for (const raw of records) {
      const record = await this.decodeOrDeadLetter(raw);
      if (record) decoded.push(record);
    }
    // When every record went to the dead-letter topic, there is nothing for the processor.
    if (decoded.length > 0) {
      await this.prefetch(decoded);
      if (this.processor.processBatch) {
        // Outputs of a batch processor carry the timestamp of the last record (one unit of work).
        this.currentTimestamp = decoded[decoded.length - 1].timestamp;
        await this.processor.processBatch(decoded);
      } else {
        for (const record of decoded) {
          this.currentTimestamp = record.timestamp;
          await this.processor.process(record);
        }
      }
      const timestampMs = decoded.reduce((newest, r) => Math.max(newest, r.timestamp), -Infinity);
      this.pendingMetrics.push({ kind: 'applied', topic: decoded[0].topic, timestampMs });
    }
    return this.finishUnit();
  }

  /** Runs the punctuators that are due at `nowMs`; null when none was. */
  async punctuate(nowMs: number): Promise<UnitOfWork | null> {
    const due = this.schedules.filter((s) => s.nextMs <= nowMs);
    if (due.length === 0) return null;
    this.beginUnit();
    this.currentTimestamp = nowMs;
    for (const s of due) {
      s.nextMs = nowMs + s.intervalMs;
      await s.punctuator(nowMs);
    }
    return this.finishUnit();
  }

  /** Earliest time a punctuator is due (Infinity when none is scheduled). */
  nextPunctuationMs(): number {
    return Math.min(Infinity, ...this.schedules.map((s) => s.nextMs));
  }

  async endOfInput(): Promise<UnitOfWork> {
    this.beginUnit();
    this.currentTimestamp = this.clock();
    await this.processor.endOfInput?.();
    return this.finishUnit();
  }

  /** After the driver committed `work`: apply its store writes with their changelog offsets. */
  async applyCommitted(work: UnitOfWork, changelogOffsets: ReadonlyMap<string, number | null>): Promise<void> {
    for (const write of work.changelog) {
      await this.storePartition(write.store).write(write.entries, changelogOffsets.get(write.store) ?? null);
      this.committed?.emit(write.store, this.partition, write.entries);
    }
    for (const m of work.metrics) {
      if (m.kind === 'outcome') this.metrics.outcome(this.spec.name, m.outcome, m.code);
      else if (m.kind === 'observe') this.metrics.observe(this.spec.name, m.name, m.value);
      else this.metrics.applied(this.spec.name, m.topic, m.timestampMs);
    }
  }

  async close(): Promise<void> {
    await this.processor.close?.();
    for (const store of this.stores.values()) await store.close();
  }

  private beginUnit(): void {
    this.transactions = new Map();
    for (const [name, partition] of this.stores) this.transactions.set(name, new StoreTransaction<unknown>(partition));
    this.pendingOutputs = [];
    this.pendingMetrics = [];
  }

  private async finishUnit(): Promise<UnitOfWork> {
    const outputs = await Promise.all(this.pendingOutputs.map((p) => this.encodeOutput(p)));
    const changelog: ChangelogWrite[] = [];
    for (const [store, tx] of this.transactions) {
      if (tx.size === 0) continue;
      changelog.push({ store, topic: changelogTopicName(this.topology.appId, store), partition: this.partition, entries: tx.changes() });
    }
    const metrics = this.pendingMetrics;
    this.pendingOutputs = [];
    this.pendingMetrics = [];
    return { outputs, changelog, metrics };
  }

  private async prefetch(records: readonly InputRecord[]): Promise<void> {
    const hint = this.processor.keysToPrefetch?.bind(this.processor);
    if (!hint) return;
    const byStore = new Map<string, string[]>();
    for (const record of records) {
      for (const { store, key } of hint(record)) {
        const keys = byStore.get(store) ?? [];
        keys.push(key);
        byStore.set(store, keys);
      }
    }
    for (const [store, keys] of byStore) await this.transactionOf(store).prefetch(keys);
  }

  private async decode(raw: RawInput): Promise<InputRecord> {
    const value = raw.value === null ? null : await this.serde.decode(raw.topic, raw.value);
    // Spelled out: on Node 20 a spread followed by a new property costs ~1 µs per record (see README, Benchmarks).
    return { topic: raw.topic, partition: raw.partition, offset: raw.offset, key: raw.key, value, raw: raw.value, headers: raw.headers, timestamp: raw.timestamp };
  }

  /** The decoded record, or null when its value can never be decoded and went to the dead-letter topic. */
  private async decodeOrDeadLetter(raw: RawInput): Promise<InputRecord | null> {
    try {
      return await this.decode(raw);
    } catch (error) {
      const deadLetter = this.topology.deadLetter;
      if (!deadLetter || raw.value === null || !isPermanentDecodeFailure(error)) throw error;
      const reason = error instanceof Error ? error.message : String(error);
      const { key, value, code } = deadLetter.record({ processor: this.spec.name, topic: raw.topic, partition: raw.partition, offset: raw.offset, value: raw.value, reason });
      this.pendingOutputs.push({ record: { topic: deadLetter.topic, key, value }, timestamp: raw.timestamp });
      this.pendingMetrics.push({ kind: 'outcome', outcome: 'rejected', code });
      return null;
    }
  }

  private async encodeOutput({ record, timestamp }: PendingOutput): Promise<EncodedOutput> {
    const count = topicSpec(this.topology, record.topic).partitions;
    if (record.partition !== undefined && !(Number.isInteger(record.partition) && record.partition >= 0 && record.partition < count)) {
      throw new Error(`processor ${this.spec.name} forwarded to ${record.topic} partition ${record.partition}, which has ${count} partitions`);
    }
    return {
      topic: record.topic,
      partition: record.partition ?? partitionFor(record.key, count, this.partition),
      key: record.key,
      value: await this.serde.encode(record.topic, record.value),
      headers: record.headers ?? {},
      timestamp,
    };
  }

  private transactionOf(store: string): StoreTransaction<unknown> {
    const tx = this.transactions.get(store);
    if (!tx) throw new Error(`processor ${this.spec.name} did not declare store ${store}`);
    return tx;
  }

  private context(): ProcessorContext {
    const facades = new Map<string, KeyValueStore<unknown>>();
    const task = this;
    return {
      processorName: this.spec.name,
      partition: this.partition,
      forward: (record) => {
        if (!task.spec.outputs.includes(record.topic)) {
          throw new Error(`processor ${task.spec.name} forwarded to undeclared topic ${record.topic}`);
        }
        task.pendingOutputs.push({ record, timestamp: record.timestamp ?? task.currentTimestamp });
      },
      store<V>(name: string): KeyValueStore<V> {
        task.transactionOf(name);
        let facade = facades.get(name);
        if (!facade) {
          // Stable object for processors to keep from init; it always targets the current batch.
          facade = {
            get: (key) => task.transactionOf(name).get(key),
            getMany: (keys) => task.transactionOf(name).getMany(keys),
            put: (key, value) => task.transactionOf(name).put(key, value),
            delete: (key) => task.transactionOf(name).delete(key),
            range: (prefix) => task.transactionOf(name).range(prefix),
          };
          facades.set(name, facade);
        }
        return facade as KeyValueStore<V>;
      },
      schedule: (intervalMs, punctuator) => {
        task.schedules.push({ intervalMs, punctuator, nextMs: task.clock() + intervalMs });
      },
      wallClockMs: () => task.clock(),
      decode: (topic, bytes) => task.serde.decodeOnDemand(topic, bytes),
      recordOutcome: (outcome, code) => void task.pendingMetrics.push(code === undefined ? { kind: 'outcome', outcome } : { kind: 'outcome', outcome, code }),
      observe: (name, value) => void task.pendingMetrics.push({ kind: 'observe', name, value }),
    };
  }
}

/** A value that no retry will decode: not a registry that is away (CodecError.transient). */
function isPermanentDecodeFailure(error: unknown): boolean {
  if (isCodecError(error)) return !error.transient;
  return error instanceof SerdeError;
}
