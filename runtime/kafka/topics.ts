import kafkajs, { type Admin, type ITopicConfig } from 'kafkajs';

// kafkajs is CommonJS: its enums are only reachable through the default export under ESM.
const { ConfigResourceTypes } = kafkajs;
import type { TopicSpec } from '../topology-types.js';

export class TopicSetupError extends Error {
  readonly code = 'TOPIC_SETUP' as const;
}

/** No broker answered a metadata request (a restart, an election): worth waiting for. */
export class BrokerUnavailableError extends Error {
  override readonly name = 'BrokerUnavailableError';
}

/**
 * The topic names the cluster knows. KafkaJS's listTopics dereferences a null metadata response
 * when no broker answered (it swallows each broker's error), which surfaces as a TypeError
 * during a broker restart; that is reported as what it is.
 */
export async function listTopicNames(admin: Admin): Promise<string[]> {
  try {
    return await admin.listTopics();
  } catch (error) {
    if (error instanceof TypeError) throw new BrokerUnavailableError('no broker answered the metadata request', { cause: error });
    throw error;
  }
}

/**
 * Creates missing topics and leaves existing ones alone (idempotent, like Kafka Streams'
 * internal topic manager). An existing topic with another partition count is an error: the
 * co-partitioning of keys and changelogs depends on it.
 */
export interface ConfigDrift {
  readonly topic: string;
  readonly name: string;
  readonly actual: string | null;
  readonly declared: string;
}

export async function ensureTopics(admin: Admin, specs: readonly TopicSpec[], defaultReplication = 1): Promise<ConfigDrift[]> {
  const existing = new Set(await listTopicNames(admin));
  const missing: ITopicConfig[] = specs
    .filter((t) => !existing.has(t.name))
    .map((t) => ({
      topic: t.name,
      numPartitions: t.partitions,
      replicationFactor: t.replicationFactor ?? defaultReplication,
      configEntries: Object.entries(t.config ?? {}).map(([name, value]) => ({ name, value })),
    }));
  if (missing.length > 0) {
    try {
      await admin.createTopics({ topics: missing, waitForLeaders: true });
    } catch (error) {
      // Another instance may have created them concurrently; the check below decides.
      if (!(error instanceof Error) || !/already exists/i.test(error.message)) throw error;
    }
  }
  const metadata = await admin.fetchTopicMetadata({ topics: specs.map((t) => t.name) });
  for (const spec of specs) {
    const found = metadata.topics.find((t) => t.name === spec.name);
    if (!found) throw new TopicSetupError(`topic ${spec.name} does not exist after creation`);
    if (found.partitions.length !== spec.partitions) {
      throw new TopicSetupError(`topic ${spec.name} has ${found.partitions.length} partitions, the topology declares ${spec.partitions}`);
    }
  }
  return configDrift(admin, specs.filter((t) => existing.has(t.name) && t.config && Object.keys(t.config).length > 0));
}

/**
 * Existing topics are never reconfigured behind the operator's back (AlterConfigs would reset
 * every other setting); a declared setting that differs is reported so it can be fixed.
 */
async function configDrift(admin: Admin, specs: readonly TopicSpec[]): Promise<ConfigDrift[]> {
  if (specs.length === 0) return [];
  const described = await admin.describeConfigs({ includeSynonyms: false, resources: specs.map((t) => ({ type: ConfigResourceTypes.TOPIC, name: t.name })) });
  const drifts: ConfigDrift[] = [];
  for (const spec of specs) {
    const entries = described.resources.find((r) => r.resourceName === spec.name)?.configEntries ?? [];
    for (const [name, declared] of Object.entries(spec.config ?? {})) {
      const actual = entries.find((e) => e.configName === name)?.configValue ?? null;
      if (actual !== declared) drifts.push({ topic: spec.name, name, actual, declared });
    }
  }
  return drifts;
}
