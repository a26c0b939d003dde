// @ts-check
// Patches to kafkajs 2.2.4, applied at `npm ci`/`npm install` (postinstall). Each is idempotent and
// fails loudly if kafkajs changed, so no patch is ever silently lost. One fixes a bug; the others
// take measured per-record costs out of the produce path, which bounds the end-to-end rate here
// (README, Benchmarks). Tests: test/unit/runtime/kafkajs-*.test.ts.
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const version = JSON.parse(readFileSync(require.resolve('kafkajs/package.json'), 'utf8')).version;

/** @type {Array<{ name: string; file: string; replacements: Array<[string, string]> }>} */
const PATCHES = [
  {
    // Bug: the read_committed filter marks at most ONE aborted transaction as started per message.
    // When a fetch begins past the first offsets of two aborted transactions of different
    // producers, the second is never marked and its records are delivered as if committed (found
    // here on a partition written by several transactional producers). The Java client marks every
    // aborted transaction whose first offset has been reached; so does this (`if` → `while`).
    name: 'read_committed aborted-transaction fix',
    file: 'kafkajs/src/consumer/filterAbortedMessages.js',
    replacements: [
      [
        `    if (
      remainingAbortedTransactions.length &&
      Long.fromValue(message.offset).gte(remainingAbortedTransactions[0].firstOffset)
    ) {`,
        `    while (
      remainingAbortedTransactions.length &&
      Long.fromValue(message.offset).gte(remainingAbortedTransactions[0].firstOffset)
    ) {`,
      ],
    ],
  },
  {
    // Every encoder (one per record, per batch, per partition, per request) and each of its
    // growths was a zero-filled Buffer.alloc. Nothing reads past what was written: `buffer` is
    // the written prefix and every write moves `offset` over exactly the bytes it wrote. So the
    // fill is wasted work, and below 4 KiB allocUnsafe takes a slice of Node's pool instead of a
    // fresh ArrayBuffer.
    name: 'encoder without zero-fill',
    file: 'kafkajs/src/protocol/encoder.js',
    replacements: [
      ['    this.buf = Buffer.alloc(Encoder.nextPowerOfTwo(initialSize))', '    this.buf = Buffer.allocUnsafe(Encoder.nextPowerOfTwo(initialSize))'],
      ['      const newBuffer = Buffer.alloc(newLength)', '      const newBuffer = Buffer.allocUnsafe(newLength)'],
    ],
  },
  {
    // Each varint (a record has five or more: its length, offset delta, key and value lengths,
    // header count) was collected in an array, turned into a Buffer of its own and copied in.
    // Written byte by byte in place instead, after reserving exactly its length; same bytes.
    // A varlong (each record's timestamp delta, sized and then written) went through 64-bit
    // Long arithmetic, allocating at every step, even for the small numbers it nearly always is:
    // for an integer in 32-bit range the 64-bit zigzag equals the 32-bit one read unsigned, so
    // such a number takes the varint path (same bytes).
    name: 'varints written in place',
    file: 'kafkajs/src/protocol/encoder.js',
    replacements: [
      [
        `  static sizeOfVarLong(value) {
    let longValue = Encoder.encodeZigZag64(value)`,
        `  static sizeOfVarLong(value) {
    if (typeof value === 'number' && (value | 0) === value) return Encoder.sizeOfVarInt(value)
    let longValue = Encoder.encodeZigZag64(value)`,
      ],
      [
        `  writeVarLong(value) {
    const byteArray = []`,
        `  writeVarLong(value) {
    if (typeof value === 'number' && (value | 0) === value) return this.writeVarInt(value)
    const byteArray = []`,
      ],
      [
        `  writeUVarInt(value) {
    const byteArray = []
    while ((value & UNSIGNED_INT32_MAX_NUMBER) !== 0) {
      byteArray.push((value & OTHER_BITS) | MOST_SIGNIFICANT_BIT)
      value >>>= 7
    }
    byteArray.push(value & OTHER_BITS)
    this.writeBufferInternal(Buffer.from(byteArray))
    return this
  }`,
        `  writeUVarInt(value) {
    let bytes = 1
    for (let rest = value; (rest & UNSIGNED_INT32_MAX_NUMBER) !== 0; rest >>>= 7) bytes++
    this.ensureAvailable(bytes)
    while ((value & UNSIGNED_INT32_MAX_NUMBER) !== 0) {
      this.buf[this.offset++] = (value & OTHER_BITS) | MOST_SIGNIFICANT_BIT
      value >>>= 7
    }
    this.buf[this.offset++] = value & OTHER_BITS
    return this
  }`,
      ],
      [
        `    byteArray.push(longValue.toInt())

    this.writeBufferInternal(Buffer.from(byteArray))
    return this`,
        `    byteArray.push(longValue.toInt())

    this.ensureAvailable(byteArray.length)
    for (const byte of byteArray) this.buf[this.offset++] = byte
    return this`,
      ],
    ],
  },
  {
    // CRC-32C of every produced record batch, one byte per step: 410 MB/s here. Slicing-by-8
    // (eight bytes per step through eight derived tables): 1,070 MB/s, same values.
    name: 'crc32c slicing-by-8',
    file: 'kafkajs/src/protocol/recordBatch/crc32C/crc32C.js',
    replacements: [
      [
        `const crc32C = buffer => {
  let crc = 0 ^ -1
  for (let i = 0; i < buffer.length; i++) {
    crc = T[(crc ^ buffer[i]) & 0xff] ^ (crc >>> 8)
  }

  return (crc ^ -1) >>> 0
}`,
        `// Patched (findings-ledger scripts/patch-kafkajs.mjs): slicing-by-8 over tables derived from
// the reflected Castagnoli polynomial 0x82f63b78; S[0] equals T below.
const S = Array.from({ length: 8 }, () => new Int32Array(256))
for (let n = 0; n < 256; n++) {
  let c = n
  for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1
  S[0][n] = c
}
for (let s = 1; s < 8; s++) {
  for (let n = 0; n < 256; n++) S[s][n] = (S[s - 1][n] >>> 8) ^ S[0][S[s - 1][n] & 0xff]
}
const [S0, S1, S2, S3, S4, S5, S6, S7] = S

const crc32C = buffer => {
  let crc = 0 ^ -1
  const length = buffer.length
  const whole = length - (length & 7)
  let i = 0
  for (; i < whole; i += 8) {
    const low = crc ^ (buffer[i] | (buffer[i + 1] << 8) | (buffer[i + 2] << 16) | (buffer[i + 3] << 24))
    crc =
      S7[low & 0xff] ^ S6[(low >>> 8) & 0xff] ^ S5[(low >>> 16) & 0xff] ^ S4[low >>> 24] ^
      S3[buffer[i + 4]] ^ S2[buffer[i + 5]] ^ S1[buffer[i + 6]] ^ S0[buffer[i + 7]]
  }
  for (; i < length; i++) {
    crc = S0[(crc ^ buffer[i]) & 0xff] ^ (crc >>> 8)
  }

  return (crc ^ -1) >>> 0
}`,
      ],
    ],
  },
  {
    // Grouping a send's messages by partition copied the partition's array for every message
    // (`[...current, message]`): quadratic in the messages per partition. A transaction here
    // sends a whole batch's outputs at once (hundreds to thousands per topic), and the grouping
    // was 3.6 % of the main thread in a CPU profile of `ledger run` during the end-to-end
    // benchmark. Appending instead gives the same groups in the same order. Upstream:
    // tulios/kafkajs#1576 (open since 2023).
    name: 'grouping messages per partition in linear time',
    file: 'kafkajs/src/producer/groupMessagesPerPartition.js',
    replacements: [
      [
        `  return messages.reduce((result, message) => {
    const partition = partitioner({ topic, partitionMetadata, message })
    const current = result[partition] || []
    return Object.assign(result, { [partition]: [...current, message] })
  }, {})`,
        `  const result = {}
  for (const message of messages) {
    const partition = partitioner({ topic, partitionMetadata, message })
    const current = result[partition]
    if (current) current.push(message)
    else result[partition] = [message]
  }
  return result`,
      ],
    ],
  },
  // Produce requests were built by nesting encoders: a record, the batch body, the batch, the
  // batch with its offset, the partition, the topic, the request, the request with its header,
  // and the request with its size — each copying the one inside it, each starting small and
  // regrowing (a copy per doubling), and each record's fields taken from a spread copy of its
  // message (on Node 20 a spread followed by properties it did not bring builds fresh hidden
  // classes every call). Every produced byte was copied ~18 times, and each copy went to fresh
  // memory. Without compression (the pipeline's case), the patches below size the whole request
  // first and write it into one buffer: each record's layout is worked out once (planRecord),
  // each record and batch header is written in place, the batch CRC is computed where the body
  // lies, and the request header goes into bytes left free at the start — each produced byte is
  // copied once, the same bytes (test/unit/runtime/kafkajs-produce-encoding.test.ts). A
  // compressed request keeps the nested encoders, each sized up front (no regrowing).
  // Figures: README, Decisions ("KafkaJS 2.2.4 is patched at install"); `npm run bench -- broker`.
  {
    name: 'produce request in one buffer: record',
    file: 'kafkajs/src/protocol/recordBatch/record/v0/index.js',
    replacements: [
      [
        `const Encoder = require('../../../encoder')
const Header = require('../../header/v0')
`,
        `const Encoder = require('../../../encoder')
// Header() is not used: writeRecord writes each header in place.
`,
      ],
      [
        `module.exports = ({ offsetDelta = 0,`,
        `// Patched (findings-ledger scripts/patch-kafkajs.mjs): a record's layout is worked out once
// (planRecord), so a produce request can be sized before any byte is written and each record
// written straight into it (writeRecord); Record() is the two together, as before.
const planRecord = ({ offsetDelta = 0,`,
      ],
      [
        `  return new Encoder()
    .writeVarInt(sizeOfBody)
    .writeInt8(0) // no used record attributes at the moment
    .writeVarLong(timestampDelta)
    .writeVarInt(offsetDelta)
    .writeVarIntBytes(key)
    .writeVarIntBytes(value)
    .writeVarIntArray(headersArray.map(Header))
}`,
        `  return {
    offsetDelta,
    timestampDelta,
    key,
    value,
    headersArray,
    sizeOfBody,
    size: Encoder.sizeOfVarInt(sizeOfBody) + sizeOfBody,
  }
}

// Each header as Header() encodes it: varint-length key string, varint-length value bytes.
const writeRecord = (encoder, record) => {
  encoder
    .writeVarInt(record.sizeOfBody)
    .writeInt8(0) // no used record attributes at the moment
    .writeVarLong(record.timestampDelta)
    .writeVarInt(record.offsetDelta)
    .writeVarIntBytes(record.key)
    .writeVarIntBytes(record.value)
    .writeVarInt(record.headersArray.length)
  for (const header of record.headersArray) {
    encoder.writeVarIntString(header.key).writeVarIntBytes(header.value)
  }
  return encoder
}

module.exports = args => {
  const record = planRecord(args)
  return writeRecord(new Encoder(record.size), record)
}
module.exports.planRecord = planRecord
module.exports.writeRecord = writeRecord`,
      ],
    ],
  },
  {
    name: 'produce request in one buffer: record batch sizing',
    file: 'kafkajs/src/protocol/recordBatch/v0/index.js',
    replacements: [
      [
        `const MAGIC_BYTE = 2
`,
        `const MAGIC_BYTE = 2
// attributes(2) lastOffsetDelta(4) firstTimestamp(8) maxTimestamp(8) producerId(8) producerEpoch(2)
// firstSequence(4) record count(4): what the batch body holds before its records.
const BATCH_BODY_HEADER_BYTES = 40
`,
      ],
      [
        `  const batchBody = new Encoder()
    .writeInt16(attributes)`,
        `  let recordBytes = 0
  for (const record of records) recordBytes += record.size()
  const batchBody = new Encoder(BATCH_BODY_HEADER_BYTES + recordBytes)
    .writeInt16(attributes)`,
      ],
      [
        `  const batch = new Encoder()
    .writeInt32(partitionLeaderEpoch)
    .writeInt8(MAGIC_BYTE)
    .writeUInt32(crc32C(batchBody.buffer))
    .writeEncoder(batchBody)

  return new Encoder().writeInt64(firstOffset).writeBytes(batch.buffer)`,
        `  // firstOffset, then the batch as BYTES (its length, then partitionLeaderEpoch, magic, crc, body).
  const batchSize = 4 + 1 + 4 + batchBody.size()
  return new Encoder(8 + 4 + batchSize)
    .writeInt64(firstOffset)
    .writeInt32(batchSize)
    .writeInt32(partitionLeaderEpoch)
    .writeInt8(MAGIC_BYTE)
    .writeUInt32(crc32C(batchBody.buffer))
    .writeEncoder(batchBody)`,
      ],
    ],
  },
  {
    name: 'produce request in one buffer: record batch',
    file: 'kafkajs/src/protocol/recordBatch/v0/index.js',
    replacements: [
      [
        `const crc32C = require('../crc32C')
`,
        `const crc32C = require('../crc32C')
const { writeRecord } = require('../record/v0')
`,
      ],
      [
        `const compressRecords`,
        `// Patched (findings-ledger scripts/patch-kafkajs.mjs): an uncompressed batch written straight
// into the produce request's encoder, records included (plans from planRecord), its length and
// CRC filled in once the body is written: the same bytes as RecordBatch() (a produced batch
// starts at offset 0 with leader epoch 0) followed by the copy into the request.
const BATCH_PREFIX_BYTES = 8 + 4 + 4 + 1 + 4 // firstOffset, length, partitionLeaderEpoch, magic, crc

/** Bytes of the batch: firstOffset and length included (what RecordBatch().size() gives). */
const sizeOfUncompressedRecordBatch = records => {
  let size = BATCH_PREFIX_BYTES + BATCH_BODY_HEADER_BYTES
  for (const record of records) size += record.size
  return size
}

const writeUncompressedRecordBatch = (
  encoder,
  { firstTimestamp, maxTimestamp, lastOffsetDelta, transactional, producerId, producerEpoch, firstSequence, records }
) => {
  const attributes = Compression.None | TIMESTAMP_MASK | (transactional ? TRANSACTIONAL_MASK : 0)
  encoder.writeInt64(0) // firstOffset
  const lengthAt = encoder.offset
  encoder
    .writeInt32(0) // the length, once the batch is written
    .writeInt32(0) // partitionLeaderEpoch
    .writeInt8(MAGIC_BYTE)
  const crcAt = encoder.offset
  encoder.writeUInt32(0) // the CRC, once the body is written
  const bodyStart = encoder.offset
  encoder
    .writeInt16(attributes)
    .writeInt32(lastOffsetDelta)
    .writeInt64(firstTimestamp)
    .writeInt64(maxTimestamp)
    .writeInt64(producerId)
    .writeInt16(producerEpoch)
    .writeInt32(firstSequence)
    .writeInt32(records.length)
  for (const record of records) writeRecord(encoder, record)
  encoder.buf.writeInt32BE(encoder.offset - lengthAt - 4, lengthAt)
  encoder.buf.writeUInt32BE(crc32C(encoder.buf.subarray(bodyStart, encoder.offset)), crcAt)
  return encoder
}

const compressRecords`,
      ],
      [
        `module.exports = {
  RecordBatch,
  MAGIC_BYTE,
}`,
        `module.exports = {
  RecordBatch,
  MAGIC_BYTE,
  sizeOfUncompressedRecordBatch,
  writeUncompressedRecordBatch,
}`,
      ],
    ],
  },
  {
    name: 'produce request in one buffer: produce v3',
    file: 'kafkajs/src/protocol/requests/produce/v3/request.js',
    replacements: [
      [
        `const Record = require('../../../recordBatch/record/v0')
const { RecordBatch } = require('../../../recordBatch/v0')`,
        `const { planRecord, writeRecord } = require('../../../recordBatch/record/v0')
const {
  RecordBatch,
  sizeOfUncompressedRecordBatch,
  writeUncompressedRecordBatch,
} = require('../../../recordBatch/v0')`,
      ],
      [
        `  encode: async () => {
    const encodeTopic`,
        `  encode: async headerBytes => {
    if (compression === Types.None) {
      const request = { acks, timeout, transactionalId, producerId, producerEpoch, topicData }
      return encodeUncompressed(request, headerBytes)
    }

    const encodeTopic`,
      ],
      [
        `    return new Encoder()
      .writeString(transactionalId)`,
        `    return new Encoder(2 + (transactionalId == null ? 0 : Buffer.byteLength(transactionalId)) + 2 + 4 + 4 + sizeOfAll(encodedTopicData))
      .writeString(transactionalId)`,
      ],
      [
        `const topicEncoder = compression`,
        `const sizeOfAll = encoders => encoders.reduce((total, encoder) => total + encoder.size(), 0)

const topicEncoder = compression`,
      ],
      [
        `  return new Encoder().writeString(topic).writeArray(encodedPartitions)`,
        `  return new Encoder(2 + Buffer.byteLength(topic) + 4 + sizeOfAll(encodedPartitions))
    .writeString(topic)
    .writeArray(encodedPartitions)`,
      ],
      [
        `const partitionsEncoder = compression => async ({`,
        `// Patched (findings-ledger scripts/patch-kafkajs.mjs): without compression, the whole request
// is written into one encoder sized up front, each record straight into it, and the
// \`headerBytes\` that request.js asks for are left free at its start for the request header, so
// that framing copies nothing either. The same bytes as the nested encoders below.
const encodeUncompressed = (
  { acks, timeout, transactionalId, producerId, producerEpoch, topicData },
  headerBytes = 0
) => {
  let size = 2 + (transactionalId == null ? 0 : Buffer.byteLength(transactionalId)) + 2 + 4 + 4
  const topics = topicData.map(({ topic, partitions }) => {
    size += 2 + Buffer.byteLength(topic) + 4
    return {
      topic,
      batches: partitions.map(data => {
        const batch = batchOf({ ...data, transactionalId, producerId, producerEpoch })
        size += 4 + 4 + sizeOfUncompressedRecordBatch(batch.records)
        return batch
      }),
    }
  })

  const encoder = new Encoder(headerBytes + size)
  encoder.offset = headerBytes
  encoder.reservedHeaderBytes = headerBytes
  encoder
    .writeString(transactionalId)
    .writeInt16(acks)
    .writeInt32(timeout)
    .writeInt32(topics.length)
  for (const { topic, batches } of topics) {
    encoder.writeString(topic).writeInt32(batches.length)
    for (const batch of batches) {
      encoder.writeInt32(batch.partition)
      const recordSetAt = encoder.offset
      encoder.writeInt32(0) // the record set's size, once the batch is written
      writeUncompressedRecordBatch(encoder, batch)
      encoder.buf.writeInt32BE(encoder.offset - recordSetAt - 4, recordSetAt)
    }
  }
  return encoder
}

/** A partition's messages as a record batch: record plans and the batch fields. */
const batchOf = ({`,
      ],
      [
        `    Record({
      ...message,
`,
        `    planRecord({
      key: message.key,
      value: message.value,
      headers: message.headers,
`,
      ],
      [
        `  const recordBatch = await RecordBatch({
    compression,
    records,
`,
        `  return {
    partition,
    records,
`,
      ],
      [
        `    lastOffsetDelta: records.length - 1,
  })

  return new Encoder()
    .writeInt32(partition)
    .writeInt32(recordBatch.size())
    .writeEncoder(recordBatch)
}
`,
        `    lastOffsetDelta: records.length - 1,
  }
}

const partitionsEncoder = compression => async data => {
  const batch = batchOf(data)
  const recordBatch = await RecordBatch({
    ...batch,
    compression,
    records: batch.records.map(record => writeRecord(new Encoder(record.size), record)),
  })

  return new Encoder(4 + 4 + recordBatch.size())
    .writeInt32(batch.partition)
    .writeInt32(recordBatch.size())
    .writeEncoder(recordBatch)
}
`,
      ],
    ],
  },
  {
    name: 'produce request in one buffer: request framing',
    file: 'kafkajs/src/protocol/request.js',
    replacements: [
      [
        `module.exports = async ({ correlationId, clientId, request: { apiKey, apiVersion, encode } }) => {
  const payload = await encode()
  const requestPayload = new Encoder()
    .writeInt16(apiKey)
    .writeInt16(apiVersion)
    .writeInt32(correlationId)
    .writeString(clientId)
    .writeEncoder(payload)

  return new Encoder().writeInt32(requestPayload.size()).writeEncoder(requestPayload)
}
`,
        `module.exports = async ({ correlationId, clientId, request: { apiKey, apiVersion, encode } }) => {
  // size(4), then apiKey(2) apiVersion(2) correlationId(4) clientId(STRING: 2 + bytes), then the payload.
  const headerBytes = 4 + 2 + 2 + 4 + 2 + (clientId == null ? 0 : Buffer.byteLength(clientId))
  const writeHeader = (encoder, size) =>
    encoder
      .writeInt32(size)
      .writeInt16(apiKey)
      .writeInt16(apiVersion)
      .writeInt32(correlationId)
      .writeString(clientId)

  // Patched (findings-ledger scripts/patch-kafkajs.mjs): an encoder that left the header's bytes
  // free at its start (produce, see produce/v3/request.js) gets the header written there.
  const payload = await encode(headerBytes)
  if (payload.reservedHeaderBytes === headerBytes) {
    const end = payload.offset
    payload.offset = 0
    writeHeader(payload, end - 4)
    payload.offset = end
    return payload
  }

  const size = headerBytes - 4 + payload.size()
  return writeHeader(new Encoder(4 + size), size).writeEncoder(payload)
}
`,
      ],
    ],
  },
];

let failed = false;
for (const patch of PATCHES) {
  const file = require.resolve(patch.file);
  let text = readFileSync(file, 'utf8');
  let applied = 0;
  let expected = true;
  for (const [original, patched] of patch.replacements) {
    if (text.includes(patched)) continue;
    if (version !== '2.2.4' || !text.includes(original)) {
      console.error(`patch-kafkajs: kafkajs ${version}: ${patch.file} is not what "${patch.name}" expects (an older version of these patches applied? npm ci reinstalls kafkajs); re-check it (scripts/patch-kafkajs.mjs)`);
      expected = false;
      break;
    }
    text = text.replace(original, () => patched); // a function: `$` in a patch stays literal
    applied++;
  }
  // A patch is written whole or not at all: half of one could leave a file that loads but encodes wrongly.
  if (!expected) failed = true;
  else if (applied > 0) {
    writeFileSync(file, text);
    console.error(`patch-kafkajs: applied "${patch.name}" to kafkajs ${version}`);
  }
}
if (failed) process.exit(1);
