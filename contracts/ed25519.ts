// Ed25519 behind one small interface. Two implementations exist so they can be measured
// (`npm run bench -- ed25519`); the contract uses the faster one, Node's OpenSSL binding: ~11,500-
// 12,200 verifies/s on one core against ~810-870 for @noble/ed25519 3.2 (the 2-core build box).
import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  sign as nodeSign,
  verify as nodeVerify,
  type KeyObject,
} from 'node:crypto';
import * as noble from '@noble/ed25519';
import { sha512 } from '@noble/hashes/sha2.js';

export const ED25519_PUBLIC_KEY_BYTES = 32;
export const ED25519_SIGNATURE_BYTES = 64;
const ED25519_SEED_BYTES = 32;

export interface Ed25519Verifier {
  readonly name: string;
  /** True only for a valid signature; any malformed input is simply false, never an exception. */
  verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean;
}

export class Ed25519KeyError extends Error {
  override readonly name = 'Ed25519KeyError';
  readonly code = 'ERR_ED25519_KEY';
}

const hasLength = (bytes: Uint8Array, length: number): boolean => bytes instanceof Uint8Array && bytes.byteLength === length;

function publicKeyObjectFromRaw(publicKey: Uint8Array): KeyObject {
  const x = Buffer.from(publicKey.buffer, publicKey.byteOffset, publicKey.byteLength).toString('base64url');
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x }, format: 'jwk' });
}

// noble's synchronous API needs a SHA-512 it does not bundle.
noble.hashes.sha512 = sha512;

/**
 * Why a raw public key must not be trusted, or undefined when it is fine. OpenSSL verifies
 * cofactorless and accepts small-order keys: with the identity point as key, R = identity and
 * S = 0 "verify" for every message. So such keys are refused up front (keyring) and by the verifier.
 */
export function publicKeyProblem(publicKey: Uint8Array): string | undefined {
  if (!hasLength(publicKey, ED25519_PUBLIC_KEY_BYTES)) return `an Ed25519 public key has ${ED25519_PUBLIC_KEY_BYTES} bytes`;
  let point: noble.Point;
  try {
    point = noble.Point.fromBytes(publicKey, false);
  } catch {
    return 'not the encoding of a point on Ed25519';
  }
  return point.isSmallOrder() ? 'a small-order point, for which signatures can be forged' : undefined;
}

// Keys come from the keyring (a handful), so checking the point and building the KeyObject once
// per key is the whole saving; the bound only keeps a misuse from growing the map forever.
const MAX_CACHED_KEYS = 4096;

function createNodeVerifier(): Ed25519Verifier {
  // null = a key refused by publicKeyProblem.
  const keyObjects = new Map<string, KeyObject | null>();
  // The key used last, compared by content: most records of a stream name the same signer,
  // and the comparison is cheaper than the hex cache key.
  let last: { readonly publicKey: Buffer; readonly keyObject: KeyObject | null } | null = null;
  const keyObjectFor = (publicKey: Uint8Array): KeyObject | null => {
    if (last?.publicKey.equals(publicKey)) return last.keyObject;
    const keyObject = cachedKeyObjectFor(publicKey);
    last = { publicKey: Buffer.from(publicKey), keyObject };
    return keyObject;
  };
  const cachedKeyObjectFor = (publicKey: Uint8Array): KeyObject | null => {
    const cacheKey = Buffer.from(publicKey.buffer, publicKey.byteOffset, publicKey.byteLength).toString('hex');
    let keyObject = keyObjects.get(cacheKey);
    if (keyObject === undefined) {
      if (keyObjects.size >= MAX_CACHED_KEYS) keyObjects.clear();
      keyObject = publicKeyProblem(publicKey) === undefined ? publicKeyObjectFromRaw(publicKey) : null;
      keyObjects.set(cacheKey, keyObject);
    }
    return keyObject;
  };
  return {
    name: 'node:crypto (OpenSSL)',
    verify(publicKey, message, signature) {
      if (!hasLength(publicKey, ED25519_PUBLIC_KEY_BYTES) || !hasLength(signature, ED25519_SIGNATURE_BYTES)) return false;
      try {
        const keyObject = keyObjectFor(publicKey);
        return keyObject !== null && nodeVerify(null, message, keyObject, signature);
      } catch {
        return false;
      }
    },
  };
}

function createNobleVerifier(): Ed25519Verifier {
  return {
    name: '@noble/ed25519 (zip215: false)',
    verify(publicKey, message, signature) {
      if (!hasLength(publicKey, ED25519_PUBLIC_KEY_BYTES) || !hasLength(signature, ED25519_SIGNATURE_BYTES)) return false;
      try {
        // RFC 8032 strict mode rather than ZIP-215, to agree with OpenSSL on edge encodings.
        return noble.verify(signature, message, publicKey, { zip215: false });
      } catch {
        return false;
      }
    },
  };
}

export const nodeEd25519Verifier: Ed25519Verifier = createNodeVerifier();
export const nobleEd25519Verifier: Ed25519Verifier = createNobleVerifier();

/** The implementation the contract uses (the faster of the two, measured). */
export const ed25519Verifier: Ed25519Verifier = nodeEd25519Verifier;

export function verifyEd25519(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  return ed25519Verifier.verify(publicKey, message, signature);
}

/** The raw 32-byte public key inside an SPKI PEM; throws Ed25519KeyError if it is not Ed25519. */
export function rawPublicKeyFromSpkiPem(pem: string): Buffer {
  let keyObject: KeyObject;
  try {
    keyObject = createPublicKey({ key: pem, format: 'pem' });
  } catch (error) {
    throw new Ed25519KeyError('not a readable SPKI PEM public key', { cause: error });
  }
  return rawPublicKey(keyObject);
}

function rawPublicKey(keyObject: KeyObject): Buffer {
  if (keyObject.asymmetricKeyType !== 'ed25519') {
    throw new Ed25519KeyError(`expected an ed25519 key, got ${keyObject.asymmetricKeyType ?? keyObject.type}`);
  }
  const { x } = keyObject.export({ format: 'jwk' });
  if (typeof x !== 'string') throw new Ed25519KeyError('ed25519 key without a public component');
  return Buffer.from(x, 'base64url');
}

// PKCS#8 wrapper of a bare Ed25519 seed (RFC 8410): everything before the 32 key bytes.
const PKCS8_SEED_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

/** A signing key from a KeyObject, a PKCS#8 PEM, or a raw 32-byte seed. */
export type Ed25519PrivateKeyInput = KeyObject | string | Uint8Array;

export function ed25519PrivateKey(input: Ed25519PrivateKeyInput): KeyObject {
  let keyObject: KeyObject;
  try {
    if (typeof input === 'string') keyObject = createPrivateKey({ key: input, format: 'pem' });
    else if (input instanceof Uint8Array) {
      if (input.byteLength !== ED25519_SEED_BYTES) throw new Ed25519KeyError(`a raw ed25519 seed is 32 bytes, got ${input.byteLength}`);
      keyObject = createPrivateKey({ key: Buffer.concat([PKCS8_SEED_PREFIX, input]), format: 'der', type: 'pkcs8' });
    } else keyObject = input;
  } catch (error) {
    if (error instanceof Ed25519KeyError) throw error;
    throw new Ed25519KeyError('not a readable PKCS#8 private key', { cause: error });
  }
  if (keyObject.type !== 'private' || keyObject.asymmetricKeyType !== 'ed25519') {
    throw new Ed25519KeyError(`expected an ed25519 private key, got ${keyObject.asymmetricKeyType ?? keyObject.type} ${keyObject.type}`);
  }
  return keyObject;
}

export function signEd25519(message: Uint8Array, privateKey: Ed25519PrivateKeyInput): Buffer {
  return nodeSign(null, message, ed25519PrivateKey(privateKey));
}

/** The raw 32-byte public key that belongs to a signing key. */
export function ed25519PublicKeyOf(privateKey: Ed25519PrivateKeyInput): Buffer {
  return rawPublicKey(createPublicKey(ed25519PrivateKey(privateKey)));
}

export interface Ed25519KeyPair {
  readonly privateKey: KeyObject;
  /** Raw 32 bytes. */
  readonly publicKey: Buffer;
  readonly privateKeyPem: string;
  readonly publicKeyPem: string;
}

export function generateEd25519KeyPair(): Ed25519KeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    privateKey,
    publicKey: rawPublicKey(publicKey),
    privateKeyPem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    publicKeyPem: publicKey.export({ format: 'pem', type: 'spki' }).toString(),
  };
}
