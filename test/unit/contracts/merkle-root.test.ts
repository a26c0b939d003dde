import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CanonicalJsonError, canonicalJson, canonicalJsonBytes } from '../../../contracts/canonical-json.js';
import { decodeDigestInto, digestRawBytes, digestsEqual, isDigestString, sha256Digest } from '../../../contracts/digests.js';
import { generateEd25519KeyPair, signEd25519 } from '../../../contracts/ed25519.js';
import {
  eventLeafHash,
  merkleRootCanonicalJson,
  merkleRootSignatureValid,
  merkleRootSigningBytes,
  signMerkleRoot,
  type UnsignedMerkleRoot,
} from '../../../contracts/merkle-root.js';
import { rfc6962Sha256 } from '../../../merkle/hasher.js';

// merkleRootSigningBytes builds the JCS of a root directly; the generic JCS (canonical-json.ts)
// is the reference it must match byte for byte, or fail with the same error code.

/** The bytes, or the CanonicalJsonError code, of one way of canonicalising. */
function outcome(run: () => Buffer): { bytes: string } | { error: string } {
  try {
    return { bytes: run().toString('hex') };
  } catch (error) {
    if (error instanceof CanonicalJsonError) return { error: error.code };
    throw error;
  }
}

const expectSameAsGeneric = (value: UnsignedMerkleRoot): void => {
  expect(outcome(() => merkleRootSigningBytes(value))).toEqual(outcome(() => canonicalJsonBytes(value)));
};

const digest = fc.uint8Array({ minLength: 1, maxLength: 8 }).map((bytes) => sha256Digest(bytes));
// Any string: every UTF-16 unit including lone surrogates, control characters, quotes, backslashes.
const anyString = fc.oneof(fc.string({ unit: 'binary', maxLength: 12 }), fc.string({ unit: 'binary-ascii', maxLength: 12 }), fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((u) => String.fromCharCode(u)), maxLength: 6 }));
// Identifiers as configured (key ids, bundle ids): no character that JSON escapes.
const identifier = fc.string({ unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:/'), maxLength: 20 });
const anyNumber = fc.oneof(fc.integer(), fc.maxSafeInteger(), fc.double(), fc.constantFrom(-0, 0.1, 1e21, 5e-324, Number.NaN, Number.POSITIVE_INFINITY));

/** A root as the processor makes it: hex digests, integers, an ISO timestamp, base64 signatures. */
const realisticRoot: fc.Arbitrary<UnsignedMerkleRoot> = fc.record({
  partition: fc.nat({ max: 63 }),
  batchSeq: fc.nat(),
  firstOffset: fc.maxSafeNat(),
  lastOffset: fc.maxSafeNat(),
  leafCount: fc.nat({ max: 300 }),
  leaves: fc.array(digest, { maxLength: 300 }),
  rootHash: digest,
  anchorReference: fc.tuple(fc.nat(63), fc.nat()).map(([p, s]) => `airgap::ledger.events/${p}/${s}`),
  bundleIds: fc.array(identifier, { maxLength: 5 }),
  previousSignature: fc.option(fc.uint8Array({ minLength: 64, maxLength: 64 }).map((b) => Buffer.from(b).toString('base64'))),
  keyId: identifier,
  sealedAt: fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
});

/** The same members holding any JSON-ish value, in any member order. */
const oddRoot: fc.Arbitrary<UnsignedMerkleRoot> = fc
  .record({
    partition: anyNumber,
    batchSeq: anyNumber,
    firstOffset: anyNumber,
    lastOffset: anyNumber,
    leafCount: anyNumber,
    leaves: fc.oneof(fc.array(fc.oneof(digest, anyString)), fc.sparseArray(digest, { maxLength: 4 })),
    rootHash: anyString,
    anchorReference: anyString,
    bundleIds: fc.array(anyString, { maxLength: 4 }),
    previousSignature: fc.option(anyString),
    keyId: anyString,
    sealedAt: anyString,
  })
  .chain((root) => fc.shuffledSubarray(Object.entries(root), { minLength: 12 }).map((entries) => Object.fromEntries(entries) as unknown as UnsignedMerkleRoot));

describe('merkleRootSigningBytes', () => {
  it('takes the direct path for roots as the processor makes them, with the generic JCS bytes', () => {
    fc.assert(
      fc.property(realisticRoot, (root) => {
        expect(merkleRootCanonicalJson(root)).toBe(canonicalJson(root));
        expect(merkleRootSigningBytes(root).equals(canonicalJsonBytes(root))).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it('equals the generic JCS, bytes or error code, for members holding any string or number', () => {
    fc.assert(
      fc.property(oddRoot, (root) => expectSameAsGeneric(root)),
      { numRuns: 5000 },
    );
  });

  it('defers to the generic JCS for anything but exactly the record shape', () => {
    const [base] = fc.sample(realisticRoot, { numRuns: 1, seed: 7 });
    class RootClass {}
    const withGetter = { ...base };
    Object.defineProperty(withGetter, 'keyId', { enumerable: true, get: () => 'from a getter' });
    const { keyId: _keyId, ...missing } = base;
    const leavesWithToJson = Object.assign([...base.leaves], { toJSON: () => [] });
    const cases: Array<[string, unknown]> = [
      ['an extra member', { ...base, extra: 1 }],
      ['an extra member that is undefined', { ...base, extra: undefined }],
      ['a missing member', missing],
      ['a member that is undefined', { ...base, rootHash: undefined }],
      ['a class instance', Object.assign(new RootClass(), base)],
      ['a null-prototype object', Object.assign(Object.create(null) as object, base)],
      ['a getter', withGetter],
      ['an array with toJSON', { ...base, leaves: leavesWithToJson }],
      ['a nested object', { ...base, bundleIds: [{ id: 'b' }] }],
      ['a hole in leaves', { ...base, leaves: [base.rootHash, , base.rootHash] }],
      ['a boolean', { ...base, previousSignature: true }],
      ['a lone surrogate', { ...base, keyId: 'key-\ud800' }],
      ['a surrogate pair', { ...base, keyId: 'key-\ud83d\ude00' }],
      ['a control character', { ...base, sealedAt: 'a\u0001b\nc' }],
      ['an escaped-looking text', { ...base, keyId: '\\u0041' }],
      ['non-finite numbers', { ...base, batchSeq: Number.NaN, leafCount: Number.NEGATIVE_INFINITY }],
      ['-0 and fractions', { ...base, partition: -0, firstOffset: 1.5e-7 }],
    ];
    for (const [what, value] of cases) {
      const root = value as UnsignedMerkleRoot;
      expect(outcome(() => merkleRootSigningBytes(root)), what).toEqual(outcome(() => canonicalJsonBytes(root)));
    }
    expect(merkleRootCanonicalJson({ ...base, keyId: 'key-\ud800' })).toBeUndefined();
    expect(merkleRootCanonicalJson(withGetter)).toBe(canonicalJson(withGetter));
  });

  it('signs what the generic JCS gives, and verifies', () => {
    const signer = generateEd25519KeyPair();
    const [unsigned] = fc.sample(realisticRoot, { numRuns: 1, seed: 11 });
    const root = signMerkleRoot(unsigned, (message) => signEd25519(message, signer.privateKey));
    expect(Buffer.from(root.signature, 'base64').equals(signEd25519(canonicalJsonBytes(unsigned), signer.privateKey))).toBe(true);
    expect(merkleRootSignatureValid(root, signer.publicKey)).toBe(true);
  });
});

describe('decodeDigestInto', () => {
  const hexChar = fc.constantFrom(...'0123456789abcdefABCDEF');
  // Near misses: characters next to the digit ranges, and UTF-16 units whose low byte is a digit.
  const nearMiss = fc.constantFrom('/', ':', '@', 'G', '`', 'g', ' ', '\u0130', '\u0161', '\u0341', '\uff10', '\ud800');
  const digestLike = fc.oneof(
    fc.array(hexChar, { minLength: 64, maxLength: 64 }).map((digits) => `sha256:${digits.join('')}`),
    fc.tuple(fc.array(hexChar, { minLength: 64, maxLength: 64 }), fc.nat(63), nearMiss).map(([digits, at, bad]) => `sha256:${digits.map((d, i) => (i === at ? bad : d)).join('')}`),
    fc.tuple(fc.array(hexChar, { minLength: 62, maxLength: 66 }), fc.constantFrom('sha256:', 'SHA256:', 'sha256 ', 'sha512:', '')).map(([digits, prefix]) => prefix + digits.join('')),
    fc.string({ unit: 'binary', maxLength: 80 }),
  );

  it('accepts exactly the digest strings DIGEST_PATTERN accepts, with the same bytes', () => {
    fc.assert(
      fc.property(digestLike, (text) => {
        const target = Buffer.alloc(32);
        expect(decodeDigestInto(text, target)).toBe(isDigestString(text));
        if (isDigestString(text)) expect(target.equals(digestRawBytes(text))).toBe(true);
      }),
      { numRuns: 5000 },
    );
  });

  it('digestRawBytes and digestsEqual refuse what the pattern refuses (Buffer hex decoding alone would read \\u0161 as a)', () => {
    const lookalike = `sha256:${'\u0161'.repeat(64)}`;
    expect(() => digestRawBytes(lookalike)).toThrow(expect.objectContaining({ code: 'ERR_DIGEST_INVALID' }));
    expect(digestsEqual(lookalike, `sha256:${'a'.repeat(64)}`)).toBe(false);
    expect(digestsEqual(`sha256:${'A'.repeat(64)}`, `sha256:${'a'.repeat(64)}`)).toBe(true);
  });

  it('eventLeafHash: the RFC 6962 leaf hash of the raw bytes, or the DigestError naming the input', () => {
    const upper = `sha256:${'AbCdEf0123456789'.repeat(4)}`;
    expect(eventLeafHash(upper).equals(rfc6962Sha256.hashLeaf(digestRawBytes(upper)))).toBe(true);
    for (const bad of ['sha256:', `sha256:${'\u0161'.repeat(64)}`, `sha256:${'a'.repeat(63)}g`, `SHA256:${'a'.repeat(64)}`]) {
      expect(() => eventLeafHash(bad)).toThrow(expect.objectContaining({ code: 'ERR_DIGEST_INVALID', message: expect.stringContaining(JSON.stringify(bad)) }));
    }
  });
});
