import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { describe, expect, it, vi } from 'vitest';

// kafkajs' produce encoding, as installed (scripts/patch-kafkajs.mjs takes zero-fill, a per-record
// spread, byte-at-a-time CRC-32C, a Buffer per varint and the nested, re-copying encoders out of
// it: an uncompressed request is written into one buffer). Checked
// against definitions, not against kafkajs: CRC-32C against a bitwise reference, requests by
// reading them back field by field.
const require = createRequire(import.meta.url);
const crc32C = require('kafkajs/src/protocol/recordBatch/crc32C/crc32C.js') as (buffer: Buffer) => number;
const produce = require('kafkajs/src/protocol/requests/produce/index.js') as { protocol: (v: { version: number }) => (args: object) => { request: { encode: () => Promise<{ buffer: Buffer }> } } };
const Decoder = require('kafkajs/src/protocol/decoder.js') as new (buffer: Buffer) => KafkaDecoder;
const decodeRecordBatch = require('kafkajs/src/protocol/recordBatch/v0/decoder.js') as (decoder: KafkaDecoder) => Promise<{ firstOffset: string; inTransaction: boolean; records: DecodedRecord[] }>;
const Long = require('kafkajs/src/utils/long.js') as { fromInt: (n: number) => unknown };
const frameRequest = require('kafkajs/src/protocol/request.js') as (args: { correlationId: number; clientId: string | null; request: { apiKey: number; apiVersion: number; encode: () => Promise<unknown> } }) => Promise<{ buffer: Buffer }>;
const Encoder = require('kafkajs/src/protocol/encoder.js') as {
  new (initialSize?: number): { writeBuffer(buffer: Buffer): unknown };
  sizeOfVarInt(value: number): number;
  sizeOfVarLong(value: unknown): number;
  prototype: { ensureAvailable(length: number): void; offset: number; buf: Buffer };
};

interface KafkaDecoder {
  readonly offset: number;
  readInt16(): number;
  readInt32(): number;
  readString(): string | null;
  forward(size: number): void;
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

type TopicData = Array<{ topic: string; partitions: Array<{ partition: number; firstSequence: number; messages: Message[] }> }>;

/** KafkaJS' CompressionTypes: None 0, GZIP 1. */
function produceRequest(topicData: TopicData, transactionalId: string | null, compression = 0) {
  return produce.protocol({ version: 7 })({ acks: -1, timeout: 30_000, compression, transactionalId, producerId: Long.fromInt(42), producerEpoch: 3, topicData }).request;
}

async function encodeProduce(messages: Message[], transactionalId: string | null): Promise<Buffer> {
  return (await produceRequest([{ topic: 'ledger.events', partitions: [{ partition: 2, firstSequence: 7, messages }] }], transactionalId).encode()).buffer;
}

/** Reads a produce request (v3+) back, every topic and partition, checking each batch's CRC. */
async function readProduceAll(bytes: Buffer) {
  const decoder = new Decoder(bytes);
  const transactionalId = decoder.readString();
  const acks = decoder.readInt16();
  decoder.readInt32(); // timeout
  const topics = [];
  for (let t = decoder.readInt32(); t > 0; t--) {
    const topic = decoder.readString();
    const partitions = [];
    for (let p = decoder.readInt32(); p > 0; p--) {
      const partition = decoder.readInt32();
      const recordSetSize = decoder.readInt32();
      const recordSet = bytes.subarray(decoder.offset, decoder.offset + recordSetSize);
      // firstOffset(8) length(4) partitionLeaderEpoch(4) magic(1) crc(4), then what the CRC covers.
      expect(recordSet.readInt32BE(8), 'record batch length').toBe(recordSetSize - 12);
      expect(recordSet.readUInt32BE(17), 'record batch CRC-32C').toBe(referenceCrc32C(recordSet.subarray(21)));
      partitions.push({ partition, batch: await decodeRecordBatch(new Decoder(recordSet)) });
      decoder.forward(recordSetSize);
    }
    topics.push({ topic, partitions });
  }
  expect(decoder.offset).toBe(bytes.length);
  return { transactionalId, acks, topics };
}

/** Reads a produce request with one topic and one partition back. */
async function readProduce(bytes: Buffer) {
  const { transactionalId, acks, topics } = await readProduceAll(bytes);
  expect(topics).toHaveLength(1);
  expect(topics[0].partitions).toHaveLength(1);
  const [{ topic, partitions: [{ partition, batch }] }] = topics;
  return { transactionalId, acks, topic, partition, batch };
}

describe('kafkajs as installed', () => {
  it('carries the produce-path patches of scripts/patch-kafkajs.mjs (npm ci runs it)', () => {
    const source = (path: string): string => readFileSync(require.resolve(`kafkajs/src/${path}`), 'utf8');
    expect(source('protocol/encoder.js')).toContain('this.buf = Buffer.allocUnsafe(Encoder.nextPowerOfTwo(initialSize))');
    expect(source('protocol/encoder.js')).toContain('const newBuffer = Buffer.allocUnsafe(newLength)');
    expect(source('protocol/encoder.js')).toContain('this.buf[this.offset++] = value & OTHER_BITS');
    expect(source('protocol/requests/produce/v3/request.js')).toContain('      key: message.key,\n      value: message.value,');
    expect(source('protocol/requests/produce/v3/request.js')).not.toContain('...message');
    expect(source('protocol/recordBatch/crc32C/crc32C.js')).toContain('slicing-by-8');
    expect(source('protocol/recordBatch/record/v0/index.js')).toContain('module.exports.writeRecord = writeRecord');
    expect(source('protocol/recordBatch/v0/index.js')).toContain('new Encoder(BATCH_BODY_HEADER_BYTES + recordBytes)');
    expect(source('protocol/recordBatch/v0/index.js')).toContain('const writeUncompressedRecordBatch = ');
    expect(source('protocol/requests/produce/v3/request.js')).toContain('const encodeUncompressed = ');
    expect(source('protocol/requests/produce/v3/request.js')).toContain('const sizeOfAll = ');
    expect(source('protocol/request.js')).toContain('if (payload.reservedHeaderBytes === headerBytes) {');
  });
});

/** Zigzag then LEB128, by definition (Kafka's varint and varlong), as unsigned bytes. */
function referenceVarint(value: bigint, bits: 32n | 64n): number[] {
  const mask = (1n << bits) - 1n;
  let zigzag = ((value << 1n) ^ (value >> (bits - 1n))) & mask;
  const bytes: number[] = [];
  while (zigzag >= 0x80n) {
    bytes.push(Number(zigzag & 0x7fn) | 0x80);
    zigzag >>= 7n;
  }
  bytes.push(Number(zigzag));
  return bytes;
}

describe('kafkajs varints (patched: written in place)', () => {
  const int32s = [0, 1, -1, 63, -64, 64, -65, 8191, -8192, 8192, 1_048_575, -1_048_576, 2_161, 2 ** 31 - 1, -(2 ** 31)];
  const int64s = [...int32s.map(BigInt), 2n ** 31n, 1_700_000_000_000n, -1_700_000_000_000n, 2n ** 63n - 1n, -(2n ** 63n)];
  type VarintEncoder = { writeVarInt(v: number): VarintEncoder; writeVarLong(v: unknown): VarintEncoder; buffer: Buffer };
  const fresh = (size?: number) => new Encoder(size) as unknown as VarintEncoder;

  it('writes and sizes every varint and varlong as its definition gives (a varlong given as a number or as a string)', () => {
    for (const value of int32s) {
      const expected = referenceVarint(BigInt(value), 32n);
      expect([...fresh(1).writeVarInt(value).buffer], String(value)).toEqual(expected);
      expect(Encoder.sizeOfVarInt(value), String(value)).toBe(expected.length);
    }
    // Numbers in 32-bit range take the varint path; the 64-bit zigzag must come out the same.
    for (const value of [...int32s, 2 ** 31, -(2 ** 31) - 1, 1_700_000_000_000, -1_700_000_000_000]) {
      const expected = referenceVarint(BigInt(value), 64n);
      expect([...fresh(1).writeVarLong(value).buffer], String(value)).toEqual(expected);
      expect(Encoder.sizeOfVarLong(value), String(value)).toBe(expected.length);
    }
    for (const value of int64s) {
      const expected = referenceVarint(value, 64n);
      expect([...fresh(1).writeVarLong(value.toString()).buffer], String(value)).toEqual(expected);
      expect(Encoder.sizeOfVarLong(value.toString()), String(value)).toBe(expected.length);
    }
  });

  it('appends after what is written and grows a full encoder, reading back in order', () => {
    const encoder = fresh(2);
    for (const value of int32s) encoder.writeVarInt(value).writeVarLong(String(value));
    const decoder = new Decoder(encoder.buffer) as unknown as { readVarInt(): number; readVarLong(): { toString(): string }; offset: number };
    for (const value of int32s) expect([decoder.readVarInt(), decoder.readVarLong().toString()]).toEqual([value, String(value)]);
    expect(decoder.offset).toBe(encoder.buffer.length);
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

describe('kafkajs produce request encoding (patched: one buffer per request; compressed: every encoder sized up front)', () => {
  const message = (i: number, bytes: number): Message => ({ key: Buffer.from(`tenant-${i % 3}/run-${i}`), value: randomBytes(bytes), headers: i % 2 ? { 'tenant-id': `tenant-${i % 3}`, n: 'é'.repeat(i % 5) } : undefined, timestamp: 1_700_000_000_000 + i });
  const topicData = (): TopicData => [
    { topic: 'ledger.exports.validated', partitions: [
      { partition: 0, firstSequence: 7, messages: Array.from({ length: 40 }, (_, i) => message(i, 2_161)) },
      { partition: 1, firstSequence: 0, messages: [message(40, 0)] },
    ] },
    { topic: 'ledger.timeline.é', partitions: [{ partition: 2, firstSequence: 3, messages: Array.from({ length: 300 }, (_, i) => message(i, (i * 37) % 400)) }] },
  ];

  it('reads back several topics and partitions, record by record, under valid lengths and CRCs', async () => {
    const data = topicData();
    const read = await readProduceAll((await produceRequest(data, 'ledger-validate-é').encode()).buffer);
    expect(read.transactionalId).toBe('ledger-validate-é');
    expect(read.topics.map((t) => ({ topic: t.topic, partitions: t.partitions.map((p) => ({ partition: p.partition, values: p.batch.records.map((r) => r.value), keys: p.batch.records.map((r) => r.key?.toString()) })) }))).toEqual(
      data.map((t) => ({ topic: t.topic, partitions: t.partitions.map((p) => ({ partition: p.partition, values: p.messages.map((m) => m.value), keys: p.messages.map((m) => m.key.toString()) })) })),
    );
  });

  it('frames a request as size, apiKey, apiVersion, correlationId, clientId (UTF-8 bytes counted), payload', async () => {
    const request = produceRequest(topicData(), null);
    const payload = (await request.encode()).buffer;
    // A payload written after room left for the header (produce), and one in an encoder of its own (any other request).
    const requests = [
      { ...request, apiKey: 0, apiVersion: 7 },
      { apiKey: 3, apiVersion: 5, encode: async () => new Encoder(payload.length).writeBuffer(payload) },
    ];
    for (const framedRequest of requests) {
      for (const clientId of ['findings-ledger', 'ledger-é✓', '', null]) {
        const framed = (await frameRequest({ correlationId: 77, clientId, request: framedRequest })).buffer;
        const decoder = new Decoder(framed);
        expect(decoder.readInt32(), 'size').toBe(framed.length - 4);
        expect([decoder.readInt16(), decoder.readInt16(), decoder.readInt32(), decoder.readString()]).toEqual([framedRequest.apiKey, framedRequest.apiVersion, 77, clientId]);
        expect(framed.subarray(decoder.offset).equals(payload)).toBe(true);
      }
    }
  });

  it('writes a framed uncompressed produce request into one buffer, taken once', async () => {
    const allocUnsafe = vi.spyOn(Buffer, 'allocUnsafe');
    try {
      const framed = (await frameRequest({ correlationId: 1, clientId: 'ledger-é', request: { ...produceRequest(topicData(), 'ledger-dedupe-0'), apiKey: 0, apiVersion: 7 } })).buffer;
      // Pooled allocations (under 4 KiB) are Node's slab, not a buffer of the request's own.
      const ownBuffers = allocUnsafe.mock.calls.filter(([size]) => size >= 4096);
      expect(ownBuffers).toHaveLength(1);
      expect(ownBuffers[0][0]).toBeGreaterThanOrEqual(framed.length);
      expect(allocUnsafe.mock.results[allocUnsafe.mock.calls.indexOf(ownBuffers[0])].value.buffer).toBe(framed.buffer);
    } finally {
      allocUnsafe.mockRestore();
    }
  });

  it('reads back a compressed (GZIP) request of several topics and partitions, record by record', async () => {
    const data = topicData();
    const read = await readProduceAll((await produceRequest(data, 'ledger-merkle-1', 1).encode()).buffer);
    expect(read.topics.map((t) => t.partitions.map((p) => p.batch.records.map((r) => r.value)))).toEqual(data.map((t) => t.partitions.map((p) => p.messages.map((m) => m.value))));
  });

  it('never regrows an encoder while building and framing a produce request', async () => {
    const ensureAvailable = Encoder.prototype.ensureAvailable;
    let regrowths = 0;
    const spy = vi.spyOn(Encoder.prototype, 'ensureAvailable').mockImplementation(function (this: { offset: number; buf: Buffer }, length: number) {
      if (this.offset + length > this.buf.length) regrowths++;
      ensureAvailable.call(this, length);
    });
    try {
      await frameRequest({ correlationId: 1, clientId: 'ledger-é', request: { ...produceRequest(topicData(), 'ledger-dedupe-0'), apiKey: 0, apiVersion: 7 } });
      expect(spy).toHaveBeenCalled();
      expect(regrowths).toBe(0);
    } finally {
      spy.mockRestore();
    }
  });
});
