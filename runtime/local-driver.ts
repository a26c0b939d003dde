import { partitionFor } from './partitioner.js';
import type { TopicSerde } from './serde.js';
import { Task, type RawInput, type UnitOfWork } from './task.js';
import { allTopics, checkTopology, taskCount, topicSpec, type Topology } from './topology-types.js';
import type { Headers, MetricsSink } from './types.js';
import { CommittedWrites, type CommittedWriteListener, type HostedPartition, type HostedStores } from '../state/query.js';
import type { StoreBackend } from '../state/store.js';

/** A record in one of the driver's in-memory topic logs. */
export interface LocalRecord {
  readonly partition: number;
  readonly offset: number;
  readonly key: string | null;
  readonly value: Buffer | null;
  readonly headers: Headers;
  readonly timestamp: number;
}

export interface PipeInput {
  readonly key?: string | null;
  readonly value: Buffer | null;
  readonly partition?: number;
  readonly headers?: Headers;
  readonly timestamp?: number;
}

/**
 * The in-process driver, like Kafka Streams' TopologyTestDriver: topics are in-memory logs,
 * every task runs the same Processor code as on Kafka, deterministically (processors in
 * topology order, partitions in order, one unit of work per batch). Used by unit tests and by
 * the offline `ledger replay`.
 */
export class LocalDriver implements HostedStores {
  private readonly logs = new Map<string, LocalRecord[][]>();
  private readonly tasks: Task[] = [];
  /** Next offset each task reads, per input topic: `${taskId}|${topic}` → offset. */
  private readonly positions = new Map<string, number>();
  private readonly committed = new CommittedWrites();
  private nowMs: number;

  private constructor(
    private readonly topology: Topology,
    startWallClockMs: number,
  ) {
    this.nowMs = startWallClockMs;
    for (const t of allTopics(topology)) this.logs.set(t.name, Array.from({ length: t.partitions }, () => []));
  }

  static async create(options: {
    topology: Topology;
    backend: StoreBackend;
    serde: TopicSerde;
    wallClockMs?: number;
    metrics?: MetricsSink;
  }): Promise<LocalDriver> {
    checkTopology(options.topology);
    const driver = new LocalDriver(options.topology, options.wallClockMs ?? 0);
    for (const spec of options.topology.processors) {
      for (let partition = 0; partition < taskCount(options.topology, spec); partition++) {
        const task = await Task.open({
          topology: options.topology,
          spec,
          partition,
          backend: options.backend,
          serde: options.serde,
          clock: () => driver.nowMs,
          metrics: options.metrics,
          committed: driver.committed,
        });
        await task.init();
        driver.tasks.push(task);
      }
    }
    return driver;
  }

  wallClockMs(): number {
    return this.nowMs;
  }

  /** Appends one record to an input topic (partitioned like Kafka's producer) and runs to quiescence. */
  async pipe(topic: string, input: PipeInput): Promise<void> {
    this.append(topic, input);
    await this.runUntilIdle();
  }

  /** Appends many records, then runs: batches are as large as the input allows. */
  async pipeAll(topic: string, inputs: Iterable<PipeInput>): Promise<void> {
    for (const input of inputs) this.append(topic, input);
    await this.runUntilIdle();
  }

  async advanceWallClock(ms: number): Promise<void> {
    this.nowMs += ms;
    for (const task of this.tasks) {
      const work = await task.punctuate(this.nowMs);
      if (work) await this.commit(task, work);
    }
    await this.runUntilIdle();
  }

  /** Signals the end of a finite input (replay): processors may flush, e.g. seal open batches. */
  async endOfInput(): Promise<void> {
    await this.runUntilIdle();
    for (const task of this.tasks) await this.commit(task, await task.endOfInput());
    await this.runUntilIdle();
  }

  /** The records of a topic, partition by partition, in offset order. */
  records(topic: string): LocalRecord[] {
    return this.log(topic).flat();
  }

  partitionsOf(topic: string): readonly (readonly LocalRecord[])[] {
    return this.log(topic);
  }

  onCommitted(store: string, listener: CommittedWriteListener): void {
    this.committed.on(store, listener);
  }

  /** Every partition of a store (all tasks run here); see state/query.ts. */
  hosted(store: string): HostedPartition[] {
    return this.tasks.filter((t) => t.storeNames().includes(store)).map((t) => ({ partition: t.partition, store: t.storePartition(store) }));
  }

  async close(): Promise<void> {
    for (const task of this.tasks) await task.close();
  }

  private append(topic: string, input: PipeInput): void {
    const partitions = this.log(topic);
    const key = input.key ?? null;
    const partition = input.partition ?? partitionFor(key, partitions.length, 0);
    const log = partitions[partition];
    if (!log) throw new Error(`topic ${topic} has no partition ${partition}`);
    log.push({
      partition,
      offset: log.length,
      key,
      value: input.value,
      headers: input.headers ?? {},
      timestamp: input.timestamp ?? this.nowMs,
    });
  }

  private async runUntilIdle(): Promise<void> {
    for (let progressed = true; progressed; ) {
      progressed = false;
      for (const task of this.tasks) {
        for (const topic of task.spec.inputs) {
          const positionKey = `${task.id}|${topic}`;
          const from = this.positions.get(positionKey) ?? 0;
          const log = this.log(topic)[task.partition];
          if (from >= log.length) continue;
          const batch: RawInput[] = log.slice(from).map((r) => ({ ...r, topic }));
          this.positions.set(positionKey, log.length);
          await this.commit(task, await task.processBatch(batch));
          progressed = true;
        }
      }
    }
  }

  /** The in-process commit: append outputs and changelog records, then apply store writes. */
  private async commit(task: Task, work: UnitOfWork): Promise<void> {
    for (const out of work.outputs) {
      const log = this.log(out.topic)[out.partition];
      log.push({ partition: out.partition, offset: log.length, key: out.key, value: out.value, headers: out.headers, timestamp: out.timestamp });
    }
    const offsets = new Map<string, number | null>();
    for (const write of work.changelog) {
      const log = this.log(write.topic)[write.partition];
      for (const entry of write.entries) {
        log.push({ partition: write.partition, offset: log.length, key: entry.key, value: entry.value, headers: {}, timestamp: this.nowMs });
      }
      offsets.set(write.store, log.length - 1);
    }
    await task.applyCommitted(work, offsets);
  }

  private log(topic: string): LocalRecord[][] {
    const log = this.logs.get(topic);
    if (!log) throw new Error(`unknown topic ${topic} (declared: ${topicSpec(this.topology, topic).name})`);
    return log;
  }
}
