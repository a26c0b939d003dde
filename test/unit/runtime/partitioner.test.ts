import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Partitioners } from 'kafkajs';
import { murmur2, partitionFor } from '../../../runtime/partitioner.js';

// kafkajs' DefaultPartitioner is the Java client's murmur2 partitioner; the Kafka driver and the
// in-process driver both use runtime/partitioner.ts, so it must agree with it for every key.
const kafkajsPartition = (key: string, partitions: number): number =>
  Partitioners.DefaultPartitioner()({
    topic: 't',
    partitionMetadata: Array.from({ length: partitions }, (_, i) => ({ partitionId: i, leader: 0, partitionErrorCode: 0, replicas: [0], isr: [0] })),
    message: { key, value: null },
  });

describe('murmur2 partitioner', () => {
  it('matches the Java client on known keys', () => {
    // Values from Kafka's UtilsTest.testMurmur2 (org.apache.kafka.common.utils).
    const cases: Array<[string, number]> = [
      ['21', -973932308],
      ['foobar', -790332482],
      ['a-little-bit-long-string', -985981536],
      ['a-little-bit-longer-string', -1486304829],
      ['lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8', -58897971],
      ['abc', 479470107],
    ];
    for (const [key, hash] of cases) expect(murmur2(Buffer.from(key))).toBe(hash);
  });

  it('agrees with kafkajs DefaultPartitioner for any key and partition count', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 40 }), fc.integer({ min: 1, max: 64 }), (key, n) => {
        expect(partitionFor(key, n, 0)).toBe(kafkajsPartition(key, n));
      }),
      { numRuns: 2000 },
    );
  });

  it('keeps a null key on its source partition number', () => {
    expect(partitionFor(null, 3, 4)).toBe(1);
    expect(partitionFor(null, 6, 4)).toBe(4);
  });
});
