import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createServer } from 'node:net';

export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

export interface Worker {
  readonly child: ChildProcess;
  /** Every JSON log line the process wrote to stderr so far. */
  readonly logs: Array<Record<string, unknown>>;
  readonly exited: Promise<number | null>;
}

/**
 * Starts a compiled entry point of the project (under dist/) as a child process, with optional
 * command-line arguments; `logFile`, when given, receives its stderr as written (kept for a
 * post-mortem when a long test fails).
 */
export function startWorker(entry: string, env: Record<string, string>, args: readonly string[] = [], logFile?: string): Worker {
  const child = spawn(process.execPath, [`${repoRoot}dist/${entry}`, ...args], {
    cwd: repoRoot,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const logs: Array<Record<string, unknown>> = [];
  let partial = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    if (logFile) appendFileSync(logFile, chunk);
    partial += chunk.toString('utf8');
    const lines = partial.split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      try {
        logs.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        logs.push({ level: 'raw', message: line });
      }
    }
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, logs, exited };
}

/** For afterAll: SIGKILL a worker that is still running (one that exited or was killed is left alone). */
export function killIfRunning(worker: Worker | undefined): void {
  if (worker && worker.child.exitCode === null && worker.child.signalCode === null) worker.child.kill('SIGKILL');
}

export async function killHard(worker: Worker): Promise<void> {
  worker.child.kill('SIGKILL');
  await worker.exited;
}

/**
 * SIGTERM, once the worker has logged its first JSON line: both entry points (`ledger run`, the
 * counter worker) put their signal handlers in place before they log anything, and a signal that
 * comes earlier, while Node still loads modules (when it may print a warning), gets Node's default
 * (killed, no exit code).
 */
export async function stopGracefully(worker: Worker): Promise<number | null> {
  await waitFor('the worker to log its first line before SIGTERM', () => worker.logs.some((l) => l.level !== 'raw') || worker.child.exitCode !== null || worker.child.signalCode !== null);
  worker.child.kill('SIGTERM');
  return worker.exited;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls until `check` returns true; fails with `what` after `timeoutMs` (a deadline, not a performance bound). */
export async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

/** Starts the compiled `ledger` CLI with these arguments as a long-running child. */
export const startLedger = (args: readonly string[], env: Record<string, string>, logFile?: string): Worker => startWorker('cli/ledger.js', env, args, logFile);

/** Runs the compiled `ledger` CLI to completion. */
export function runLedger(args: readonly string[], env: Record<string, string>): Promise<{ exitCode: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [`${repoRoot}dist/cli/ledger.js`, ...args], { cwd: repoRoot, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => stdout.push(c));
    child.stderr.on('data', (c: Buffer) => stderr.push(c));
    child.on('error', reject);
    child.on('close', (exitCode) => resolve({ exitCode, stdout: Buffer.concat(stdout).toString('utf8'), stderr: Buffer.concat(stderr).toString('utf8') }));
  });
}

/** A loopback port that was free a moment ago (for the children's /metrics servers). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (address === null || typeof address === 'string') throw new Error('no free port');
  return address.port;
}
