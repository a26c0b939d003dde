// Realistic export streams for the demo, the benchmarks and the integration tests: signed
// exports of several tenants, a share of exact replays (duplicates) and of invalid records,
// each invalid one labelled with the code it must get. Deterministic for a given seed.
import { createHash } from 'node:crypto';
import { expectedIdempotencyKey, sha256Digest } from '../contracts/digests.js';
import { generateEd25519KeyPair, type Ed25519KeyPair } from '../contracts/ed25519.js';
import { signExport } from '../contracts/export.js';

export interface DemoKeys {
  readonly active: Ed25519KeyPair & { readonly keyId: string };
  readonly revoked: Ed25519KeyPair & { readonly keyId: string };
}

export function generateDemoKeys(): DemoKeys {
  return { active: { ...generateEd25519KeyPair(), keyId: 'demo-signer-1' }, revoked: { ...generateEd25519KeyPair(), keyId: 'demo-signer-0' } };
}

export function keyringDocument(keys: DemoKeys): object {
  return {
    keys: [
      { keyId: keys.active.keyId, publicKey: keys.active.publicKeyPem, status: 'active' },
      { keyId: keys.revoked.keyId, publicKey: keys.revoked.publicKey.toString('base64'), status: 'revoked' },
    ],
  };
}

const hex = (seed: string): string => createHash('sha256').update(seed).digest('hex');

/** A UUID (v4 layout) derived from a seed, so streams are reproducible. */
export function seededUuid(seed: string): string {
  const h = hex(seed);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

export interface ExportSpec {
  readonly tenantId: string;
  readonly runSeed: string;
  readonly status: 'pending' | 'running' | 'succeeded' | 'failed' | 'canceled';
  /** Pads `jobType` so the JSON is about this many bytes (the benchmarks use ~1 KiB). */
  readonly approxBytes?: number;
}

export function exportBody(spec: ExportSpec): Record<string, unknown> {
  const runId = seededUuid(spec.runSeed);
  const artifactHash = sha256Digest(Buffer.from(`artifact:${spec.runSeed}`));
  const terminal = spec.status === 'succeeded' || spec.status === 'failed' || spec.status === 'canceled';
  const body: Record<string, unknown> = {
    runId,
    jobType: 'sbom-scan',
    artifactHash,
    policyHash: sha256Digest(Buffer.from(`policy:${spec.tenantId}`)),
    startedAt: '2026-11-20T08:00:00Z',
    completedAt: terminal ? '2026-11-20T08:04:30.250Z' : null,
    status: spec.status,
    manifestPath: `cas://manifests/${hex(spec.runSeed).slice(0, 16)}`,
    logsPath: `dsse://logs/${hex(spec.runSeed).slice(16, 32)}`,
    tenantId: spec.tenantId,
    environment: 'prod',
    idempotencyKey: expectedIdempotencyKey(runId, artifactHash, spec.tenantId),
    bundleId: `bundle-${spec.tenantId}-1`,
    scanId: `scan-${hex(spec.runSeed).slice(0, 8)}`,
  };
  const size = Buffer.byteLength(JSON.stringify(body)) + 130; // + one signature
  if (spec.approxBytes && spec.approxBytes > size) body.jobType = `sbom-scan:${'x'.repeat(spec.approxBytes - size - 10)}`;
  return body;
}

export const signedExport = (spec: ExportSpec, key: DemoKeys['active']): Record<string, unknown> =>
  signExport(exportBody(spec), key.keyId, key.privateKey);

export interface StreamRecord {
  readonly key: string;
  readonly value: Buffer;
  /** What validate must answer: OK, or the rejection code. */
  readonly expect: string;
  /** True for an exact replay of an earlier record (a duplicate for dedupe). */
  readonly replay: boolean;
}

/** Invalid variants, each breaking one rule of DESIGN.md 3.3. */
const INVALID: ReadonlyArray<{ code: string; make: (spec: ExportSpec, keys: DemoKeys) => Buffer }> = [
  { code: 'ERR_MALFORMED', make: () => Buffer.from('{"runId": "truncated json') },
  { code: 'ERR_INVALID_HASH', make: (s, k) => json({ ...signedExport(s, k.active), artifactHash: 'md5:abc' }) },
  { code: 'ERR_EXTERNAL_URI', make: (s, k) => json(signExport({ ...exportBody(s), manifestPath: 'https://example.org/m' }, k.active.keyId, k.active.privateKey)) },
  { code: 'ERR_SIGNATURE_REQUIRED', make: (s) => json(exportBody(s)) },
  { code: 'ERR_DSSE_KEY_REVOKED', make: (s, k) => json(signExport(exportBody(s), k.revoked.keyId, k.revoked.privateKey)) },
  { code: 'ERR_DSSE_INVALID_SIGNATURE', make: (s, k) => json({ ...signedExport(s, k.active), scanId: 'tampered' }) },
];

const json = (value: unknown): Buffer => Buffer.from(JSON.stringify(value));

/**
 * `count` records over `tenants`: runs move pending → running → succeeded; about 5% are exact
 * replays of an earlier record and about 5% are invalid (cycling through INVALID).
 */
export function exportStream(options: { count: number; keys: DemoKeys; tenants?: readonly string[]; seed?: string; approxBytes?: number }): StreamRecord[] {
  const tenants = options.tenants ?? ['acme', 'globex', 'initech'];
  const seed = options.seed ?? 'demo';
  const statuses = ['pending', 'running', 'succeeded'] as const;
  const out: StreamRecord[] = [];
  let invalid = 0;
  for (let i = 0; out.length < options.count; i++) {
    const tenantId = tenants[Math.floor(i / 3) % tenants.length];
    const spec: ExportSpec = { tenantId, runSeed: `${seed}:${Math.floor(i / 3)}`, status: statuses[i % 3], approxBytes: options.approxBytes };
    const key = `${tenantId}/${seededUuid(spec.runSeed)}`;
    if (i % 20 === 19) {
      const earlier = out[out.length - 7]; // i - 7 ≡ 12 (mod 20): a valid record
      out.push({ ...earlier, replay: true });
    } else if (i % 20 === 9) {
      const variant = INVALID[invalid++ % INVALID.length];
      out.push({ key, value: variant.make(spec, options.keys), expect: variant.code, replay: false });
    } else {
      out.push({ key, value: json(signedExport(spec, options.keys.active)), expect: 'OK', replay: false });
    }
  }
  return out;
}
