import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateEd25519KeyPair } from '../../../contracts/ed25519.js';
import type { LedgerEvent } from '../../../contracts/ledger-event.js';
import { eventLeafHash, merkleRootSignatureValid, type MerkleRootRecord } from '../../../contracts/merkle-root.js';
import { exportStream, generateDemoKeys, keyringDocument } from '../../../examples/exports.js';
import type { DumpRecord, InclusionProofReport } from '../../../merkle/audit.js';
import { rfc6962Sha256 } from '../../../merkle/hasher.js';
import { verifyInclusion } from '../../../merkle/proof.js';
import { TOPICS } from '../../../topology.js';
import { repoRoot } from '../../support/processes.js';

// `ledger replay`, `ledger verify` and `ledger prove` as a user runs them: the compiled CLI
// (dist/, built by `npm test` before the unit project) in child processes, on files.

const dir = mkdtempSync(join(tmpdir(), 'merkle-cli-'));
const exportKeys = generateDemoKeys();
const signer = generateEd25519KeyPair();
const KEY_ID = 'cli-merkle-signer';
const paths = {
  input: join(dir, 'input.ndjson'),
  exportKeyring: join(dir, 'exports-keyring.json'),
  signingKey: join(dir, 'signer.pem'),
  signerKeyring: join(dir, 'signer-keyring.json'),
  replay: join(dir, 'replay'),
};

interface CliResult {
  readonly exitCode: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function ledger(args: readonly string[]): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(repoRoot, 'dist/cli/ledger.js'), ...args], {
      cwd: repoRoot,
      // Keys and signing key come from the flags only.
      env: { ...process.env, LEDGER_KEYRING: '', LEDGER_SIGNING_KEY: '', LEDGER_SIGNING_KEY_ID: '', SCHEMA_REGISTRY_URL: '' },
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

const replayArgs = (out: string): string[] => [
  'replay', '--in', paths.input, '--out', out, '--keys', paths.exportKeyring,
  '--signing-key', paths.signingKey, '--signing-key-id', KEY_ID, '--batch-size', '16', '--partitions', '3', '--now', '2026-11-20T10:00:00Z',
];

const readDump = <V>(dumpDir: string, topic: string): Array<DumpRecord<V>> =>
  readFileSync(join(dumpDir, `${topic}.ndjson`), 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as DumpRecord<V>);

const writeDump = <V>(dumpDir: string, topic: string, records: ReadonlyArray<DumpRecord<V>>): void =>
  writeFileSync(join(dumpDir, `${topic}.ndjson`), records.map((r) => `${JSON.stringify(r)}\n`).join(''));

/** A copy of the replay's events and roots in a fresh directory, with `change` applied. */
function tamperedCopy(name: string, change: (events: Array<DumpRecord<LedgerEvent>>, roots: Array<DumpRecord<MerkleRootRecord>>) => void): string {
  const target = join(dir, name);
  mkdirSync(target, { recursive: true });
  const events = readDump<LedgerEvent>(paths.replay, TOPICS.events);
  const roots = readDump<MerkleRootRecord>(paths.replay, TOPICS.merkleRoots);
  change(events, roots);
  writeDump(target, TOPICS.events, events);
  writeDump(target, TOPICS.merkleRoots, roots);
  return target;
}

/** Exit 1 and exactly one stderr line `ledger: <code>: …`, nothing on stdout. */
function expectOneLineFailure(result: CliResult, code: string): void {
  expect(result.exitCode, result.stderr).toBe(1);
  expect(result.stdout).toBe('');
  const lines = result.stderr.split('\n').filter((l) => l !== '');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(new RegExp(`^ledger: ${code}: \\S`));
}

beforeAll(async () => {
  writeFileSync(paths.exportKeyring, JSON.stringify(keyringDocument(exportKeys)));
  writeFileSync(paths.signingKey, signer.privateKeyPem);
  writeFileSync(paths.signerKeyring, JSON.stringify({ keys: [{ keyId: KEY_ID, publicKey: signer.publicKeyPem, status: 'active' }] }));
  const stream = exportStream({ count: 150, keys: exportKeys, seed: 'merkle-cli' });
  writeFileSync(paths.input, stream.map((r) => `${JSON.stringify({ topic: TOPICS.exportsCreated, key: r.key, value: r.value.toString('utf8') })}\n`).join(''));
  const replay = await ledger(replayArgs(paths.replay));
  if (replay.exitCode !== 0) throw new Error(`ledger replay exited ${replay.exitCode}: ${replay.stderr}`);
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('ledger verify', () => {
  it('exits 0 with one JSON summary line on a replay output', async () => {
    const result = await ledger(['verify', '--dir', paths.replay, '--keys', paths.signerKeyring]);
    expect(result.exitCode, result.stderr).toBe(0);
    const lines = result.stdout.split('\n').filter((l) => l !== '');
    expect(lines).toHaveLength(1);
    const events = readDump<LedgerEvent>(paths.replay, TOPICS.events);
    const roots = readDump<MerkleRootRecord>(paths.replay, TOPICS.merkleRoots);
    expect(events.length).toBeGreaterThan(100);
    expect(JSON.parse(lines[0])).toEqual({ ok: true, events: events.length, batches: roots.length, partitions: 3 });
    // Every root was sealed at --now, with the given key id; replay seals the open batches at the end.
    expect(new Set(roots.map((r) => r.value.sealedAt))).toEqual(new Set(['2026-11-20T10:00:00.000Z']));
    expect(new Set(roots.map((r) => r.value.keyId))).toEqual(new Set([KEY_ID]));
    expect(roots.reduce((n, r) => n + r.value.leafCount, 0)).toBe(events.length);
  });

  it('replays byte-identically: same events, same signed roots', async () => {
    const again = join(dir, 'replay-again');
    const result = await ledger(replayArgs(again));
    expect(result.exitCode, result.stderr).toBe(0);
    for (const topic of [TOPICS.events, TOPICS.merkleRoots]) {
      expect(readFileSync(join(again, `${topic}.ndjson`)).equals(readFileSync(join(paths.replay, `${topic}.ndjson`))), topic).toBe(true);
    }
  });

  it('exits 1 with one line naming the first inconsistency of a tampered dump', async () => {
    const flipSignature = tamperedCopy('bad-signature', (_events, roots) => {
      const last = roots[roots.length - 1];
      const bytes = Buffer.from(last.value.signature, 'base64');
      bytes[0] ^= 0x80;
      roots[roots.length - 1] = { ...last, value: { ...last.value, signature: bytes.toString('base64') } };
    });
    expectOneLineFailure(await ledger(['verify', '--dir', flipSignature, '--keys', paths.signerKeyring]), 'ERR_AUDIT_SIGNATURE');

    const changedEvent = tamperedCopy('changed-event', (events) => {
      events[3] = { ...events[3], value: { ...events[3].value, tenantId: 'globex-forged' } };
    });
    expectOneLineFailure(await ledger(['verify', '--dir', changedEvent, '--keys', paths.signerKeyring]), 'ERR_AUDIT_EVENT_HASH');

    const droppedRoot = tamperedCopy('dropped-root', (_events, roots) => {
      roots.splice(roots.findIndex((r) => r.value.batchSeq === 1), 1);
    });
    expectOneLineFailure(await ledger(['verify', '--dir', droppedRoot, '--keys', paths.signerKeyring]), 'ERR_AUDIT_SEQUENCE');

    // Correct dump, wrong keyring: the signer is not in it.
    expectOneLineFailure(await ledger(['verify', '--dir', paths.replay, '--keys', paths.exportKeyring]), 'ERR_AUDIT_SIGNATURE');
  });

  it('exits 2 with one line on missing flags and unreadable inputs', async () => {
    const emptyDir = join(dir, 'empty');
    mkdirSync(emptyDir, { recursive: true });
    const cases: Array<readonly string[]> = [
      ['verify'],
      ['verify', '--dir', paths.replay],
      ['verify', '--keys', paths.signerKeyring],
      ['verify', '--dir', paths.replay, '--keys', join(dir, 'no-such-keyring.json')],
      ['verify', '--dir', emptyDir, '--keys', paths.signerKeyring],
      ['verify', '--dir', paths.replay, '--keys', paths.signerKeyring, '--bogus'],
      ['prove', '--dir', paths.replay],
      ['prove', '--event', `sha256:${'a'.repeat(64)}`],
      ['prove', '--event', 'not-a-digest', '--dir', paths.replay],
    ];
    for (const args of cases) {
      const result = await ledger(args);
      expect(result.exitCode, `${args.join(' ')}: ${result.stderr}`).toBe(2);
      expect(result.stderr.split('\n').filter((l) => l !== ''), args.join(' ')).toHaveLength(1);
      expect(result.stderr, args.join(' ')).toMatch(/^ledger: /);
      expect(result.stderr, args.join(' ')).not.toMatch(/\n\s+at /);
    }
  });
});

describe('ledger prove', () => {
  it('gives an RFC 6962 audit path that verifies against the signed root of the event\'s batch', async () => {
    const events = readDump<LedgerEvent>(paths.replay, TOPICS.events);
    const roots = readDump<MerkleRootRecord>(paths.replay, TOPICS.merkleRoots);
    const picks = [events[0], events[Math.floor(events.length / 2)], events[events.length - 1]];
    for (const event of picks) {
      const result = await ledger(['prove', '--event', event.value.eventHash, '--dir', paths.replay]);
      expect(result.exitCode, result.stderr).toBe(0);
      const proof = JSON.parse(result.stdout) as InclusionProofReport;
      const root = roots.find((r) => r.value.partition === proof.partition && r.value.batchSeq === proof.batchSeq)?.value;
      expect(root, 'the batch named by the proof').toBeDefined();
      if (!root) continue;
      expect(proof.partition).toBe(event.partition);
      expect(event.offset).toBeGreaterThanOrEqual(root.firstOffset);
      expect(event.offset).toBeLessThanOrEqual(root.lastOffset);
      expect(proof).toMatchObject({ eventHash: event.value.eventHash, treeSize: root.leafCount, rootHash: root.rootHash, keyId: KEY_ID, signature: root.signature, anchorReference: root.anchorReference });
      expect(root.leaves[proof.leafIndex]).toBe(event.value.eventHash);
      expect(merkleRootSignatureValid(root, signer.publicKey)).toBe(true);
      // The leaf hash is recomputed here from the eventHash, not taken from the proof.
      const leafHash = eventLeafHash(event.value.eventHash);
      expect(proof.leafHash).toBe(leafHash.toString('hex'));
      const rootBytes = Buffer.from(root.rootHash.replace(/^sha256:/, ''), 'hex');
      const path = proof.auditPath.map((h) => Buffer.from(h, 'hex'));
      expect(() => verifyInclusion(rfc6962Sha256, proof.leafIndex, proof.treeSize, leafHash, path, rootBytes)).not.toThrow();
      if (path.length > 0) {
        const bent = path.map((h, i) => (i === path.length - 1 ? Buffer.from(h.map((b, j) => (j === 0 ? b ^ 1 : b))) : h));
        expect(() => verifyInclusion(rfc6962Sha256, proof.leafIndex, proof.treeSize, leafHash, bent, rootBytes)).toThrow(expect.objectContaining({ code: 'ERR_MERKLE_ROOT_MISMATCH' }));
      }
    }
  });

  it('exits 1 with one line for an event no batch holds', async () => {
    const result = await ledger(['prove', '--event', `sha256:${'0'.repeat(64)}`, '--dir', paths.replay]);
    expect(result.exitCode).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr.split('\n').filter((l) => l !== '')).toEqual([`ledger: prove: no sealed batch holds event sha256:${'0'.repeat(64)}`]);
  });
});

