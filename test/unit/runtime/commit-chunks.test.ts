import { describe, expect, it } from 'vitest';
import { toChunks } from '../../../runtime/kafka/commit.js';
import type { UnitOfWork } from '../../../runtime/task.js';

// A unit of work becomes several produce requests when large: the broker refuses a record batch
// (one per partition per request) over max.message.bytes.

const output = (i: number, bytes: number) => ({ topic: 'out', partition: i % 2, key: `k${i}`, value: Buffer.alloc(bytes, 1), headers: {}, timestamp: 0 });

describe('toChunks', () => {
  const work: UnitOfWork = {
    outputs: Array.from({ length: 10 }, (_, i) => output(i, 300)),
    changelog: [{ store: 's', topic: 'app-s-changelog', partition: 1, entries: Array.from({ length: 5 }, (_, i) => ({ key: `c${i}`, value: Buffer.alloc(300) })) }],
    metrics: [],
  };

  it('keeps every record, in order, within the byte budget per request', () => {
    const chunks = toChunks(work, 1_000);
    expect(chunks.length).toBeGreaterThan(1);
    const flat = chunks.flatMap((c) => c.topicMessages.flatMap((t) => t.messages.map((m) => `${t.topic}:${String(m.key)}`)));
    expect(flat).toEqual([...work.outputs.map((o) => `out:${o.key}`), ...work.changelog[0].entries.map((e) => `app-s-changelog:${e.key}`)]);
    for (const chunk of chunks) {
      const bytes = chunk.topicMessages.flatMap((t) => t.messages).reduce((n, m) => n + String(m.key).length + (m.value as Buffer).length, 0);
      expect(bytes).toBeLessThanOrEqual(1_000);
    }
    expect(chunks.reduce((n, c) => n + (c.counts.get('app-s-changelog|1') ?? 0), 0)).toBe(5);
  });

  it('sends a record larger than the budget alone, and a small unit in one request', () => {
    const big: UnitOfWork = { outputs: [output(0, 10), output(1, 5_000), output(2, 10)], changelog: [], metrics: [] };
    expect(toChunks(big, 1_000).map((c) => c.topicMessages[0].messages.length)).toEqual([1, 1, 1]);
    expect(toChunks(work)).toHaveLength(1);
  });
});
