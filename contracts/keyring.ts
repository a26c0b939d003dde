// The keyring of DESIGN.md 3.2, converted once from JSON into typed keys. Parsing is strict:
// an unknown field is an error, because a typo such as "tenant" for "tenants" would otherwise
// silently widen a key to every tenant.
import { readFileSync } from 'node:fs';
import { tryDecodeBase64 } from './base64.js';
import { ED25519_PUBLIC_KEY_BYTES, Ed25519KeyError, publicKeyProblem, rawPublicKeyFromSpkiPem } from './ed25519.js';

export const KEY_STATUSES = ['active', 'revoked'] as const;
export type KeyStatus = (typeof KEY_STATUSES)[number];

export interface KeyringKey {
  readonly keyId: string;
  /** Raw 32-byte Ed25519 public key. */
  readonly publicKey: Buffer;
  readonly status: KeyStatus;
  /** Tenants this key may sign for; null = every tenant (the field was absent). */
  readonly tenants: ReadonlySet<string> | null;
}

export type KeyringErrorCode = 'ERR_KEYRING_INVALID' | 'ERR_KEYRING_UNREADABLE';

export class KeyringError extends Error {
  override readonly name = 'KeyringError';
  constructor(
    readonly code: KeyringErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export class Keyring {
  private readonly byId: ReadonlyMap<string, KeyringKey>;

  constructor(keys: Iterable<KeyringKey>) {
    const byId = new Map<string, KeyringKey>();
    for (const key of keys) {
      if (byId.has(key.keyId)) throw invalid(`duplicate keyId ${JSON.stringify(key.keyId)}`);
      byId.set(key.keyId, key);
    }
    this.byId = byId;
  }

  lookup(keyId: string): KeyringKey | undefined {
    return this.byId.get(keyId);
  }

  get size(): number {
    return this.byId.size;
  }

  keys(): IterableIterator<KeyringKey> {
    return this.byId.values();
  }
}

export function isKeyAuthorizedForTenant(key: KeyringKey, tenantId: string): boolean {
  return key.tenants === null || key.tenants.has(tenantId);
}

const invalid = (message: string): KeyringError => new KeyringError('ERR_KEYRING_INVALID', `keyring: ${message}`);

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

function rejectUnknownFields(record: Record<string, unknown>, allowed: readonly string[], where: string): void {
  const unknown = Object.keys(record).filter((field) => !allowed.includes(field));
  if (unknown.length > 0) throw invalid(`${where}: unknown field(s) ${unknown.map((f) => JSON.stringify(f)).join(', ')}`);
}

function parsePublicKey(value: unknown, where: string): Buffer {
  const publicKey = decodePublicKey(value, where);
  const problem = publicKeyProblem(publicKey);
  if (problem) throw invalid(`${where}: publicKey is ${problem}`);
  return publicKey;
}

function decodePublicKey(value: unknown, where: string): Buffer {
  if (typeof value !== 'string' || value.length === 0) throw invalid(`${where}: publicKey must be a non-empty string`);
  if (value.includes('-----BEGIN')) {
    try {
      return rawPublicKeyFromSpkiPem(value);
    } catch (error) {
      if (error instanceof Ed25519KeyError) throw invalid(`${where}: publicKey: ${error.message}`);
      throw error;
    }
  }
  const raw = tryDecodeBase64(value.trim());
  if (!raw) throw invalid(`${where}: publicKey is neither an SPKI PEM nor valid base64`);
  if (raw.length !== ED25519_PUBLIC_KEY_BYTES) {
    throw invalid(`${where}: publicKey decodes to ${raw.length} bytes, an Ed25519 key has ${ED25519_PUBLIC_KEY_BYTES}`);
  }
  return raw;
}

function parseStatus(value: unknown, where: string): KeyStatus {
  const status = KEY_STATUSES.find((candidate) => candidate === value);
  if (!status) throw invalid(`${where}: status must be one of ${KEY_STATUSES.join('|')}, got ${JSON.stringify(value)}`);
  return status;
}

function parseTenants(value: unknown, where: string): ReadonlySet<string> | null {
  // Only absence means "all tenants"; null or [] are taken literally (null is refused, [] = none)
  // so that a mistake never grants more than was written.
  if (value === undefined) return null;
  if (!Array.isArray(value)) throw invalid(`${where}: tenants must be an array of tenant ids when present`);
  const tenants = new Set<string>();
  value.forEach((tenant, index) => {
    if (typeof tenant !== 'string' || tenant.length === 0) throw invalid(`${where}: tenants[${index}] must be a non-empty string`);
    tenants.add(tenant);
  });
  return tenants;
}

const KEY_FIELDS = ['keyId', 'publicKey', 'status', 'tenants'] as const;

function parseKey(value: unknown, index: number): KeyringKey {
  const position = `keys[${index}]`;
  if (!isRecord(value)) throw invalid(`${position} must be an object`);
  const { keyId } = value;
  if (typeof keyId !== 'string' || keyId.length === 0) throw invalid(`${position}: keyId must be a non-empty string`);
  const where = `${position} (keyId ${JSON.stringify(keyId)})`;
  rejectUnknownFields(value, KEY_FIELDS, where);
  return {
    keyId,
    publicKey: parsePublicKey(value.publicKey, where),
    status: parseStatus(value.status, where),
    tenants: parseTenants(value.tenants, where),
  };
}

/** A keyring from its decoded JSON document; throws KeyringError naming the key and field at fault. */
export function parseKeyring(document: unknown): Keyring {
  if (!isRecord(document)) throw invalid('the document must be an object {"keys": [...]}');
  rejectUnknownFields(document, ['keys'], 'document');
  if (!Array.isArray(document.keys)) throw invalid('"keys" must be an array');
  return new Keyring(document.keys.map(parseKey));
}

export function parseKeyringJson(text: string): Keyring {
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (error) {
    throw new KeyringError('ERR_KEYRING_INVALID', `keyring: not valid JSON (${(error as Error).message})`, { cause: error });
  }
  return parseKeyring(document);
}

export function loadKeyringFile(path: string): Keyring {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new KeyringError('ERR_KEYRING_UNREADABLE', `keyring: cannot read ${path}: ${(error as Error).message}`, { cause: error });
  }
  try {
    return parseKeyringJson(text);
  } catch (error) {
    if (error instanceof KeyringError) throw new KeyringError(error.code, `${path}: ${error.message}`, { cause: error });
    throw error;
  }
}
