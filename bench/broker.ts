import { Kafka, logLevel } from 'kafkajs';
import type { BenchResult } from './report.js';

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
