import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { describe, expect, it, vi } from 'vitest';

// kafkajs' produce encoding, as installed (scripts/patch-kafkajs.mjs takes zero-fill, a per-record
// spread and byte-at-a-time CRC-32C out of it). Checked against definitions, not against kafkajs:
// CRC-32C against a bitwise reference, the request by reading it back field by field.
const require = createRequire(import.meta.url);
const crc32C = require('kafkajs/src/protocol/recordBatch/crc32C/crc32C.js') as (buffer: Buffer) => number;
const produce = require('kafkajs/src/protocol/requests/produce/index.js') as { protocol: (v: { version: number }) => (args: object) => { request: { encode: () => Promise<{ buffer: Buffer }> } } };
const Decoder = require('kafkajs/src/protocol/decoder.js') as new (buffer: Buffer) => KafkaDecoder;
const decodeRecordBatch = require('kafkajs/src/protocol/recordBatch/v0/decoder.js') as (decoder: KafkaDecoder) => Promise<{ firstOffset: string; inTransaction: boolean; records: DecodedRecord[] }>;
const Long = require('kafkajs/src/utils/long.js') as { fromInt: (n: number) => unknown };

interface KafkaDecoder {
  readonly offset: number;
  readInt16(): number;
  readInt32(): number;
  readString(): string | null;
}
interface DecodedRecord {
  key: Buffer | null;
  value: Buffer | null;
  offset: string;
  timestamp: string;
  headers: Record<string, Buffer | Buffer[]>;
}

/** CRC-32C by its definition: reflected Castagnoli polynomial, one bit at a time. */
function referenceCrc32C(bytes: Buffer): number {
  let crc = 0xffffffff;
  for (const byte of bytes) {
    crc ^= byte;
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

interface Message {
  key: Buffer;
  value: Buffer;
  headers?: Record<string, string>;
  timestamp?: number;
}

async function encodeProduce(messages: Message[], transactionalId: string | null): Promise<Buffer> {
  const { request } = produce.protocol({ version: 7 })({
    acks: -1,
    timeout: 30_000,
    compression: 0,
    transactionalId,
    producerId: Long.fromInt(42),
    producerEpoch: 3,
    topicData: [{ topic: 'ledger.events', partitions: [{ partition: 2, firstSequence: 7, messages }] }],
  });
  return (await request.encode()).buffer;
}

/** Reads a produce request (v3+) with one topic and one partition back, checking the batch CRC. */
async function readProduce(bytes: Buffer) {
  const decoder = new Decoder(bytes);
  const transactionalId = decoder.readString();
  const acks = decoder.readInt16();
  decoder.readInt32(); // timeout
  expect(decoder.readInt32()).toBe(1); // topics
  const topic = decoder.readString();
  expect(decoder.readInt32()).toBe(1); // partitions
  const partition = decoder.readInt32();
  const recordSetSize = decoder.readInt32();
  const recordSet = bytes.subarray(decoder.offset, decoder.offset + recordSetSize);
  expect(decoder.offset + recordSetSize).toBe(bytes.length);
  // firstOffset(8) length(4) partitionLeaderEpoch(4) magic(1) crc(4), then what the CRC covers.
  const storedCrc = recordSet.readUInt32BE(17);
  expect(storedCrc, 'record batch CRC-32C').toBe(referenceCrc32C(recordSet.subarray(21)));
  const batch = await decodeRecordBatch(new Decoder(recordSet));
  return { transactionalId, acks, topic, partition, batch };
}

describe('kafkajs as installed', () => {
  it('carries the produce-path patches of scripts/patch-kafkajs.mjs (npm ci runs it)', () => {
    const source = (path: string): string => readFileSync(require.resolve(`kafkajs/src/${path}`), 'utf8');
    expect(source('protocol/encoder.js')).toContain('this.buf = Buffer.allocUnsafe(Encoder.nextPowerOfTwo(initialSize))');
    expect(source('protocol/encoder.js')).toContain('const newBuffer = Buffer.allocUnsafe(newLength)');
    expect(source('protocol/requests/produce/v3/request.js')).toContain('      key: message.key,\n      value: message.value,');
    expect(source('protocol/recordBatch/crc32C/crc32C.js')).toContain('slicing-by-8');
  });
});

describe('kafkajs CRC-32C (patched: slicing-by-8)', () => {
  it('gives the check value of the Castagnoli CRC', () => {
    expect(crc32C(Buffer.from('123456789'))).toBe(0xe3069283);
    expect(crc32C(Buffer.alloc(0))).toBe(0);
  });

  it('equals the bitwise definition on random buffers of every length up to 300, at any alignment', () => {
    const pool = randomBytes(4096);
    for (let length = 0; length <= 300; length++) {
      const start = (length * 37) % 64;
      const bytes = pool.subarray(start, start + length);
      expect(crc32C(bytes), `length ${length}, offset ${start}`).toBe(referenceCrc32C(bytes));
    }
    for (let round = 0; round < 20; round++) {
      const bytes = randomBytes(1 + ((round * 7919) % 70_000));
      expect(crc32C(bytes)).toBe(referenceCrc32C(bytes));
    }
  });
});

describe('kafkajs produce request encoding (patched: no zero-fill, no per-record spread)', () => {
  const messages = (): Message[] => [
    { key: Buffer.from('acme/run-1'), value: randomBytes(2_000), headers: { 'tenant-id': 'acme' }, timestamp: 1_700_000_000_000 },
    { key: Buffer.from('acme/run-2'), value: Buffer.from('{"small":true}'), timestamp: 1_700_000_000_005 },
    { key: Buffer.from('globex/run-3'), value: randomBytes(9_000), headers: { a: 'x', b: 'y' }, timestamp: 1_700_000_000_009 },
  ];

  it('writes every field of every record, read back as produced, under a valid CRC', async () => {
    const produced = messages();
    const read = await readProduce(await encodeProduce(produced, 'app-dedupe-2'));
    expect(read).toMatchObject({ transactionalId: 'app-dedupe-2', acks: -1, topic: 'ledger.events', partition: 2 });
    expect(read.batch.inTransaction).toBe(true);
    expect(read.batch.records.map((r) => ({ key: r.key?.toString(), value: r.value, offset: r.offset, timestamp: r.timestamp, headers: Object.fromEntries(Object.entries(r.headers).map(([k, v]) => [k, String(v)])) }))).toEqual(
      produced.map((m, i) => ({ key: m.key.toString(), value: m.value, offset: String(i), timestamp: String(m.timestamp), headers: m.headers ?? {} })),
    );
  });

  it('encodes the same bytes whatever memory the encoders were given held before', async () => {
    const produced = messages();
    const encode = async (garbage: number): Promise<Buffer> => {
      // Every buffer the encoders take without zero-fill comes full of one byte value.
      const dirty = vi.spyOn(Buffer, 'allocUnsafe').mockImplementation((size: number) => Buffer.alloc(size, garbage));
      try {
        const bytes = Buffer.from(await encodeProduce(produced, null));
        expect(dirty).toHaveBeenCalled();
        return bytes;
      } finally {
        dirty.mockRestore();
      }
    };
    const first = await encode(0xaa);
    const second = await encode(0x55);
    // Timestamps in the batch header come from the messages, so equal input means equal bytes.
    expect(second.equals(first)).toBe(true);
    const read = await readProduce(first);
    expect(read.transactionalId).toBeNull();
    expect(read.batch.records).toHaveLength(produced.length);
  });
});
