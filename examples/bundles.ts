// A realistic, deterministic stream of air-gap bundle imports for the demo, tests and benchmarks
// (DESIGN.md 5): per tenant a sequence of bundles whose findings open and resolve over time,
// one late older bundle, one re-imported bundle, and a few invalid records labelled with the
// code the projector must give them.
import { createHash } from 'node:crypto';
import type { AirgapBundle, AirgapFinding, Severity } from '../contracts/airgap.js';

export interface BundleRecord {
  /** The record key: the tenantId, as DESIGN.md 2 says (except where a test breaks it on purpose). */
  readonly key: string | null;
  readonly value: Buffer;
  /** 'IMPORTED', 'DUPLICATE' (a re-import) or the rejection code. */
  readonly expect: string;
}

const SEVERITY_CYCLE: readonly Severity[] = ['critical', 'high', 'medium', 'medium', 'low', 'low', 'info', 'high'];
const HOUR_MS = 3_600_000;

const digest = (text: string): string => `sha256:${createHash('sha256').update(text).digest('hex')}`;

/** Bundle `n` of a tenant: findings 0..size-1 exist; every third one open at bundle n is resolved by n+1. */
export function airgapBundle(options: { tenantId: string; n: number; findings: number; anchorMs: number; seed?: string }): AirgapBundle {
  const seed = options.seed ?? 'demo';
  const findings: AirgapFinding[] = [];
  for (let i = 0; i < options.findings; i++) {
    const findingId = `${seed}-F${String(i + options.n * Math.floor(options.findings / 4)).padStart(6, '0')}`;
    findings.push({ findingId, severity: SEVERITY_CYCLE[i % SEVERITY_CYCLE.length], status: (i + options.n) % 3 === 0 ? 'resolved' : 'open' });
  }
  const anchor = new Date(options.anchorMs).toISOString();
  return {
    tenantId: options.tenantId,
    bundleId: `${seed}-${options.tenantId}-b${options.n}`,
    merkleRoot: digest(`${seed}/${options.tenantId}/${options.n}`),
    timeAnchor: anchor,
    sourceRegion: 'eu-sealed-1',
    importedAt: new Date(options.anchorMs + HOUR_MS).toISOString(),
    importOperator: `operator-${options.n % 3}`,
    sealedMode: true,
    findings,
  };
}

const json = (value: unknown): Buffer => Buffer.from(JSON.stringify(value));

/**
 * Per tenant `perTenant` bundles a day apart ending at `lastAnchorMs`, then one late re-send of
 * the tenant's first bundle's predecessor (older, arriving last), one exact re-import, and per
 * tenant one invalid record cycling through the bundle codes.
 */
export function bundleStream(options: { tenants: readonly string[]; perTenant: number; findings: number; lastAnchorMs: number; seed?: string }): BundleRecord[] {
  const out: BundleRecord[] = [];
  const dayMs = 24 * HOUR_MS;
  const invalid: ReadonlyArray<{ code: string; make: (t: string, b: AirgapBundle) => BundleRecord }> = [
    { code: 'ERR_MALFORMED', make: (t) => ({ key: t, value: Buffer.from('{"tenantId": "cut'), expect: 'ERR_MALFORMED' }) },
    { code: 'ERR_MISSING_FIELD', make: (t, b) => ({ key: t, value: json({ ...b, importOperator: '' }), expect: 'ERR_MISSING_FIELD' }) },
    { code: 'ERR_TENANT_MISMATCH', make: (_t, b) => ({ key: 'someone-else', value: json(b), expect: 'ERR_TENANT_MISMATCH' }) },
    { code: 'ERR_INVALID_FIELD', make: (t, b) => ({ key: t, value: json({ ...b, findings: [{ findingId: 'x', severity: 'urgent', status: 'open' }] }), expect: 'ERR_INVALID_FIELD' }) },
    { code: 'ERR_INVALID_TIMESTAMP', make: (t, b) => ({ key: t, value: json({ ...b, timeAnchor: '2026-02-30T00:00:00Z' }), expect: 'ERR_INVALID_TIMESTAMP' }) },
  ];
  options.tenants.forEach((tenantId, t) => {
    const bundles = Array.from({ length: options.perTenant }, (_, n) =>
      airgapBundle({ tenantId, n: n + 1, findings: options.findings, anchorMs: options.lastAnchorMs - (options.perTenant - 1 - n) * dayMs - t * HOUR_MS, seed: options.seed }),
    );
    for (const b of bundles) out.push({ key: tenantId, value: json(b), expect: 'IMPORTED' });
    const late = airgapBundle({ tenantId, n: 0, findings: options.findings, anchorMs: options.lastAnchorMs - options.perTenant * dayMs - t * HOUR_MS, seed: options.seed });
    out.push({ key: tenantId, value: json(late), expect: 'IMPORTED' });
    out.push({ key: tenantId, value: json(bundles[bundles.length - 1]), expect: 'DUPLICATE' });
    const broken = invalid[t % invalid.length];
    out.push(broken.make(tenantId, { ...bundles[0], bundleId: `${bundles[0].bundleId}-broken` }));
  });
  return out;
}
