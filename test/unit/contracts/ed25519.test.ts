import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  Ed25519KeyError,
  ed25519PrivateKey,
  ed25519PublicKeyOf,
  ed25519Verifier,
  generateEd25519KeyPair,
  nobleEd25519Verifier,
  nodeEd25519Verifier,
  publicKeyProblem,
  rawPublicKeyFromSpkiPem,
  signEd25519,
  verifyEd25519,
} from '../../../contracts/ed25519.js';

// RFC 8032 section 7.1, TEST 1 and TEST 2.
const rfc8032 = [
  {
    seed: '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60',
    publicKey: 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a',
    message: '',
    signature:
      'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
  },
  {
    seed: '4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb',
    publicKey: '3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c',
    message: '72',
    signature:
      '92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00',
  },
];

const hex = (text: string): Buffer => Buffer.from(text, 'hex');
const verifiers = [nodeEd25519Verifier, nobleEd25519Verifier];
// Group order L of Ed25519, little-endian arithmetic below.
const L = 2n ** 252n + 27742317777372353535851937790883648493n;

function addToScalar(signature: Buffer, addend: bigint): Buffer {
  const s = BigInt(`0x${Buffer.from(signature.subarray(32)).reverse().toString('hex')}`) + addend;
  const encoded = Buffer.from(s.toString(16).padStart(64, '0'), 'hex').reverse();
  return Buffer.concat([signature.subarray(0, 32), encoded]);
}

describe('RFC 8032 vectors', () => {
  for (const [index, vector] of rfc8032.entries()) {
    it(`TEST ${index + 1}: signing from the raw seed reproduces the signature`, () => {
      expect(ed25519PublicKeyOf(hex(vector.seed)).toString('hex')).toBe(vector.publicKey);
      expect(signEd25519(hex(vector.message), hex(vector.seed)).toString('hex')).toBe(vector.signature);
    });
    for (const verifier of verifiers) {
      it(`TEST ${index + 1} verifies with ${verifier.name}`, () => {
        expect(verifier.verify(hex(vector.publicKey), hex(vector.message), hex(vector.signature))).toBe(true);
        expect(verifier.verify(hex(vector.publicKey), Buffer.from('other'), hex(vector.signature))).toBe(false);
      });
    }
  }
});

describe.each(verifiers)('$name', (verifier) => {
  const keys = generateEd25519KeyPair();
  const message = Buffer.from('DSSEv1 4 type 7 payload');
  const signature = signEd25519(message, keys.privateKey);

  it('accepts a valid signature and rejects a flipped bit anywhere', () => {
    expect(verifier.verify(keys.publicKey, message, signature)).toBe(true);
    for (const index of [0, 31, 32, 63]) {
      const tampered = Buffer.from(signature);
      tampered[index] ^= 1;
      expect(verifier.verify(keys.publicKey, message, tampered)).toBe(false);
    }
  });

  it('checks each signature against its own key when keys alternate, even a key array rewritten in place', () => {
    const other = generateEd25519KeyPair();
    const otherSignature = signEd25519(message, other.privateKey);
    for (let round = 0; round < 3; round++) {
      expect(verifier.verify(keys.publicKey, message, signature)).toBe(true);
      expect(verifier.verify(other.publicKey, message, signature)).toBe(false);
      expect(verifier.verify(other.publicKey, message, otherSignature)).toBe(true);
      expect(verifier.verify(keys.publicKey, message, otherSignature)).toBe(false);
    }
    const reused = Buffer.from(keys.publicKey);
    expect(verifier.verify(reused, message, signature)).toBe(true);
    other.publicKey.copy(reused);
    expect(verifier.verify(reused, message, signature)).toBe(false);
    expect(verifier.verify(reused, message, otherSignature)).toBe(true);
  });

  it('returns false, never throws, for wrong lengths', () => {
    expect(verifier.verify(keys.publicKey, message, signature.subarray(0, 63))).toBe(false);
    expect(verifier.verify(keys.publicKey, message, Buffer.concat([signature, Buffer.of(0)]))).toBe(false);
    expect(verifier.verify(keys.publicKey.subarray(0, 31), message, signature)).toBe(false);
    expect(verifier.verify(Buffer.alloc(0), message, Buffer.alloc(0))).toBe(false);
  });

  it('rejects the malleated signature S + L', () => {
    expect(verifier.verify(keys.publicKey, message, addToScalar(signature, L))).toBe(false);
  });

  it('rejects the small-order forgery (identity key, identity R, S = 0)', () => {
    const identity = Buffer.alloc(32);
    identity[0] = 1;
    const forged = Buffer.alloc(64);
    forged[0] = 1;
    expect(verifier.verify(identity, Buffer.from('anything'), forged)).toBe(false);
  });

  it('never throws on arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), fc.uint8Array({ maxLength: 40 }), fc.uint8Array({ maxLength: 70 }), (key, msg, sig) => {
        expect(verifier.verify(key, msg, sig)).toBe(false);
      }),
      { numRuns: 200 },
    );
  });
});

describe('the two implementations agree', () => {
  it('on valid signatures and on single-byte corruptions', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ maxLength: 300 }), fc.nat(95), fc.boolean(), (seed, message, position, corrupt) => {
        const publicKey = ed25519PublicKeyOf(seed);
        const signature = signEd25519(message, seed);
        if (corrupt) {
          if (position < 64) signature[position] ^= 0x40;
          else publicKey[position - 64] ^= 0x40;
        }
        const node = nodeEd25519Verifier.verify(publicKey, message, signature);
        expect(nobleEd25519Verifier.verify(publicKey, message, signature)).toBe(node);
        expect(node).toBe(!corrupt);
      }),
      { numRuns: 40 },
    );
  });
});

describe('keys', () => {
  it('uses the OpenSSL verifier (measured faster, see bench/ed25519.ts)', () => {
    expect(ed25519Verifier).toBe(nodeEd25519Verifier);
    const keys = generateEd25519KeyPair();
    expect(verifyEd25519(keys.publicKey, Buffer.from('m'), signEd25519(Buffer.from('m'), keys.privateKeyPem))).toBe(true);
  });

  it('reads the raw key out of an SPKI PEM', () => {
    const keys = generateEd25519KeyPair();
    expect(rawPublicKeyFromSpkiPem(keys.publicKeyPem).equals(keys.publicKey)).toBe(true);
  });

  it('refuses non-Ed25519 and unreadable keys with a typed error', () => {
    expect(() => rawPublicKeyFromSpkiPem('-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n')).toThrow(Ed25519KeyError);
    expect(() => ed25519PrivateKey(Buffer.alloc(31))).toThrow(Ed25519KeyError);
    expect(() => ed25519PrivateKey('not a pem')).toThrow(Ed25519KeyError);
  });

  it('names problems with public keys', () => {
    expect(publicKeyProblem(generateEd25519KeyPair().publicKey)).toBeUndefined();
    const identity = Buffer.alloc(32);
    identity[0] = 1;
    expect(publicKeyProblem(identity)).toMatch(/small-order/);
    expect(publicKeyProblem(Buffer.alloc(32, 0xff))).toMatch(/not the encoding of a point/);
    expect(publicKeyProblem(Buffer.alloc(31))).toMatch(/32 bytes/);
  });
});
