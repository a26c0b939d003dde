import type { Admin } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { isConnectionFailure } from '../../../runtime/kafka/driver.js';
import { BrokerUnavailableError, listTopicNames } from '../../../runtime/kafka/topics.js';
import { Keyring } from '../../../contracts/keyring.js';
import { KeyringSource } from '../../../runtime/keyring-source.js';
import { allTopics, FETCH_LIMITS, MAX_RECORD_BYTES } from '../../../runtime/topology-types.js';
import { pipelineTopology } from '../../../topology.js';

// KafkaJS's admin.listTopics() destructures a null metadata response when no broker answered
// (seen during a broker restart); start-up must read that as "broker away, wait", not a crash.
const adminWhoseListTopics = (behaviour: () => Promise<string[]>): Admin => ({ listTopics: behaviour }) as unknown as Admin;

describe('listTopicNames', () => {
  it('returns the names the cluster lists', async () => {
    await expect(listTopicNames(adminWhoseListTopics(async () => ['a', 'b']))).resolves.toEqual(['a', 'b']);
  });

  it("reports KafkaJS's null-metadata TypeError as a broker that is away", async () => {
    const kafkajsBug = async (): Promise<string[]> => {
      const metadata = null as unknown as { topicMetadata: Array<{ topic: string }> };
      const { topicMetadata } = metadata;
      return topicMetadata.map((t) => t.topic);
    };
    const error = await listTopicNames(adminWhoseListTopics(kafkajsBug)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BrokerUnavailableError);
    expect((error as Error).cause).toBeInstanceOf(TypeError);
  });

  it('passes other errors through unchanged', async () => {
    const refusal = Object.assign(new Error('Topic authorization failed'), { name: 'KafkaJSProtocolError' });
    await expect(listTopicNames(adminWhoseListTopics(async () => Promise.reject(refusal)))).rejects.toBe(refusal);
  });
});

describe('isConnectionFailure (what start-up waits out)', () => {
  it('counts a broker that did not answer, however deeply wrapped', () => {
    expect(isConnectionFailure(new BrokerUnavailableError('no broker answered the metadata request'))).toBe(true);
    expect(isConnectionFailure(Object.assign(new Error('retries exceeded'), { name: 'KafkaJSNumberOfRetriesExceeded', originalError: new BrokerUnavailableError('x') }))).toBe(true);
    expect(isConnectionFailure(new Error('Connection error: connect ECONNREFUSED 127.0.0.1:19092'))).toBe(true);
  });

  it('does not count refusals or our own bugs', () => {
    expect(isConnectionFailure(Object.assign(new Error('Topic authorization failed'), { name: 'KafkaJSProtocolError' }))).toBe(false);
    expect(isConnectionFailure(new TypeError("Cannot read properties of undefined (reading 'x')"))).toBe(false);
  });
});

describe('record size limit of the topics the pipeline creates', () => {
  it('is MAX_RECORD_BYTES on every declared topic and every changelog', () => {
    const topology = pipelineTopology({
      appId: 'limits',
      partitions: 3,
      keyring: KeyringSource.fixed(new Keyring([])),
      signaturesRequired: false,
      validatePool: null,
      dedupeRetentionMs: 0,
      merkle: { batchSize: 16, batchMaxWaitMs: 1_000, keyId: 'k', sign: () => Buffer.alloc(64) },
    });
    const topics = allTopics(topology);
    expect(topics.filter((t) => t.name.endsWith('-changelog')).length).toBeGreaterThanOrEqual(5);
    for (const topic of topics) expect({ topic: topic.name, limit: topic.config?.['max.message.bytes'] }).toEqual({ topic: topic.name, limit: String(MAX_RECORD_BYTES) });
  });
});

describe('fetch limits of the pipeline\'s consumers', () => {
  it('fetch a whole batch holding the largest record a topic takes, from more than one partition at a time', () => {
    // A record batch adds a 61-byte header and each record ~20 bytes plus its key to the value.
    expect(FETCH_LIMITS.maxBytesPerPartition).toBeGreaterThanOrEqual(MAX_RECORD_BYTES + 61 + 20);
    expect(FETCH_LIMITS.maxBytes).toBeGreaterThanOrEqual(2 * FETCH_LIMITS.maxBytesPerPartition);
  });
});
