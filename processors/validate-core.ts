// The validate stage as a pure function over one input record: the export contract
// (contracts/export.ts, DESIGN.md 3.3) plus what the stream adds — Avro inputs, the record's
// source coordinates, and the two output shapes (ValidatedExport, Rejection). Shared by the
// processor, its worker threads and the offline `ledger validate`.
import { sha256Digest } from '../contracts/digests.js';
import { MAX_EXPORT_BYTES, NULLABLE_STRING_FIELDS, REQUIRED_FIELDS, validateExport, type ExportBody, type ExportStatus, type RejectedExport, type ValidationResult } from '../contracts/export.js';
import { Keyring, type KeyringKey } from '../contracts/keyring.js';
import { asBuffer } from '../runtime/avro-wire.js';
import type { SourceCoordinates } from '../runtime/types.js';

export interface ValidateItem {
  readonly bytes: Uint8Array;
  readonly headers: Readonly<Record<string, string | undefined>>;
  /** The decoded record when the value was Avro; a string when it could not be decoded. */
  readonly decoded?: unknown;
  readonly undecodable?: string;
}

export interface ValidateSettings {
  readonly keyring: Keyring;
  readonly signaturesRequired: boolean;
  /** For ledger_dsse_verify_seconds (the stream's processor and workers pass performance.now). */
  readonly clockMs?: () => number;
}

export function validateItem(item: ValidateItem, settings: ValidateSettings): ValidationResult {
  if (item.bytes.byteLength <= MAX_EXPORT_BYTES && item.undecodable !== undefined) {
    return { ok: false, code: 'ERR_MALFORMED', message: `record value is not decodable Avro: ${item.undecodable}` };
  }
  return validateExport(
    { bytes: item.bytes, headers: item.headers, ...(item.decoded === undefined ? {} : { decoded: item.decoded }) },
    { keyring: settings.keyring, signaturesRequired: settings.signaturesRequired, ...(settings.clockMs ? { clockMs: settings.clockMs } : {}) },
  );
}

const EXPORT_BODY_FIELDS = [...REQUIRED_FIELDS, ...NULLABLE_STRING_FIELDS] as const;

/** The ExportBody as the Avro record holds it (schemas/Export.avsc): absent optional fields become null. */
export function avroExportBody(body: ExportBody): Record<string, unknown> {
  // Built up from an empty object, not a copy plus the missing fields: on Node 20 properties added
  // to a copy cost about 1 µs each per record (README, Benchmarks); this loop costs ~0.3 µs.
  const value: Record<string, unknown> = {};
  for (const field of EXPORT_BODY_FIELDS) value[field] = body[field] ?? null;
  return value;
}

export const runKey = (tenantId: string, runId: string): string => `${tenantId}/${runId}`;

/** The fields of a ValidatedExport that follow from the record value alone. */
export interface ValidatedFields {
  readonly ok: true;
  readonly tenantId: string;
  readonly runId: string;
  readonly status: ExportStatus;
  readonly idempotencyKey: string;
  readonly contentHash: string;
  readonly dsseDigest: string | null;
  /** avroExportBody of the export body. */
  readonly export: Record<string, unknown>;
  readonly signatures: ReadonlyArray<{ readonly type: string; readonly keyId: string; readonly signature: string }> | null;
  readonly verifySeconds?: number;
}

/**
 * What the stream keeps of a validation, and all a worker thread sends back: a ValidationResult
 * also holds the canonical payload and the export twice (with and without signatures), which
 * the main thread would only deserialise to drop.
 */
export type ValidateOutcome = ValidatedFields | RejectedExport;

export function validateOutcome(item: ValidateItem, settings: ValidateSettings): ValidateOutcome {
  const result = validateItem(item, settings);
  if (!result.ok) return result;
  return {
    ok: true,
    tenantId: result.tenantId,
    runId: result.runId,
    status: result.exportBody.status,
    idempotencyKey: result.idempotencyKey,
    contentHash: result.contentHash,
    dsseDigest: result.dsseDigest,
    export: avroExportBody(result.exportBody),
    signatures: result.export.signatures ? result.export.signatures.map((s) => ({ type: s.type, keyId: s.keyId, signature: s.signature })) : null,
    ...(result.verifySeconds === undefined ? {} : { verifySeconds: result.verifySeconds }),
  };
}

export function validatedValue(fields: ValidatedFields, source: SourceCoordinates, original: Uint8Array): Record<string, unknown> {
  return {
    tenantId: fields.tenantId,
    runId: fields.runId,
    status: fields.status,
    idempotencyKey: fields.idempotencyKey,
    contentHash: fields.contentHash,
    dsseDigest: fields.dsseDigest,
    export: fields.export,
    signatures: fields.signatures,
    source,
    originalBytes: asBuffer(original),
  };
}

/** A Rejection of DESIGN.md 3.4: code, stage, ids when known, source, original bytes (digest only when oversized). */
export function rejectionValue(options: {
  code: string;
  message: string;
  /** The rule's stage, or for a value no processor could decode, the processor that read it. */
  stage: 'validate' | 'dedupe' | 'airgap' | 'merkle' | 'projector';
  runId?: string | null;
  tenantId?: string | null;
  source: SourceCoordinates;
  original: Uint8Array;
}): Record<string, unknown> {
  const oversized = options.original.byteLength > MAX_EXPORT_BYTES;
  return {
    code: options.code,
    message: options.message,
    stage: options.stage,
    runId: options.runId ?? null,
    tenantId: options.tenantId ?? null,
    source: options.source,
    originalBytes: oversized ? null : asBuffer(options.original),
    originalDigest: sha256Digest(options.original),
    originalSize: options.original.byteLength,
  };
}

/** The keyring as plain data, to hand to worker threads. */
export interface TransferableKey {
  readonly keyId: string;
  readonly publicKey: Uint8Array;
  readonly status: KeyringKey['status'];
  readonly tenants: readonly string[] | null;
}

export const keyringToTransfer = (keyring: Keyring): TransferableKey[] =>
  [...keyring.keys()].map((k) => ({ keyId: k.keyId, publicKey: new Uint8Array(k.publicKey), status: k.status, tenants: k.tenants ? [...k.tenants] : null }));

export const keyringFromTransfer = (keys: readonly TransferableKey[]): Keyring =>
  new Keyring(keys.map((k) => ({ keyId: k.keyId, publicKey: Buffer.from(k.publicKey), status: k.status, tenants: k.tenants ? new Set(k.tenants) : null })));
