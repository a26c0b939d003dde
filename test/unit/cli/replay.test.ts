import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateEd25519KeyPair } from '../../../contracts/ed25519.js';
import { bundleStream } from '../../../examples/bundles.js';
import { exportBody, exportStream, generateDemoKeys, keyringDocument, signedExport } from '../../../examples/exports.js';
import { TOPICS } from '../../../topology.js';
import { repoRoot } from '../../support/processes.js';

// `ledger replay` as an auditor runs it: the compiled CLI (dist/, built by `npm test` before the
// unit project) in a child process, an NDJSON file of input records in, one file per output topic out.

const dir = mkdtempSync(join(tmpdir(), 'replay-cli-'));
const keys = generateDemoKeys();
const keyringPath = join(dir, 'keyring.json');
writeFileSync(keyringPath, JSON.stringify(keyringDocument(keys)));
const signingKeyPath = join(dir, 'merkle-signer.pem');
writeFileSync(signingKeyPath, generateEd25519KeyPair().privateKeyPem);
const NOW = '2026-11-20T09:00:00Z';

afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface CliResult {
  readonly exitCode: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function ledger(args: readonly string[]): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(repoRoot, 'dist/cli/ledger.js'), ...args], {
      cwd: repoRoot,
      // Keyring, signature policy and signing key come from the flags only: no LEDGER_* from the caller.
      env: Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('LEDGER_'))),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.on('error', reject);
    child.on('close', (exitCode) => resolve({ exitCode, stdout: Buffer.concat(stdout).toString('utf8'), stderr: Buffer.concat(stderr).toString('utf8') }));
  });
}

const OUTPUT_TOPICS = [TOPICS.validated, TOPICS.rejected, TOPICS.duplicates, TOPICS.events, TOPICS.merkleRoots, TOPICS.timeline, TOPICS.airgapTimeline].sort();
const stream = exportStream({ count: 300, keys });
const BUNDLE_TENANTS = ['acme', 'globex', 'initech'];
const bundles = bundleStream({ tenants: BUNDLE_TENANTS, perTenant: 3, findings: 30, lastAnchorMs: Date.parse('2026-11-18T09:00:00Z') });
const INVALID_LINE_VALUE = 'this is not an export';
const inputLines = [
  ...stream.map((r) => JSON.stringify({ topic: TOPICS.exportsCreated, key: r.key, value: r.value.toString('utf8') })),
  // The object form of "value", an explicit partition and a timestamp.
  JSON.stringify({ topic: TOPICS.exportsCreated, partition: 1, value: signedExport({ tenantId: 'acme', runSeed: 'extra', status: 'running' }, keys.active), timestamp: '2026-11-20T08:59:00Z' }),
  // A record validate must reject (the replay itself goes on).
  JSON.stringify({ topic: TOPICS.exportsCreated, key: 'acme/whatever', value: INVALID_LINE_VALUE }),
  ...bundles.map((r) => JSON.stringify({ topic: TOPICS.airgapBundles, key: r.key, value: r.value.toString('utf8') })),
  '',
];
const inputPath = join(dir, 'input.ndjson');
writeFileSync(inputPath, inputLines.join('\n'));

const replayArgs = (out: string, input = inputPath): string[] => [
  'replay', '--in', input, '--out', out, '--keys', keyringPath, '--signing-key', signingKeyPath, '--signing-key-id', 'merkle-1', '--now', NOW, '--partitions', '3',
];

interface OutputLine {
  readonly partition: number;
  readonly offset: number;
  readonly key: string | null;
  readonly value: Record<string, unknown> | null;
}

const outputFiles = (out: string): string[] => readdirSync(out).filter((name) => name !== 'state').sort();
const linesOf = (out: string, topic: string): OutputLine[] =>
  readFileSync(join(out, `${topic}.ndjson`), 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as OutputLine);

describe('ledger replay', () => {
  const first = join(dir, 'out-1');
  const second = join(dir, 'out-2');
  let runs: CliResult[] = [];

  beforeAll(async () => {
    runs = [await ledger(replayArgs(first)), await ledger(replayArgs(second))];
  });

  it('exits 0 and writes one file per output topic plus metrics.prom', () => {
    for (const run of runs) expect(run, run.stderr).toMatchObject({ exitCode: 0 });
    expect(outputFiles(first)).toEqual([...OUTPUT_TOPICS.map((t) => `${t}.ndjson`), 'metrics.prom'].sort());
    expect(readFileSync(join(first, 'metrics.prom'), 'utf8')).not.toBe('');
  });

  it('gives byte-identical files when run twice on the same input', () => {
    expect(outputFiles(second)).toEqual(outputFiles(first));
    for (const name of outputFiles(first)) {
      const a = readFileSync(join(first, name));
      const b = readFileSync(join(second, name));
      expect(a.equals(b), name).toBe(true);
    }
  });

  it('writes {partition, offset, key, value} lines in offset order per partition', () => {
    for (const topic of OUTPUT_TOPICS) {
      const lines = linesOf(first, topic);
      for (const line of lines) expect(Object.keys(line)).toEqual(['partition', 'offset', 'key', 'value']);
      const partitions = lines.map((l) => l.partition);
      expect(partitions, `${topic}: partitions in order`).toEqual([...partitions].sort((a, b) => a - b));
      const byPartition = new Map<number, number[]>();
      for (const l of lines) byPartition.set(l.partition, [...(byPartition.get(l.partition) ?? []), l.offset]);
      for (const [partition, offsets] of byPartition) {
        expect(offsets, `${topic}[${partition}]`).toEqual(offsets.map((_, i) => i));
      }
    }
  });

  it('decides every input line: the pipeline outputs add up and the invalid line is a rejection', () => {
    const inputs = stream.length + 2;
    const validated = linesOf(first, TOPICS.validated);
    const rejected = linesOf(first, TOPICS.rejected);
    const byValidate = rejected.filter((l) => l.value?.stage === 'validate');
    expect(validated.length + byValidate.length).toBe(inputs);
    expect(rejected.filter((l) => l.value?.stage === 'airgap').map((l) => l.value?.code).sort()).toEqual(bundles.filter((b) => b.expect.startsWith('ERR_')).map((b) => b.expect).sort());
    expect(linesOf(first, TOPICS.airgapTimeline)).toHaveLength(bundles.filter((b) => b.expect === 'IMPORTED' || b.expect === 'DUPLICATE').length);
    const decided = linesOf(first, TOPICS.events).length + linesOf(first, TOPICS.duplicates).length + rejected.filter((l) => l.value?.stage === 'dedupe').length;
    expect(decided).toBe(validated.length);
    expect(linesOf(first, TOPICS.duplicates)).toHaveLength(stream.filter((r) => r.replay).length);
    expect(linesOf(first, TOPICS.merkleRoots).length).toBeGreaterThan(0);
    const invalid = byValidate.filter((l) => l.value?.originalBytes === Buffer.from(INVALID_LINE_VALUE).toString('base64'));
    expect(invalid.map((l) => l.value?.code)).toEqual(['ERR_MALFORMED']);
    // The object-form line validated with its explicit partition.
    const extra = exportBody({ tenantId: 'acme', runSeed: 'extra', status: 'running' });
    const extraValidated = validated.find((l) => l.value?.runId === extra.runId);
    expect(extraValidated?.value?.source).toEqual({ topic: TOPICS.exportsCreated, partition: 1, offset: expect.any(Number) });
  });

  it('projects every run onto ledger.timeline, anchored in a sealed batch once the input ends', () => {
    const events = linesOf(first, TOPICS.events);
    const latest = new Map(linesOf(first, TOPICS.timeline).map((l) => [l.key, l.value]));
    expect(latest.size).toBe(new Set(events.map((e) => e.key)).size);
    const sealed = new Set(linesOf(first, TOPICS.merkleRoots).flatMap((r) => r.value?.leaves as string[]));
    for (const entry of latest.values()) {
      expect(entry?.anchorReference).toMatch(/^airgap::/);
      expect(sealed.has(String(entry?.eventHash))).toBe(true);
    }
  });

  it('writes metrics.prom at --now: staleness per tenant, outcomes per processor', () => {
    const prom = readFileSync(join(first, 'metrics.prom'), 'utf8');
    // The newest bundle of tenant t is anchored at 2026-11-18T09:00Z minus t hours; --now is 2026-11-20T09:00Z.
    BUNDLE_TENANTS.forEach((tenant, t) => expect(prom).toContain(`ledger_airgap_staleness_seconds{tenant="${tenant}"} ${2 * 86_400 + t * 3600}`));
    expect(prom).toContain(`ledger_records_total{processor="projector",outcome="imported"} ${bundles.filter((b) => b.expect === 'IMPORTED').length}`);
  });

  it('lets `ledger freshness --dir` answer offline from the replay output', async () => {
    const fresh = await ledger(['freshness', '--dir', first, '--tenant', 'acme', '--now', NOW]);
    expect(fresh, fresh.stderr).toMatchObject({ exitCode: 0 });
    expect(JSON.parse(fresh.stdout)).toMatchObject({ tenant: 'acme', stale: false, stalenessSeconds: 2 * 86_400 });
    const stale = await ledger(['freshness', '--dir', first, '--tenant', 'acme', '--now', '2026-12-24T00:00:00Z']);
    expect(stale.exitCode).toBe(1);
    expect(JSON.parse(stale.stdout)).toMatchObject({ stale: true, code: 'ERR_AIRGAP_STALE', importOperator: expect.any(String) });
    const missing = await ledger(['freshness', '--dir', join(dir, 'nowhere'), '--tenant', 'acme']);
    expect(missing.exitCode).toBe(2);
    expect(missing.stderr.trimEnd().split('\n')).toHaveLength(1);
  });

  it('exits 2 with one stderr line when --in is missing', async () => {
    const result = await ledger(['replay', '--out', join(dir, 'out-missing-in'), '--keys', keyringPath]);
    expect(result.exitCode).toBe(2);
    expect(result.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(/^ledger: .*--in|^ledger: .*\bin\b/);
  });

  it('exits 2 with one stderr line on a non-JSON input line', async () => {
    const badInput = join(dir, 'bad.ndjson');
    writeFileSync(badInput, `${inputLines[0]}\n{not json\n`);
    const result = await ledger(replayArgs(join(dir, 'out-bad'), badInput));
    expect(result.exitCode).toBe(2);
    expect(result.stderr.trimEnd().split('\n')).toEqual([expect.stringMatching(/line 2\b.*not JSON/)]);
  });
});
