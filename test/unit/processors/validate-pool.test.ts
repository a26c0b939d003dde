import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { generateEd25519KeyPair } from '../../../contracts/ed25519.js';
import { generateDemoKeys, signedExport } from '../../../examples/exports.js';
import { createValidatePool, type ValidatePool } from '../../../processors/validate.js';
import type { ValidateItem, ValidateOutcome } from '../../../processors/validate-core.js';
import { validateChunkCodec } from '../../../processors/validate-wire.js';
import { KeyringSource } from '../../../runtime/keyring-source.js';

// The validate worker pool: how a chunk of items travels (validate-wire), and that the workers
// follow keyring reloads — a revoked key is refused from the next batch on, a batch queued
// before the reload keeps the keyring it was mapped under, and a keyId that now names other
// key bytes is verified against those bytes (the verifier caches key objects by bytes).

const dir = mkdtempSync(join(tmpdir(), 'validate-pool-'));
const pools: ValidatePool[] = [];
const sources: KeyringSource[] = [];

afterAll(async () => {
  for (const p of pools) await p.close();
  for (const s of sources) s.close();
  rmSync(dir, { recursive: true, force: true });
});

const silent = { info: () => undefined, warn: () => undefined, error: () => undefined };
const keys = generateDemoKeys();
const signer = keys.active;

function keyringFile(path: string, entry: { publicKey: string; status: 'active' | 'revoked' }): void {
  writeFileSync(path, JSON.stringify({ keys: [{ keyId: signer.keyId, ...entry }] }));
}

const batch = (count: number, seed: string): ValidateItem[] =>
  Array.from({ length: count }, (_, i) => ({
    bytes: Buffer.from(JSON.stringify(signedExport({ tenantId: 'acme', runSeed: `${seed}-${i}`, status: 'running' }, signer))),
    headers: {},
  }));

const codes = (outcomes: readonly ValidateOutcome[]): string[] => [...new Set(outcomes.map((o) => (o.ok ? 'OK' : o.code)))];

describe('validateChunkCodec', () => {
  it('packs every value into one fresh buffer to transfer and unpacks the same items', () => {
    const fetched = Buffer.from('xx{"a":1}yy{"b":2}zz');
    const items: ValidateItem[] = [
      { bytes: fetched.subarray(2, 9), headers: { 'tenant-id': 'acme' } },
      { bytes: new Uint8Array(0), headers: {} },
      { bytes: fetched.subarray(11, 18), headers: {}, decoded: { runId: 'r', nested: { n: 1 } } },
      { bytes: Buffer.from([0xc3, 0x01, 0xff]), headers: {}, undecodable: 'truncated' },
    ];
    const { wire, transfer } = validateChunkCodec.pack(items);
    expect(transfer).toEqual([wire.values]);
    expect(wire.values).not.toBe(fetched.buffer);
    expect(wire.values.byteLength).toBe(7 + 0 + 7 + 3);
    const unpacked = validateChunkCodec.unpack(wire);
    expect(unpacked.map((i) => Buffer.from(i.bytes).toString('latin1'))).toEqual(items.map((i) => Buffer.from(i.bytes).toString('latin1')));
    expect(unpacked.map(({ bytes: _bytes, ...rest }) => rest)).toEqual(items.map(({ bytes: _bytes, ...rest }) => rest));
    // The source buffer is only read.
    expect(fetched.toString('latin1')).toBe('xx{"a":1}yy{"b":2}zz');
  });
});

describe('validate pool and keyring reloads', () => {
  it('refuses a key revoked by a reload from the next batch on, and not in a batch mapped before it', async () => {
    const path = join(dir, 'revoke.json');
    keyringFile(path, { publicKey: signer.publicKeyPem, status: 'active' });
    const keyring = KeyringSource.fromFile(path, silent, { watch: false });
    sources.push(keyring);
    const pool = createValidatePool({ workers: 2, keyring, signaturesRequired: true });
    pools.push(pool);

    expect(codes(await pool.map(batch(40, 'warm')))).toEqual(['OK']);
    // Enough records that chunks are still queued when the reload lands.
    const before = pool.map(batch(400, 'before'));
    keyringFile(path, { publicKey: signer.publicKeyPem, status: 'revoked' });
    expect(keyring.reload()).toBe(true);
    const after = pool.map(batch(40, 'after'));
    expect(codes(await before)).toEqual(['OK']);
    expect(codes(await after)).toEqual(['ERR_DSSE_KEY_REVOKED']);

    keyringFile(path, { publicKey: signer.publicKeyPem, status: 'active' });
    expect(keyring.reload()).toBe(true);
    expect(codes(await pool.map(batch(40, 'reactivated')))).toEqual(['OK']);
  });

  it('verifies against the key bytes the reloaded keyring names for a keyId', async () => {
    const path = join(dir, 'rotate.json');
    keyringFile(path, { publicKey: signer.publicKeyPem, status: 'active' });
    const keyring = KeyringSource.fromFile(path, silent, { watch: false });
    sources.push(keyring);
    const pool = createValidatePool({ workers: 2, keyring, signaturesRequired: true });
    pools.push(pool);

    expect(codes(await pool.map(batch(40, 'original')))).toEqual(['OK']);
    keyringFile(path, { publicKey: generateEd25519KeyPair().publicKeyPem, status: 'active' });
    expect(keyring.reload()).toBe(true);
    expect(codes(await pool.map(batch(40, 'other-bytes')))).toEqual(['ERR_DSSE_INVALID_SIGNATURE']);
    keyringFile(path, { publicKey: signer.publicKey.toString('base64'), status: 'active' });
    expect(keyring.reload()).toBe(true);
    expect(codes(await pool.map(batch(40, 'back')))).toEqual(['OK']);
  });
});
