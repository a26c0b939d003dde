import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';

// kafkajs' read_committed filter, as installed (scripts/patch-kafkajs.mjs fixes 2.2.4). A fetch
// that starts past the first offsets of two aborted transactions of different producers must
// drop the records of both; unpatched kafkajs drops only the first producer's.
type Filter = (args: { messages: unknown[]; abortedTransactions: Array<{ producerId: string; firstOffset: string }> }) => Array<{ offset: string }>;
const filterAbortedMessages = createRequire(import.meta.url)('kafkajs/src/consumer/filterAbortedMessages.js') as Filter;

const record = (offset: number, producerId: string, extra: object = {}) => ({ offset: String(offset), key: Buffer.from(`k${offset}`), batchContext: { producerId, inTransaction: true }, ...extra });
const abortMarker = (offset: number, producerId: string) => ({ ...record(offset, producerId), key: Buffer.from([0, 0, 0, 0]), isControlRecord: true });

describe('kafkajs read_committed filter (patched)', () => {
  it('drops every aborted transaction whose first offset the fetch has passed', () => {
    // Producer A aborted 1008..1027 (marker 1082), producer B aborted 1028..1081 (marker 1083);
    // committed records of producer C follow. The fetch starts at 1028.
    const messages = [...Array.from({ length: 54 }, (_, i) => record(1028 + i, 'B')), abortMarker(1082, 'A'), abortMarker(1083, 'B'), record(1084, 'C')];
    const kept = filterAbortedMessages({
      messages,
      abortedTransactions: [
        { producerId: 'A', firstOffset: '1008' },
        { producerId: 'B', firstOffset: '1028' },
      ],
    }).filter((m) => !(m as { isControlRecord?: boolean }).isControlRecord);
    expect(kept.map((m) => m.offset)).toEqual(['1084']);
  });

  it('keeps committed records of other producers inside an aborted range', () => {
    const messages = [record(10, 'A'), record(11, 'C'), record(12, 'A'), abortMarker(13, 'A'), record(14, 'A')];
    const kept = filterAbortedMessages({ messages, abortedTransactions: [{ producerId: 'A', firstOffset: '10' }] }).filter((m) => !(m as { isControlRecord?: boolean }).isControlRecord);
    expect(kept.map((m) => m.offset)).toEqual(['11', '14']);
  });
});
