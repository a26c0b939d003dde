// Shared builders for the contract tests: keys, a keyring, and valid exports to break one rule at a time.
import { readFileSync } from 'node:fs';
import { expectedIdempotencyKey, sha256Digest } from '../../../contracts/digests.js';
import { generateEd25519KeyPair, type Ed25519KeyPair } from '../../../contracts/ed25519.js';
import {
  signExport,
  validateExport,
  type ExportInput,
  type ValidationPolicy,
  type ValidationResult,
} from '../../../contracts/export.js';
import { Keyring, parseKeyring } from '../../../contracts/keyring.js';

export const TENANT = 'tenant-a';
export const OTHER_TENANT = 'tenant-b';

export const keys = {
  main: generateEd25519KeyPair(),
  second: generateEd25519KeyPair(),
  revoked: generateEd25519KeyPair(),
  otherTenantOnly: generateEd25519KeyPair(),
  notInKeyring: generateEd25519KeyPair(),
} satisfies Record<string, Ed25519KeyPair>;

export const keyring: Keyring = parseKeyring({
  keys: [
    { keyId: 'main', publicKey: keys.main.publicKey.toString('base64'), status: 'active' },
    { keyId: 'second', publicKey: keys.second.publicKeyPem, status: 'active', tenants: [TENANT, OTHER_TENANT] },
    { keyId: 'revoked', publicKey: keys.revoked.publicKey.toString('base64'), status: 'revoked' },
    { keyId: 'other-tenant-only', publicKey: keys.otherTenantOnly.publicKeyPem, status: 'active', tenants: [OTHER_TENANT] },
  ],
});

export type ExportFields = Record<string, unknown>;

/** A valid unsigned export; overrides replace fields, and the idempotencyKey follows runId/artifactHash/tenantId unless overridden. */
export function exportBody(overrides: ExportFields = {}): ExportFields {
  const base: ExportFields = {
    runId: '3f2b8c1e-9a4d-4e6f-8b7a-1c2d3e4f5a6b',
    jobType: 'scan',
    artifactHash: sha256Digest(Buffer.from('artifact')),
    policyHash: sha256Digest(Buffer.from('policy')),
    startedAt: '2025-02-28T23:59:59Z',
    completedAt: '2025-03-01T00:00:01.5Z',
    status: 'succeeded',
    manifestPath: 'cas://manifests/abc',
    logsPath: 'dsse://logs/abc',
    tenantId: TENANT,
    environment: 'prod',
    bundleId: 'bundle-1',
    scanId: null,
    ...overrides,
  };
  if (!('idempotencyKey' in overrides)) {
    base.idempotencyKey = expectedIdempotencyKey(String(base.runId), String(base.artifactHash), String(base.tenantId));
  }
  return base;
}

/** exportBody(overrides) signed by the "main" key. */
export function signedExport(overrides: ExportFields = {}): ExportFields {
  return signExport(exportBody(overrides), 'main', keys.main.privateKey);
}

export const policy: ValidationPolicy = { keyring, signaturesRequired: true };

export const jsonBytes = (value: unknown): Buffer => Buffer.from(JSON.stringify(value), 'utf8');

export function validateJson(
  value: unknown,
  options: { headers?: ExportInput['headers']; policy?: Partial<ValidationPolicy> } = {},
): ValidationResult {
  return validateExport({ bytes: jsonBytes(value), headers: options.headers ?? {} }, { ...policy, ...options.policy });
}

export function validateBytes(bytes: Uint8Array, overrides: Partial<ValidationPolicy> = {}): ValidationResult {
  return validateExport({ bytes, headers: {} }, { ...policy, ...overrides });
}

export const readJson = (url: URL): unknown => JSON.parse(readFileSync(url, 'utf8'));
