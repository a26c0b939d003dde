import type { Processor } from './types.js';

/** How a topic's values are encoded. `raw` topics hand processors the bytes as they came. */
export type ValueFormat =
  | { readonly kind: 'avro'; readonly record: string }
  | { readonly kind: 'json' }
  /** Bytes as they came; `record` names the Avro record producers may use (decoded on demand). */
  | { readonly kind: 'raw'; readonly record?: string };

export interface TopicSpec {
  readonly name: string;
  readonly partitions: number;
  readonly replicationFactor?: number;
  /** Broker-side topic configs, e.g. `cleanup.policy: compact`. */
  readonly config?: Readonly<Record<string, string>>;
  readonly value: ValueFormat;
  readonly doc?: string;
}

export interface StoreSpec {
  readonly name: string;
  readonly doc?: string;
}

export interface ProcessorSpec {
  readonly name: string;
  /** Co-partitioned input topics: task P reads partition P of each. */
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly stores: readonly string[];
  /** A fresh instance per task (processor × partition), as in Kafka Streams. */
  readonly create: () => Processor;
}

export interface Topology {
  /** Prefix of consumer groups, transactional ids and changelog topics. */
  readonly appId: string;
  readonly topics: readonly TopicSpec[];
  readonly stores: readonly StoreSpec[];
  readonly processors: readonly ProcessorSpec[];
  /** Where input records go whose value can never be decoded; without one, such a record fails its batch. */
  readonly deadLetter?: DeadLetter;
}

/** An input record a processor could not decode: its coordinates and bytes, and why. */
export interface UndecodableInput {
  readonly processor: string;
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  readonly value: Buffer;
  readonly reason: string;
}

/**
 * Kafka Streams' DeserializationExceptionHandler, continuing: a value that cannot be decoded for
 * good (unknown schema id, damaged bytes, a schema that does not resolve) would otherwise fail
 * its batch again on every retry and hold its partition forever. It goes to the dead-letter
 * topic instead, in the same transaction as the batch's other outputs; a registry that is merely
 * unreachable is not this case (the batch is retried).
 */
export interface DeadLetter {
  readonly topic: string;
  /** The dead-letter record for `input`, and the code it is counted under. */
  record(input: UndecodableInput): { readonly key: string | null; readonly value: unknown; readonly code: string };
}

export class TopologyError extends Error {
  readonly code = 'TOPOLOGY_INVALID' as const;
}

export const changelogTopicName = (appId: string, store: string): string => `${appId}-${store}-changelog`;

/** The consumer group of a processor of the application `appId`. */
export const consumerGroupId = (appId: string, processor: string): string => `${appId}-${processor}`;

/**
 * max.message.bytes of every topic the pipeline creates. A record the broker refuses aborts its
 * transaction each time it is retried, which halts that task's partition for every tenant on it,
 * so the limit must hold the largest record a valid 1 MiB input can lead to: a validated export
 * carries the original next to its parsed fields and key (measured up to 4 MiB), and a store
 * value holds an export's free-text fields as JSON, where a control character takes 6 bytes
 * (measured up to 7 MiB with its key). The broker's default is 1 MB.
 */
export const MAX_RECORD_BYTES = 8 * 1024 * 1024;

/**
 * Fetch limits of every consumer of the pipeline's topics. Without fetch sessions (KafkaJS), a
 * broker returns a record batch larger than the per-partition limit only for the first partition
 * of a fetch that has data, so a large record behind a busy partition would wait indefinitely
 * with KafkaJS's 1 MiB default. Per partition: the largest record plus its batch overhead; in
 * all: the Java consumer's default fetch.max.bytes (50 MiB).
 */
export const FETCH_LIMITS = { maxBytesPerPartition: MAX_RECORD_BYTES + 64 * 1024, maxBytes: 50 * 1024 * 1024 } as const;

export const CHANGELOG_TOPIC_CONFIG: Readonly<Record<string, string>> = { 'cleanup.policy': 'compact', 'max.message.bytes': String(MAX_RECORD_BYTES) };

/** The number of tasks (partitions) of a processor: the common partition count of its inputs. */
export function taskCount(topology: Topology, processor: ProcessorSpec): number {
  const counts = new Set(processor.inputs.map((t) => topicSpec(topology, t).partitions));
  if (counts.size !== 1) {
    throw new TopologyError(`processor ${processor.name}: inputs ${processor.inputs.join(', ')} are not co-partitioned`);
  }
  return [...counts][0];
}

export function topicSpec(topology: Topology, name: string): TopicSpec {
  const spec = topology.topics.find((t) => t.name === name);
  if (!spec) throw new TopologyError(`unknown topic ${name}`);
  return spec;
}

/** Every topic the runtime must create: declared topics plus one changelog per store. */
export function allTopics(topology: Topology): TopicSpec[] {
  const changelogs = topology.processors.flatMap((p) =>
    p.stores.map((store): TopicSpec => ({
      name: changelogTopicName(topology.appId, store),
      partitions: taskCount(topology, p),
      config: CHANGELOG_TOPIC_CONFIG,
      value: { kind: 'raw' },
      doc: `changelog of store ${store}`,
    })),
  );
  return [...topology.topics, ...changelogs];
}

/** Checks the wiring once, so drivers can trust it: names resolve, inputs co-partition, one owner per store. */
export function checkTopology(topology: Topology): void {
  const topicNames = new Set<string>();
  for (const t of topology.topics) {
    if (topicNames.has(t.name)) throw new TopologyError(`topic ${t.name} declared twice`);
    if (!Number.isInteger(t.partitions) || t.partitions < 1) throw new TopologyError(`topic ${t.name}: bad partition count`);
    topicNames.add(t.name);
  }
  const storeOwner = new Map<string, string>();
  const storeNames = new Set(topology.stores.map((s) => s.name));
  for (const p of topology.processors) {
    if (p.inputs.length === 0) throw new TopologyError(`processor ${p.name} has no input`);
    for (const t of [...p.inputs, ...p.outputs]) topicSpec(topology, t);
    taskCount(topology, p);
    for (const s of p.stores) {
      if (!storeNames.has(s)) throw new TopologyError(`processor ${p.name}: unknown store ${s}`);
      const owner = storeOwner.get(s);
      if (owner) throw new TopologyError(`store ${s} used by ${owner} and ${p.name}`);
      storeOwner.set(s, p.name);
    }
  }
}
