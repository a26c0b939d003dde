// Runs the counter example topology on Kafka until SIGTERM/SIGINT. Used by the exactly-once
// integration tests (which kill it with SIGKILL mid-stream) and by `npm start` before the
// product processors existed.
import { counterTopology } from './counter-topology.js';
import { createKafka, jsonLineLogger } from '../runtime/kafka/client.js';
import { KafkaDriver } from '../runtime/kafka/driver.js';
import { TopicSerde } from '../runtime/serde.js';
import { RocksDbBackend } from '../state/rocksdb.js';

const env = (name: string, fallback?: string): string => {
  const value = process.env[name] ?? fallback;
  if (value === undefined) {
    process.stderr.write(`counter-worker: ${name} is not set\n`);
    process.exit(2);
  }
  return value;
};

const logger = jsonLineLogger('counter-worker');
const topology = counterTopology({
  appId: env('COUNTER_APP_ID'),
  inputTopic: env('COUNTER_INPUT'),
  outputTopic: env('COUNTER_OUTPUT'),
  partitions: Number(env('COUNTER_PARTITIONS', '3')),
});
const kafka = createKafka({ brokers: env('KAFKA_BROKERS', '127.0.0.1:19092').split(','), clientId: 'counter-worker' }, logger);
const driver = new KafkaDriver({
  topology,
  kafka,
  backend: new RocksDbBackend(env('LEDGER_STATE_DIR')),
  serde: new TopicSerde(topology, null),
  logger,
  maxWaitTimeInMs: 100,
});

let stopping = false;
const stop = async (): Promise<void> => {
  if (stopping) return;
  stopping = true;
  await driver.stop();
  process.exit(0);
};
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());

driver.start().then(
  () => logger.info('started'),
  (error: unknown) => {
    logger.error('start failed', { error: error instanceof Error ? error.message : String(error) });
    process.exit(1);
  },
);
let wasReady = false;
setInterval(() => {
  const ready = driver.isReady();
  if (ready !== wasReady) logger.info(ready ? 'ready' : 'not ready');
  wasReady = ready;
}, 500).unref();
