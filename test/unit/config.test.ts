import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../config.js';
import { MAX_BATCH_LEAVES } from '../../processors/merkle.js';

describe('configuration', () => {
  it('has working defaults', () => {
    const c = loadConfig({});
    expect(c.kafka.brokers).toEqual(['127.0.0.1:19092']);
    expect(c.schemaRegistry).toBeNull();
    expect(c.signaturesRequired).toBe(true);
    expect(c.metricsPort).toBe(9464);
    expect(c.freshnessThresholdSeconds).toBe(604800);
  });

  it('accepts a Merkle batch size up to MAX_BATCH_LEAVES', () => {
    expect(loadConfig({ LEDGER_MERKLE_BATCH_SIZE: String(MAX_BATCH_LEAVES) }).merkleBatchSize).toBe(MAX_BATCH_LEAVES);
  });

  it('treats an empty variable as unset', () => {
    const c = loadConfig({ KAFKA_BROKERS: '', METRICS_PORT: ' ', LEDGER_DEDUPE_RETENTION_SECONDS: '' });
    expect(c.kafka.brokers).toEqual(['127.0.0.1:19092']);
    expect(c.metricsPort).toBe(9464);
    expect(c.dedupeRetentionSeconds).toBe(0);
  });

  it('reads the environment and lets flags override it', () => {
    const c = loadConfig(
      { KAFKA_BROKERS: 'a:1, b:2', KAFKA_SASL_MECHANISM: 'scram-sha-512', KAFKA_SASL_USERNAME: 'u', KAFKA_SASL_PASSWORD: 'p', SCHEMA_REGISTRY_URL: 'http://r:8081/', METRICS_PORT: '1' },
      { METRICS_PORT: '2', LEDGER_ALLOW_UNSIGNED: 'true' },
    );
    expect(c.kafka.brokers).toEqual(['a:1', 'b:2']);
    expect(c.kafka.sasl).toEqual({ mechanism: 'scram-sha-512', username: 'u', password: 'p' });
    expect(c.schemaRegistry).toEqual({ url: 'http://r:8081' });
    expect(c.metricsPort).toBe(2);
    expect(c.signaturesRequired).toBe(false);
  });

  it.each([
    [{ KAFKA_BROKERS: 'nohost' }, /KAFKA_BROKERS/],
    [{ KAFKA_BROKERS: ' , ' }, /KAFKA_BROKERS must list at least one/],
    [{ METRICS_PORT: '70000' }, /METRICS_PORT must be between/],
    [{ METRICS_PORT: 'abc' }, /METRICS_PORT must be a whole number/],
    [{ LEDGER_ALLOW_UNSIGNED: 'maybe' }, /LEDGER_ALLOW_UNSIGNED must be true or false/],
    [{ KAFKA_SASL_MECHANISM: 'kerberos', KAFKA_SASL_USERNAME: 'u', KAFKA_SASL_PASSWORD: 'p' }, /KAFKA_SASL_MECHANISM/],
    [{ KAFKA_SASL_MECHANISM: 'plain' }, /KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD/],
    [{ SCHEMA_REGISTRY_URL: 'ftp://x' }, /must be http/],
    [{ SCHEMA_REGISTRY_URL: 'not a url' }, /is not a URL/],
    [{ LEDGER_APP_ID: 'has space' }, /LEDGER_APP_ID/],
    [{ LEDGER_PARTITIONS: '0' }, /LEDGER_PARTITIONS/],
    [{ LEDGER_MERKLE_BATCH_SIZE: '10001' }, /^LEDGER_MERKLE_BATCH_SIZE must be between 1 and 10000 \(a sealed root lists every leaf in one Kafka record\), got 10001$/],
  ])('refuses %o with one clear line', (env, message) => {
    let error: unknown;
    try {
      loadConfig(env);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).code).toBe('CONFIG_INVALID');
    expect((error as Error).message).toMatch(message);
    expect((error as Error).message).not.toContain('\n');
  });
});
