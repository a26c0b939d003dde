import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../../../contracts/canonical-json.js';
import {
  contentHash,
  DIGEST_PATTERN,
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

  it('hashes a string as its UTF-8 bytes, lone surrogates as U+FFFD like Buffer.from', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (text) => {
        expect(sha256Digest(text)).toBe(sha256Digest(Buffer.from(text, 'utf8')));
      }),
    );
    expect(sha256Digest('a\ud800b')).toBe(sha256Digest(Buffer.from('a\ufffdb', 'utf8')));
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

  // digestRawBytes decodes without the regex: it must accept exactly what DIGEST_PATTERN does.
  it('accepts exactly the strings DIGEST_PATTERN accepts', () => {
    const hexDigit = fc.constantFrom(...'0123456789abcdefABCDEF');
    const almostHex = fc.oneof({ weight: 20, arbitrary: hexDigit }, { weight: 1, arbitrary: fc.constantFrom('g', 'G', 'x', ' ', '\n', '\u0000', '-', '\u00e9', '\ud800', '\uff10') });
    const candidate = fc.oneof(
      fc.array(almostHex, { minLength: 62, maxLength: 66 }).map((chars) => `sha256:${chars.join('')}`),
      fc.tuple(fc.constantFrom('sha256:', 'SHA256:', 'sha256', 'sha256::', ''), fc.array(hexDigit, { minLength: 64, maxLength: 64 })).map(([prefix, chars]) => prefix + chars.join('')),
      fc.string(),
    );
    fc.assert(
      fc.property(candidate, (digest) => {
        const valid = DIGEST_PATTERN.test(digest);
        expect(isDigestString(digest)).toBe(valid);
        expect(digestsEqual(digest, digest)).toBe(valid);
        if (valid) expect(digestRawBytes(digest).toString('hex')).toBe(digest.slice(7).toLowerCase());
        else expect(() => digestRawBytes(digest)).toThrow(DigestError);
      }),
      { numRuns: 2000 },
    );
  });

  it('calls two digests equal exactly when both are valid and name the same bytes', () => {
    const digest = fc.array(fc.constantFrom(...'0123456789abcdefABCDEF'), { minLength: 64, maxLength: 64 }).map((chars) => `sha256:${chars.join('')}`);
    // A second digest that is the first one with one digit changed, or its case flipped, or malformed.
    const pair = fc.tuple(digest, fc.nat(63), fc.constantFrom('same', 'flip-case', 'other-digit', 'bad-digit')).map(([left, at, how]) => {
      const index = 7 + at;
      const digit = left[index];
      const replacement = { same: digit, 'flip-case': digit === digit.toLowerCase() ? digit.toUpperCase() : digit.toLowerCase(), 'other-digit': digit.toLowerCase() === '0' ? '1' : '0', 'bad-digit': 'g' }[how];
      return [left, left.slice(0, index) + replacement + left.slice(index + 1)] as const;
    });
    fc.assert(
      fc.property(pair, ([left, right]) => {
        const expected = DIGEST_PATTERN.test(right) && left.toLowerCase() === right.toLowerCase();
        expect(digestsEqual(left, right)).toBe(expected);
        expect(digestsEqual(right, left)).toBe(expected);
      }),
      { numRuns: 2000 },
    );
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
