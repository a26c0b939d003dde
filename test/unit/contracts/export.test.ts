import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { encodeBase64 } from '../../../contracts/base64.js';
import { canonicalJson, canonicalJsonBytes } from '../../../contracts/canonical-json.js';
import type { ValidationCode } from '../../../contracts/codes.js';
import { dsseDigest, expectedIdempotencyKey, sha256Digest } from '../../../contracts/digests.js';
import { EXPORT_PAYLOAD_TYPE, pae } from '../../../contracts/dsse.js';
import { signEd25519 } from '../../../contracts/ed25519.js';
import {
  MAX_EXPORT_BYTES,
  signExport,
  signExportBody,
  validateExport,
  type ExportSignature,
  type ValidationResult,
} from '../../../contracts/export.js';
import {
  exportBody,
  jsonBytes,
  keys,
  OTHER_TENANT,
  policy,
  signedExport,
  TENANT,
  validateBytes,
  validateJson,
  type ExportFields,
} from './fixtures.js';

const codeOf = (result: ValidationResult): string => (result.ok ? 'OK' : result.code);
const unsigned = { policy: { signaturesRequired: false } };

function withSignatures(body: ExportFields, signatures: unknown): ExportFields {
  return { ...body, signatures };
}

const dsse = (keyId: string, signature: string): ExportSignature => ({ type: 'dsse', keyId, signature });
const signatureBy = (keyId: string, key: keyof typeof keys, body: ExportFields = exportBody()): ExportSignature =>
  dsse(keyId, signExportBody(body, keys[key].privateKey));

describe('a valid export', () => {
  it('is accepted with every derived value of DESIGN.md 3.1', () => {
    const record = signedExport();
    const result = validateJson(record);
    if (!result.ok) expect.unreachable(result.message);
    const body = exportBody();
    expect(result.exportBody).toEqual(body);
    expect(result.export).toEqual(record);
    expect('signatures' in result.exportBody).toBe(false);
    expect(result.canonicalPayload.toString('utf8')).toBe(canonicalJson(body));
    expect(result.contentHash).toBe(sha256Digest(canonicalJsonBytes(body)));
    expect(result.dsseDigest).toBe(dsseDigest({ payload: canonicalJsonBytes(body), signatures: record.signatures as ExportSignature[] }));
    expect(result.idempotencyKey).toBe(body.idempotencyKey);
    expect(result.runId).toBe(body.runId);
    expect(result.tenantId).toBe(TENANT);
  });

  it('keeps absent and null optionals apart in the canonical payload', () => {
    const withNull = validateJson(exportBody({ scanId: null }), unsigned);
    const { scanId: _dropped, ...bodyWithoutScanId } = exportBody();
    const absent = validateJson(bodyWithoutScanId, unsigned);
    if (!withNull.ok || !absent.ok) expect.unreachable();
    expect(withNull.canonicalPayload.toString()).toContain('"scanId":null');
    expect(absent.canonicalPayload.toString()).not.toContain('scanId');
    expect(withNull.contentHash).not.toBe(absent.contentHash);
  });

  it('admits the minimal export: the six required fields only', () => {
    const runId = randomUUID();
    const artifactHash = sha256Digest(Buffer.from('a'));
    const minimal = { runId, artifactHash, startedAt: '2025-01-01T00:00:00Z', status: 'pending', tenantId: 't', idempotencyKey: expectedIdempotencyKey(runId, artifactHash, 't') };
    expect(codeOf(validateJson(minimal, unsigned))).toBe('OK');
    expect(codeOf(validateJson(signExport(minimal, 'main', keys.main.privateKey)))).toBe('OK');
  });

  it('admits null for every nullable field, including jobType, manifestPath and logsPath', () => {
    const nulls = { jobType: null, policyHash: null, completedAt: null, manifestPath: null, logsPath: null, environment: null, bundleId: null, scanId: null };
    expect(codeOf(validateJson(signExport(exportBody(nulls), 'main', keys.main.privateKey)))).toBe('OK');
  });

  it('is accepted unsigned (absent, null or []) when signatures are not required; dsseDigest is null', () => {
    for (const record of [exportBody(), withSignatures(exportBody(), null), withSignatures(exportBody(), [])]) {
      const result = validateJson(record, unsigned);
      if (!result.ok) expect.unreachable(result.message);
      expect(result.dsseDigest).toBeNull();
      expect(result.canonicalPayload.equals(canonicalJsonBytes(exportBody()))).toBe(true);
    }
  });

  it('still verifies signatures that are present when they are not required (fail closed)', () => {
    const record = withSignatures(exportBody(), [dsse('main', encodeBase64(Buffer.alloc(64)))]);
    expect(codeOf(validateJson(record, unsigned))).toBe('ERR_DSSE_INVALID_SIGNATURE');
  });

  it('accepts a URL-safe unpadded signature and hashes it as given', () => {
    const record = signedExport();
    const [signature] = record.signatures as ExportSignature[];
    const urlSafe = Buffer.from(signature.signature, 'base64').toString('base64url');
    expect(urlSafe).not.toContain('=');
    const result = validateJson(withSignatures(exportBody(), [dsse('main', urlSafe)]));
    if (!result.ok) expect.unreachable(result.message);
    expect(result.dsseDigest).toBe(dsseDigest({ payload: result.canonicalPayload, signatures: [{ keyId: 'main', signature: urlSafe }] }));
  });

  it('accepts several valid signatures, from keys stored as raw base64 and as PEM', () => {
    const body = exportBody();
    const result = validateJson(withSignatures(body, [signatureBy('main', 'main', body), signatureBy('second', 'second', body)]));
    expect(codeOf(result)).toBe('OK');
  });

  it('accepts a repeated signature (verified once)', () => {
    const signature = signatureBy('main', 'main');
    expect(codeOf(validateJson(withSignatures(exportBody(), [signature, signature, signature])))).toBe('OK');
  });

  it('accepts non-ASCII strings: PAE lengths are UTF-8 bytes', () => {
    const body = exportBody({ jobType: 'scan \u2013 \u00fcn\u00efc\u00f8de \ud83d\ude00', bundleId: '\u4e2d\u6587', tenantId: 't\u00e9nant' });
    const result = validateJson(signExport(body, 'main', keys.main.privateKey));
    if (!result.ok) expect.unreachable(result.message);
    expect(result.canonicalPayload.length).toBeGreaterThan(canonicalJson(body).length);
  });

  it('rejects a signature whose PAE counted UTF-16 code units instead of bytes', () => {
    const body = exportBody({ jobType: '\u00fcn\u00efc\u00f8de' });
    const payloadText = canonicalJson(body);
    const wrongPae = Buffer.from(`DSSEv1 ${EXPORT_PAYLOAD_TYPE.length} ${EXPORT_PAYLOAD_TYPE} ${payloadText.length} ${payloadText}`, 'utf8');
    const signature = encodeBase64(signEd25519(wrongPae, keys.main.privateKey));
    expect(codeOf(validateJson(withSignatures(body, [dsse('main', signature)])))).toBe('ERR_DSSE_INVALID_SIGNATURE');
  });

  it('reads an Avro-decoded record given by the caller (class instance, nulls for absent optionals)', () => {
    class ExportAvroRecord {
      constructor(fields: ExportFields) {
        Object.assign(this, fields);
      }
    }
    const body = exportBody({ jobType: null, bundleId: null });
    const signed = signExport(body, 'main', keys.main.privateKey);
    const decoded = new ExportAvroRecord({ ...signed, signatures: signed.signatures.map((entry) => new ExportAvroRecord({ ...entry })) });
    const result = validateExport({ bytes: Buffer.from([0xc3, 0x01, 0, 0]), headers: {}, decoded }, policy);
    if (!result.ok) expect.unreachable(result.message);
    expect(Object.getPrototypeOf(result.exportBody)).toBe(Object.prototype);
    expect(result.exportBody).toEqual(body);
  });

  it('accepts a matching tenant-id header', () => {
    expect(codeOf(validateJson(signedExport(), { headers: { 'tenant-id': TENANT } }))).toBe('OK');
  });
});

describe('one rule at a time (DESIGN.md 3.3)', () => {
  describe('#1 ERR_PAYLOAD_TOO_LARGE', () => {
    const padded = (size: number): Buffer => {
      const text = JSON.stringify(signedExport());
      return Buffer.from(text + ' '.repeat(size - Buffer.byteLength(text)), 'utf8');
    };

    it('measures the raw bytes: 1 MiB passes, one byte more does not', () => {
      expect(codeOf(validateBytes(padded(MAX_EXPORT_BYTES)))).toBe('OK');
      expect(codeOf(validateBytes(padded(MAX_EXPORT_BYTES + 1)))).toBe('ERR_PAYLOAD_TOO_LARGE');
    });

    it('comes before any parsing, and reports no ids', () => {
      const result = validateBytes(Buffer.alloc(MAX_EXPORT_BYTES + 1, 0xff));
      expect(result).toMatchObject({ ok: false, code: 'ERR_PAYLOAD_TOO_LARGE' });
      expect(result).not.toHaveProperty('runId');
    });

    it('applies to decoded Avro too, and honours policy.maxBytes', () => {
      const result = validateExport({ bytes: Buffer.alloc(101), headers: {}, decoded: signedExport() }, { ...policy, maxBytes: 100 });
      expect(codeOf(result)).toBe('ERR_PAYLOAD_TOO_LARGE');
    });
  });

  describe('#2 ERR_MALFORMED', () => {
    const valid = JSON.stringify(signedExport());
    it.each([
      ['invalid UTF-8 byte', Buffer.concat([Buffer.from(valid.slice(0, -1)), Buffer.of(0xff), Buffer.from('}')])],
      ['truncated multi-byte sequence', Buffer.concat([Buffer.from('{"a":"'), Buffer.of(0xe2, 0x82), Buffer.from('"}')])],
      ['UTF-8 encoded surrogate', Buffer.concat([Buffer.from('{"a":"'), Buffer.of(0xed, 0xa0, 0x80), Buffer.from('"}')])],
      ['overlong encoding', Buffer.concat([Buffer.from('{"a":"'), Buffer.of(0xc0, 0xaf), Buffer.from('"}')])],
      ['byte order mark', Buffer.concat([Buffer.of(0xef, 0xbb, 0xbf), Buffer.from(valid)])],
      ['invalid JSON', Buffer.from(valid.slice(0, -1))],
      ['two JSON values', Buffer.from(`${valid} {}`)],
      ['empty value', Buffer.alloc(0)],
      ['a JSON array', jsonBytes([signedExport()])],
      ['a JSON string', jsonBytes('x')],
      ['a JSON number', jsonBytes(1)],
      ['JSON null', jsonBytes(null)],
      ['a duplicate member name', Buffer.from(`{"tenantId":"other",${valid.slice(1)}`)],
      ['a duplicate in a signature entry', Buffer.from(valid.replace('"type":"dsse"', '"type":"dsse","type":"dsse"'))],
    ])('%s', (_name, bytes) => {
      expect(codeOf(validateBytes(bytes))).toBe('ERR_MALFORMED');
    });

    it.each([[null], [[1]], ['text'], [Buffer.from('{}')]])('a decoded value that is not an object: %s', (decoded) => {
      expect(codeOf(validateExport({ bytes: Buffer.alloc(1), headers: {}, decoded }, policy))).toBe('ERR_MALFORMED');
    });
  });

  describe('#3 ERR_MISSING_FIELD', () => {
    const fields = ['runId', 'artifactHash', 'startedAt', 'status', 'tenantId', 'idempotencyKey'];
    for (const field of fields) {
      it.each([['missing', undefined], ['null', null], ['empty', '']])(`${field} %s`, (_how, value) => {
        const body = signedExport();
        if (value === undefined) delete body[field];
        else body[field] = value;
        expect(codeOf(validateJson(body))).toBe('ERR_MISSING_FIELD');
      });
    }

    it('reports the ids it has', () => {
      const result = validateJson(exportBody({ status: null }));
      expect(result).toMatchObject({ ok: false, code: 'ERR_MISSING_FIELD', runId: exportBody().runId, tenantId: TENANT });
      expect((result as { message: string }).message).toContain('status');
      const noTenant = validateJson(exportBody({ tenantId: '' }));
      expect(noTenant).not.toHaveProperty('tenantId');
      expect(noTenant).toHaveProperty('runId');
    });

    it('does not require jobType, manifestPath or logsPath (not in the list of #3)', () => {
      const { jobType: _j, manifestPath: _m, logsPath: _l, ...rest } = exportBody();
      expect(codeOf(validateJson(signExport(rest, 'main', keys.main.privateKey)))).toBe('OK');
    });
  });

  describe('ERR_TENANT_MISMATCH (after #3)', () => {
    it('when the tenant-id header names another tenant', () => {
      const result = validateJson(signedExport(), { headers: { 'tenant-id': OTHER_TENANT } });
      expect(result).toMatchObject({ ok: false, code: 'ERR_TENANT_MISMATCH', tenantId: TENANT });
    });

    it('is case-sensitive and treats an empty header as a disagreement', () => {
      expect(codeOf(validateJson(signedExport(), { headers: { 'tenant-id': TENANT.toUpperCase() } }))).toBe('ERR_TENANT_MISMATCH');
      expect(codeOf(validateJson(signedExport(), { headers: { 'tenant-id': '' } }))).toBe('ERR_TENANT_MISMATCH');
    });

    it('is not checked without the header', () => {
      expect(codeOf(validateJson(signedExport(), { headers: { other: 'x', 'tenant-id': undefined } }))).toBe('OK');
    });

    it('comes after #3 and before #4', () => {
      const headers = { 'tenant-id': OTHER_TENANT };
      expect(codeOf(validateJson(exportBody({ status: '' }), { headers }))).toBe('ERR_MISSING_FIELD');
      expect(codeOf(validateJson(exportBody({ extra: 'x' }), { headers }))).toBe('ERR_TENANT_MISMATCH');
    });
  });

  describe('#4 ERR_INVALID_FIELD', () => {
    const garbageSignature = dsse('main', 'AA==');
    it.each<[string, ExportFields]>([
      ['an unknown field', { note: 'x' }],
      ['an unknown field holding null', { note: null }],
      ['a __proto__ member', JSON.parse('{"__proto__": "x"}') as ExportFields],
      ['runId as a number', { runId: 42 }],
      ['tenantId as an object', { tenantId: { id: 't' } }],
      ['status as an array', { status: ['succeeded'] }],
      ['jobType as a number', { jobType: 1 }],
      ['jobType as a boolean', { jobType: false }],
      ['policyHash as a number', { policyHash: 0 }],
      ['bundleId as an object', { bundleId: {} }],
      ['manifestPath as an array', { manifestPath: ['cas://x'] }],
      ['a lone surrogate in a string', { jobType: 'a\ud800b' }],
      ['runId not a UUID', { runId: 'run-1' }],
      ['runId UUID without dashes', { runId: '3f2b8c1e9a4d4e6f8b7a1c2d3e4f5a6b' }],
      ['runId UUID in braces', { runId: '{3f2b8c1e-9a4d-4e6f-8b7a-1c2d3e4f5a6b}' }],
      ['runId with trailing newline', { runId: '3f2b8c1e-9a4d-4e6f-8b7a-1c2d3e4f5a6b\n' }],
      ['environment not in the enum', { environment: 'qa' }],
      ['environment in the wrong case', { environment: 'Prod' }],
      ['environment empty', { environment: '' }],
      ['signatures not an array', { signatures: garbageSignature }],
      ['signatures a string', { signatures: 'AA==' }],
      ['a signature entry that is not an object', { signatures: ['AA=='] }],
      ['a signature entry that is null', { signatures: [null] }],
      ['a signature entry with an extra key', { signatures: [{ ...garbageSignature, alg: 'ed25519' }] }],
      ['a signature entry without keyId', { signatures: [{ type: 'dsse', signature: 'AA==' }] }],
      ['a signature entry with a numeric keyId', { signatures: [{ type: 'dsse', keyId: 7, signature: 'AA==' }] }],
      ['a signature entry with a null signature', { signatures: [{ type: 'dsse', keyId: 'main', signature: null }] }],
      ['a signature entry that is an array', { signatures: [['dsse', 'main', 'AA==']] }],
    ])('%s', (_name, overrides) => {
      const result = validateJson({ ...signedExport(), ...overrides });
      expect(codeOf(result)).toBe('ERR_INVALID_FIELD');
    });

    it('accepts a UUID of any version in any case', () => {
      for (const runId of ['00000000-0000-0000-0000-000000000000', 'C9BF9E57-1685-4C89-BAFB-FF5AF830BE8A', '017f22e2-79b0-7cc3-98c4-dc0c0c07398f']) {
        expect(codeOf(validateJson(signExport(exportBody({ runId }), 'main', keys.main.privateKey)))).toBe('OK');
      }
    });

    it('reports runId and tenantId when they are strings', () => {
      expect(validateJson(exportBody({ runId: 'not-a-uuid' }))).toMatchObject({ code: 'ERR_INVALID_FIELD', runId: 'not-a-uuid', tenantId: TENANT });
      expect(validateJson(exportBody({ runId: 5 }))).not.toHaveProperty('runId');
    });
  });

  describe('#5 ERR_INVALID_HASH', () => {
    it.each<[string, ExportFields]>([
      ['artifactHash without prefix', { artifactHash: 'a'.repeat(64) }],
      ['artifactHash short', { artifactHash: `sha256:${'a'.repeat(63)}` }],
      ['artifactHash of another algorithm', { artifactHash: `sha512:${'a'.repeat(64)}` }],
      ['policyHash not hex', { policyHash: `sha256:${'z'.repeat(64)}` }],
      ['policyHash empty', { policyHash: '' }],
      ['idempotencyKey upper-case prefix', { idempotencyKey: `SHA256:${'a'.repeat(64)}` }],
      ['idempotencyKey with whitespace', { idempotencyKey: ` sha256:${'a'.repeat(64)}` }],
    ])('%s', (_name, overrides) => {
      expect(codeOf(validateJson(exportBody(overrides)))).toBe('ERR_INVALID_HASH');
    });

    it('accepts upper-case hex digits', () => {
      const artifactHash = `sha256:${'AB'.repeat(32)}`;
      expect(codeOf(validateJson(signExport(exportBody({ artifactHash, policyHash: artifactHash }), 'main', keys.main.privateKey)))).toBe('OK');
    });
  });

  describe('#6 ERR_INVALID_TIMESTAMP', () => {
    it.each([
      ['no zone', '2025-03-01T10:00:00'],
      ['numeric offset', '2025-03-01T10:00:00+00:00'],
      ['lower-case z', '2025-03-01T10:00:00z'],
      ['lower-case t', '2025-03-01t10:00:00Z'],
      ['space separator', '2025-03-01 10:00:00Z'],
      ['date only', '2025-03-01'],
      ['no seconds', '2025-03-01T10:00Z'],
      ['29 February of a common year', '2025-02-29T00:00:00Z'],
      ['29 February 1900 (century, not leap)', '1900-02-29T00:00:00Z'],
      ['31 April', '2025-04-31T00:00:00Z'],
      ['month 13', '2025-13-01T00:00:00Z'],
      ['month 00', '2025-00-01T00:00:00Z'],
      ['day 00', '2025-01-00T00:00:00Z'],
      ['hour 24', '2025-03-01T24:00:00Z'],
      ['minute 60', '2025-03-01T10:60:00Z'],
      ['leap second', '2016-12-31T23:59:60Z'],
      ['empty fraction', '2025-03-01T10:00:00.Z'],
      ['fraction longer than nanoseconds', '2025-03-01T10:00:00.1234567890Z'],
      ['five-digit year', '12025-03-01T10:00:00Z'],
      ['unicode digits', '２０２５-03-01T10:00:00Z'],
    ])('startedAt with %s', (_name, startedAt) => {
      expect(codeOf(validateJson(exportBody({ startedAt, completedAt: null })))).toBe('ERR_INVALID_TIMESTAMP');
    });

    it('checks completedAt the same way', () => {
      expect(codeOf(validateJson(exportBody({ completedAt: '2025-02-30T00:00:00Z' })))).toBe('ERR_INVALID_TIMESTAMP');
      expect(codeOf(validateJson(exportBody({ completedAt: '' })))).toBe('ERR_INVALID_TIMESTAMP');
    });

    it.each([
      ['2024-02-29T00:00:00Z', '2024-02-29T00:00:00Z'],
      ['2000-02-29T12:00:00.000000001Z', '2000-02-29T12:00:00.000000001Z'],
      ['2025-03-01T10:00:00.5Z', '2025-03-01T10:00:00.50Z'],
      ['2025-12-31T23:59:59.999Z', '2026-01-01T00:00:00Z'],
    ])('accepts startedAt %s with completedAt %s', (startedAt, completedAt) => {
      expect(codeOf(validateJson(signExport(exportBody({ startedAt, completedAt }), 'main', keys.main.privateKey)))).toBe('OK');
    });

    it.each([
      ['a second earlier', '2025-03-01T10:00:00Z', '2025-03-01T09:59:59Z'],
      ['a fraction earlier (compared as instants, not text)', '2025-03-01T10:00:00.5Z', '2025-03-01T10:00:00.49Z'],
      ['a nanosecond earlier', '2025-03-01T10:00:00.000000001Z', '2025-03-01T10:00:00Z'],
      ['a year earlier', '2025-01-01T00:00:00Z', '2024-12-31T23:59:59.999Z'],
    ])('rejects completedAt %s than startedAt', (_name, startedAt, completedAt) => {
      expect(codeOf(validateJson(exportBody({ startedAt, completedAt })))).toBe('ERR_INVALID_TIMESTAMP');
    });
  });

  describe('#7 ERR_INVALID_STATUS', () => {
    it.each(['done', 'SUCCEEDED', 'cancelled', ' pending'])('%s', (status) => {
      expect(codeOf(validateJson(exportBody({ status })))).toBe('ERR_INVALID_STATUS');
    });

    it.each(['pending', 'running', 'succeeded', 'failed', 'canceled'])('accepts %s', (status) => {
      expect(codeOf(validateJson(exportBody({ status }), unsigned))).toBe('OK');
    });
  });

  describe('#8 ERR_EXTERNAL_URI', () => {
    it.each([
      ['https URL', 'https://example.com/manifest'],
      ['file URL', 'file:///etc/passwd'],
      ['absolute path', '/var/manifests/x'],
      ['relative path', 'manifests/x'],
      ['empty string', ''],
      ['scheme only', 'cas://'],
      ['upper-case scheme', 'CAS://x'],
      ['".." segment', 'cas://store/../secrets'],
      ['leading ".." segment', 'cas://../x'],
      ['trailing ".." segment', 'dsse://a/b/..'],
      ['only ".."', 'cas://..'],
      ['percent-encoded ".."', 'dsse://a/%2E%2e/b'],
      ['backslash separated ".."', 'cas://a\\..\\b'],
      ['".." before a query', 'cas://a/..?x=1'],
    ])('manifestPath: %s', (_name, manifestPath) => {
      expect(codeOf(validateJson(exportBody({ manifestPath })))).toBe('ERR_EXTERNAL_URI');
    });

    it('checks logsPath as well', () => {
      expect(codeOf(validateJson(exportBody({ logsPath: 'https://logs.example.com/1' })))).toBe('ERR_EXTERNAL_URI');
    });

    it.each(['cas://a/..b', 'cas://a/b..c/d', 'dsse://a/./b', 'cas://sha256:abc', 'cas://a?q=..'])('accepts %s', (manifestPath) => {
      expect(codeOf(validateJson(exportBody({ manifestPath }), unsigned))).toBe('OK');
    });
  });

  describe('#9 ERR_IDEMPOTENCY_MISMATCH', () => {
    it('when the key is not sha256(runId + artifactHash + tenantId)', () => {
      const result = validateJson(exportBody({ idempotencyKey: sha256Digest(Buffer.from('other')) }));
      expect(result).toMatchObject({ ok: false, code: 'ERR_IDEMPOTENCY_MISMATCH', runId: exportBody().runId, tenantId: TENANT });
    });

    it('when the fields were concatenated in another order', () => {
      const body = exportBody();
      const idempotencyKey = expectedIdempotencyKey(String(body.tenantId), String(body.artifactHash), String(body.runId));
      expect(codeOf(validateJson({ ...body, idempotencyKey }))).toBe('ERR_IDEMPOTENCY_MISMATCH');
    });

    it('uses artifactHash as given, so re-casing it changes the key', () => {
      const body = exportBody();
      expect(codeOf(validateJson({ ...body, artifactHash: String(body.artifactHash).toUpperCase().replace('SHA256', 'sha256') }))).toBe('ERR_IDEMPOTENCY_MISMATCH');
    });

    it('compares the hex case-insensitively', () => {
      const body = exportBody();
      const idempotencyKey = `sha256:${String(body.idempotencyKey).slice(7).toUpperCase()}`;
      expect(codeOf(validateJson(signExport({ ...body, idempotencyKey }, 'main', keys.main.privateKey)))).toBe('OK');
    });
  });

  describe('#10 ERR_SIGNATURE_REQUIRED', () => {
    it.each([['absent', undefined], ['null', null], ['empty', []]])('signatures %s', (_name, signatures) => {
      const body = signatures === undefined ? exportBody() : withSignatures(exportBody(), signatures);
      expect(codeOf(validateJson(body))).toBe('ERR_SIGNATURE_REQUIRED');
    });
  });

  describe('#11 ERR_SIGNATURE_UNSUPPORTED', () => {
    it.each(['DSSE', 'x509', 'sigstore', ''])('type %j', (type) => {
      expect(codeOf(validateJson(withSignatures(exportBody(), [{ ...signatureBy('main', 'main'), type }])))).toBe('ERR_SIGNATURE_UNSUPPORTED');
    });

    it('looks at every signature before any key (#11 before #12)', () => {
      const record = withSignatures(exportBody(), [dsse('unknown', 'AA=='), { type: 'pgp', keyId: 'main', signature: 'AA==' }]);
      expect(codeOf(validateJson(record))).toBe('ERR_SIGNATURE_UNSUPPORTED');
    });
  });

  describe('#12 per signature, in array order', () => {
    it('ERR_DSSE_UNKNOWN_KEY', () => {
      const record = withSignatures(exportBody(), [signatureBy('not-in-keyring', 'notInKeyring')]);
      expect(validateJson(record)).toMatchObject({ ok: false, code: 'ERR_DSSE_UNKNOWN_KEY', runId: exportBody().runId, tenantId: TENANT });
    });

    it('ERR_DSSE_KEY_REVOKED, even for a signature that verifies', () => {
      expect(codeOf(validateJson(withSignatures(exportBody(), [signatureBy('revoked', 'revoked')])))).toBe('ERR_DSSE_KEY_REVOKED');
    });

    it('ERR_DSSE_KEY_NOT_AUTHORIZED for a key limited to other tenants, even if it verifies', () => {
      expect(codeOf(validateJson(withSignatures(exportBody(), [signatureBy('other-tenant-only', 'otherTenantOnly')])))).toBe('ERR_DSSE_KEY_NOT_AUTHORIZED');
      const otherTenantBody = exportBody({ tenantId: OTHER_TENANT });
      expect(codeOf(validateJson(withSignatures(otherTenantBody, [signatureBy('other-tenant-only', 'otherTenantOnly', otherTenantBody)])))).toBe('OK');
    });

    it.each([
      ['signed by another key than keyId names', () => signatureBy('main', 'second').signature],
      ['signed over another export', () => signatureBy('main', 'main', exportBody({ bundleId: 'other' })).signature],
      ['zero bytes of the right length', () => encodeBase64(Buffer.alloc(64))],
      ['too short', () => encodeBase64(Buffer.alloc(63, 1))],
      ['empty', () => ''],
      ['not base64', () => '!!!!'],
      ['base64 with whitespace', () => ` ${signatureBy('main', 'main').signature}`],
      ['base64 mixing both alphabets', () => 'ab+_'],
    ])('ERR_DSSE_INVALID_SIGNATURE: %s', (_name, signature) => {
      expect(codeOf(validateJson(withSignatures(exportBody(), [dsse('main', signature())])))).toBe('ERR_DSSE_INVALID_SIGNATURE');
    });

    it('rejects a signature over non-canonical JSON (pretty-printed or unsorted)', () => {
      const body = exportBody();
      for (const text of [JSON.stringify(body, null, 2), JSON.stringify(body)]) {
        expect(text).not.toBe(canonicalJson(body));
        const signature = encodeBase64(signEd25519(pae(EXPORT_PAYLOAD_TYPE, Buffer.from(text, 'utf8')), keys.main.privateKey));
        expect(codeOf(validateJson(withSignatures(body, [dsse('main', signature)])))).toBe('ERR_DSSE_INVALID_SIGNATURE');
      }
    });

    it('rejects a signature over the raw payload without PAE, or with another payload type', () => {
      const body = exportBody();
      const bare = encodeBase64(signEd25519(canonicalJsonBytes(body), keys.main.privateKey));
      const otherType = encodeBase64(signEd25519(pae('application/json', canonicalJsonBytes(body)), keys.main.privateKey));
      for (const signature of [bare, otherType]) {
        expect(codeOf(validateJson(withSignatures(body, [dsse('main', signature)])))).toBe('ERR_DSSE_INVALID_SIGNATURE');
      }
    });

    it('fails closed: a good first signature does not excuse a bad second one', () => {
      const good = signatureBy('main', 'main');
      const bad = dsse('second', encodeBase64(Buffer.alloc(64, 7)));
      expect(codeOf(validateJson(withSignatures(exportBody(), [good, bad])))).toBe('ERR_DSSE_INVALID_SIGNATURE');
      expect(codeOf(validateJson(withSignatures(exportBody(), [bad, good])))).toBe('ERR_DSSE_INVALID_SIGNATURE');
      expect(codeOf(validateJson(withSignatures(exportBody(), [good, signatureBy('not-in-keyring', 'notInKeyring')])))).toBe('ERR_DSSE_UNKNOWN_KEY');
    });

    it('reports the first failing signature in array order', () => {
      const revoked = signatureBy('revoked', 'revoked');
      const invalid = dsse('main', encodeBase64(Buffer.alloc(64)));
      expect(codeOf(validateJson(withSignatures(exportBody(), [revoked, invalid])))).toBe('ERR_DSSE_KEY_REVOKED');
      expect(codeOf(validateJson(withSignatures(exportBody(), [invalid, revoked])))).toBe('ERR_DSSE_INVALID_SIGNATURE');
    });

    it('does not let a valid repeated signature hide a bad one under another spelling', () => {
      const good = signatureBy('main', 'main');
      const urlSafe = dsse('main', Buffer.from(good.signature, 'base64').toString('base64url'));
      expect(codeOf(validateJson(withSignatures(exportBody(), [good, urlSafe])))).toBe('OK');
      const flipped = Buffer.from(good.signature, 'base64');
      flipped[0] ^= 1;
      expect(codeOf(validateJson(withSignatures(exportBody(), [good, dsse('main', encodeBase64(flipped))])))).toBe('ERR_DSSE_INVALID_SIGNATURE');
    });
  });
});

describe('order when a record has several defects', () => {
  // One defect per rule, each on its own field, so any two can be combined.
  const defects: { code: ValidationCode; apply: (record: ExportFields) => ExportFields; signatures?: true }[] = [
    { code: 'ERR_MISSING_FIELD', apply: (r) => ({ ...r, artifactHash: null }) },
    { code: 'ERR_TENANT_MISMATCH', apply: (r) => r },
    { code: 'ERR_INVALID_FIELD', apply: (r) => ({ ...r, environment: 'qa' }) },
    { code: 'ERR_INVALID_HASH', apply: (r) => ({ ...r, policyHash: 'sha256:xyz' }) },
    { code: 'ERR_INVALID_TIMESTAMP', apply: (r) => ({ ...r, completedAt: '2025-13-01T00:00:00Z' }) },
    { code: 'ERR_INVALID_STATUS', apply: (r) => ({ ...r, status: 'done' }) },
    { code: 'ERR_EXTERNAL_URI', apply: (r) => ({ ...r, logsPath: 'https://logs' }) },
    { code: 'ERR_IDEMPOTENCY_MISMATCH', apply: (r) => ({ ...r, idempotencyKey: sha256Digest(Buffer.from('x')) }) },
    { code: 'ERR_SIGNATURE_REQUIRED', apply: (r) => ({ ...r, signatures: [] }), signatures: true },
    { code: 'ERR_SIGNATURE_UNSUPPORTED', apply: (r) => ({ ...r, signatures: [{ type: 'pgp', keyId: 'main', signature: 'AA==' }] }), signatures: true },
    { code: 'ERR_DSSE_UNKNOWN_KEY', apply: (r) => ({ ...r, signatures: [dsse('nobody', 'AA==')] }), signatures: true },
    { code: 'ERR_DSSE_INVALID_SIGNATURE', apply: (r) => ({ ...r, signatures: [dsse('main', 'AA==')] }), signatures: true },
  ];
  const validate = (defectsApplied: typeof defects): ValidationResult => {
    const record = defectsApplied.reduce((acc, defect) => defect.apply(acc), signedExport());
    const headers = defectsApplied.some((defect) => defect.code === 'ERR_TENANT_MISMATCH') ? { 'tenant-id': OTHER_TENANT } : {};
    return validateJson(record, { headers });
  };

  for (const defect of defects) {
    it(`${defect.code} alone`, () => {
      expect(codeOf(validate([defect]))).toBe(defect.code);
    });
  }

  it('every pair reports the earlier rule, whichever order the defects were applied in', () => {
    for (let first = 0; first < defects.length; first++) {
      for (let second = first + 1; second < defects.length; second++) {
        if (defects[first].signatures && defects[second].signatures) continue;
        expect(codeOf(validate([defects[first], defects[second]])), `${defects[first].code} + ${defects[second].code}`).toBe(defects[first].code);
        expect(codeOf(validate([defects[second], defects[first]])), `${defects[second].code} + ${defects[first].code}`).toBe(defects[first].code);
      }
    }
  });

  it('too large and malformed is ERR_PAYLOAD_TOO_LARGE; bad hash and bad timestamp is ERR_INVALID_HASH', () => {
    expect(codeOf(validateBytes(Buffer.alloc(MAX_EXPORT_BYTES + 1, '{')))).toBe('ERR_PAYLOAD_TOO_LARGE');
    expect(codeOf(validateJson(exportBody({ artifactHash: 'md5:x', startedAt: 'yesterday' })))).toBe('ERR_INVALID_HASH');
  });
});

describe('tampering with a signed export', () => {
  const original = signedExport();
  const idempotencyFields = new Set(['runId', 'artifactHash', 'tenantId']);
  const requiredFields = new Set(['startedAt', 'status']);
  const tampered: Record<string, unknown> = {
    runId: '3f2b8c1e-9a4d-4e6f-8b7a-1c2d3e4f5a6c',
    jobType: 'scan ',
    artifactHash: sha256Digest(Buffer.from('artifact2')),
    policyHash: sha256Digest(Buffer.from('policy2')),
    startedAt: '2025-02-28T23:59:58Z',
    completedAt: '2025-03-01T00:00:01.6Z',
    status: 'failed',
    manifestPath: 'cas://manifests/abd',
    logsPath: 'dsse://logs/abd',
    tenantId: OTHER_TENANT,
    environment: 'dev',
    idempotencyKey: `sha256:${String(original.idempotencyKey).slice(7).toUpperCase()}`,
    bundleId: 'bundle-2',
    scanId: 'scan-1',
  };

  it('covers every field of the export', () => {
    expect(Object.keys(tampered).sort()).toEqual(Object.keys(original).filter((k) => k !== 'signatures').sort());
  });

  for (const [field, value] of Object.entries(tampered)) {
    it(`${field}: changed`, () => {
      const expected = idempotencyFields.has(field) ? 'ERR_IDEMPOTENCY_MISMATCH' : 'ERR_DSSE_INVALID_SIGNATURE';
      expect(codeOf(validateJson({ ...original, [field]: value }))).toBe(expected);
    });

    if (idempotencyFields.has(field)) {
      it(`${field}: changed with a recomputed idempotencyKey`, () => {
        const changed = { ...original, [field]: value };
        changed.idempotencyKey = expectedIdempotencyKey(String(changed.runId), String(changed.artifactHash), String(changed.tenantId));
        expect(codeOf(validateJson(changed))).toBe('ERR_DSSE_INVALID_SIGNATURE');
      });
    } else if (field !== 'idempotencyKey') {
      // Removing a required field breaks rule #3 first; null is no change for a field that was null.
      const expected = requiredFields.has(field) ? 'ERR_MISSING_FIELD' : 'ERR_DSSE_INVALID_SIGNATURE';
      it(`${field}: removed, or set to null`, () => {
        const { [field]: _removed, ...without } = original;
        expect(codeOf(validateJson(without))).toBe(expected);
        if (original[field] !== null) expect(codeOf(validateJson({ ...original, [field]: null }))).toBe(expected);
      });
    }
  }

  it('a null optional removed, or an absent one added as null', () => {
    const { scanId: _scanId, ...withoutNull } = original;
    expect(original.scanId).toBeNull();
    expect(codeOf(validateJson(withoutNull))).toBe('ERR_DSSE_INVALID_SIGNATURE');
    const { bundleId: _bundleId, ...rest } = exportBody();
    const signed = signExport(rest, 'main', keys.main.privateKey);
    expect(codeOf(validateJson(signed))).toBe('OK');
    expect(codeOf(validateJson({ ...signed, bundleId: null }))).toBe('ERR_DSSE_INVALID_SIGNATURE');
  });

  it('the keyId of the signature swapped for another valid key', () => {
    const [signature] = original.signatures as ExportSignature[];
    expect(codeOf(validateJson({ ...original, signatures: [{ ...signature, keyId: 'second' }] }))).toBe('ERR_DSSE_INVALID_SIGNATURE');
  });
});
