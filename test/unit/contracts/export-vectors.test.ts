// Golden exports computed by test/vectors/exports/generate.py (Python json + hashlib + pyca/cryptography),
// an implementation independent of contracts/.
import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { validateExport } from '../../../contracts/export.js';
import { loadKeyringFile } from '../../../contracts/keyring.js';
import { readJson } from './fixtures.js';

interface ExportVector {
  desc: string;
  signaturesRequired: boolean;
  export: Record<string, unknown>;
  want: { ok: true; contentHash: string; dsseDigest: string | null; idempotencyKey: string; canonicalPayload: string };
}

const vectorDir = new URL('../../vectors/exports/', import.meta.url);
const keyring = loadKeyringFile(new URL('keyring.json', vectorDir).pathname);
const caseDir = new URL('cases/', vectorDir);

describe('export vectors (test/vectors/exports/cases)', () => {
  const files = readdirSync(caseDir).filter((name) => name.endsWith('.json')).sort();
  it('finds the vectors', () => {
    expect(files.length).toBeGreaterThanOrEqual(3);
  });

  for (const file of files) {
    const vector = readJson(new URL(file, caseDir)) as ExportVector;
    it(`${file}: ${vector.desc}`, () => {
      // Pretty-printed on the wire: the signature covers the canonical form, not these bytes.
      const bytes = Buffer.from(JSON.stringify(vector.export, null, 2), 'utf8');
      const result = validateExport({ bytes, headers: { 'tenant-id': String(vector.export.tenantId) } }, { keyring, signaturesRequired: vector.signaturesRequired });
      if (!result.ok) expect.unreachable(`${result.code}: ${result.message}`);
      expect(result.canonicalPayload.toString('utf8')).toBe(vector.want.canonicalPayload);
      expect(result.contentHash).toBe(vector.want.contentHash);
      expect(result.dsseDigest).toBe(vector.want.dsseDigest);
      expect(result.idempotencyKey).toBe(vector.want.idempotencyKey);
    });
  }
});
