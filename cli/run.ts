import { loadConfig } from '../config.js';
import { createKafka, jsonLineLogger } from '../runtime/kafka/client.js';
import { PROCESSOR_NAMES } from '../topology.js';
import { parseFlags } from './args.js';
import { UsageError } from './errors.js';
import { ConfigError } from '../config.js';
import { buildPipeline, servePipeline } from './pipeline.js';

export const RUN_USAGE = `ledger run [--processors ${PROCESSOR_NAMES.join(',')}] [--keys FILE] [--allow-unsigned] [--signing-key PKCS8.pem --signing-key-id ID] [--metrics-port N]`;

/**
 * `ledger run`: the streaming pipeline on Kafka. Runs the chosen processors in this process;
 * more instances with the same LEDGER_APP_ID share the partitions. SIGTERM/SIGINT finish the
 * transaction in flight and close the stores; SIGHUP reloads the keyring.
 */
export async function runCommand(argv: readonly string[]): Promise<number> {
  const flags = parseFlags('run', argv, {
    processors: { type: 'string' },
    keys: { type: 'string' },
    'allow-unsigned': { type: 'boolean' },
    'metrics-port': { type: 'string' },
    'signing-key': { type: 'string' },
    'signing-key-id': { type: 'string' },
  });
  const processors = parseProcessors(flags.processors);
  const config = loadConfig(process.env, {
    ...(flags.keys !== undefined ? { LEDGER_KEYRING: flags.keys } : {}),
    ...(flags['allow-unsigned'] ? { LEDGER_ALLOW_UNSIGNED: 'true' } : {}),
    ...(flags['metrics-port'] !== undefined ? { METRICS_PORT: flags['metrics-port'] } : {}),
    ...(flags['signing-key'] !== undefined ? { LEDGER_SIGNING_KEY: flags['signing-key'] } : {}),
    ...(flags['signing-key-id'] !== undefined ? { LEDGER_SIGNING_KEY_ID: flags['signing-key-id'] } : {}),
  });
  if (processors.includes('merkle') && !config.signingKeyPath) {
    throw new ConfigError('the merkle processor needs a signing key: set LEDGER_SIGNING_KEY and LEDGER_SIGNING_KEY_ID (or --signing-key/--signing-key-id), or leave merkle out of --processors');
  }
  const logger = jsonLineLogger('ledger');
  // Listening before start-up, which can take a while (schema registration, store restores, the
  // group join, waiting for a broker that is away): a stop meanwhile ends start-up before its next
  // step and then stops cleanly, rather than Node's default kill; the deadline counts from it.
  const stop = new AbortController();
  const stopRequested = new Promise<void>((resolve) => {
    const requestStop = (): void => {
      stop.abort();
      resolve();
    };
    process.once('SIGTERM', requestStop);
    process.once('SIGINT', requestStop);
  });
  logger.info('starting', { processors });
  // A stop that hangs (KafkaJS waiting on a broker that is away, say) must not keep the process
  // forever: after the deadline it exits 1; each task's next owner fences it and aborts what it
  // left open, so nothing is lost, only the clean close.
  let timer: NodeJS.Timeout | undefined;
  const expired = stopRequested.then(() => new Promise<'expired'>((resolve) => (timer = setTimeout(() => resolve('expired'), config.shutdownTimeoutSeconds * 1000))));
  let running = false;
  const runUntilStopped = async (): Promise<'stopped'> => {
    const pipeline = buildPipeline(config, logger);
    let served: Awaited<ReturnType<typeof servePipeline>> | null = null;
    try {
      await pipeline.codec.registerAll();
      if (!stop.signal.aborted) {
        served = await servePipeline(config, pipeline, { kafka: createKafka(config.kafka, logger), logger, processors });
        process.on('SIGHUP', () => void pipeline.keyring.reload());
        await served.driver.start(stop.signal);
      }
    } catch (error) {
      if (!stop.signal.aborted) throw error;
      logger.warn('start-up abandoned: a stop was requested', { error: error instanceof Error ? error.message : String(error) });
    }
    if (!stop.signal.aborted) {
      running = true;
      logger.info('pipeline running', { processors, metricsPort: config.metricsPort, registry: config.schemaRegistry ? 'confluent' : 'single-object' });
      await stopRequested;
    }
    logger.info('stopping');
    await served?.driver.stop();
    await pipeline.close();
    const server = served?.server;
    if (server) await new Promise((r) => server.close(r));
    return 'stopped';
  };
  const outcome = await Promise.race([runUntilStopped(), expired]);
  clearTimeout(timer);
  if (outcome === 'expired') {
    const what = running ? 'graceful stop' : 'stop requested during start-up';
    throw new ShutdownTimeoutError(`${what} did not finish within ${config.shutdownTimeoutSeconds} s (LEDGER_SHUTDOWN_TIMEOUT_SECONDS); exiting`);
  }
  // What a client library still holds (the process exits anyway: cli/ledger.ts).
  const leftOpen = process.getActiveResourcesInfo().filter((resource) => !['PipeWrap', 'TTYWrap', 'FSReqCallback'].includes(resource));
  logger.info('stopped', leftOpen.length > 0 ? { leftOpenByLibraries: leftOpen } : {});
  return 0;
}

class ShutdownTimeoutError extends Error {
  readonly code = 'SHUTDOWN_TIMEOUT' as const;
}

function parseProcessors(value: string | undefined): string[] {
  if (value === undefined) return [...PROCESSOR_NAMES];
  const names = value.split(',').map((s) => s.trim()).filter(Boolean);
  const unknown = names.filter((n) => !(PROCESSOR_NAMES as readonly string[]).includes(n));
  if (names.length === 0 || unknown.length > 0) {
    throw new UsageError(`ledger run: --processors takes a comma-separated subset of ${PROCESSOR_NAMES.join(',')}${unknown.length ? `; unknown: ${unknown.join(',')}` : ''}`);
  }
  return names;
}
