// All configuration in one validated place: environment variables, overridden by CLI flags.
// A bad value is a ConfigError whose message is the one line the CLI prints.

import type { SASLOptions } from 'kafkajs';
import { MAX_BATCH_LEAVES } from './processors/merkle.js';

export class ConfigError extends Error {
  readonly code = 'CONFIG_INVALID' as const;
}

export interface KafkaSettings {
  readonly brokers: readonly string[];
  readonly clientId: string;
  readonly ssl: boolean;
  readonly sasl?: SASLOptions;
}

export interface RegistrySettings {
  readonly url: string;
  readonly username?: string;
  readonly password?: string;
}

export interface LedgerConfig {
  readonly kafka: KafkaSettings;
  /** Null: registry-free Avro single-object encoding. */
  readonly schemaRegistry: RegistrySettings | null;
  readonly appId: string;
  readonly stateDir: string;
  readonly partitions: number;
  readonly keyringPath: string | null;
  readonly signaturesRequired: boolean;
  readonly signingKeyPath: string | null;
  readonly signingKeyId: string | null;
  readonly metricsPort: number;
  readonly freshnessThresholdSeconds: number;
  readonly dedupeRetentionSeconds: number;
  readonly merkleBatchSize: number;
  readonly merkleBatchMaxWaitMs: number;
  readonly fetchMaxWaitMs: number;
  readonly shutdownTimeoutSeconds: number;
}

/** Every setting: its environment variable, default and meaning (also rendered in the README). */
export const SETTINGS = [
  ['KAFKA_BROKERS', '127.0.0.1:19092', 'comma-separated bootstrap brokers (host:port)'],
  ['KAFKA_CLIENT_ID', 'findings-ledger', 'client id sent to the brokers'],
  ['KAFKA_SSL', 'false', 'true: TLS to the brokers (system CAs)'],
  ['KAFKA_SASL_MECHANISM', '', 'plain, scram-sha-256 or scram-sha-512 (empty: no SASL)'],
  ['KAFKA_SASL_USERNAME', '', 'SASL user'],
  ['KAFKA_SASL_PASSWORD', '', 'SASL password'],
  ['SCHEMA_REGISTRY_URL', '', 'Confluent-compatible registry; empty: Avro single-object encoding, no registry'],
  ['SCHEMA_REGISTRY_USERNAME', '', 'registry basic-auth user'],
  ['SCHEMA_REGISTRY_PASSWORD', '', 'registry basic-auth password'],
  ['LEDGER_APP_ID', 'findings-ledger', 'prefix of consumer groups, transactional ids and changelog topics'],
  ['LEDGER_STATE_DIR', './.ledger/state', 'RocksDB stores, one directory per store and partition'],
  ['LEDGER_PARTITIONS', '3', 'partitions of the topics the pipeline creates'],
  ['LEDGER_KEYRING', '', 'keyring JSON file (DESIGN.md 3.2) for DSSE verification'],
  ['LEDGER_ALLOW_UNSIGNED', 'false', 'true: accept exports without signatures (ERR_SIGNATURE_REQUIRED off)'],
  ['LEDGER_SIGNING_KEY', '', 'PKCS#8 PEM Ed25519 key that signs Merkle roots'],
  ['LEDGER_SIGNING_KEY_ID', '', 'key id written into Merkle roots'],
  ['METRICS_PORT', '9464', 'HTTP port of /metrics, /healthz, /readyz and the query API'],
  ['AIRGAP_FRESHNESS_THRESHOLD_SECONDS', '604800', 'staleness over which a tenant is blocked (ERR_AIRGAP_STALE)'],
  ['LEDGER_DEDUPE_RETENTION_SECONDS', '0', 'forget terminal runs after this long (0: keep forever); a replay after that counts as new'],
  ['LEDGER_MERKLE_BATCH_SIZE', '256', `leaves per sealed Merkle batch (at most ${MAX_BATCH_LEAVES}: a root lists every leaf in one Kafka record)`],
  ['LEDGER_MERKLE_BATCH_MAX_WAIT_MS', '1000', 'wall time after which an open batch seals'],
  ['LEDGER_FETCH_MAX_WAIT_MS', '50', 'longest a fetch waits for new records (each of the four stages adds up to this to the latency at low load)'],
  ['LEDGER_SHUTDOWN_TIMEOUT_SECONDS', '30', 'longest a graceful stop (SIGTERM) may take before the process exits with status 1 anyway'],
] as const;

type SettingName = (typeof SETTINGS)[number][0];
export type ConfigSource = Readonly<Partial<Record<SettingName, string>>> & Readonly<Record<string, string | undefined>>;

const DEFAULTS = Object.fromEntries(SETTINGS.map(([name, value]) => [name, value])) as Record<SettingName, string>;

export function loadConfig(env: ConfigSource = process.env, overrides: ConfigSource = {}): LedgerConfig {
  // An empty variable counts as unset (compose files and shells often export VAR=).
  const given = (value: string | undefined): string | undefined => (value === undefined || value.trim() === '' ? undefined : value.trim());
  const read = (name: SettingName): string => given(overrides[name]) ?? given(env[name]) ?? DEFAULTS[name];
  return {
    kafka: {
      brokers: parseBrokers(read('KAFKA_BROKERS')),
      clientId: nonEmpty('KAFKA_CLIENT_ID', read('KAFKA_CLIENT_ID')),
      ssl: parseBoolean('KAFKA_SSL', read('KAFKA_SSL')),
      sasl: parseSasl(read('KAFKA_SASL_MECHANISM'), read('KAFKA_SASL_USERNAME'), read('KAFKA_SASL_PASSWORD')),
    },
    schemaRegistry: parseRegistry(read('SCHEMA_REGISTRY_URL'), read('SCHEMA_REGISTRY_USERNAME'), read('SCHEMA_REGISTRY_PASSWORD')),
    appId: parseAppId(read('LEDGER_APP_ID')),
    stateDir: nonEmpty('LEDGER_STATE_DIR', read('LEDGER_STATE_DIR')),
    partitions: parseInteger('LEDGER_PARTITIONS', read('LEDGER_PARTITIONS'), 1, 1024),
    keyringPath: read('LEDGER_KEYRING') || null,
    signaturesRequired: !parseBoolean('LEDGER_ALLOW_UNSIGNED', read('LEDGER_ALLOW_UNSIGNED')),
    signingKeyPath: read('LEDGER_SIGNING_KEY') || null,
    signingKeyId: read('LEDGER_SIGNING_KEY_ID') || null,
    metricsPort: parseInteger('METRICS_PORT', read('METRICS_PORT'), 0, 65535),
    freshnessThresholdSeconds: parseInteger('AIRGAP_FRESHNESS_THRESHOLD_SECONDS', read('AIRGAP_FRESHNESS_THRESHOLD_SECONDS'), 1, 10 * 365 * 86400),
    dedupeRetentionSeconds: parseInteger('LEDGER_DEDUPE_RETENTION_SECONDS', read('LEDGER_DEDUPE_RETENTION_SECONDS'), 0, 100 * 365 * 86400),
    merkleBatchSize: parseInteger('LEDGER_MERKLE_BATCH_SIZE', read('LEDGER_MERKLE_BATCH_SIZE'), 1, MAX_BATCH_LEAVES, 'a sealed root lists every leaf in one Kafka record'),
    merkleBatchMaxWaitMs: parseInteger('LEDGER_MERKLE_BATCH_MAX_WAIT_MS', read('LEDGER_MERKLE_BATCH_MAX_WAIT_MS'), 1, 3_600_000),
    fetchMaxWaitMs: parseInteger('LEDGER_FETCH_MAX_WAIT_MS', read('LEDGER_FETCH_MAX_WAIT_MS'), 0, 60_000),
    shutdownTimeoutSeconds: parseInteger('LEDGER_SHUTDOWN_TIMEOUT_SECONDS', read('LEDGER_SHUTDOWN_TIMEOUT_SECONDS'), 1, 3_600),
  };
}

function nonEmpty(name: string, value: string): string {
  if (value === '') throw new ConfigError(`${name} must not be empty`);
  return value;
}

function parseBrokers(value: string): string[] {
  const brokers = value.split(',').map((b) => b.trim()).filter(Boolean);
  if (brokers.length === 0) throw new ConfigError('KAFKA_BROKERS must list at least one host:port');
  for (const b of brokers) {
    const match = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(b);
    if (!match || Number(match[2]) < 1 || Number(match[2]) > 65535) throw new ConfigError(`KAFKA_BROKERS: "${b}" is not host:port`);
  }
  return brokers;
}

function parseBoolean(name: string, value: string): boolean {
  if (/^(true|1|yes)$/i.test(value)) return true;
  if (/^(false|0|no|)$/i.test(value)) return false;
  throw new ConfigError(`${name} must be true or false, got "${value}"`);
}

/** `why` explains a bound the user would not guess (added to the error line). */
function parseInteger(name: string, value: string, min: number, max: number, why?: string): number {
  if (!/^\d+$/.test(value)) throw new ConfigError(`${name} must be a whole number, got "${value}"`);
  const n = Number(value);
  if (n < min || n > max) throw new ConfigError(`${name} must be between ${min} and ${max}${why ? ` (${why})` : ''}, got ${n}`);
  return n;
}

function parseAppId(value: string): string {
  if (!/^[A-Za-z0-9._-]{1,100}$/.test(value)) throw new ConfigError(`LEDGER_APP_ID must be 1-100 of [A-Za-z0-9._-], got "${value}"`);
  return value;
}

function parseSasl(mechanism: string, username: string, password: string): SASLOptions | undefined {
  if (mechanism === '') return undefined;
  if (username === '' || password === '') throw new ConfigError('KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD are required with KAFKA_SASL_MECHANISM');
  switch (mechanism.toLowerCase()) {
    case 'plain':
      return { mechanism: 'plain', username, password };
    case 'scram-sha-256':
      return { mechanism: 'scram-sha-256', username, password };
    case 'scram-sha-512':
      return { mechanism: 'scram-sha-512', username, password };
    default:
      throw new ConfigError(`KAFKA_SASL_MECHANISM must be plain, scram-sha-256 or scram-sha-512, got "${mechanism}"`);
  }
}

function parseRegistry(url: string, username: string, password: string): RegistrySettings | null {
  if (url === '') return null;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ConfigError(`SCHEMA_REGISTRY_URL is not a URL: "${url}"`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new ConfigError(`SCHEMA_REGISTRY_URL must be http(s), got "${url}"`);
  if ((username === '') !== (password === '')) throw new ConfigError('SCHEMA_REGISTRY_USERNAME and SCHEMA_REGISTRY_PASSWORD go together');
  return { url: url.replace(/\/+$/, ''), ...(username ? { username, password } : {}) };
}
