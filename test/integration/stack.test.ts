// Checks that the local stack behaves like the production services the pipeline relies on:
// idempotent topic creation, compacted topics that really compact, transactions that hide
// aborted records from read_committed consumers, and a Confluent-compatible registry that
// serves the wire format and refuses incompatible schemas.
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ConfigResourceTypes, Kafka, logLevel, type Admin } from 'kafkajs';
import { SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import { kafkaBrokers, schemaRegistryUrl, usingLocalStack } from '../support/env.js';
import { repoRoot } from '../support/processes.js';

// Unique per run: the broker and registry outlive test runs.
const runPrefix = `stack-test-${Date.now().toString(36)}-${randomUUID().slice(0, 8)}`;
const kafka = new Kafka({ clientId: runPrefix, brokers: kafkaBrokers(), logLevel: logLevel.NOTHING });

interface ReadRecord {
  key: string;
  value: string;
}

/**
 * Reads `topic` from the beginning with a fresh consumer group until `isComplete` says the
 * records seen so far are enough (the producers in these tests end with a known last record).
 */
async function readFromBeginning(
  topic: string,
  options: { readUncommitted: boolean },
  isComplete: (records: ReadRecord[]) => boolean,
): Promise<ReadRecord[]> {
  const consumer = kafka.consumer({
    groupId: `${runPrefix}-reader-${randomUUID()}`,
    readUncommitted: options.readUncommitted,
    maxWaitTimeInMs: 200,
  });
  const records: ReadRecord[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      consumer.on(consumer.events.CRASH, (event) => reject(event.payload.error));
      consumer
        .run({
          eachMessage: async ({ message }) => {
            records.push({ key: message.key?.toString() ?? '', value: message.value?.toString() ?? '' });
            if (isComplete(records)) resolve();
          },
        })
        .catch(reject);
    });
  } finally {
    await consumer.disconnect();
  }
  return records;
}

const values = (records: ReadRecord[]): string[] => records.map((record) => record.value);

describe('local stack: Kafka broker', () => {
  let admin: Admin;

  beforeAll(async () => {
    admin = kafka.admin();
    await admin.connect();
  });

  afterAll(async () => {
    await admin.disconnect();
  });

  it('creates a topic idempotently: a second create reports "exists" instead of failing', async () => {
    const topic = `${runPrefix}-plain`;
    const spec = { topics: [{ topic, numPartitions: 3 }], waitForLeaders: true };

    expect(await admin.createTopics(spec)).toBe(true);
    expect(await admin.createTopics(spec)).toBe(false);

    const metadata = await admin.fetchTopicMetadata({ topics: [topic] });
    expect(metadata.topics[0].partitions).toHaveLength(3);
  });

  it('creates compacted topics whose cleanup.policy is compact', async () => {
    const topic = `${runPrefix}-compacted-config`;
    await admin.createTopics({
      topics: [{ topic, numPartitions: 1, configEntries: [{ name: 'cleanup.policy', value: 'compact' }] }],
      waitForLeaders: true,
    });

    const described = await admin.describeConfigs({
      resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configNames: ['cleanup.policy'] }],
      includeSynonyms: false,
    });
    const entries = described.resources[0].configEntries;
    expect(entries.find((entry) => entry.configName === 'cleanup.policy')?.configValue).toBe('compact');
  });

  it('compacts a compacted topic: only the latest value per key survives the log cleaner', async () => {
    const topic = `${runPrefix}-compacted`;
    // Each ~700-byte batch fills a 1000-byte segment, so every send rolls a new segment and all
    // but the last become cleanable; the last record (another key) keeps v3 out of the active
    // segment, which the cleaner never touches.
    await admin.createTopics({
      topics: [{
        topic,
        numPartitions: 1,
        configEntries: [
          { name: 'cleanup.policy', value: 'compact' },
          { name: 'segment.bytes', value: '1000' },
          { name: 'min.cleanable.dirty.ratio', value: '0.01' },
        ],
      }],
      waitForLeaders: true,
    });
    const padding = 'x'.repeat(600);
    const producer = kafka.producer();
    await producer.connect();
    try {
      for (const value of ['v1', 'v2', 'v3']) {
        await producer.send({ topic, messages: [{ key: 'finding', value: `${value}:${padding}` }] });
      }
      await producer.send({ topic, messages: [{ key: 'end', value: `end:${padding}` }] });
    } finally {
      await producer.disconnect();
    }

    const isEnd = (records: ReadRecord[]): boolean => records.some((record) => record.key === 'end');
    await vi.waitFor(
      async () => {
        const records = await readFromBeginning(topic, { readUncommitted: false }, isEnd);
        const findingValues = records.filter((record) => record.key === 'finding').map((record) => record.value.split(':')[0]);
        expect(findingValues).toEqual(['v3']);
      },
      { timeout: 120_000, interval: 1_000 },
    );
  }, 180_000);

  it('shows committed transactional records to read_committed consumers and hides aborted ones', async () => {
    const topic = `${runPrefix}-transactions`;
    await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true });
    const producer = kafka.producer({
      transactionalId: `${runPrefix}-producer`,
      idempotent: true,
      maxInFlightRequests: 1,
    });
    await producer.connect();
    try {
      const inTransaction = async (messageValues: string[], outcome: 'commit' | 'abort'): Promise<void> => {
        const transaction = await producer.transaction();
        try {
          await transaction.send({ topic, messages: messageValues.map((value) => ({ key: 'k', value })) });
        } catch (error) {
          await transaction.abort();
          throw error;
        }
        await (outcome === 'commit' ? transaction.commit() : transaction.abort());
      };
      await inTransaction(['committed-1', 'committed-2'], 'commit');
      await inTransaction(['aborted-1'], 'abort');
      await inTransaction(['committed-3'], 'commit');
    } finally {
      await producer.disconnect();
    }

    const sawLast = (records: ReadRecord[]): boolean => records.some((record) => record.value === 'committed-3');
    const committedView = await readFromBeginning(topic, { readUncommitted: false }, sawLast);
    expect(values(committedView)).toEqual(['committed-1', 'committed-2', 'committed-3']);

    // The aborted record was really written: an uncommitted reader sees it.
    const uncommittedView = await readFromBeginning(topic, { readUncommitted: true }, sawLast);
    expect(values(uncommittedView)).toEqual(['committed-1', 'committed-2', 'aborted-1', 'committed-3']);
  }, 180_000);
});

// `LEDGER_STACK_NO_REGISTRY=1` is the explicit way to run the Kafka part alone.
describe.skipIf(process.env.LEDGER_STACK_NO_REGISTRY === '1')('local stack: schema registry (Confluent-compatible API)', () => {
  const recordSchema = (fields: object[]): string =>
    JSON.stringify({ type: 'record', name: 'StackCheck', namespace: `findings.ledger.test.${runPrefix.replaceAll('-', '_')}`, fields });
  const v1 = recordSchema([
    { name: 'findingId', type: 'string' },
    { name: 'count', type: 'int' },
  ]);
  // BACKWARD compatible: the new field has a default, so v2 readers can read v1 data.
  const v2Compatible = recordSchema([
    { name: 'findingId', type: 'string' },
    { name: 'count', type: 'int' },
    { name: 'severity', type: 'string', default: 'unknown' },
  ]);
  // Not BACKWARD compatible: a new field without a default cannot be read from v1 data.
  const v3Incompatible = recordSchema([
    { name: 'findingId', type: 'string' },
    { name: 'count', type: 'int' },
    { name: 'tenantId', type: 'string' },
  ]);

  const configuredCompatibility = async (subject: string): Promise<unknown> => {
    const response = await fetch(`${schemaRegistryUrl()}/config/${encodeURIComponent(subject)}`);
    expect(response.status).toBe(200);
    const body: unknown = await response.json();
    return typeof body === 'object' && body !== null ? (body as Record<string, unknown>).compatibilityLevel : undefined;
  };

  it('registers under <topic>-value with BACKWARD compatibility and round-trips the wire format', async () => {
    const registry = new SchemaRegistry({ host: schemaRegistryUrl() });
    const subject = `${runPrefix}-findings-value`;

    const { id } = await registry.register({ type: SchemaType.AVRO, schema: v1 }, { subject });
    expect(await configuredCompatibility(subject)).toBe('BACKWARD');
    // Services register their schemas at every start: the same schema again is the same id.
    expect((await registry.register({ type: SchemaType.AVRO, schema: v1 }, { subject })).id).toBe(id);

    const value = { findingId: 'F-1', count: 7 };
    const encoded = await registry.encode(id, value);
    expect(encoded[0]).toBe(0);
    expect(encoded.readInt32BE(1)).toBe(id);

    // A registry client without a cache must find the schema by the id in the payload.
    const freshClient = new SchemaRegistry({ host: schemaRegistryUrl() });
    expect({ ...(await freshClient.decode(encoded)) }).toEqual(value);
  });

  it('accepts a BACKWARD-compatible new version and refuses an incompatible one with 409', async () => {
    const registry = new SchemaRegistry({ host: schemaRegistryUrl() });
    const subject = `${runPrefix}-evolving-value`;

    const first = await registry.register({ type: SchemaType.AVRO, schema: v1 }, { subject });
    const second = await registry.register({ type: SchemaType.AVRO, schema: v2Compatible }, { subject });
    expect(second.id).not.toBe(first.id);

    await expect(registry.register({ type: SchemaType.AVRO, schema: v3Incompatible }, { subject })).rejects.toMatchObject({ status: 409 });

    // Data written with v1 still decodes after the subject moved on.
    const encodedWithV1 = await registry.encode(first.id, { findingId: 'F-2', count: 1 });
    expect({ ...(await registry.decode(encodedWithV1)) }).toEqual({ findingId: 'F-2', count: 1 });
  });

  it('checks subjects without their own compatibility level BACKWARD too (the registry default)', async () => {
    const subject = `${runPrefix}-unconfigured-value`;
    const registerDirectly = (schema: string): Promise<Response> =>
      fetch(`${schemaRegistryUrl()}/subjects/${encodeURIComponent(subject)}/versions`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/vnd.schemaregistry.v1+json' },
        body: JSON.stringify({ schema }),
      });

    expect((await registerDirectly(v1)).status).toBe(200);
    expect((await registerDirectly(v3Incompatible)).status).toBe(409);
  });

  // Topics hold schema ids; a registry that forgot them on restart would hand them to other
  // schemas, and old records would decode as something else (or not at all).
  const ownRegistry = usingLocalStack() && (process.env.SCHEMA_REGISTRY_URL ?? '').trim() === '';
  it.runIf(ownRegistry)('keeps every schema id across a restart of the local stack', async () => {
    const registry = new SchemaRegistry({ host: schemaRegistryUrl() });
    const subject = `${runPrefix}-durable-value`;
    const { id } = await registry.register({ type: SchemaType.AVRO, schema: v1 }, { subject });
    const encoded = await registry.encode(id, { findingId: 'F-3', count: 3 });

    const stack = (await import(pathToFileURL(join(repoRoot, 'scripts', 'stack.mjs')).href)) as {
      up(options: { registry: boolean; log?: (line: string) => void }): Promise<{ registry: { state: string } }>;
      down(options: { components: string[]; log?: (line: string) => void }): Promise<{ registry?: string }>;
    };
    const log = (line: string) => process.stderr.write(`stack-test: ${line}\n`);
    // Really restarted: a registry this checkout did not start would pass without being restarted.
    expect((await stack.down({ components: ['registry'], log })).registry).toBe('stopped');
    expect((await stack.up({ registry: true, log })).registry.state).toBe('started');

    const afterRestart = new SchemaRegistry({ host: schemaRegistryUrl() });
    expect({ ...(await afterRestart.decode(encoded)) }).toEqual({ findingId: 'F-3', count: 3 });
    const latest = (await (await fetch(`${schemaRegistryUrl()}/subjects/${encodeURIComponent(subject)}/versions/latest`)).json()) as { id: number };
    expect(latest.id).toBe(id);
  }, 180_000);
});
