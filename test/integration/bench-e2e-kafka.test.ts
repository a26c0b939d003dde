import { Kafka, logLevel, type Admin } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { benchEndToEnd } from '../../bench/e2e.js';
import { pipelineTopics } from '../../topology.js';
import { loadConfig } from '../../config.js';
import { kafkaBrokers, usingLocalStack } from '../support/env.js';

// `npm run bench -- e2e` on the real broker, small: it works on a broker that has none of the
// pipeline's topics yet (as on a fresh machine), prints its four figures with the ceiling of the
// same run, and takes its consumer groups and changelog topics away when it is done. The
// pipeline's topics are deleted first only on the project's local stack: a broker named by
// KAFKA_BROKERS may hold someone's ledger.

const kafka = new Kafka({ clientId: 'bench-e2e-it', brokers: kafkaBrokers(), logLevel: logLevel.NOTHING });
let admin: Admin;
const benchOwned = (name: string): boolean => name.startsWith('bench-e2e-');

beforeAll(async () => {
  admin = kafka.admin();
  await admin.connect();
});

afterAll(async () => {
  await admin?.disconnect();
});

describe('benchEndToEnd', () => {
  it('creates the topics it needs, reports throughput, latency and the CPU split against its ceiling, and cleans up after itself', async () => {
    const pipelineTopicNames = pipelineTopics(loadConfig({}, {}).partitions).map((t) => t.name);
    const existing = new Set(await admin.listTopics());
    const present = pipelineTopicNames.filter((name) => existing.has(name));
    if (present.length > 0 && usingLocalStack()) await admin.deleteTopics({ topics: present });
    const groupsBefore = new Set((await admin.listGroups()).groups.map((g) => g.groupId).filter(benchOwned));

    const results = await benchEndToEnd({ brokers: kafkaBrokers(), exports: 2_000, warmupExports: 300, latencySeconds: 2 });

    expect(results.map((r) => r.name)).toEqual(['e2e.throughput', 'e2e.latency.p50', 'e2e.latency.p99', 'e2e.cpu']);
    const [throughput, p50, p99, cpu] = results;
    expect(throughput.value).toBeGreaterThan(0);
    expect(throughput.params).toMatchObject({ exports: 2_000, warmupExports: 300, processes: 'validate,dedupe,merkle,projector', exactlyOnce: true });
    const { validateInProcessBefore, validateInProcessAfter } = throughput.params as { validateInProcessBefore: number; validateInProcessAfter: number };
    expect(Math.round(throughput.ceiling?.value ?? 0)).toBe(Math.max(validateInProcessBefore, validateInProcessAfter));
    expect(throughput.ceiling?.ratio).toBeCloseTo(throughput.value / (throughput.ceiling?.value ?? NaN), 9);
    expect(p50.value).toBeGreaterThan(0);
    expect(p99.value).toBeGreaterThanOrEqual(p50.value);
    expect((p99.params as { runs: number }).runs).toBeGreaterThan(0);
    const split = cpu.params as { broker: number; pipeline: number };
    expect(split.broker).toBeGreaterThan(0);
    expect(split.pipeline).toBeGreaterThan(0);

    expect(new Set(await admin.listTopics())).toEqual(new Set([...existing, ...pipelineTopicNames]));
    expect((await admin.listGroups()).groups.map((g) => g.groupId).filter((g) => benchOwned(g) && !groupsBefore.has(g))).toEqual([]);
  }, 300_000);
});
