import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { Kafka, logLevel } from 'kafkajs';
import { bestOfRounds, unitsPerSecond, withCeiling, type BenchResult } from './report.js';

/**
 * The raw broker ceiling for this machine: kafkajs producing ~1 KiB records in large batches
 * (acks=all, idempotent) and a consumer group reading them back, with no processing. Every
 * pipeline figure that goes through the broker is reported next to this one.
 */
export async function benchBroker(options: { brokers: readonly string[]; records?: number; recordBytes?: number }): Promise<BenchResult[]> {
  const records = options.records ?? 100_000;
  const recordBytes = options.recordBytes ?? 1024;
  const kafka = new Kafka({ clientId: 'bench-broker', brokers: [...options.brokers], logLevel: logLevel.NOTHING });
  const topic = `bench.broker.${Date.now().toString(36)}`;
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 3, replicationFactor: 1 }], waitForLeaders: true });

  const payload = Buffer.alloc(recordBytes, 0x61);
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const batch = 2_000;
  const produceStart = process.hrtime.bigint();
  for (let sent = 0; sent < records; sent += batch) {
    const n = Math.min(batch, records - sent);
    await producer.send({ topic, acks: -1, messages: Array.from({ length: n }, (_, i) => ({ key: `k${(sent + i) % 997}`, value: payload })) });
  }
  const produceSeconds = Number(process.hrtime.bigint() - produceStart) / 1e9;
  await producer.disconnect();

  const consumer = kafka.consumer({ groupId: `${topic}-reader`, maxBytesPerPartition: 8 * 1024 * 1024, maxWaitTimeInMs: 100 });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  let received = 0;
  let consumeStart = 0n;
  const consumeSeconds = await new Promise<number>((resolve) => {
    void consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch: b }) => {
        if (consumeStart === 0n) consumeStart = process.hrtime.bigint();
        received += b.messages.length;
        if (received >= records) resolve(Number(process.hrtime.bigint() - consumeStart) / 1e9);
      },
    });
  });
  await consumer.disconnect();
  await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
  await admin.disconnect();
  return [
    { name: 'broker.produce', unit: 'records/s', value: records / produceSeconds, params: { records, recordBytes, acks: 'all', client: 'kafkajs' } },
    { name: 'broker.consume', unit: 'records/s', value: records / consumeSeconds, params: { records, recordBytes, client: 'kafkajs' } },
  ];
}

// KafkaJS's internal produce-request encoder and request framing (the code `producer.send` runs),
// as installed: scripts/patch-kafkajs.mjs patches both.
const kafkajsInternals = createRequire(import.meta.url);
type EncodeRequest = { apiKey: number; apiVersion: number; encode: () => Promise<unknown> };
const produceProtocol = kafkajsInternals('kafkajs/src/protocol/requests/produce/index.js') as { protocol: (v: { version: number }) => (args: object) => { request: EncodeRequest } };
const frameRequest = kafkajsInternals('kafkajs/src/protocol/request.js') as (args: { correlationId: number; clientId: string; request: EncodeRequest }) => Promise<{ buffer: Buffer }>;
const kafkaLong = kafkajsInternals('kafkajs/src/utils/long.js') as { fromInt: (n: number) => unknown };

/**
 * The client's share of producing: KafkaJS encoding and framing one transactional produce request
 * of `records` values of `recordBytes` (a ValidatedExport is ~2.2 KB), next to one copy of the
 * request's bytes into a new buffer, the floor for any encoder that builds a request in memory.
 * The ratio says how many such copies the encoding costs (its inverse). No broker needed.
 */
export async function benchProduceEncoding(options: { records?: number; recordBytes?: number; seconds?: number } = {}): Promise<BenchResult[]> {
  const records = options.records ?? 500;
  const recordBytes = options.recordBytes ?? 2_200;
  const seconds = options.seconds ?? 3;
  const messages = Array.from({ length: records }, (_, i) => ({ key: Buffer.from(`acme/${i.toString(16).padStart(36, '0')}`), value: randomBytes(recordBytes), headers: { 'tenant-id': 'acme' }, timestamp: 1_795_000_000_000 + i }));
  const encode = async (): Promise<Buffer> => {
    const { request } = produceProtocol.protocol({ version: 7 })({
      acks: -1,
      timeout: 30_000,
      compression: 0,
      transactionalId: 'bench-validate-0',
      producerId: kafkaLong.fromInt(42),
      producerEpoch: 3,
      topicData: [{ topic: 'ledger.exports.validated', partitions: [{ partition: 0, firstSequence: 0, messages }] }],
    });
    return (await frameRequest({ correlationId: 1, clientId: 'bench', request })).buffer;
  };
  const requestBytes = (await encode()).length;
  const source = randomBytes(requestBytes);
  for (let i = 0; i < 5; i++) await encode(); // warm-up
  // Each returns the records it covered. The copy goes into fresh memory, as an encoder's output does.
  const copyRequest = (): number => {
    source.copy(Buffer.allocUnsafe(requestBytes));
    return records;
  };
  const encodeRequest = async (): Promise<number> => {
    await encode();
    return records;
  };
  const [copyRate, encodeRate] = await bestOfRounds([(s) => unitsPerSecond(copyRequest, s), (s) => unitsPerSecond(encodeRequest, s)], seconds, 5);
  const copy: BenchResult = { name: 'buffer.copy', unit: 'records/s', value: copyRate, params: { records, requestBytes, into: 'a new buffer' } };
  const encoded: BenchResult = { name: 'kafkajs.produce_encode', unit: 'records/s', value: encodeRate, params: { records, recordBytes, requestBytes, transactional: true } };
  return [copy, withCeiling(encoded, copy)];
}
