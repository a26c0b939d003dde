// The export contract of DESIGN.md 3: validateExport runs the checks of the table in 3.3 in
// order, one small function per rule, and the first failure is the record's code. Everything is
// pure: no clock, no I/O, no Kafka; the processor wires it to topics.
import { canonicalJsonBytes, findDuplicateMemberName, hasLoneSurrogate } from './canonical-json.js';
import { encodeBase64, tryDecodeBase64 } from './base64.js';
import type { ValidationCode } from './codes.js';
import { digestsEqual, dsseDigest, expectedIdempotencyKey, isDigestString, sha256Digest } from './digests.js';
import { EXPORT_PAYLOAD_TYPE, pae } from './dsse.js';
import { signEd25519, verifyEd25519, type Ed25519PrivateKeyInput } from './ed25519.js';
import { isKeyAuthorizedForTenant, type Keyring } from './keyring.js';
import { compareInstants, parseUtcInstant } from './utc-instant.js';
import { quote, quoteList } from './quote.js';

/** DESIGN.md 3.3 #1: 1 MiB. */
export const MAX_EXPORT_BYTES = 1_048_576;

export const EXPORT_STATUSES = ['pending', 'running', 'succeeded', 'failed', 'canceled'] as const;
export type ExportStatus = (typeof EXPORT_STATUSES)[number];

export const EXPORT_ENVIRONMENTS = ['prod', 'stage', 'dev'] as const;
export type ExportEnvironment = (typeof EXPORT_ENVIRONMENTS)[number];

export const SUPPORTED_SIGNATURE_TYPE = 'dsse';

/** DESIGN.md 3.3 #3: present, not null, not "". */
export const REQUIRED_FIELDS = ['runId', 'artifactHash', 'startedAt', 'status', 'tenantId', 'idempotencyKey'] as const;
/** Strings that may be absent or null. jobType, manifestPath and logsPath are listed by the contract
 * but not by rule #3, so they are treated like the optional fields (as schemas/Export.avsc does). */
export const NULLABLE_STRING_FIELDS = ['jobType', 'policyHash', 'completedAt', 'manifestPath', 'logsPath', 'environment', 'bundleId', 'scanId'] as const;
export const EXPORT_FIELDS = [...REQUIRED_FIELDS, ...NULLABLE_STRING_FIELDS, 'signatures'] as const;
const SIGNATURE_FIELDS = ['type', 'keyId', 'signature'] as const;

export interface ExportSignature {
  readonly type: string;
  readonly keyId: string;
  /** As given: standard or URL-safe base64, padded or not. */
  readonly signature: string;
}

/** The signed payload: an export without `signatures`. Absent and null optionals are kept as given. */
export interface ExportBody {
  readonly runId: string;
  readonly jobType?: string | null;
  readonly artifactHash: string;
  readonly policyHash?: string | null;
  readonly startedAt: string;
  readonly completedAt?: string | null;
  readonly status: ExportStatus;
  readonly manifestPath?: string | null;
  readonly logsPath?: string | null;
  readonly tenantId: string;
  readonly environment?: ExportEnvironment | null;
  readonly idempotencyKey: string;
  readonly bundleId?: string | null;
  readonly scanId?: string | null;
}

export interface ExportRecord extends ExportBody {
  readonly signatures?: readonly ExportSignature[] | null;
}

export interface ExportInput {
  /** The record value exactly as read from Kafka (rule #1 measures these bytes). */
  readonly bytes: Uint8Array;
  readonly headers: Readonly<Record<string, string | undefined>>;
  /** Set by the caller when the value was Avro: the decoded record (codec errors are the caller's ERR_MALFORMED). */
  readonly decoded?: unknown;
}

export interface ValidationPolicy {
  readonly keyring: Keyring;
  readonly signaturesRequired: boolean;
  readonly maxBytes?: number;
  /** A monotonic clock in milliseconds: when given, results carry how long #12 took (the metric). */
  readonly clockMs?: () => number;
}

export interface ValidExport {
  readonly ok: true;
  readonly export: ExportRecord;
  readonly exportBody: ExportBody;
  /** JCS(exportBody): the DSSE payload. */
  readonly canonicalPayload: Buffer;
  readonly contentHash: string;
  readonly dsseDigest: string | null;
  readonly idempotencyKey: string;
  readonly tenantId: string;
  readonly runId: string;
  /** Seconds spent verifying the DSSE signatures (#12); set when the policy has a clock and there were signatures. */
  readonly verifySeconds?: number;
}

export interface RejectedExport {
  readonly ok: false;
  readonly code: ValidationCode;
  readonly message: string;
  readonly runId?: string;
  readonly tenantId?: string;
  /** As on ValidExport, when the record got as far as #12. */
  readonly verifySeconds?: number;
}

export type ValidationResult = ValidExport | RejectedExport;

interface Failure {
  readonly code: ValidationCode;
  readonly message: string;
}

type Fields = Readonly<Record<string, unknown>>;
type Decoded = { readonly fields: Fields } | { readonly failure: Failure };

const fail = (code: ValidationCode, message: string): Failure => ({ code, message });

export function validateExport(input: ExportInput, policy: ValidationPolicy): ValidationResult {
  const tooLarge = checkSize(input.bytes, policy.maxBytes ?? MAX_EXPORT_BYTES); // #1
  if (tooLarge) return reject(tooLarge);

  const decoded = decodeValue(input); // #2
  if ('failure' in decoded) return reject(decoded.failure);
  const { fields } = decoded;

  const shapeFailure =
    checkRequiredFields(fields) ?? // #3
    checkTenantHeader(fields, input.headers) ?? // after #3
    checkShape(fields); // #4
  if (shapeFailure) return reject(shapeFailure, fields);

  const record = toExportRecord(fields);
  const signatures = record.signatures ?? [];
  const contentFailure =
    checkDigestFormats(record) ?? // #5
    checkTimestamps(record) ?? // #6
    checkStatus(record) ?? // #7
    checkExternalUris(record) ?? // #8
    checkIdempotencyKey(record) ?? // #9
    checkSignaturePresence(signatures, policy.signaturesRequired) ?? // #10
    checkSignatureTypes(signatures); // #11
  if (contentFailure) return reject(contentFailure, fields);

  const exportBody = withoutSignatures(record);
  const canonicalPayload = canonicalJsonBytes(exportBody);
  const started = signatures.length > 0 ? policy.clockMs?.() : undefined;
  const signatureFailure = checkSignatures(signatures, record.tenantId, canonicalPayload, policy.keyring); // #12
  const timing = started === undefined || !policy.clockMs ? {} : { verifySeconds: (policy.clockMs() - started) / 1000 };
  if (signatureFailure) return Object.assign(reject(signatureFailure, fields), timing);

  // `timing` is spread last: after a leading spread each added property costs ~1 µs on Node 20 (README, Benchmarks).
  return {
    ok: true,
    export: record,
    exportBody,
    canonicalPayload,
    contentHash: sha256Digest(canonicalPayload),
    dsseDigest: dsseDigest({ payload: canonicalPayload, signatures }),
    idempotencyKey: record.idempotencyKey,
    tenantId: record.tenantId,
    runId: record.runId,
    ...timing,
  };
}

// Rejections name the run whenever the record gave usable ids, so the dead letter can be keyed.
function reject(failure: Failure, fields?: Fields): RejectedExport {
  const runId = fields && usableId(own(fields, 'runId'));
  const tenantId = fields && usableId(own(fields, 'tenantId'));
  return { ok: false, ...failure, ...(runId === undefined ? {} : { runId }), ...(tenantId === undefined ? {} : { tenantId }) };
}

const usableId = (value: unknown): string | undefined =>
  typeof value === 'string' && value.length > 0 && !hasLoneSurrogate(value) ? value : undefined;

// #1 — on the raw bytes, before anything is parsed.
function checkSize(bytes: Uint8Array, maxBytes: number): Failure | undefined {
  if (bytes.byteLength <= maxBytes) return undefined;
  return fail('ERR_PAYLOAD_TOO_LARGE', `record value is ${bytes.byteLength} bytes, more than ${maxBytes}`);
}

// #2 — strict UTF-8 (no BOM: RFC 8259 8.1 forbids emitting one), JSON, an object, I-JSON member names.
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function decodeValue(input: ExportInput): Decoded {
  if (input.decoded !== undefined) return asObject(input.decoded);
  let text: string;
  try {
    text = utf8.decode(input.bytes);
  } catch {
    return { failure: fail('ERR_MALFORMED', 'record value is not valid UTF-8') };
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return { failure: fail('ERR_MALFORMED', `record value is not JSON: ${(error as Error).message}`) };
  }
  const decoded = asObject(value);
  if ('failure' in decoded) return decoded;
  const duplicate = findDuplicateMemberName(text);
  if (duplicate !== undefined) {
    return { failure: fail('ERR_MALFORMED', `member name ${quote(duplicate)} occurs twice in one object (not I-JSON)`) };
  }
  return decoded;
}

function asObject(value: unknown): Decoded {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Uint8Array) {
    return { failure: fail('ERR_MALFORMED', `record value is ${describeKind(value)}, not an object`) };
  }
  return { fields: value as Fields };
}

function describeKind(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (value instanceof Uint8Array) return 'bytes';
  return `a ${typeof value}`;
}

// Own enumerable properties only, the same set Object.keys sees: a decoded record must not
// borrow values from its prototype, nor hide fields from the unknown-field check.
const own = (fields: Fields, name: string): unknown =>
  Object.prototype.propertyIsEnumerable.call(fields, name) ? fields[name] : undefined;

// #3
function checkRequiredFields(fields: Fields): Failure | undefined {
  const missing = REQUIRED_FIELDS.filter((name) => {
    const value = own(fields, name);
    return value === undefined || value === null || value === '';
  });
  if (missing.length === 0) return undefined;
  return fail('ERR_MISSING_FIELD', `missing, null or empty: ${missing.join(', ')}`);
}

// After #3: the producer's routing header must name the tenant the record claims.
function checkTenantHeader(fields: Fields, headers: ExportInput['headers']): Failure | undefined {
  const headerTenant = Object.hasOwn(headers, 'tenant-id') ? headers['tenant-id'] : undefined;
  const tenantId = own(fields, 'tenantId');
  // A non-string tenantId is rule #4's to report.
  if (headerTenant === undefined || typeof tenantId !== 'string' || headerTenant === tenantId) return undefined;
  return fail('ERR_TENANT_MISMATCH', `header tenant-id ${quote(headerTenant)} disagrees with tenantId ${quote(tenantId)}`);
}

// #4 — after this every later rule may rely on the ExportRecord types.
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const knownFields: ReadonlySet<string> = new Set(EXPORT_FIELDS);

function checkShape(fields: Fields): Failure | undefined {
  const problem =
    unknownFieldProblem(fields) ??
    stringTypeProblem(fields) ??
    runIdProblem(fields) ??
    environmentProblem(fields) ??
    signaturesProblem(own(fields, 'signatures'));
  return problem === undefined ? undefined : fail('ERR_INVALID_FIELD', problem);
}

function unknownFieldProblem(fields: Fields): string | undefined {
  const unknown = Object.keys(fields).filter((name) => !knownFields.has(name));
  if (unknown.length === 0) return undefined;
  // Dropping them would store something other than what was signed (DESIGN.md 3).
  return `unknown field(s): ${quoteList(unknown)}`;
}

/** Why a field is not a usable string (the type, or a lone surrogate), or undefined when it is. */
export function stringProblem(value: unknown, where: string): string | undefined {
  if (typeof value !== 'string') return `${where} must be a string, got ${describeKind(value)}`;
  // Not representable in UTF-8, so it could be neither hashed nor signed faithfully.
  if (hasLoneSurrogate(value)) return `${where} contains a lone UTF-16 surrogate`;
  return undefined;
}

function stringTypeProblem(fields: Fields): string | undefined {
  for (const name of REQUIRED_FIELDS) {
    const problem = stringProblem(own(fields, name), name);
    if (problem) return problem;
  }
  for (const name of NULLABLE_STRING_FIELDS) {
    const value = own(fields, name);
    if (value === undefined || value === null) continue;
    const problem = stringProblem(value, name);
    if (problem) return problem;
  }
  return undefined;
}

function runIdProblem(fields: Fields): string | undefined {
  const runId = own(fields, 'runId') as string;
  return UUID.test(runId) ? undefined : `runId ${quote(runId)} is not a UUID`;
}

function environmentProblem(fields: Fields): string | undefined {
  const environment = own(fields, 'environment');
  if (environment === undefined || environment === null) return undefined;
  if (EXPORT_ENVIRONMENTS.some((allowed) => allowed === environment)) return undefined;
  return `environment ${quote(environment)} is not one of ${EXPORT_ENVIRONMENTS.join('|')}`;
}

function signaturesProblem(signatures: unknown): string | undefined {
  if (signatures === undefined || signatures === null) return undefined;
  if (!Array.isArray(signatures)) return 'signatures must be an array';
  for (let index = 0; index < signatures.length; index++) {
    const problem = signatureEntryProblem(signatures[index], `signatures[${index}]`);
    if (problem) return problem;
  }
  return undefined;
}

function signatureEntryProblem(entry: unknown, where: string): string | undefined {
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) return `${where} must be an object {type, keyId, signature}`;
  const names = Object.keys(entry);
  const extra = names.filter((name) => !(SIGNATURE_FIELDS as readonly string[]).includes(name));
  if (extra.length > 0) return `${where} has unknown field(s): ${quoteList(extra)}`;
  for (const name of SIGNATURE_FIELDS) {
    const problem = stringProblem(own(entry as Fields, name), `${where}.${name}`);
    if (problem) return problem;
  }
  return undefined;
}

// The one conversion from wire shape to typed value; #3 and #4 have established every cast.
function toExportRecord(fields: Fields): ExportRecord {
  const record: Record<string, unknown> = {};
  for (const name of Object.keys(fields)) {
    const value = fields[name];
    record[name] = name === 'signatures' && Array.isArray(value) ? (value as readonly Fields[]).map(toExportSignature) : value;
  }
  return record as unknown as ExportRecord;
}

function toExportSignature(entry: Fields): ExportSignature {
  return { type: entry.type as string, keyId: entry.keyId as string, signature: entry.signature as string };
}

// #5
function checkDigestFormats(record: ExportRecord): Failure | undefined {
  return digestFormatFailure('artifactHash', record.artifactHash) ?? digestFormatFailure('policyHash', record.policyHash) ?? digestFormatFailure('idempotencyKey', record.idempotencyKey);
}

function digestFormatFailure(name: string, value: string | null | undefined): Failure | undefined {
  if (value === undefined || value === null || isDigestString(value)) return undefined;
  return fail('ERR_INVALID_HASH', `${name} ${quote(value)} is not sha256: followed by 64 hex digits`);
}

// #6 — YYYY-MM-DDTHH:MM:SS[.fraction]Z on a real calendar date (contracts/utc-instant.ts).
function checkTimestamps(record: ExportRecord): Failure | undefined {
  const startedAt = parseUtcInstant(record.startedAt);
  if (!startedAt) return fail('ERR_INVALID_TIMESTAMP', `startedAt ${quote(record.startedAt)} is not a UTC ISO-8601 timestamp ending in Z`);
  if (record.completedAt === undefined || record.completedAt === null) return undefined;
  const completedAt = parseUtcInstant(record.completedAt);
  if (!completedAt) return fail('ERR_INVALID_TIMESTAMP', `completedAt ${quote(record.completedAt)} is not a UTC ISO-8601 timestamp ending in Z`);
  if (compareInstants(completedAt, startedAt) < 0) {
    return fail('ERR_INVALID_TIMESTAMP', `completedAt ${record.completedAt} is before startedAt ${record.startedAt}`);
  }
  return undefined;
}

// #7
function checkStatus(record: ExportRecord): Failure | undefined {
  if (EXPORT_STATUSES.some((status) => status === record.status)) return undefined;
  return fail('ERR_INVALID_STATUS', `status ${quote(record.status)} is not one of ${EXPORT_STATUSES.join(' ')}`);
}

// #8 — content-addressed references only, never a path that could climb out of its store.
const EXTERNAL_SCHEMES = ['cas://', 'dsse://'] as const;

function externalUriProblem(uri: string): string | undefined {
  const scheme = EXTERNAL_SCHEMES.find((prefix) => uri.startsWith(prefix));
  if (!scheme) return `must start with ${EXTERNAL_SCHEMES.join(' or ')}`;
  const reference = uri.slice(scheme.length).split(/[?#]/, 1)[0];
  if (reference.length === 0) return 'names nothing after the scheme';
  // Backslashes and percent-encoded dots are treated as the separators and dots they decode to.
  // A reference without "." or "%" has no segment that could decode to "..": no need to split it.
  const mayClimb = reference.includes('.') || reference.includes('%');
  const climbs = mayClimb && reference.split(/[/\\]/).some((segment) => segment.replace(/%2e/gi, '.') === '..');
  return climbs ? 'has a ".." path segment' : undefined;
}

function checkExternalUris(record: ExportRecord): Failure | undefined {
  return externalUriFailure('manifestPath', record.manifestPath) ?? externalUriFailure('logsPath', record.logsPath);
}

function externalUriFailure(name: string, uri: string | null | undefined): Failure | undefined {
  const problem = uri === undefined || uri === null ? undefined : externalUriProblem(uri);
  return problem === undefined ? undefined : fail('ERR_EXTERNAL_URI', `${name} ${quote(uri as string)} ${problem}`);
}

// #9
function checkIdempotencyKey(record: ExportRecord): Failure | undefined {
  const expected = expectedIdempotencyKey(record.runId, record.artifactHash, record.tenantId);
  if (digestsEqual(record.idempotencyKey, expected)) return undefined;
  return fail('ERR_IDEMPOTENCY_MISMATCH', `idempotencyKey ${record.idempotencyKey} is not sha256(runId + artifactHash + tenantId) = ${expected}`);
}

// #10
function checkSignaturePresence(signatures: readonly ExportSignature[], required: boolean): Failure | undefined {
  if (!required || signatures.length > 0) return undefined;
  return fail('ERR_SIGNATURE_REQUIRED', 'the export carries no signature and signatures are required');
}

// #11
function checkSignatureTypes(signatures: readonly ExportSignature[]): Failure | undefined {
  const index = signatures.findIndex((entry) => entry.type !== SUPPORTED_SIGNATURE_TYPE);
  if (index < 0) return undefined;
  return fail('ERR_SIGNATURE_UNSUPPORTED', `signatures[${index}].type ${quote(signatures[index].type)} is not ${SUPPORTED_SIGNATURE_TYPE}`);
}

// #12 — fail closed: every signature present must verify, checked in array order.
function checkSignatures(
  signatures: readonly ExportSignature[],
  tenantId: string,
  canonicalPayload: Buffer,
  keyring: Keyring,
): Failure | undefined {
  if (signatures.length === 0) return undefined;
  const message = pae(EXPORT_PAYLOAD_TYPE, canonicalPayload);
  // Repeats of one valid signature (in any base64 spelling) are verified once, so a record
  // cannot buy many expensive verifications with one signature. One signature needs no memo.
  const verified = signatures.length > 1 ? new Set<string>() : null;
  for (let index = 0; index < signatures.length; index++) {
    const failure = checkSignature(signatures[index], `signatures[${index}]`, { tenantId, message, keyring, verified });
    if (failure) return failure;
  }
  return undefined;
}

interface SignatureContext {
  readonly tenantId: string;
  readonly message: Buffer;
  readonly keyring: Keyring;
  readonly verified: Set<string> | null;
}

function checkSignature(entry: ExportSignature, where: string, context: SignatureContext): Failure | undefined {
  const key = context.keyring.lookup(entry.keyId);
  const keyName = (): string => `${where} keyId ${quote(entry.keyId)}`;
  if (!key) return fail('ERR_DSSE_UNKNOWN_KEY', `${keyName()} is not in the keyring`);
  if (key.status === 'revoked') return fail('ERR_DSSE_KEY_REVOKED', `${keyName()} is revoked`);
  if (!isKeyAuthorizedForTenant(key, context.tenantId)) {
    return fail('ERR_DSSE_KEY_NOT_AUTHORIZED', `${keyName()} may not sign for tenant ${quote(context.tenantId)}`);
  }
  const signature = tryDecodeBase64(entry.signature);
  if (!signature) return fail('ERR_DSSE_INVALID_SIGNATURE', `${where}.signature is not valid base64`);
  const memo = context.verified ? `${entry.keyId}\u0000${signature.toString('hex')}` : null;
  if (memo !== null && context.verified?.has(memo)) return undefined;
  if (!verifyEd25519(key.publicKey, context.message, signature)) {
    return fail('ERR_DSSE_INVALID_SIGNATURE', `${where} by ${quote(entry.keyId)} does not verify over the canonical export`);
  }
  if (memo !== null) context.verified?.add(memo);
  return undefined;
}

function withoutSignatures<T extends { readonly signatures?: unknown }>(record: T): Omit<T, 'signatures'> {
  // Object.keys rather than Object.entries: no [name, value] array per field (this runs per record).
  const fields = record as Readonly<Record<string, unknown>>;
  const body: Record<string, unknown> = {};
  for (const name of Object.keys(fields)) {
    if (name !== 'signatures') body[name] = fields[name];
  }
  return body as Omit<T, 'signatures'>;
}

/** The base64 (standard) Ed25519 signature over PAE(payloadType, JCS(body)) — what an export signature holds. */
export function signExportBody(body: object, privateKey: Ed25519PrivateKeyInput): string {
  return encodeBase64(signEd25519(pae(EXPORT_PAYLOAD_TYPE, canonicalJsonBytes(body)), privateKey));
}

/**
 * Test/demo helper: `exportRecord` with one more DSSE signature appended, computed over the
 * canonical export without signatures. Throws CanonicalJsonError if the export is not JSON data.
 */
export function signExport<T extends object>(
  exportRecord: T,
  keyId: string,
  privateKey: Ed25519PrivateKeyInput,
): Omit<T, 'signatures'> & { signatures: ExportSignature[] } {
  const body = withoutSignatures(exportRecord as T & { readonly signatures?: unknown });
  const existing: unknown = (exportRecord as { readonly signatures?: unknown }).signatures;
  const signature: ExportSignature = { type: SUPPORTED_SIGNATURE_TYPE, keyId, signature: signExportBody(body, privateKey) };
  return { ...body, signatures: [...(Array.isArray(existing) ? (existing as ExportSignature[]) : []), signature] };
}
