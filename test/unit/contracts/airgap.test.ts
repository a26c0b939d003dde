import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  applyBundle,
  checkBundle,
  freshnessOf,
  MAX_BUNDLE_BYTES,
  newerBundle,
  stalenessSeconds,
  type AirgapBundle,
  type FindingState,
} from '../../../contracts/airgap.js';
import { AIRGAP_BUNDLE_CODES } from '../../../contracts/codes.js';
import { airgapBundle } from '../../../examples/bundles.js';

// DESIGN.md 5: bundle records, impact counting, newest bundle, staleness and the freshness gate.

const DAY_MS = 86_400_000;
const T0 = Date.parse('2026-11-20T00:00:00.000Z');
const bundle = (over: Partial<AirgapBundle> = {}): AirgapBundle => ({
  tenantId: 'acme',
  bundleId: 'b-1',
  merkleRoot: `sha256:${'a'.repeat(64)}`,
  timeAnchor: '2026-11-20T00:00:00Z',
  sourceRegion: 'eu-sealed-1',
  importedAt: '2026-11-20T01:00:00Z',
  importOperator: 'alice',
  sealedMode: true,
  findings: [],
  ...over,
});
const bytes = (value: unknown): Buffer => Buffer.from(JSON.stringify(value));
const check = (value: unknown, key: string | null = 'acme') => checkBundle({ bytes: typeof value === 'string' ? Buffer.from(value) : bytes(value), key });
const codeOf = (value: unknown, key: string | null = 'acme'): string => {
  const result = check(value, key);
  return result.ok ? 'OK' : result.code;
};
const state = (severity: FindingState['severity'], status: FindingState['status'], timeAnchor = '2026-11-19T00:00:00Z'): FindingState => ({ severity, status, timeAnchor });

describe('checkBundle', () => {
  it('accepts a well-formed bundle and hands back exactly the contract fields', () => {
    const input = bundle({ findings: [{ findingId: 'f1', severity: 'critical', status: 'open' }] });
    expect(check(input)).toEqual({ ok: true, bundle: input });
  });

  it('ERR_PAYLOAD_TOO_LARGE: over 1 MiB, before any parsing (even for bytes that are not JSON)', () => {
    const huge = Buffer.alloc(MAX_BUNDLE_BYTES + 1, 0x7b);
    expect(checkBundle({ bytes: huge, key: 'acme' })).toMatchObject({ ok: false, code: 'ERR_PAYLOAD_TOO_LARGE' });
  });

  it('ERR_MALFORMED: not JSON, not UTF-8, not an object, undecodable Avro', () => {
    expect(codeOf('{"tenantId":')).toBe('ERR_MALFORMED');
    expect(checkBundle({ bytes: Buffer.from([0x7b, 0xff, 0x7d]), key: 'acme' })).toMatchObject({ code: 'ERR_MALFORMED', message: 'bundle is not UTF-8' });
    expect(codeOf([bundle()])).toBe('ERR_MALFORMED');
    expect(checkBundle({ bytes: Buffer.from([0xc3, 0x01, 0]), key: 'acme', undecodable: 'truncated' })).toMatchObject({ code: 'ERR_MALFORMED' });
  });

  it('ERR_MISSING_FIELD: any field missing, null or empty', () => {
    for (const name of ['tenantId', 'bundleId', 'merkleRoot', 'timeAnchor', 'sourceRegion', 'importedAt', 'importOperator', 'sealedMode', 'findings']) {
      const { [name as keyof AirgapBundle]: _dropped, ...rest } = bundle();
      expect(codeOf(rest), name).toBe('ERR_MISSING_FIELD');
      expect(codeOf({ ...bundle(), [name]: null }), name).toBe('ERR_MISSING_FIELD');
    }
    expect(codeOf({ ...bundle(), importOperator: '' })).toBe('ERR_MISSING_FIELD');
  });

  it('ERR_TENANT_MISMATCH: the record key must be the tenantId (it decides the partition)', () => {
    expect(codeOf(bundle(), 'globex')).toBe('ERR_TENANT_MISMATCH');
    expect(codeOf(bundle(), null)).toBe('ERR_TENANT_MISMATCH');
  });

  it('ERR_INVALID_FIELD: unknown fields, wrong types, severities and statuses outside the lists, repeated findings', () => {
    expect(codeOf({ ...bundle(), extra: 1 })).toBe('ERR_INVALID_FIELD');
    expect(codeOf({ ...bundle(), sealedMode: 'yes' })).toBe('ERR_INVALID_FIELD');
    expect(codeOf({ ...bundle(), bundleId: 7 })).toBe('ERR_INVALID_FIELD');
    expect(codeOf({ ...bundle(), findings: {} })).toBe('ERR_INVALID_FIELD');
    expect(codeOf({ ...bundle(), findings: [{ findingId: 'f', severity: 'urgent', status: 'open' }] })).toBe('ERR_INVALID_FIELD');
    expect(codeOf({ ...bundle(), findings: [{ findingId: 'f', severity: 'low', status: 'closed' }] })).toBe('ERR_INVALID_FIELD');
    expect(codeOf({ ...bundle(), findings: [{ findingId: '', severity: 'low', status: 'open' }] })).toBe('ERR_INVALID_FIELD');
    expect(codeOf({ ...bundle(), findings: [{ findingId: 'f', severity: 'low', status: 'open', note: 1 }] })).toBe('ERR_INVALID_FIELD');
    const twice = { findingId: 'f', severity: 'low', status: 'open' };
    expect(codeOf({ ...bundle(), findings: [twice, { ...twice, status: 'resolved' }] })).toBe('ERR_INVALID_FIELD');
  });

  it('ERR_INVALID_FIELD: a lone surrogate in an id (no UTF-8 form: ids differing only in one would share a store key)', () => {
    expect(codeOf({ ...bundle(), bundleId: 'b-\ud800' })).toBe('ERR_INVALID_FIELD');
    expect(codeOf({ ...bundle(), importOperator: '\udc00' })).toBe('ERR_INVALID_FIELD');
    expect(codeOf({ ...bundle(), findings: [{ findingId: 'f\ud800', severity: 'low', status: 'open' }] })).toBe('ERR_INVALID_FIELD');
    expect(codeOf({ ...bundle(), bundleId: 'b-😀', findings: [{ findingId: 'f-😀', severity: 'low', status: 'open' }] })).toBe('OK');
  });

  it('ERR_INVALID_TIMESTAMP: timeAnchor and importedAt are UTC ISO-8601 with Z on a real date', () => {
    expect(codeOf({ ...bundle(), timeAnchor: '2026-11-20 00:00:00' })).toBe('ERR_INVALID_TIMESTAMP');
    expect(codeOf({ ...bundle(), timeAnchor: '2026-11-20T00:00:00+01:00' })).toBe('ERR_INVALID_TIMESTAMP');
    expect(codeOf({ ...bundle(), importedAt: '2026-02-29T00:00:00Z' })).toBe('ERR_INVALID_TIMESTAMP');
    expect(codeOf({ ...bundle(), timeAnchor: '2024-02-29T23:59:59.123456789Z' })).toBe('OK');
  });

  it('reports the first failing check when a bundle has several defects (codes in AIRGAP_BUNDLE_CODES order)', () => {
    expect(AIRGAP_BUNDLE_CODES).toEqual(['ERR_PAYLOAD_TOO_LARGE', 'ERR_MALFORMED', 'ERR_MISSING_FIELD', 'ERR_TENANT_MISMATCH', 'ERR_INVALID_FIELD', 'ERR_INVALID_TIMESTAMP']);
    expect(codeOf({ ...bundle(), importOperator: null, extra: 1, timeAnchor: 'x' }, 'other')).toBe('ERR_MISSING_FIELD');
    expect(codeOf({ ...bundle(), extra: 1, timeAnchor: 'x' }, 'other')).toBe('ERR_TENANT_MISMATCH');
    expect(codeOf({ ...bundle(), extra: 1, timeAnchor: 'x' })).toBe('ERR_INVALID_FIELD');
  });

  it('keeps the tenantId on rejections when it could be read', () => {
    expect(check({ ...bundle(), extra: 1 })).toMatchObject({ ok: false, tenantId: 'acme' });
    expect(check('nope')).not.toHaveProperty('tenantId');
  });

  it('never throws, whatever the bytes or the key (fuzz)', () => {
    const jsonish = fc.oneof(fc.jsonValue(), fc.record({ tenantId: fc.string(), findings: fc.array(fc.jsonValue()), sealedMode: fc.jsonValue() }, { requiredKeys: [] }));
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 256 }).map((b) => Buffer.from(b)), jsonish.map(bytes)), fc.option(fc.string()), (value, key) => {
        const result = checkBundle({ bytes: value, key });
        expect(result.ok || (AIRGAP_BUNDLE_CODES as readonly string[]).includes(result.code)).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('applyBundle: impact of an import (DESIGN.md 5)', () => {
  it('counts new, resolved and the critical delta against the findings before the import', () => {
    const before = new Map<string, FindingState | undefined>([
      ['open-crit', state('critical', 'open')],
      ['open-low', state('low', 'open')],
      ['resolved-high', state('high', 'resolved')],
      ['stays-open', state('medium', 'open')],
    ]);
    const { impact, changes } = applyBundle(
      bundle({
        findings: [
          { findingId: 'open-crit', severity: 'critical', status: 'resolved' }, // resolved, critical −1
          { findingId: 'open-low', severity: 'critical', status: 'open' }, // still open, now critical +1
          { findingId: 'resolved-high', severity: 'high', status: 'open' }, // reopened: new
          { findingId: 'brand-new', severity: 'critical', status: 'open' }, // new, critical +1
          { findingId: 'never-open', severity: 'low', status: 'resolved' }, // resolved but never open: not counted
          { findingId: 'stays-open', severity: 'medium', status: 'open' },
        ],
      }),
      before,
    );
    expect(impact).toEqual({ newFindings: 2, resolvedFindings: 1, criticalDelta: 1 });
    expect(changes.get('brand-new')).toEqual({ severity: 'critical', status: 'open', timeAnchor: '2026-11-20T00:00:00Z' });
    expect(changes.size).toBe(6);
  });

  it('leaves unlisted findings alone and counts a re-statement of the same state as nothing', () => {
    const before = new Map([['f', state('critical', 'open')]]);
    expect(applyBundle(bundle({ findings: [{ findingId: 'f', severity: 'critical', status: 'open' }] }), before).impact).toEqual({ newFindings: 0, resolvedFindings: 0, criticalDelta: 0 });
    expect(applyBundle(bundle({ findings: [] }), before).impact).toEqual({ newFindings: 0, resolvedFindings: 0, criticalDelta: 0 });
  });

  it('an older bundle arriving late does not override what a newer one stated', () => {
    const before = new Map([['f', state('critical', 'resolved', '2026-11-21T00:00:00Z')]]);
    const late = applyBundle(bundle({ timeAnchor: '2026-11-20T00:00:00Z', findings: [{ findingId: 'f', severity: 'critical', status: 'open' }] }), before);
    expect(late.impact).toEqual({ newFindings: 0, resolvedFindings: 0, criticalDelta: 0 });
    expect(late.changes.size).toBe(0);
    // Same anchor: the later import wins (it is the newer statement of that moment).
    const same = applyBundle(bundle({ timeAnchor: '2026-11-21T00:00:00Z', findings: [{ findingId: 'f', severity: 'critical', status: 'open' }] }), before);
    expect(same.impact).toEqual({ newFindings: 1, resolvedFindings: 0, criticalDelta: 1 });
  });

  it('matches a straightforward model over random sequences of bundles', () => {
    const finding = fc.record({ findingId: fc.constantFrom('a', 'b', 'c', 'd'), severity: fc.constantFrom('critical' as const, 'low' as const), status: fc.constantFrom('open' as const, 'resolved' as const) });
    const bundles = fc.array(fc.tuple(fc.integer({ min: 0, max: 5 }), fc.uniqueArray(finding, { selector: (f) => f.findingId })), { maxLength: 12 });
    fc.assert(
      fc.property(bundles, (sequence) => {
        const store = new Map<string, FindingState>();
        for (const [day, findings] of sequence) {
          const timeAnchor = new Date(T0 + day * DAY_MS).toISOString();
          const openBefore = new Set([...store].filter(([, s]) => s.status === 'open').map(([id]) => id));
          const criticalBefore = [...store.values()].filter((s) => s.status === 'open' && s.severity === 'critical').length;
          const { impact, changes } = applyBundle(bundle({ timeAnchor, findings }), new Map(findings.map((f) => [f.findingId, store.get(f.findingId)])));
          for (const [id, s] of changes) store.set(id, s);
          const openAfter = new Set([...store].filter(([, s]) => s.status === 'open').map(([id]) => id));
          const resolvedAfter = new Set([...store].filter(([, s]) => s.status === 'resolved').map(([id]) => id));
          expect(impact.newFindings).toBe([...openAfter].filter((id) => !openBefore.has(id)).length);
          expect(impact.resolvedFindings).toBe([...resolvedAfter].filter((id) => openBefore.has(id)).length);
          expect(impact.criticalDelta).toBe([...store.values()].filter((s) => s.status === 'open' && s.severity === 'critical').length - criticalBefore);
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe('freshness', () => {
  const newest = newerBundle(null, bundle({ bundleId: 'b-7', timeAnchor: '2026-11-20T00:00:00Z', importOperator: 'bob' }));

  it('keeps the bundle with the latest timeAnchor: a late older bundle never lowers freshness', () => {
    expect(newerBundle(newest, bundle({ bundleId: 'older', timeAnchor: '2026-11-01T00:00:00Z' }))).toBe(newest);
    expect(newerBundle(newest, bundle({ bundleId: 'newer', timeAnchor: '2026-11-20T00:00:00.001Z' })).bundleId).toBe('newer');
  });

  it('staleness is now − timeAnchor in seconds, growing with the clock, never negative', () => {
    expect(stalenessSeconds(newest, T0)).toBe(0);
    expect(stalenessSeconds(newest, T0 + 90_500)).toBe(90.5);
    expect(stalenessSeconds(newest, T0 - 10_000)).toBe(0);
  });

  it('crosses the threshold: fresh at exactly the threshold, ERR_AIRGAP_STALE one second later, naming bundle, anchor and operator', () => {
    const threshold = 604_800;
    expect(freshnessOf('acme', newest, T0 + threshold * 1000, threshold)).toMatchObject({ stale: false, stalenessSeconds: threshold });
    const stale = freshnessOf('acme', newest, T0 + (threshold + 1) * 1000, threshold);
    expect(stale).toMatchObject({ tenant: 'acme', stale: true, code: 'ERR_AIRGAP_STALE', bundleId: 'b-7', timeAnchor: '2026-11-20T00:00:00Z', importOperator: 'bob' });
    if (!stale.stale) throw new Error('expected stale');
    for (const named of ['acme', 'b-7', '2026-11-20T00:00:00Z', 'bob']) expect(stale.message).toContain(named);
  });

  it('a tenant without bundles is not air-gapped, so never stale', () => {
    expect(freshnessOf('nobody', null, T0, 1)).toEqual({ tenant: 'nobody', stale: false, stalenessSeconds: null, thresholdSeconds: 1, bundleId: null, timeAnchor: null, importOperator: null });
  });

  it('the example bundles are valid contract records', () => {
    const example = airgapBundle({ tenantId: 'acme', n: 1, findings: 10, anchorMs: T0 });
    expect(check(example)).toEqual({ ok: true, bundle: example });
  });
});
