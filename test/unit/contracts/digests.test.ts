import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../../../contracts/canonical-json.js';
import {
  contentHash,
  DigestError,
  digestRawBytes,
  digestsEqual,
  dsseDigest,
  expectedIdempotencyKey,
  isDigestString,
  sha256Digest,
} from '../../../contracts/digests.js';
import { EXPORT_PAYLOAD_TYPE } from '../../../contracts/dsse.js';

const hex = (text: string): string => createHash('sha256').update(text, 'utf8').digest('hex');

describe('sha256Digest', () => {
  it('is sha256: + lowercase hex (FIPS 180-2 "abc")', () => {
    expect(sha256Digest(Buffer.from('abc'))).toBe('sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });
});

describe('isDigestString', () => {
  it.each([
    [`sha256:${'a'.repeat(64)}`, true],
    [`sha256:${'A'.repeat(64)}`, true],
    [`sha256:${'a'.repeat(63)}`, false],
    [`sha256:${'a'.repeat(65)}`, false],
    [`SHA256:${'a'.repeat(64)}`, false],
    [`sha256:${'g'.repeat(64)}`, false],
    [`sha256:${'a'.repeat(64)}\n`, false],
    ['a'.repeat(64), false],
    [42, false],
  ])('%s -> %s', (value, want) => {
    expect(isDigestString(value)).toBe(want);
  });
});

describe('digestRawBytes and digestsEqual', () => {
  const lower = sha256Digest(Buffer.from('x'));
  const upper = `sha256:${lower.slice(7).toUpperCase()}`;

  it('decodes the hex to 32 bytes', () => {
    expect(digestRawBytes(lower).toString('hex')).toBe(lower.slice(7));
    expect(digestRawBytes(upper).equals(digestRawBytes(lower))).toBe(true);
  });

  it('throws a typed error for a non-digest', () => {
    expect(() => digestRawBytes('sha256:zz')).toThrow(DigestError);
  });

  it('compares hex case-insensitively and refuses malformed input', () => {
    expect(digestsEqual(lower, upper)).toBe(true);
    expect(digestsEqual(lower, sha256Digest(Buffer.from('y')))).toBe(false);
    expect(digestsEqual(lower, 'sha256:nope')).toBe(false);
  });
});

describe('DESIGN.md 3.1 formulas', () => {
  it('idempotencyKey hashes runId + artifactHash + tenantId as given, UTF-8', () => {
    const artifactHash = `sha256:${'AB'.repeat(32)}`;
    expect(expectedIdempotencyKey('run-1', artifactHash, 't\u00e9nant')).toBe(`sha256:${hex(`run-1${artifactHash}t\u00e9nant`)}`);
  });

  it('contentHash is sha256 of JCS', () => {
    const body = { b: '2', a: null };
    expect(contentHash(body)).toBe(`sha256:${hex('{"a":null,"b":"2"}')}`);
  });

  it('dsseDigest hashes the JCS envelope with signatures as given, and is null when unsigned', () => {
    const payload = Buffer.from('{"a":"\u00e9"}', 'utf8');
    const signatures = [
      { keyId: 'k1', signature: 'c2ln' },
      { keyId: 'k2', signature: 'c2ln_-' },
    ];
    const envelope = `{"payload":"${payload.toString('base64')}","payloadType":"${EXPORT_PAYLOAD_TYPE}","signatures":[{"keyid":"k1","sig":"c2ln"},{"keyid":"k2","sig":"c2ln_-"}]}`;
    expect(canonicalJson(JSON.parse(envelope))).toBe(envelope);
    expect(dsseDigest({ payload, signatures })).toBe(`sha256:${hex(envelope)}`);
    expect(dsseDigest({ payload, signatures: [] })).toBeNull();
    expect(dsseDigest({ payload, signatures: null })).toBeNull();
  });
});
