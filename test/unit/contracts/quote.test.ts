import { describe, expect, it } from 'vitest';
import { checkBundle } from '../../../contracts/airgap.js';
import { MAX_QUOTED_CHARS, quote, quoteList } from '../../../contracts/quote.js';
import { airgapBundle } from '../../../examples/bundles.js';
import { exportBody, signedExport, validateJson } from './fixtures.js';

// Rejection messages quote input values. A value may be as long as the record (a header even
// longer), and as JSON a control character takes 6 characters: quoted whole, 1 MiB of them made a
// 6 MiB message and a Rejection record over the topics' limit.

const LONG_CONTROL = '\u0001'.repeat(1_000_000);

describe('quote', () => {
  it('shows a short value as its JSON', () => {
    expect(quote('abc')).toBe('"abc"');
    expect(quote('')).toBe('""');
    expect(quote(null)).toBe('null');
    expect(quote(undefined)).toBe('undefined');
    expect(quote('x'.repeat(MAX_QUOTED_CHARS - 2))).toBe(`"${'x'.repeat(MAX_QUOTED_CHARS - 2)}"`);
  });

  it('cuts a long value and says how long its JSON was', () => {
    const quoted = quote(LONG_CONTROL);
    expect(quoted.startsWith('"\\u0001\\u0001')).toBe(true);
    expect(quoted).toMatch(/… \(6000002 characters as JSON\)$/);
    expect(quoted.length).toBeLessThan(MAX_QUOTED_CHARS + 40);
  });

  it('never cuts between the halves of a surrogate pair', () => {
    for (let pad = 0; pad < 4; pad++) {
      const quoted = quote(`${'x'.repeat(MAX_QUOTED_CHARS - 3 + pad)}${'😀'.repeat(100)}`);
      expect(Buffer.from(quoted, 'utf8').toString('utf8')).toBe(quoted); // a lone surrogate would not survive
    }
  });
});

describe('quoteList', () => {
  it('lists at most five values, then says how many more', () => {
    expect(quoteList(['a', 'b'])).toBe('"a", "b"');
    expect(quoteList(['a', 'b', 'c', 'd', 'e', 'f', 'g'])).toBe('"a", "b", "c", "d", "e" and 2 more');
  });
});

describe('rejection messages of values as long as the record', () => {
  it('stay short for an export (a 1 MB runId of control characters, and a header tenant as long)', () => {
    const badRunId = validateJson(signedExport({ runId: LONG_CONTROL }));
    expect(badRunId.ok).toBe(false);
    if (!badRunId.ok) expect(badRunId.message.length).toBeLessThan(4 * MAX_QUOTED_CHARS);
    const mismatch = validateJson(exportBody(), { headers: { 'tenant-id': LONG_CONTROL }, policy: { signaturesRequired: false } });
    expect(mismatch).toMatchObject({ ok: false, code: 'ERR_TENANT_MISMATCH' });
    if (!mismatch.ok) expect(mismatch.message.length).toBeLessThan(4 * MAX_QUOTED_CHARS);
  });

  it('stay short for a bundle or an export with 50,000 unknown fields', () => {
    const extra = Object.fromEntries(Array.from({ length: 50_000 }, (_, i) => [`x${i}`, 1]));
    const bundle = airgapBundle({ tenantId: 'acme', n: 1, findings: 2, anchorMs: Date.parse('2026-11-20T00:00:00Z'), seed: 'quote' });
    const result = checkBundle({ bytes: Buffer.from(JSON.stringify({ ...bundle, ...extra })), key: 'acme' });
    expect(result).toMatchObject({ ok: false, code: 'ERR_INVALID_FIELD' });
    if (!result.ok) expect(result.message.length).toBeLessThan(4 * MAX_QUOTED_CHARS);
    const finding = checkBundle({ bytes: Buffer.from(JSON.stringify({ ...bundle, findings: [{ ...bundle.findings[0], ...extra }] })), key: 'acme' });
    expect(finding).toMatchObject({ ok: false, code: 'ERR_INVALID_FIELD' });
    if (!finding.ok) expect(finding.message.length).toBeLessThan(4 * MAX_QUOTED_CHARS);
    const exported = validateJson({ ...signedExport(), ...extra });
    expect(exported).toMatchObject({ ok: false, code: 'ERR_INVALID_FIELD' });
    if (!exported.ok) expect(exported.message.length).toBeLessThan(4 * MAX_QUOTED_CHARS);
  });

  it('stay short for a bundle whose record key is long', () => {
    const bundle = airgapBundle({ tenantId: 'acme', n: 1, findings: 2, anchorMs: Date.parse('2026-11-20T00:00:00Z'), seed: 'quote' });
    const result = checkBundle({ bytes: Buffer.from(JSON.stringify(bundle)), key: LONG_CONTROL });
    expect(result).toMatchObject({ ok: false, code: 'ERR_TENANT_MISMATCH' });
    if (!result.ok) expect(result.message.length).toBeLessThan(4 * MAX_QUOTED_CHARS);
  });
});
