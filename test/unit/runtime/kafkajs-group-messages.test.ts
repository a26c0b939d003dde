import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';

// kafkajs' grouping of a send's messages by partition, as installed (scripts/patch-kafkajs.mjs
// makes it linear). Checked against its definition: each partition's messages, in send order.
const require = createRequire(import.meta.url);
const modulePath = 'kafkajs/src/producer/groupMessagesPerPartition.js';

interface Message {
  readonly partition: number;
  readonly value: string;
}
type Partitioner = (args: { topic: string; partitionMetadata: readonly unknown[]; message: Message }) => number;
const groupMessagesPerPartition = require(modulePath) as (args: {
  topic: string;
  partitionMetadata: readonly unknown[];
  messages: readonly Message[];
  partitioner: Partitioner;
}) => Record<string, Message[]>;

const partitionMetadata = [0, 1, 2, 3, 4].map((partitionId) => ({ partitionId, leader: 1 }));
const byMessagePartition: Partitioner = ({ message }) => message.partition;

/** The definition: for every partition the partitioner names, its messages in send order. */
function expectedGroups(messages: readonly Message[], partitioner: Partitioner): Record<string, Message[]> {
  const groups: Record<string, Message[]> = {};
  const partitions = messages.map((message) => partitioner({ topic: 't', partitionMetadata, message }));
  for (const partition of new Set(partitions)) groups[partition] = messages.filter((_, i) => partitions[i] === partition);
  return groups;
}

describe('kafkajs groupMessagesPerPartition as installed', () => {
  it('carries the linear-time patch of scripts/patch-kafkajs.mjs (npm ci runs it)', () => {
    const source = readFileSync(require.resolve(modulePath), 'utf8');
    expect(source).toContain('if (current) current.push(message)');
    expect(source).not.toContain('[...current, message]');
  });

  it("gives each partition its messages in send order, the very message objects", () => {
    // Skewed on purpose: most messages on one partition, none on partition 4.
    const messages = Array.from({ length: 2_000 }, (_, i): Message => ({ partition: i % 7 === 0 ? (i % 4) : 2, value: `m${i}` }));
    const groups = groupMessagesPerPartition({ topic: 't', partitionMetadata, messages, partitioner: byMessagePartition });
    expect(groups).toEqual(expectedGroups(messages, byMessagePartition));
    expect(Object.keys(groups).sort()).toEqual(['0', '1', '2', '3']);
    expect(groups[2][0]).toBe(messages[1]);
  });

  it('calls the partitioner once per message, in send order, with the topic and its metadata', () => {
    const messages = Array.from({ length: 50 }, (_, i): Message => ({ partition: i % 3, value: `m${i}` }));
    const seen: string[] = [];
    groupMessagesPerPartition({
      topic: 'ledger.events',
      partitionMetadata,
      messages,
      partitioner: ({ topic, partitionMetadata: metadata, message }) => {
        expect(topic).toBe('ledger.events');
        expect(metadata).toBe(partitionMetadata);
        seen.push(message.value);
        return message.partition;
      },
    });
    expect(seen).toEqual(messages.map((m) => m.value));
  });

  it('groups nothing for a topic without partition metadata, and nothing from no messages', () => {
    const messages = [{ partition: 0, value: 'm' }];
    expect(groupMessagesPerPartition({ topic: 't', partitionMetadata: [], messages, partitioner: byMessagePartition })).toEqual({});
    expect(groupMessagesPerPartition({ topic: 't', partitionMetadata, messages: [], partitioner: byMessagePartition })).toEqual({});
  });
});
