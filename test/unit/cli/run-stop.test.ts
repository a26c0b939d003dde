import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort, killIfRunning, startLedger, waitFor, type Worker } from '../../support/processes.js';

// `ledger run` stopped while it is still starting, with no broker to start against (the compiled
// CLI, dist/, in a child process): the stop ends start-up and the process, cleanly.

const dir = mkdtempSync(join(tmpdir(), 'run-stop-'));
let worker: Worker | undefined;
afterAll(() => {
  killIfRunning(worker);
  rmSync(dir, { recursive: true, force: true });
});

describe('ledger run stopped during start-up', () => {
  it('gives up waiting for an absent broker on SIGTERM and exits 0', async () => {
    const closedPort = await freePort(); // free: nothing listens there
    worker = startLedger(['run', '--processors', 'projector'], {
      KAFKA_BROKERS: `127.0.0.1:${closedPort}`,
      SCHEMA_REGISTRY_URL: '',
      LEDGER_STATE_DIR: join(dir, 'state'),
      METRICS_PORT: '0',
      LEDGER_ALLOW_UNSIGNED: 'true',
      // Longer than a start-up that ignored the stop would take to fail the test: 120 s of waiting
      // for the broker would end in this deadline and exit 1.
      LEDGER_SHUTDOWN_TIMEOUT_SECONDS: '90',
    });
    const starting = worker;
    await waitFor('a failed connection to the absent broker', () => {
      if (starting.child.exitCode !== null) throw new Error(`ledger run exited with ${starting.child.exitCode}: ${JSON.stringify(starting.logs.slice(-3))}`);
      return starting.logs.some((l) => String(l.message).includes('ECONNREFUSED'));
    }, 60_000);
    const signalledAt = Date.now();
    starting.child.kill('SIGTERM');
    const exitCode = await starting.exited;
    process.stderr.write(`run-stop: exited ${Date.now() - signalledAt} ms after SIGTERM\n`);
    const messages = starting.logs.map((l) => l.message);
    expect(exitCode, JSON.stringify(starting.logs.slice(-5))).toBe(0);
    expect(messages).toContain('start-up abandoned: a stop was requested');
    expect(messages).not.toContain('pipeline running');
    expect(messages.at(-1)).toBe('stopped');
  }, 120_000);
});
