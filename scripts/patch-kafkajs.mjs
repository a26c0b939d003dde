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
    // `{ ...message, offsetDelta, timestampDelta }` per record: on Node 20 a spread followed by
    // properties it did not bring builds fresh hidden classes every call (README, Benchmarks).
    // Record() reads exactly these fields.
    name: 'produce record without spread',
    file: 'kafkajs/src/protocol/requests/produce/v3/request.js',
    replacements: [
      [
        `    Record({
      ...message,
      offsetDelta: i,`,
        `    Record({
      key: message.key,
      value: message.value,
      headers: message.headers,
      offsetDelta: i,`,
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
  // and the request with its size — each copying the one inside it, and each starting small and
  // regrowing (a copy per doubling) on the way. Every produced byte was copied ~18 times (in a
  // CPU profile of `ledger run`, 10.9 % of the main thread during the end-to-end benchmark). The
  // four patches below give each encoder its final size up front and fold the two outermost pairs
  // into one encoder each: ~7 copies, the same bytes (test/unit/runtime/kafkajs-produce-encoding.test.ts).
  // Figures: README, Decisions ("KafkaJS 2.2.4 is patched at install"); `npm run bench -- broker`.
  {
    name: 'produce request sized up front: record',
    file: 'kafkajs/src/protocol/recordBatch/record/v0/index.js',
    replacements: [
      [
        `  return new Encoder()
    .writeVarInt(sizeOfBody)`,
        `  return new Encoder(Encoder.sizeOfVarInt(sizeOfBody) + sizeOfBody)
    .writeVarInt(sizeOfBody)`,
      ],
    ],
  },
  {
    name: 'produce request sized up front: record batch',
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
    name: 'produce request sized up front: produce v3',
    file: 'kafkajs/src/protocol/requests/produce/v3/request.js',
    replacements: [
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
        `  return new Encoder()
    .writeInt32(partition)`,
        `  return new Encoder(4 + 4 + recordBatch.size())
    .writeInt32(partition)`,
      ],
    ],
  },
  {
    // Every request, not only produce: size, header and payload in one encoder.
    name: 'produce request sized up front: request framing',
    file: 'kafkajs/src/protocol/request.js',
    replacements: [
      [
        `  const requestPayload = new Encoder()
    .writeInt16(apiKey)
    .writeInt16(apiVersion)
    .writeInt32(correlationId)
    .writeString(clientId)
    .writeEncoder(payload)

  return new Encoder().writeInt32(requestPayload.size()).writeEncoder(requestPayload)`,
        `  // apiKey(2) apiVersion(2) correlationId(4) clientId(STRING: 2 + bytes), then the payload.
  const size = 2 + 2 + 4 + 2 + (clientId == null ? 0 : Buffer.byteLength(clientId)) + payload.size()
  return new Encoder(4 + size)
    .writeInt32(size)
    .writeInt16(apiKey)
    .writeInt16(apiVersion)
    .writeInt32(correlationId)
    .writeString(clientId)
    .writeEncoder(payload)`,
      ],
    ],
  },
];

let failed = false;
for (const patch of PATCHES) {
  const file = require.resolve(patch.file);
  let text = readFileSync(file, 'utf8');
  let applied = 0;
  for (const [original, patched] of patch.replacements) {
    if (text.includes(patched)) continue;
    if (version !== '2.2.4' || !text.includes(original)) {
      console.error(`patch-kafkajs: kafkajs ${version}: ${patch.file} is not what "${patch.name}" expects; re-check it (scripts/patch-kafkajs.mjs)`);
      failed = true;
      break;
    }
    text = text.replace(original, () => patched); // a function: `$` in a patch stays literal
    applied++;
  }
  if (applied > 0) {
    writeFileSync(file, text);
    console.error(`patch-kafkajs: applied "${patch.name}" to kafkajs ${version}`);
  }
}
if (failed) process.exit(1);
