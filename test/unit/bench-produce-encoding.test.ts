import { describe, expect, it } from 'vitest';
import { benchProduceEncoding } from '../../bench/broker.js';

// The broker section's client-side figure on a tiny request: what it prints, not how fast.

describe('benchProduceEncoding', () => {
  it('prints one copy of the request as the ceiling of KafkaJS encoding and framing it', async () => {
    const [copy, encode] = await benchProduceEncoding({ records: 20, recordBytes: 300, seconds: 0.05 });
    expect(copy).toMatchObject({ name: 'buffer.copy', unit: 'records/s' });
    expect(encode).toMatchObject({ name: 'kafkajs.produce_encode', unit: 'records/s', params: { records: 20, recordBytes: 300 } });
    // 20 records of 300 bytes plus keys, headers and framing.
    expect(encode.params?.requestBytes).toBeGreaterThan(20 * 300);
    expect(copy.params?.requestBytes).toBe(encode.params?.requestBytes);
    expect(copy.value).toBeGreaterThan(0);
    expect(encode.ceiling).toEqual({ name: 'buffer.copy', value: copy.value, ratio: encode.value / copy.value });
  });
});
