import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { generateEd25519KeyPair } from '../../../contracts/ed25519.js';
import { isKeyAuthorizedForTenant, KeyringError, loadKeyringFile, parseKeyring, parseKeyringJson } from '../../../contracts/keyring.js';

const pair = generateEd25519KeyPair();
const rawKey = pair.publicKey.toString('base64');

function keyringErrorOf(run: () => unknown): KeyringError {
  try {
    run();
  } catch (error) {
    if (error instanceof KeyringError) return error;
    throw error;
  }
  throw new Error('expected a KeyringError');
}

describe('parseKeyring', () => {
  it('reads raw base64 (any flavour) and SPKI PEM keys to the same 32 bytes', () => {
    const keyring = parseKeyring({
      keys: [
        { keyId: 'raw', publicKey: rawKey, status: 'active' },
        { keyId: 'url', publicKey: pair.publicKey.toString('base64url'), status: 'active' },
        { keyId: 'pem', publicKey: pair.publicKeyPem, status: 'revoked', tenants: ['t1'] },
      ],
    });
    expect(keyring.size).toBe(3);
    for (const id of ['raw', 'url', 'pem']) expect(keyring.lookup(id)?.publicKey.equals(pair.publicKey)).toBe(true);
    expect(keyring.lookup('pem')?.status).toBe('revoked');
    expect(keyring.lookup('missing')).toBeUndefined();
    expect(keyring.lookup('__proto__')).toBeUndefined();
  });

  it('authorizes every tenant when tenants is absent, only the listed ones otherwise, none for []', () => {
    const keyring = parseKeyring({
      keys: [
        { keyId: 'all', publicKey: rawKey, status: 'active' },
        { keyId: 'some', publicKey: rawKey, status: 'active', tenants: ['t1'] },
        { keyId: 'none', publicKey: rawKey, status: 'active', tenants: [] },
      ],
    });
    const key = (id: string) => keyring.lookup(id) ?? expect.unreachable();
    expect(isKeyAuthorizedForTenant(key('all'), 'anyone')).toBe(true);
    expect(isKeyAuthorizedForTenant(key('some'), 't1')).toBe(true);
    expect(isKeyAuthorizedForTenant(key('some'), 't2')).toBe(false);
    expect(isKeyAuthorizedForTenant(key('none'), 't1')).toBe(false);
  });

  const identity = Buffer.alloc(32);
  identity[0] = 1;
  it.each([
    ['not an object', [], /document must be an object/],
    ['keys missing', {}, /"keys" must be an array/],
    ['unknown top-level field', { keys: [], extra: 1 }, /unknown field\(s\) "extra"/],
    ['entry not an object', { keys: ['x'] }, /keys\[0\] must be an object/],
    ['keyId missing', { keys: [{ publicKey: rawKey, status: 'active' }] }, /keys\[0\]: keyId must be a non-empty string/],
    ['duplicate keyId', { keys: [{ keyId: 'a', publicKey: rawKey, status: 'active' }, { keyId: 'a', publicKey: rawKey, status: 'revoked' }] }, /duplicate keyId "a"/],
    ['status unknown', { keys: [{ keyId: 'a', publicKey: rawKey, status: 'disabled' }] }, /keyId "a"\): status must be one of active\|revoked/],
    ['status missing', { keys: [{ keyId: 'a', publicKey: rawKey }] }, /keyId "a"\): status/],
    ['publicKey missing', { keys: [{ keyId: 'a', status: 'active' }] }, /keyId "a"\): publicKey must be a non-empty string/],
    ['publicKey not base64', { keys: [{ keyId: 'a', publicKey: 'not base64!', status: 'active' }] }, /keyId "a"\): publicKey is neither an SPKI PEM nor valid base64/],
    ['publicKey wrong length', { keys: [{ keyId: 'a', publicKey: 'AAAA', status: 'active' }] }, /keyId "a"\): publicKey decodes to 3 bytes/],
    ['publicKey bad PEM', { keys: [{ keyId: 'a', publicKey: '-----BEGIN PUBLIC KEY-----\nAA==\n-----END PUBLIC KEY-----', status: 'active' }] }, /keyId "a"\): publicKey: /],
    ['publicKey small order', { keys: [{ keyId: 'a', publicKey: identity.toString('base64'), status: 'active' }] }, /keyId "a"\): publicKey is a small-order point/],
    ['tenants not an array', { keys: [{ keyId: 'a', publicKey: rawKey, status: 'active', tenants: 't1' }] }, /keyId "a"\): tenants must be an array/],
    ['tenants null', { keys: [{ keyId: 'a', publicKey: rawKey, status: 'active', tenants: null }] }, /keyId "a"\): tenants must be an array/],
    ['tenant empty', { keys: [{ keyId: 'a', publicKey: rawKey, status: 'active', tenants: ['t1', ''] }] }, /keyId "a"\): tenants\[1\] must be a non-empty string/],
    ['misspelt field', { keys: [{ keyId: 'a', publicKey: rawKey, status: 'active', tenant: ['t1'] }] }, /keyId "a"\): unknown field\(s\) "tenant"/],
  ])('refuses %s with a message naming the problem', (_name, document, message) => {
    const error = keyringErrorOf(() => parseKeyring(document));
    expect(error.code).toBe('ERR_KEYRING_INVALID');
    expect(error.message).toMatch(message);
  });

  it('refuses text that is not JSON', () => {
    expect(keyringErrorOf(() => parseKeyringJson('{')).code).toBe('ERR_KEYRING_INVALID');
  });
});

describe('loadKeyringFile', () => {
  const dir = mkdtempSync(join(tmpdir(), 'keyring-'));

  it('loads a file', () => {
    const path = join(dir, 'ok.json');
    writeFileSync(path, JSON.stringify({ keys: [{ keyId: 'k', publicKey: pair.publicKeyPem, status: 'active' }] }));
    expect(loadKeyringFile(path).lookup('k')?.publicKey.equals(pair.publicKey)).toBe(true);
  });

  it('loads the vector keyring', () => {
    const keyring = loadKeyringFile(new URL('../../vectors/exports/keyring.json', import.meta.url).pathname);
    expect([...keyring.keys()].map((key) => key.keyId)).toEqual(['orchestrator-2025', 'airgap-importer']);
  });

  it('names the file in errors, unreadable and invalid alike', () => {
    const missing = keyringErrorOf(() => loadKeyringFile(join(dir, 'missing.json')));
    expect(missing.code).toBe('ERR_KEYRING_UNREADABLE');
    expect(missing.message).toContain('missing.json');
    const path = join(dir, 'bad.json');
    writeFileSync(path, '{"keys": [{"keyId": "k"}]}');
    const bad = keyringErrorOf(() => loadKeyringFile(path));
    expect(bad.code).toBe('ERR_KEYRING_INVALID');
    expect(bad.message).toContain('bad.json');
    expect(bad.message).toContain('keyId "k"');
  });
});
