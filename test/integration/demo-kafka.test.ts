import { mkdtemp, rm } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, describe, expect, it } from 'vitest';
import { TOPICS } from '../../topology.js';
import { kafkaBrokers } from '../support/env.js';
import { freePort, runLedger } from '../support/processes.js';

// The README's main command (`npm start` = `ledger demo`) on the running local stack: it decides its
// own stream, prints the summary and exits 0 (it exits 1 when the outcomes differ from what it
// produced). Run twice under one application id with foreign records written in between: the
// second run says it works through them first, and still accounts for its own stream exactly.

const appId = `demo-it-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
const dirs: string[] = [];
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

async function demo(count: number): Promise<{ exitCode: number | null; stdout: string; stderr: string }> {
  const stateDir = await mkdtemp(join(tmpdir(), 'ledger-demo-'));
  dirs.push(stateDir);
  return runLedger(['demo', '--count', String(count), '--no-stack'], { LEDGER_APP_ID: appId, LEDGER_STATE_DIR: stateDir, METRICS_PORT: String(await freePort()) });
}

function expectCompleteSummary(stdout: string, count: number): void {
  expect(stdout).toContain(`[5/5] all ${count} exports decided, every accepted event sealed and projected, every bundle counted`);
  const accepted = Number(/accepted {3}→ ledger\.events: (\d+)/.exec(stdout)?.[1]);
  const duplicates = Number(/duplicates → ledger\.exports\.duplicates: (\d+)/.exec(stdout)?.[1]);
  const rejected = Number(/rejected {3}→ ledger\.exports\.rejected: (\d+)/.exec(stdout)?.[1]);
  // Three bundles per run are rejected or re-imports on the air-gap side: 2 malformed + 1 missing field.
  expect(accepted + duplicates + rejected - 3).toBe(count);
  expect(accepted).toBeGreaterThan(0);
  expect(stdout).toMatch(/initech +staleness +\d+ s {2}STALE \(ERR_AIRGAP_STALE\)/);
  expect(stdout).not.toContain('!! expected');
}

describe('ledger demo (the README main command)', () => {
  it('decides its own stream and prints the summary; a later run first decides what was written since', async () => {
    const first = await demo(400);
    expect(first.stderr).not.toMatch(/"level":"error"/);
    expect(first.exitCode, first.stdout + first.stderr).toBe(0);
    expect(first.stdout).toContain('new consumer groups start at the end of their inputs');
    expectCompleteSummary(first.stdout, 400);

    // Another producer writes to the input while no demo runs.
    const kafka = new Kafka({ clientId: appId, brokers: kafkaBrokers(), logLevel: logLevel.NOTHING });
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic: TOPICS.exportsCreated, acks: -1, messages: Array.from({ length: 50 }, (_, i) => ({ key: `${appId}/foreign/${i}`, value: '{"not":"an export"}' })) });
    await producer.disconnect();

    const second = await demo(300);
    expect(second.exitCode, second.stdout + second.stderr).toBe(0);
    expect(second.stdout).toContain('the pipeline first works through 50 earlier input records, written since the last demo stopped');
    expect(second.stdout).not.toContain('new consumer groups');
    expectCompleteSummary(second.stdout, 300);
  });
});
