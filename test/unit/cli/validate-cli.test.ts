import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MAX_EXPORT_BYTES, signExport } from '../../../contracts/export.js';
import { exportBody, generateDemoKeys, keyringDocument, seededUuid, signedExport, type ExportSpec } from '../../../examples/exports.js';
import { repoRoot } from '../../support/processes.js';

// `ledger validate` as a user runs it: the compiled CLI (dist/, built by `npm test` before the
// unit project) in a child process, raw bytes on stdin, one JSON result per input line on stdout.

const dir = mkdtempSync(join(tmpdir(), 'validate-cli-'));
const keys = generateDemoKeys();
const keyringPath = join(dir, 'keyring.json');
writeFileSync(keyringPath, JSON.stringify(keyringDocument(keys)));

afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface CliResult {
  readonly exitCode: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function ledger(args: readonly string[], stdin: Buffer = Buffer.alloc(0)): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(repoRoot, 'dist/cli/ledger.js'), ...args], {
      cwd: repoRoot,
      // The keyring and the signature policy come from the flags only.
      env: { ...process.env, LEDGER_KEYRING: '', LEDGER_ALLOW_UNSIGNED: '' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    // The CLI may exit before reading everything (bad flags): EPIPE on stdin is expected then.
    child.stdin.on('error', () => undefined);
    child.on('error', reject);
    child.on('close', (exitCode) => resolve({ exitCode, stdout: Buffer.concat(stdout).toString('utf8'), stderr: Buffer.concat(stderr).toString('utf8') }));
    child.stdin.end(stdin);
  });
}

interface ResultLine {
  readonly line: number;
  readonly ok: boolean;
  readonly code: string;
  readonly runId: string | null;
}

const resultLines = (stdout: string): ResultLine[] =>
  stdout
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as ResultLine);

const spec = (runSeed: string, tenantId = 'acme'): ExportSpec => ({ tenantId, runSeed, status: 'running' });
const signed = (runSeed: string): string => JSON.stringify(signedExport(spec(runSeed), keys.active));
const runIdOf = (runSeed: string): string => seededUuid(runSeed);

/** A signed export followed by JSON whitespace up to exactly `size` bytes (whitespace is outside the signed JCS form). */
const paddedTo = (runSeed: string, size: number): string => {
  const text = signed(runSeed);
  return text + ' '.repeat(size - Buffer.byteLength(text));
};

/** One input line: its bytes (without the line ending) and what `ledger validate` must answer. */
interface Case {
  readonly name: string;
  readonly bytes: Buffer;
  readonly code: string;
  readonly runId: string | null;
}

const text = (name: string, line: string, code: string, runId: string | null): Case => ({ name, bytes: Buffer.from(line, 'utf8'), code, runId });

const MIXED: readonly Case[] = [
  text('signed export', signed('a'), 'OK', runIdOf('a')),
  text('bad hash', JSON.stringify({ ...signedExport(spec('b'), keys.active), artifactHash: 'md5:abc' }), 'ERR_INVALID_HASH', runIdOf('b')),
  text('empty line', '', 'ERR_MALFORMED', null),
  {
    name: 'invalid UTF-8',
    bytes: Buffer.concat([Buffer.from('{"runId": "'), Buffer.from([0xc3, 0x28, 0xff, 0xfe]), Buffer.from('"}')]),
    code: 'ERR_MALFORMED',
    runId: null,
  },
  text('unsigned', JSON.stringify(exportBody(spec('c'))), 'ERR_SIGNATURE_REQUIRED', runIdOf('c')),
  text('revoked key', JSON.stringify(signExport(exportBody(spec('d')), keys.revoked.keyId, keys.revoked.privateKey)), 'ERR_DSSE_KEY_REVOKED', runIdOf('d')),
  text('tampered after signing', JSON.stringify({ ...signedExport(spec('e'), keys.active), scanId: 'tampered' }), 'ERR_DSSE_INVALID_SIGNATURE', runIdOf('e')),
  text('unknown field', JSON.stringify({ ...signedExport(spec('f'), keys.active), extra: 1 }), 'ERR_INVALID_FIELD', runIdOf('f')),
  text('not an object', '[1, 2, 3]', 'ERR_MALFORMED', null),
  text('missing tenantId', JSON.stringify({ ...exportBody(spec('g')), tenantId: null }), 'ERR_MISSING_FIELD', runIdOf('g')),
  text('exactly 1 MiB', paddedTo('h', MAX_EXPORT_BYTES), 'OK', runIdOf('h')),
  text('1 MiB + 1 byte', paddedTo('i', MAX_EXPORT_BYTES + 1), 'ERR_PAYLOAD_TOO_LARGE', null),
  text('2 MiB of an otherwise valid export', paddedTo('j', 2 * MAX_EXPORT_BYTES), 'ERR_PAYLOAD_TOO_LARGE', null),
  text('signed export after the huge lines', signed('k'), 'OK', runIdOf('k')),
];

/** Joins the cases' bytes with `ending` after every line but the last, which gets `last`. */
const stdinOf = (cases: readonly Case[], ending: string, last: string): Buffer =>
  Buffer.concat(cases.flatMap((c, i) => [c.bytes, Buffer.from(i === cases.length - 1 ? last : ending)]));

function expectResults(stdout: string, cases: readonly Case[]): void {
  const results = resultLines(stdout);
  expect(results.map((r) => r.line)).toEqual(cases.map((_, i) => i + 1));
  for (const [i, c] of cases.entries()) {
    expect(results[i], c.name).toEqual({ line: i + 1, ok: c.code === 'OK', code: c.code, runId: c.runId });
  }
}

describe('ledger validate', () => {
  it('answers one line per input line, in order, with the code of each (LF, final line without newline)', async () => {
    const result = await ledger(['validate', '--keys', keyringPath], stdinOf(MIXED, '\n', ''));
    expect(result.stderr).toBe('');
    expectResults(result.stdout, MIXED);
    expect(result.exitCode).toBe(1);
  });

  it('treats CRLF line endings like LF, the CR not counting toward the 1 MiB limit', async () => {
    const result = await ledger(['validate', '--keys', keyringPath], stdinOf(MIXED, '\r\n', '\r\n'));
    expectResults(result.stdout, MIXED);
    expect(result.exitCode).toBe(1);
  });

  it('exits 0 when every line is OK', async () => {
    const cases = [text('one', signed('ok-1'), 'OK', runIdOf('ok-1')), text('two', signed('ok-2'), 'OK', runIdOf('ok-2'))];
    const result = await ledger(['validate', '--keys', keyringPath], stdinOf(cases, '\n', '\n'));
    expectResults(result.stdout, cases);
    expect(result.exitCode).toBe(0);
  });

  it('exits 0 with no output for empty input', async () => {
    const result = await ledger(['validate', '--keys', keyringPath]);
    expect(result.stdout).toBe('');
    expect(result.exitCode).toBe(0);
  });

  it('--allow-unsigned accepts a valid unsigned export, but still checks the signatures that are present', async () => {
    const cases = [
      text('unsigned', JSON.stringify(exportBody(spec('u'))), 'OK', runIdOf('u')),
      text('tampered', JSON.stringify({ ...signedExport(spec('t'), keys.active), scanId: 'tampered' }), 'ERR_DSSE_INVALID_SIGNATURE', runIdOf('t')),
    ];
    const withKeys = await ledger(['validate', '--keys', keyringPath, '--allow-unsigned'], stdinOf(cases, '\n', '\n'));
    expectResults(withKeys.stdout, cases);
    expect(withKeys.exitCode).toBe(1);

    const unsignedOnly = await ledger(['validate', '--allow-unsigned'], stdinOf(cases.slice(0, 1), '\n', '\n'));
    expectResults(unsignedOnly.stdout, cases.slice(0, 1));
    expect(unsignedOnly.exitCode).toBe(0);
  });

  /** Exit 2, nothing on stdout, exactly one line on stderr, no stack trace. */
  function expectOneLineFailure(result: CliResult): string {
    expect(result.exitCode).toBe(2);
    expect(result.stdout).toBe('');
    const lines = result.stderr.split('\n');
    expect(lines, result.stderr).toHaveLength(2);
    expect(lines[1]).toBe('');
    expect(lines[0]).not.toMatch(/^\s+at /);
    expect(lines[0]).not.toMatch(/\.(js|ts):\d+/);
    return lines[0];
  }

  it('a malformed keyring file exits 2 with one line on stderr', async () => {
    const malformed = join(dir, 'malformed.json');
    writeFileSync(malformed, '{"keys": [{"keyId": "k1", ');
    const line = expectOneLineFailure(await ledger(['validate', '--keys', malformed], Buffer.from(`${signed('x')}\n`)));
    expect(line).toContain('ERR_KEYRING_INVALID');
  });

  it('a missing keyring file exits 2 with one line on stderr', async () => {
    const line = expectOneLineFailure(await ledger(['validate', '--keys', join(dir, 'absent.json')], Buffer.from(`${signed('x')}\n`)));
    expect(line).toContain('ERR_KEYRING_UNREADABLE');
  });

  it('requires a keyring while signatures are required (exit 2, one line)', async () => {
    expectOneLineFailure(await ledger(['validate'], Buffer.from(`${signed('x')}\n`)));
  });

  it('an unknown flag exits 2 with one line on stderr', async () => {
    const line = expectOneLineFailure(await ledger(['validate', '--keys', keyringPath, '--no-such-flag'], Buffer.from(`${signed('x')}\n`)));
    expect(line).toContain('--no-such-flag');
  });
});
