// Assembles the pipeline from configuration: keyring, worker pool, topology, codec, serde.
// Shared by `ledger run`, `ledger topics`, `ledger schemas register` and the demo.
import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { availableParallelism } from 'node:os';
import { ed25519PrivateKey, signEd25519 } from '../contracts/ed25519.js';
import type { LedgerConfig } from '../config.js';
import { ConfigError } from '../config.js';
import { Keyring } from '../contracts/keyring.js';
import { createValidatePool, type ValidatePool } from '../processors/validate.js';
import { createValueCodec, SchemaCatalog, type AvroValueCodec } from '../runtime/codec.js';
import type { Kafka } from 'kafkajs';
import { createMetrics, metricsSink } from '../metrics.js';
import { ProjectionQueries, projectorRoutes } from '../processors/projector-queries.js';
import { startHttpServer } from '../runtime/http.js';
import { KafkaDriver, type DriverLogger } from '../runtime/kafka/driver.js';
import { RocksDbBackend } from '../state/rocksdb.js';
import { KeyringSource } from '../runtime/keyring-source.js';
import { TopicSerde } from '../runtime/serde.js';
import type { Topology } from '../runtime/topology-types.js';
import { JSON_INPUT_TOPICS, pipelineTopology, TOPIC_RECORDS } from '../topology.js';

export interface Pipeline {
  readonly topology: Topology;
  readonly codec: AvroValueCodec;
  readonly serde: TopicSerde;
  readonly keyring: KeyringSource;
  readonly pool: ValidatePool | null;
  close(): Promise<void>;
}

export function loadKeyring(config: LedgerConfig, logger: DriverLogger, options: { watch?: boolean } = {}): KeyringSource {
  if (config.keyringPath) return KeyringSource.fromFile(config.keyringPath, logger, options);
  if (config.signaturesRequired) {
    throw new ConfigError('LEDGER_KEYRING (or --keys) is required while signatures are required; set LEDGER_ALLOW_UNSIGNED=true to accept unsigned exports');
  }
  return KeyringSource.fixed(new Keyring([]));
}

/** The Merkle signing key (PKCS#8 PEM), or null when none is configured. */
export function loadSigner(config: LedgerConfig): { keyId: string; sign: (message: Buffer) => Buffer } | null {
  if (!config.signingKeyPath) return null;
  if (!config.signingKeyId) throw new ConfigError('LEDGER_SIGNING_KEY_ID (--signing-key-id) is required with a signing key');
  let pem: string;
  try {
    pem = readFileSync(config.signingKeyPath, 'utf8');
  } catch (error) {
    throw new ConfigError(`cannot read signing key ${config.signingKeyPath}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
  let key: ReturnType<typeof ed25519PrivateKey>;
  try {
    key = ed25519PrivateKey(pem);
  } catch (error) {
    throw new ConfigError(`signing key ${config.signingKeyPath} is not an Ed25519 PKCS#8 PEM key: ${error instanceof Error ? error.message : String(error)}`);
  }
  return { keyId: config.signingKeyId, sign: (message) => signEd25519(message, key) };
}

export function createCodec(config: LedgerConfig): AvroValueCodec {
  return createValueCodec({
    catalog: SchemaCatalog.load(),
    topics: TOPIC_RECORDS,
    jsonTopics: JSON_INPUT_TOPICS,
    ...(config.schemaRegistry ? { registry: config.schemaRegistry } : {}),
  });
}

export function buildPipeline(config: LedgerConfig, logger: DriverLogger, options: { workers?: number; watchKeyring?: boolean } = {}): Pipeline {
  const keyring = loadKeyring(config, logger, { watch: options.watchKeyring });
  const signer = loadSigner(config);
  const workers = options.workers ?? availableParallelism();
  const pool = workers > 0 ? createValidatePool({ workers, keyring, signaturesRequired: config.signaturesRequired }) : null;
  const topology = pipelineTopology({
    appId: config.appId,
    partitions: config.partitions,
    keyring,
    signaturesRequired: config.signaturesRequired,
    validatePool: pool,
    dedupeRetentionMs: config.dedupeRetentionSeconds * 1000,
    merkle: signer && { batchSize: config.merkleBatchSize, batchMaxWaitMs: config.merkleBatchMaxWaitMs, ...signer },
    projectorRootKeyId: config.signingKeyId,
  });
  const codec = createCodec(config);
  return {
    topology,
    codec,
    serde: new TopicSerde(topology, codec),
    keyring,
    pool,
    async close() {
      keyring.close();
      await pool?.close();
    },
  };
}

/**
 * A pipeline on Kafka as `ledger run` and `ledger demo` serve it: the Kafka driver over RocksDB
 * stores, its metrics (with the projector's staleness gauges) and the HTTP endpoints (/metrics,
 * health, readiness, the projector's queries). The caller starts the driver.
 */
export async function servePipeline(
  config: LedgerConfig,
  pipeline: Pipeline,
  options: { kafka: Kafka; logger: DriverLogger; processors?: readonly string[] },
): Promise<{ driver: KafkaDriver; server: Server; queries: ProjectionQueries }> {
  const metrics = createMetrics();
  const driver = new KafkaDriver({
    topology: pipeline.topology,
    kafka: options.kafka,
    backend: new RocksDbBackend(config.stateDir),
    serde: pipeline.serde,
    processors: options.processors,
    logger: options.logger,
    metrics: metricsSink(metrics),
    maxWaitTimeInMs: config.fetchMaxWaitMs,
  });
  const queries = new ProjectionQueries({ stores: driver, partitions: config.partitions, freshnessThresholdSeconds: config.freshnessThresholdSeconds, clock: Date.now });
  metrics.useStaleness((now) => queries.staleness(now));
  const server = await startHttpServer({ port: config.metricsPort, registry: metrics.registry, isReady: () => driver.isReady(), routes: projectorRoutes(queries) });
  return { driver, server, queries };
}
