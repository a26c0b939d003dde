import { Kafka, logLevel, type KafkaConfig, type SASLOptions } from 'kafkajs';
import type { DriverLogger } from './driver.js';

export interface KafkaConnection {
  readonly brokers: readonly string[];
  readonly clientId: string;
  readonly ssl?: boolean;
  readonly sasl?: SASLOptions;
}

/** The one place that builds a kafkajs client; its log lines go through our logger. */
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
        const { message, ...fields } = log;
        if (level <= logLevel.ERROR) logger.error(`kafkajs: ${message}`, fields);
        else logger.warn(`kafkajs: ${message}`, fields);
      },
  };
  return new Kafka(config);
}

/** One JSON line per event on stderr: greppable, and never a stack trace. */
export function jsonLineLogger(component: string, out: NodeJS.WritableStream = process.stderr): DriverLogger {
  const write = (level: string, message: string, fields?: Record<string, unknown>): void => {
    out.write(`${JSON.stringify({ time: new Date().toISOString(), level, component, message, ...fields })}\n`);
  };
  return {
    info: (m, f) => write('info', m, f),
    warn: (m, f) => write('warn', m, f),
    error: (m, f) => write('error', m, f),
  };
}
