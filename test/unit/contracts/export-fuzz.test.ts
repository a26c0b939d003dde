// validateExport must be total: whatever the bytes or decoded value, it returns ok or a known code.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isValidationCode } from '../../../contracts/codes.js';
import { EXPORT_FIELDS, validateExport, type ValidationResult } from '../../../contracts/export.js';
import { exportBody, jsonBytes, policy, signedExport, validateBytes, validateJson } from './fixtures.js';

function expectKnownOutcome(result: ValidationResult): void {
  if (result.ok) return;
  expect(isValidationCode(result.code), result.code).toBe(true);
  expect(typeof result.message).toBe('string');
}

const validText = JSON.stringify(signedExport());

// Values that are plausible for a field, plausible for another field, or plainly wrong.
const fieldValue = fc.oneof(
  fc.constantFrom(...Object.values(exportBody()).filter((value) => value !== null)),
  fc.constantFrom('', 'cas://../x', '2024-02-29T00:00:00Z', 'sha256:', 'dsse', 'prod', '\ud800', 'a\u0000b'),
  fc.string(),
  fc.jsonValue({ maxDepth: 3 }),
  fc.constant(null),
);

const signatureEntry = fc.oneof(
  fc.record({ type: fc.constantFrom('dsse', 'x', ''), keyId: fc.constantFrom('main', 'revoked', 'nobody', ''), signature: fc.oneof(fc.base64String(), fc.string()) }),
  fc.jsonValue({ maxDepth: 2 }),
);

const mutatedRecord = fc
  .tuple(
    fc.dictionary(fc.oneof(fc.constantFrom(...EXPORT_FIELDS), fc.string()), fieldValue, { maxKeys: 6 }),
    fc.subarray([...EXPORT_FIELDS]),
    fc.option(fc.array(signatureEntry, { maxLength: 3 })),
  )
  .map(([replacements, removed, signatures]) => {
    const record: Record<string, unknown> = { ...signedExport(), ...replacements };
    for (const field of removed) delete record[field];
    if (signatures !== null) record.signatures = signatures;
    return record;
  });

type ByteMutation = { at: number; kind: 'flip' | 'insert' | 'delete'; byte: number };
const byteMutation: fc.Arbitrary<ByteMutation> = fc.record({ at: fc.nat(), kind: fc.constantFrom('flip', 'insert', 'delete'), byte: fc.nat(255) });

function mutateBytes(bytes: Buffer, mutations: readonly ByteMutation[]): Buffer {
  let out = Buffer.from(bytes);
  for (const { at, kind, byte } of mutations) {
    const index = out.length === 0 ? 0 : at % out.length;
    if (kind === 'flip' && out.length > 0) out[index] ^= byte || 1;
    else if (kind === 'insert') out = Buffer.concat([out.subarray(0, index), Buffer.of(byte), out.subarray(index)]);
    else out = Buffer.concat([out.subarray(0, index), out.subarray(index + 1)]);
  }
  return out;
}

describe('validateExport never throws and always returns a known code', () => {
  it('for random JSON values', () => {
    fc.assert(fc.property(fc.jsonValue(), (value) => expectKnownOutcome(validateJson(value))), { numRuns: 500 });
  });

  it('for exports with fields replaced, removed, added and random signatures', () => {
    fc.assert(
      fc.property(mutatedRecord, fc.boolean(), fc.option(fc.string()), (record, required, headerTenant) => {
        const headers = headerTenant === null ? {} : { 'tenant-id': headerTenant };
        expectKnownOutcome(validateJson(record, { headers, policy: { signaturesRequired: required } }));
      }),
      { numRuns: 1000 },
    );
  });

  it('for mutated bytes of a valid signed export', () => {
    fc.assert(
      fc.property(fc.array(byteMutation, { minLength: 1, maxLength: 8 }), (mutations) => {
        expectKnownOutcome(validateBytes(mutateBytes(Buffer.from(validText, 'utf8'), mutations)));
      }),
      { numRuns: 1000 },
    );
  });

  it('for arbitrary byte strings, mostly invalid UTF-8', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => expectKnownOutcome(validateBytes(bytes))), { numRuns: 1000 });
    for (const bytes of [[0xff], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0x7b, 0x22, 0xe2, 0x82]]) {
      expect(validateBytes(Buffer.from(bytes))).toMatchObject({ ok: false, code: 'ERR_MALFORMED' });
    }
  });

  it('for any decoded value a codec could hand over', () => {
    fc.assert(
      fc.property(fc.anything({ withNullPrototype: true, withMap: true, withSet: true, withBigInt: true, withDate: true, withTypedArray: true }), (decoded) => {
        expectKnownOutcome(validateExport({ bytes: Buffer.alloc(8), headers: {}, decoded }, policy));
      }),
      { numRuns: 500 },
    );
  });

  it('for 100k-deep nesting, as the whole value or inside a field', () => {
    const deepArray = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;
    const deepObject = `${'{"a":'.repeat(100_000)}1${'}'.repeat(100_000)}`;
    expect(validateBytes(Buffer.from(deepArray))).toMatchObject({ ok: false, code: 'ERR_MALFORMED' });
    const inField = validText.replace('"jobType":"scan"', `"jobType":${deepArray}`);
    expect(validateBytes(Buffer.from(inField))).toMatchObject({ ok: false, code: 'ERR_INVALID_FIELD' });
    const inUnknownField = `{"deep":${deepObject},${validText.slice(1)}`;
    expect(validateBytes(Buffer.from(inUnknownField))).toMatchObject({ ok: false, code: 'ERR_INVALID_FIELD' });
    const inSignatures = validText.replace(/"signatures":\[.*\]/, `"signatures":[${deepObject}]`);
    expect(validateBytes(Buffer.from(inSignatures))).toMatchObject({ ok: false, code: 'ERR_INVALID_FIELD' });
    expect(validateBytes(Buffer.from(deepObject))).toMatchObject({ ok: false, code: 'ERR_MISSING_FIELD' });
  });

  it('for a valid export inflated to just under the size limit with one signature repeated', () => {
    const record = signedExport();
    const [signature] = record.signatures as unknown[];
    const inflated = { ...record, signatures: Array.from({ length: 7000 }, () => signature) };
    expect(jsonBytes(inflated).length).toBeLessThan(1_048_576);
    expect(validateJson(inflated).ok).toBe(true);
  });
});
