import { Kafka, logLevel, type KafkaConfig, type SASLOptions } from 'kafkajs';
import type { DriverLogger } from './driver.js';

export interface KafkaConnection {
  readonly brokers: readonly string[];
  readonly clientId: string;
  readonly ssl?: boolean;
  readonly sasl?: SASLOptions;
}

/** The one place that builds a kafkajs client; its log lines go through our logger. */
/** Warnings kafkajs prints for choices we made on purpose (see KAFKA-NOTES.md). */
const EXPECTED_WARNINGS = [
  'switched default partitioner', // we compute partitions ourselves (runtime/partitioner.ts)
  'Limiting retries for the idempotent producer', // kafkajs always passes a retry object
];

export function createKafka(connection: KafkaConnection, logger: DriverLogger): Kafka {
  const config: KafkaConfig = {
    clientId: connection.clientId,
    brokers: [...connection.brokers],
    ssl: connection.ssl,
    sasl: connection.sasl,
    connectionTimeout: 5_000,
    requestTimeout: 30_000,
    retry: { retries: 8, initialRetryTime: 200, maxRetryTime: 5_000 },
    logLevel: logLevel.WARN,
    logCreator:
      () =>
      ({ level, log }) => {
        // kafkajs logs retriable broker responses (e.g. CONCURRENT_TRANSACTIONS while a fenced
        // transaction aborts) at ERROR and then retries; what really fails reaches our code as
        // an exception and is logged there. So its lines are warnings here.
        const { message, ...fields } = log;
        if (EXPECTED_WARNINGS.some((w) => message.includes(w))) return;
        logger.warn(`kafkajs: ${message}`, { ...fields, kafkajsLevel: level <= logLevel.ERROR ? 'error' : 'warn' });
      },
  };
  return new Kafka(config);
}

/** One JSON line per event on stderr: greppable, and never a stack trace. */
export function jsonLineLogger(component: string, out: NodeJS.WritableStream = process.stderr, options: { quietInfo?: boolean } = {}): DriverLogger {
  const write = (level: string, message: string, fields?: Record<string, unknown>): void => {
    if (options.quietInfo && level === 'info') return;
    out.write(`${JSON.stringify({ time: new Date().toISOString(), level, component, message, ...fields })}\n`);
  };
  return {
    info: (m, f) => write('info', m, f),
    warn: (m, f) => write('warn', m, f),
    error: (m, f) => write('error', m, f),
  };
}
