import { describe, expect, it } from 'vitest';
import { isRejectionCode, REJECTION_CODES, VALIDATE_CHECKS, VALIDATION_CODES } from '../../../contracts/codes.js';

describe('codes', () => {
  it('lists the validate checks in the order of DESIGN.md 3.3, tenant header after #3', () => {
    expect(VALIDATE_CHECKS.map((check) => check.rule)).toEqual(['1', '2', '3', '3a', '4', '5', '6', '7', '8', '9', '10', '11', '12']);
    expect(VALIDATION_CODES.slice(0, 4)).toEqual(['ERR_PAYLOAD_TOO_LARGE', 'ERR_MALFORMED', 'ERR_MISSING_FIELD', 'ERR_TENANT_MISMATCH']);
  });

  it('has no duplicate codes', () => {
    expect(new Set(REJECTION_CODES).size).toBe(REJECTION_CODES.length);
  });

  it('recognises every code and nothing else', () => {
    for (const code of ['ERR_REPLAY_MISMATCH', 'ERR_IDEMPOTENCY_CONFLICT', 'ERR_INVALID_TRANSITION', 'ERR_AIRGAP_STALE', 'ERR_DSSE_KEY_REVOKED']) {
      expect(isRejectionCode(code)).toBe(true);
    }
    expect(isRejectionCode('DUPLICATE')).toBe(false);
    expect(isRejectionCode('ERR_NOPE')).toBe(false);
  });
});
