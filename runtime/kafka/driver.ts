import { randomUUID } from 'node:crypto';
import type { Admin, Consumer, EachBatchPayload, Kafka, Producer, TopicOffsets } from 'kafkajs';
import { CoPartitionedAssigner } from './assigner.js';
import { commitUnitOfWork } from './commit.js';
import { restoreStores } from './recovery.js';
import { BrokerUnavailableError, ensureTopics } from './topics.js';
import type { TopicSerde } from '../serde.js';
import { Task, type RawInput, type UnitOfWork } from '../task.js';
import { allTopics, changelogTopicName, checkTopology, consumerGroupId, FETCH_LIMITS, type ProcessorSpec, type Topology } from '../topology-types.js';
import type { Headers, MetricsSink } from '../types.js';
import type { StoreBackend } from '../../state/store.js';
import { CommittedWrites, type CommittedWriteListener, type HostedPartition, type HostedStores } from '../../state/query.js';

export interface DriverLogger {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

export interface KafkaDriverOptions {
  readonly topology: Topology;
  readonly kafka: Kafka;
  readonly backend: StoreBackend;
  readonly serde: TopicSerde;
  /** Which processors this instance runs (default: all). */
  readonly processors?: readonly string[];
  readonly logger: DriverLogger;
  /** How long a fetch may wait for data; bounds latency at low load. */
  readonly maxWaitTimeInMs?: number;
  readonly transactionTimeoutMs?: number;
  /**
   * Consumer session timeout. A member killed with SIGKILL keeps its partitions until this
   * expires, so it bounds fail-over time; heartbeats go out between the steps of a batch.
   */
  readonly sessionTimeoutMs?: number;
  /** Receives committed outcomes and observations. */
  readonly metrics?: MetricsSink;
  /** How often due punctuators are checked. */
  readonly punctuationTickMs?: number;
  /** How long start-up waits for an unreachable broker before failing (default 120 s). */
  readonly brokerWaitMs?: number;
}

const DEFAULT_BROKER_WAIT_MS = 120_000;

/** KafkaJS errors that mean "the broker is not answering" (as opposed to a refusal). */
export function isConnectionFailure(error: unknown): boolean {
  let e: unknown = error;
  for (let depth = 0; depth < 5 && e instanceof Error; depth++, e = (e as { originalError?: unknown }).originalError ?? e.cause) {
    if (e instanceof BrokerUnavailableError) return true;
    if (['KafkaJSConnectionError', 'KafkaJSRequestTimeoutError', 'KafkaJSBrokerNotFound', 'KafkaJSConnectionClosedError'].includes(e.name)) return true;
    if (/ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|not host this topic-partition|coordinator is (not available|loading)/i.test(e.message)) return true;
  }
  return false;
}

class Mutex {
  private tail: Promise<unknown> = Promise.resolve();
  run<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.tail.then(fn, fn);
    this.tail = result.catch(() => undefined);
    return result;
  }
}

const RETRY_BACKOFF_MS = 500;
const MAX_RETRY_BACKOFF_MS = 5_000;
/** Resolves after `ms`, or as soon as `signal` aborts. */
function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
  });
}
/** Wait before retry `attempt` (1, 2, …) of a step that needs the broker. */
const backoff = (attempt: number): Promise<void> => sleep(Math.min(RETRY_BACKOFF_MS * attempt, MAX_RETRY_BACKOFF_MS));

type TaskStatus = 'restoring' | 'ready' | 'closed';

interface TaskSlot {
  readonly partition: number;
  readonly lock: Mutex;
  status: TaskStatus;
  task: Task | null;
  producer: Producer | null;
}

/**
 * The Kafka driver: one consumer group per processor; per task (input partition P) one
 * transactional producer with the stable id `<app>-<processor>-P`, as Kafka Streams did before
 * KIP-447 (KafkaJS cannot fence by consumer generation — see KAFKA-NOTES.md). Each batch's
 * outputs, changelog records and input offsets commit in one transaction (commit.ts); a task
 * that arrives by rebalance is paused, fenced, restored (recovery.ts), sought to its committed
 * offset and resumed.
 */
export class KafkaDriver implements HostedStores {
  private readonly runners: ProcessorRunner[] = [];
  private admin: Admin | null = null;
  private readonly committed = new CommittedWrites();

  constructor(private readonly options: KafkaDriverOptions) {
    checkTopology(options.topology);
  }

  /**
   * Connects, creates the topics and starts each processor. `signal` is a stop requested while
   * starting: start-up ends before its next step and stops waiting for an absent broker (the
   * last connection failure is then thrown); what has started by then is for `stop()`.
   */
  async start(signal?: AbortSignal): Promise<void> {
    const { topology, kafka, processors } = this.options;
    const admin = await this.untilBrokerAnswers(signal, 'connect and create topics', async () => {
      const candidate = kafka.admin();
      try {
        await candidate.connect();
        for (const drift of await ensureTopics(candidate, allTopics(topology))) {
          this.options.logger.warn('existing topic differs from the topology; change it with kafka-configs --alter', { ...drift });
        }
        return candidate;
      } catch (error) {
        await candidate.disconnect().catch(() => undefined);
        throw error;
      }
    });
    this.admin = admin;
    const selected = topology.processors.filter((p) => !processors || processors.includes(p.name));
    for (const spec of selected) {
      if (signal?.aborted) return;
      const runner = new ProcessorRunner(this.options, spec, admin, this.committed);
      this.runners.push(runner);
      await this.untilBrokerAnswers(signal, `start ${spec.name}`, () => runner.start());
    }
  }

  /**
   * Start-up rides out a broker that is briefly away (a restart, a rolling upgrade), as Kafka
   * Streams clients do: connection failures are retried for `brokerWaitMs`, then reported.
   */
  private async untilBrokerAnswers<T>(signal: AbortSignal | undefined, what: string, step: () => Promise<T>): Promise<T> {
    const deadline = Date.now() + (this.options.brokerWaitMs ?? DEFAULT_BROKER_WAIT_MS);
    for (let attempt = 1; ; attempt++) {
      try {
        return await step();
      } catch (error) {
        if (!isConnectionFailure(error) || Date.now() > deadline || signal?.aborted) throw error;
        this.options.logger.warn('waiting for the broker', { step: what, attempt, error: describe(error) });
        await sleep(Math.min(1_000 * attempt, MAX_RETRY_BACKOFF_MS), signal);
        if (signal?.aborted) throw error;
      }
    }
  }

  /** Graceful stop: finishes the batch in flight, commits it, closes producers and stores. */
  async stop(): Promise<void> {
    for (const runner of this.runners) await runner.stop();
    this.runners.length = 0;
    await this.admin?.disconnect();
    this.admin = null;
  }

  /** True when every assigned task has restored its stores (readiness). */
  isReady(): boolean {
    return this.runners.length > 0 && this.runners.every((r) => r.isReady());
  }

  onCommitted(store: string, listener: CommittedWriteListener): void {
    this.committed.on(store, listener);
  }

  /** The restored partitions of a store assigned to this instance (state/query.ts). */
  hosted(store: string): HostedPartition[] {
    return this.runners.flatMap((r) => r.hosted(store));
  }
}

class ProcessorRunner {
  private consumer: Consumer;
  private readonly groupId: string;
  private readonly slots = new Map<number, TaskSlot>();
  private punctuationTimer: NodeJS.Timeout | null = null;
  private stopping = false;
  /** Partitions of the latest assignment (updated before tasks open or close). */
  private assigned = new Set<number>();
  private joined = false;
  /** Serialises assignment changes and consumer replacement: a store is never opened twice. */
  private readonly membership = new Mutex();
  /** Consumers replaced since the group last gave this instance an assignment (for back-off). */
  private replacements = 0;

  constructor(
    private readonly options: KafkaDriverOptions,
    private readonly spec: ProcessorSpec,
    private readonly admin: Admin,
    private readonly committed: CommittedWrites,
  ) {
    this.groupId = consumerGroupId(options.topology.appId, spec.name);
    this.consumer = this.newConsumer();
  }

  private newConsumer(): Consumer {
    const consumer = this.options.kafka.consumer({
      groupId: this.groupId,
      partitionAssigners: [CoPartitionedAssigner],
      readUncommitted: false,
      ...FETCH_LIMITS,
      maxWaitTimeInMs: this.options.maxWaitTimeInMs ?? 50,
      sessionTimeout: this.options.sessionTimeoutMs ?? 10_000,
      rebalanceTimeout: 30_000,
      heartbeatInterval: 1_000,
    });
    consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
      if (consumer !== this.consumer) return;
      this.joined = true;
      this.replacements = 0;
      const assigned = new Set<number>(Object.values(payload.memberAssignment).flat());
      this.assigned = assigned;
      this.options.logger.info('partitions assigned', { processor: this.spec.name, partitions: [...assigned].sort((a, b) => a - b) });
      void this.membership
        .run(() => this.onAssignment(assigned))
        .catch((error: unknown) => this.options.logger.error('task assignment failed', { processor: this.spec.name, error: describe(error) }));
    });
    // KafkaJS restarts its consumer after a retriable crash, but gives up for good on the others
    // (e.g. UNKNOWN_MEMBER_ID in a SyncGroup after a broker restart), which would leave this
    // process alive and consuming nothing. Kafka Streams replaces a dead stream thread; so do we.
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      if (consumer !== this.consumer || this.stopping || payload.restart) return;
      void this.membership
        .run(() => this.replaceConsumer(payload.error))
        .catch((error: unknown) => this.options.logger.error('consumer replacement failed', { processor: this.spec.name, error: describe(error) }));
    });
    return consumer;
  }

  isReady(): boolean {
    return this.joined && [...this.slots.values()].every((s) => s.status === 'ready');
  }

  hosted(store: string): HostedPartition[] {
    if (!this.spec.stores.includes(store)) return [];
    return [...this.slots.values()].flatMap((slot) => (slot.status === 'ready' && slot.task ? [{ partition: slot.partition, store: slot.task.storePartition(store) }] : []));
  }

  /** Connects and joins the group; safe to call again after a failed attempt. */
  async start(): Promise<void> {
    await this.runConsumer();
    const tick = this.options.punctuationTickMs ?? 100;
    this.punctuationTimer ??= setInterval(() => void this.punctuateDue(), tick);
  }

  private async runConsumer(): Promise<void> {
    await this.consumer.connect();
    await this.consumer.subscribe({ topics: [...this.spec.inputs], fromBeginning: true });
    await this.consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: 4,
      eachBatch: (payload) => this.onBatch(payload),
    });
  }

  /**
   * The dead consumer has left the group, so its partitions may be processed elsewhere before
   * they come back: every task closes, and reopens from its changelog on the next assignment.
   */
  private async replaceConsumer(cause: Error): Promise<void> {
    this.replacements++;
    this.options.logger.error('consumer stopped after an error KafkaJS does not retry; replacing it', { processor: this.spec.name, error: describe(cause), replacements: this.replacements });
    this.joined = false;
    this.assigned = new Set();
    for (const partition of [...this.slots.keys()]) await this.closeTask(partition);
    await this.consumer.disconnect().catch(() => undefined);
    // A cause that persists (say, a foreign member holding the group) fails each new consumer's
    // join at once: back off between replacements until one is given an assignment.
    await sleep(Math.min(RETRY_BACKOFF_MS * 2 ** (this.replacements - 1), MAX_RETRY_BACKOFF_MS));
    for (let attempt = 1; !this.stopping; attempt++) {
      this.consumer = this.newConsumer();
      try {
        await this.runConsumer();
        this.options.logger.info('consumer replaced', { processor: this.spec.name, attempts: attempt });
        return;
      } catch (error) {
        this.options.logger.warn('cannot start the replacement consumer yet; retrying', { processor: this.spec.name, attempt, error: describe(error) });
        await this.consumer.disconnect().catch(() => undefined);
        await backoff(attempt);
      }
    }
  }

  /** Each step is logged as it starts, so a stop that does not finish says where it is. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.punctuationTimer) clearInterval(this.punctuationTimer);
    const began = Date.now();
    const step = (name: string) => this.options.logger.info('stopping processor', { processor: this.spec.name, step: name, afterMs: Date.now() - began });
    step('waiting for an assignment change in progress');
    await this.membership.run(async () => {
      step('stopping the consumer (finishes the batch in flight)');
      await this.consumer.stop();
      await this.consumer.disconnect();
      step('closing tasks');
      for (const partition of [...this.slots.keys()]) await this.closeTask(partition);
      step('stopped');
    });
  }

  private async onAssignment(assigned: ReadonlySet<number>): Promise<void> {
    for (const partition of [...this.slots.keys()]) {
      if (!assigned.has(partition)) await this.closeTask(partition);
    }
    const added = [...assigned]
      .filter((partition) => !this.slots.has(partition))
      .map((partition) => {
        const slot: TaskSlot = { partition, lock: new Mutex(), status: 'restoring', task: null, producer: null };
        this.slots.set(partition, slot);
        this.pause(partition);
        return slot;
      });
    await this.openTasks(added);
  }

  /**
   * Opens paused tasks: fence, restore from the changelog, seek to the committed offsets, resume.
   * This needs the broker; while it is away the tasks stay paused and opening is retried — never
   * left half-open until the next rebalance — as long as they are still assigned here (the next
   * assignment closes the others). Runs under `membership`.
   */
  private async openTasks(slots: readonly TaskSlot[]): Promise<void> {
    let pending = slots;
    for (let attempt = 1; ; attempt++) {
      pending = pending.filter((slot) => this.slots.get(slot.partition) === slot && this.assigned.has(slot.partition) && !this.stopping);
      if (pending.length === 0) return;
      try {
        await Promise.all(pending.map((slot) => slot.lock.run(() => this.openTask(slot.partition))));
        await this.restore(pending);
        for (const slot of pending) await slot.lock.run(() => this.resumeRestored(slot));
        return;
      } catch (error) {
        this.options.logger.warn('cannot open tasks yet; retrying', { processor: this.spec.name, partitions: pending.map((s) => s.partition), attempt, error: describe(error) });
        for (const slot of pending) await slot.lock.run(() => this.releaseTask(slot));
        await backoff(attempt);
      }
    }
  }

  /** Brings the slots' stores up to the end of their changelogs (recovery.ts). */
  private async restore(slots: readonly TaskSlot[]): Promise<void> {
    const reports = await restoreStores(
      this.options.kafka,
      this.admin,
      slots.flatMap((slot) =>
        (slot.task as Task).storeNames().map((store) => ({
          topic: changelogTopicName(this.options.topology.appId, store),
          partition: slot.partition,
          store: (slot.task as Task).storePartition(store),
        })),
      ),
    );
    for (const r of reports.filter((r) => r.records > 0)) {
      this.options.logger.info('restored store from changelog', { processor: this.spec.name, ...r });
    }
  }

  /** Last step of opening a task (caller holds its lock): from the committed offsets on. */
  private async resumeRestored(slot: TaskSlot): Promise<void> {
    if (slot.status !== 'restoring' || !slot.task) return;
    await slot.task.init();
    await this.seekToCommitted(slot.partition);
    slot.status = 'ready';
    this.resume(slot.partition);
  }

  /** Opens stores and fences the previous owner of this task's transactional id. */
  private async openTask(partition: number): Promise<void> {
    const slot = this.slots.get(partition);
    if (!slot || slot.status !== 'restoring') return;
    slot.task = await Task.open({
      topology: this.options.topology,
      spec: this.spec,
      partition,
      backend: this.options.backend,
      serde: this.options.serde,
      clock: Date.now,
      metrics: this.options.metrics,
      committed: this.committed,
    });
    slot.producer = await this.fencedProducer(partition);
  }

  private async fencedProducer(partition: number): Promise<Producer> {
    const producer = this.options.kafka.producer({
      transactionalId: `${this.options.topology.appId}-${this.spec.name}-${partition}`,
      idempotent: true,
      maxInFlightRequests: 1,
      transactionTimeout: this.options.transactionTimeoutMs ?? 60_000,
      retry: { retries: 10, initialRetryTime: 100, maxRetryTime: 5_000 },
    });
    try {
      await producer.connect();
      // InitProducerId (done when the first transaction begins) bumps the epoch and aborts
      // whatever the previous owner left open; from here its commits are refused.
      const fence = await producer.transaction();
      await fence.abort();
      return producer;
    } catch (error) {
      // Not handed to the slot, so nobody else would close its connections.
      await producer.disconnect().catch(() => undefined);
      throw error;
    }
  }

  private async seekToCommitted(partition: number): Promise<void> {
    const committed = await this.admin.fetchOffsets({ groupId: this.groupId, topics: [...this.spec.inputs] });
    for (const topic of this.spec.inputs) {
      const entry = committed.find((t) => t.topic === topic)?.partitions.find((p) => p.partition === partition);
      let offset = entry ? Number(entry.offset) : -1;
      if (offset < 0) {
        const range = (await this.admin.fetchTopicOffsets(topic)).find((o) => o.partition === partition);
        offset = Number(range?.low ?? 0);
      }
      this.consumer.seek({ topic, partition, offset: String(offset) });
    }
  }

  private async closeTask(partition: number): Promise<void> {
    const slot = this.slots.get(partition);
    if (!slot) return;
    this.slots.delete(partition);
    await slot.lock.run(async () => {
      slot.status = 'closed';
      await this.releaseTask(slot);
    });
  }

  /** Closes a task's producer and stores (caller holds its lock). */
  private async releaseTask(slot: TaskSlot): Promise<void> {
    await slot.producer?.disconnect().catch(() => undefined);
    await slot.task?.close().catch(() => undefined);
    slot.producer = null;
    slot.task = null;
  }

  private async onBatch({ batch, resolveOffset, heartbeat, isStale, isRunning }: EachBatchPayload): Promise<void> {
    const slot = this.slots.get(batch.partition);
    if (!slot || slot.status !== 'ready') {
      // Not restored yet (or no longer ours): hold the partition; the restore resumes it.
      this.pause(batch.partition, batch.topic);
      return;
    }
    await slot.lock.run(async () => {
      if (slot.status !== 'ready' || !slot.task || !slot.producer || isStale() || !isRunning()) return;
      const records: RawInput[] = batch.messages.map((m) => ({
        topic: batch.topic,
        partition: batch.partition,
        offset: Number(m.offset),
        key: m.key === null ? null : m.key.toString('utf8'),
        value: m.value,
        headers: normaliseHeaders(m.headers),
        timestamp: Number(m.timestamp),
      }));
      const next = String(Number(batch.lastOffset()) + 1);
      const offsets: TopicOffsets[] = [{ topic: batch.topic, partitions: [{ partition: batch.partition, offset: next }] }];
      // No heartbeat between processing and commit: a rebalance error there would abandon a
      // good batch, and the transaction is what protects the output (a new owner fences us).
      try {
        const work = await slot.task.processBatch(records);
        await this.commit(slot, work, offsets);
        resolveOffset(batch.lastOffset());
        this.options.metrics?.consumerLag(this.groupId, batch.topic, batch.partition, Number(batch.offsetLag()));
      } catch (error) {
        await this.recoverTask(slot, error);
      }
    });
    await heartbeat().catch(() => undefined);
  }

  private async commit(slot: TaskSlot, work: UnitOfWork, inputOffsets: readonly TopicOffsets[]): Promise<void> {
    if (!slot.task || !slot.producer) throw new Error(`task ${this.spec.name}-${slot.partition} is not open`);
    await commitUnitOfWork({ producer: slot.producer, task: slot.task, work, consumerGroupId: this.groupId, inputOffsets });
  }

  /**
   * After a failed commit nothing local can be trusted: the transaction may have committed after
   * all (a lost EndTxn response during a broker restart), or another member may own the task
   * now and have moved its changelog and offsets on. So the task is closed and reopened the way
   * an assignment opens it (openTasks) — fence, restore from the changelog, seek to the
   * committed offsets — which is right in every case (Kafka Streams closes such a task dirty and
   * revives it). The caller holds the slot's lock; the reopening waits for it, after this returns.
   */
  private async recoverTask(slot: TaskSlot, error: unknown): Promise<void> {
    this.options.logger.warn('transaction failed; reopening the task from its changelog and committed offsets', { task: `${this.spec.name}-${slot.partition}`, error: describe(error) });
    slot.status = 'restoring';
    this.pause(slot.partition);
    await this.releaseTask(slot);
    void this.membership
      .run(() => this.openTasks([slot]))
      .catch((reopenError: unknown) => this.options.logger.error('task reopening failed', { processor: this.spec.name, error: describe(reopenError) }));
  }

  private async punctuateDue(): Promise<void> {
    const now = Date.now();
    for (const slot of this.slots.values()) {
      if (slot.status !== 'ready' || !slot.task || slot.task.nextPunctuationMs() > now) continue;
      await slot.lock
        .run(async () => {
          if (slot.status !== 'ready' || !slot.task) return;
          const work = await slot.task.punctuate(Date.now());
          if (!work) return;
          try {
            await this.commit(slot, work, []);
          } catch (error) {
            await this.recoverTask(slot, error);
          }
        })
        .catch((error: unknown) => this.options.logger.warn('punctuation failed; it runs again', { task: `${this.spec.name}-${slot.partition}`, error: describe(error) }));
    }
  }

  // Pausing or resuming a consumer that is being replaced throws in KafkaJS; its successor starts
  // with nothing paused and every task closed, so there is nothing to do then.
  private pause(partition: number, onlyTopic?: string): void {
    const topics = onlyTopic ? [onlyTopic] : this.spec.inputs;
    try {
      this.consumer.pause(topics.map((topic) => ({ topic, partitions: [partition] })));
    } catch {
      /* see above */
    }
  }

  private resume(partition: number): void {
    try {
      this.consumer.resume(this.spec.inputs.map((topic) => ({ topic, partitions: [partition] })));
    } catch {
      /* see above */
    }
  }
}

function normaliseHeaders(headers: Record<string, unknown> | undefined): Headers {
  const result: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers ?? {})) {
    const first = Array.isArray(value) ? value[0] : value;
    if (Buffer.isBuffer(first)) result[name] = first.toString('utf8');
    else if (typeof first === 'string') result[name] = first;
  }
  return result;
}

export function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

export const newInstanceId = (): string => randomUUID().slice(0, 8);
