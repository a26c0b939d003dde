// The outcome codes of DESIGN.md 3.3–3.5, in one place. Tests and metrics assert these strings,
// so they are data (readonly tuples) first and types second.

/** The validate stage's checks, in the order DESIGN.md 3.3 runs them; the first failure wins. */
export const VALIDATE_CHECKS = [
  { rule: '1', name: 'size', codes: ['ERR_PAYLOAD_TOO_LARGE'] },
  { rule: '2', name: 'decode', codes: ['ERR_MALFORMED'] },
  { rule: '3', name: 'required fields', codes: ['ERR_MISSING_FIELD'] },
  { rule: '3a', name: 'tenant header', codes: ['ERR_TENANT_MISMATCH'] },
  { rule: '4', name: 'shape', codes: ['ERR_INVALID_FIELD'] },
  { rule: '5', name: 'digests', codes: ['ERR_INVALID_HASH'] },
  { rule: '6', name: 'timestamps', codes: ['ERR_INVALID_TIMESTAMP'] },
  { rule: '7', name: 'status', codes: ['ERR_INVALID_STATUS'] },
  { rule: '8', name: 'external references', codes: ['ERR_EXTERNAL_URI'] },
  { rule: '9', name: 'idempotency key', codes: ['ERR_IDEMPOTENCY_MISMATCH'] },
  { rule: '10', name: 'signature presence', codes: ['ERR_SIGNATURE_REQUIRED'] },
  { rule: '11', name: 'signature type', codes: ['ERR_SIGNATURE_UNSUPPORTED'] },
  {
    rule: '12',
    name: 'signatures, in array order',
    codes: ['ERR_DSSE_UNKNOWN_KEY', 'ERR_DSSE_KEY_REVOKED', 'ERR_DSSE_KEY_NOT_AUTHORIZED', 'ERR_DSSE_INVALID_SIGNATURE'],
  },
] as const;

export type ValidationCode = (typeof VALIDATE_CHECKS)[number]['codes'][number];

/** Every validate-stage rejection code, in check order. */
export const VALIDATION_CODES: readonly ValidationCode[] = VALIDATE_CHECKS.flatMap((check) => check.codes);

/** Rejections of the dedupe stage (DESIGN.md 3.4). */
export const DEDUPE_CODES = ['ERR_REPLAY_MISMATCH', 'ERR_IDEMPOTENCY_CONFLICT', 'ERR_INVALID_TRANSITION'] as const;
export type DedupeCode = (typeof DEDUPE_CODES)[number];

/** Rejections of the air-gap freshness gate (DESIGN.md 5). */
export const AIRGAP_CODES = ['ERR_AIRGAP_STALE'] as const;
export type AirgapCode = (typeof AIRGAP_CODES)[number];

/**
 * Bad air-gap bundle imports (stage `airgap`): DESIGN.md 5 gives them no codes of their own,
 * so they reuse the export contract's codes of the same meaning, checked in the same order.
 */
export const AIRGAP_BUNDLE_CODES = ['ERR_PAYLOAD_TOO_LARGE', 'ERR_MALFORMED', 'ERR_MISSING_FIELD', 'ERR_TENANT_MISMATCH', 'ERR_INVALID_FIELD', 'ERR_INVALID_TIMESTAMP'] as const satisfies readonly ValidationCode[];
export type AirgapBundleCode = (typeof AIRGAP_BUNDLE_CODES)[number];

export type RejectionCode = ValidationCode | DedupeCode | AirgapCode;
export const REJECTION_CODES: readonly RejectionCode[] = [...VALIDATION_CODES, ...DEDUPE_CODES, ...AIRGAP_CODES];

/** A replay absorbed without side effects (DESIGN.md 3.4); not a rejection. */
export const DUPLICATE = 'DUPLICATE';
/** What `ledger validate` prints for an accepted record (DESIGN.md 7). */
export const OK = 'OK';

export type OutcomeCode = typeof OK | typeof DUPLICATE | RejectionCode;

const rejectionCodeSet: ReadonlySet<string> = new Set(REJECTION_CODES);

export function isRejectionCode(value: unknown): value is RejectionCode {
  return typeof value === 'string' && rejectionCodeSet.has(value);
}

export function isValidationCode(value: unknown): value is ValidationCode {
  return typeof value === 'string' && (VALIDATION_CODES as readonly string[]).includes(value);
}
