// Air-gap bundle imports, their impact and tenant freshness (DESIGN.md 5). Pure functions: the
// projector (processors/projector.ts) keeps the state, the query API and `ledger freshness` ask
// `freshnessOf` the same question.
import type { AirgapBundleCode } from './codes.js';
import { MAX_EXPORT_BYTES, stringProblem } from './export.js';
import { compareInstants, parseUtcInstant } from './utc-instant.js';
import { quote, quoteList } from './quote.js';

export const SEVERITIES = ['critical', 'high', 'medium', 'low', 'info'] as const;
export type Severity = (typeof SEVERITIES)[number];
export const FINDING_STATUSES = ['open', 'resolved'] as const;
export type FindingStatus = (typeof FINDING_STATUSES)[number];

/** Bundles obey the same record size limit as exports; it is checked before any parsing. */
export const MAX_BUNDLE_BYTES = MAX_EXPORT_BYTES;

/** Default of AIRGAP_FRESHNESS_THRESHOLD_SECONDS: seven days. */
export const DEFAULT_FRESHNESS_THRESHOLD_SECONDS = 604_800;

export interface AirgapFinding {
  readonly findingId: string;
  readonly severity: Severity;
  readonly status: FindingStatus;
}

export interface AirgapBundle {
  readonly tenantId: string;
  readonly bundleId: string;
  readonly merkleRoot: string;
  readonly timeAnchor: string;
  readonly sourceRegion: string;
  readonly importedAt: string;
  readonly importOperator: string;
  readonly sealedMode: boolean;
  readonly findings: readonly AirgapFinding[];
}

export type BundleCheck =
  | { readonly ok: true; readonly bundle: AirgapBundle }
  | { readonly ok: false; readonly code: AirgapBundleCode; readonly message: string; readonly tenantId?: string };

export interface BundleInput {
  /** The record value as it was on the topic. */
  readonly bytes: Uint8Array;
  /** The record key: ledger.airgap.bundles is keyed by tenantId (DESIGN.md 2). */
  readonly key: string | null;
  /** Set when the value was Avro and the caller decoded it. */
  readonly decoded?: unknown;
  /** Set when the value was Avro-framed but could not be decoded. */
  readonly undecodable?: string;
}

const STRING_FIELDS = ['tenantId', 'bundleId', 'merkleRoot', 'timeAnchor', 'sourceRegion', 'importedAt', 'importOperator'] as const;
const BUNDLE_FIELDS: ReadonlySet<string> = new Set([...STRING_FIELDS, 'sealedMode', 'findings']);
const FINDING_FIELDS: ReadonlySet<string> = new Set(['findingId', 'severity', 'status']);
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

type Fields = Readonly<Record<string, unknown>>;
const reject = (code: AirgapBundleCode, message: string, tenantId?: unknown): BundleCheck =>
  typeof tenantId === 'string' && tenantId !== '' ? { ok: false, code, message, tenantId } : { ok: false, code, message };

/**
 * Checks a bundle import in the order the export contract uses (size, decoding, required
 * fields, key, shape, timestamps); the first failure is the record's code.
 */
export function checkBundle(input: BundleInput): BundleCheck {
  if (input.bytes.byteLength > MAX_BUNDLE_BYTES) {
    return reject('ERR_PAYLOAD_TOO_LARGE', `bundle record is ${input.bytes.byteLength} bytes, over the ${MAX_BUNDLE_BYTES}-byte limit`);
  }
  const decoded = decodeBundle(input);
  if (typeof decoded === 'string') return reject('ERR_MALFORMED', decoded);
  const fields = decoded;
  const missing = [...STRING_FIELDS, 'sealedMode', 'findings'].filter((name) => fields[name] === undefined || fields[name] === null || fields[name] === '');
  if (missing.length > 0) return reject('ERR_MISSING_FIELD', `bundle lacks ${missing.join(', ')}`, fields.tenantId);
  if (input.key !== fields.tenantId) {
    // The key decides the partition, and so the task that holds the tenant's findings.
    return reject('ERR_TENANT_MISMATCH', `bundle record key ${quote(input.key)} is not its tenantId ${quote(fields.tenantId)}`, fields.tenantId);
  }
  const shape = shapeProblem(fields);
  if (shape) return reject('ERR_INVALID_FIELD', shape, fields.tenantId);
  const bundle = fields as unknown as AirgapBundle;
  for (const name of ['timeAnchor', 'importedAt'] as const) {
    if (!parseUtcInstant(bundle[name])) return reject('ERR_INVALID_TIMESTAMP', `${name} ${quote(bundle[name])} is not a UTC ISO-8601 timestamp ending in Z`, bundle.tenantId);
  }
  return { ok: true, bundle: copyBundle(bundle) };
}

function decodeBundle(input: BundleInput): Fields | string {
  if (input.undecodable !== undefined) return `undecodable Avro bundle: ${input.undecodable}`;
  let value = input.decoded;
  if (value === undefined) {
    try {
      value = JSON.parse(utf8.decode(input.bytes)) as unknown;
    } catch (error) {
      return error instanceof SyntaxError ? 'bundle is not JSON' : 'bundle is not UTF-8';
    }
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'bundle is not a JSON object';
  return value as Fields;
}

function shapeProblem(fields: Fields): string | undefined {
  const unknown = Object.keys(fields).filter((name) => !BUNDLE_FIELDS.has(name));
  if (unknown.length > 0) return `unknown field ${quoteList(unknown)}`;
  // A lone surrogate has no UTF-8 form: two ids differing only in one would become one store key.
  for (const name of STRING_FIELDS) {
    const problem = stringProblem(fields[name], name);
    if (problem) return problem;
  }
  if (typeof fields.sealedMode !== 'boolean') return 'sealedMode must be a boolean';
  if (!Array.isArray(fields.findings)) return 'findings must be an array';
  const seen = new Set<string>();
  for (const [i, entry] of (fields.findings as unknown[]).entries()) {
    const problem = findingProblem(entry, `findings[${i}]`);
    if (problem) return problem;
    const id = (entry as AirgapFinding).findingId;
    // Two states for one finding in one bundle would make its impact ambiguous.
    if (seen.has(id)) return `findings[${i}]: findingId ${quote(id)} appears twice`;
    seen.add(id);
  }
  return undefined;
}

function findingProblem(entry: unknown, where: string): string | undefined {
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) return `${where} must be an object`;
  const fields = entry as Fields;
  const unknown = Object.keys(fields).filter((name) => !FINDING_FIELDS.has(name));
  if (unknown.length > 0) return `${where}: unknown field ${quoteList(unknown)}`;
  if (fields.findingId === '') return `${where}.findingId must be a non-empty string`;
  const idProblem = stringProblem(fields.findingId, `${where}.findingId`);
  if (idProblem) return idProblem;
  if (!SEVERITIES.some((s) => s === fields.severity)) return `${where}.severity ${quote(fields.severity)} is not one of ${SEVERITIES.join(' ')}`;
  if (!FINDING_STATUSES.some((s) => s === fields.status)) return `${where}.status ${quote(fields.status)} is not one of ${FINDING_STATUSES.join(' ')}`;
  return undefined;
}

/** A plain copy with exactly the contract's fields (Avro decoders hand over class instances). */
function copyBundle(b: AirgapBundle): AirgapBundle {
  return {
    tenantId: b.tenantId,
    bundleId: b.bundleId,
    merkleRoot: b.merkleRoot,
    timeAnchor: b.timeAnchor,
    sourceRegion: b.sourceRegion,
    importedAt: b.importedAt,
    importOperator: b.importOperator,
    sealedMode: b.sealedMode,
    findings: b.findings.map((f) => ({ findingId: f.findingId, severity: f.severity, status: f.status })),
  };
}

/** What the projector remembers of one finding of a tenant. */
export interface FindingState {
  readonly severity: Severity;
  readonly status: FindingStatus;
  /** timeAnchor of the bundle that stated this: an older bundle arriving late does not override it. */
  readonly timeAnchor: string;
}

export interface BundleImpact {
  readonly newFindings: number;
  readonly resolvedFindings: number;
  readonly criticalDelta: number;
}

const isOpen = (state: FindingState | undefined): boolean => state?.status === 'open';
const isOpenCritical = (state: FindingState | undefined): boolean => isOpen(state) && state?.severity === 'critical';

/**
 * Applies a bundle to the tenant's findings (DESIGN.md 5). A bundle states the findings it
 * lists; findings it does not list keep their state. A finding last stated by a newer bundle
 * (later timeAnchor) keeps that state. Counted over the findings' states before and after:
 * newFindings = open now and not open before; resolvedFindings = resolved now and open before;
 * criticalDelta = open critical count after − before.
 */
export function applyBundle(
  bundle: AirgapBundle,
  before: ReadonlyMap<string, FindingState | undefined>,
): { readonly impact: BundleImpact; readonly changes: ReadonlyMap<string, FindingState> } {
  const anchor = parseUtcInstant(bundle.timeAnchor);
  if (!anchor) throw new RangeError(`applyBundle: unchecked bundle (timeAnchor ${bundle.timeAnchor})`);
  const changes = new Map<string, FindingState>();
  let newFindings = 0;
  let resolvedFindings = 0;
  let criticalDelta = 0;
  for (const finding of bundle.findings) {
    const previous = before.get(finding.findingId);
    const previousAnchor = previous && parseUtcInstant(previous.timeAnchor);
    if (previousAnchor && compareInstants(anchor, previousAnchor) < 0) continue;
    const next: FindingState = { severity: finding.severity, status: finding.status, timeAnchor: bundle.timeAnchor };
    if (isOpen(next) && !isOpen(previous)) newFindings++;
    if (next.status === 'resolved' && isOpen(previous)) resolvedFindings++;
    criticalDelta += Number(isOpenCritical(next)) - Number(isOpenCritical(previous));
    changes.set(finding.findingId, next);
  }
  return { impact: { newFindings, resolvedFindings, criticalDelta }, changes };
}

/** The newest bundle of a tenant: what staleness is measured from and what remediation names. */
export interface NewestBundle {
  readonly bundleId: string;
  readonly timeAnchor: string;
  readonly importOperator: string;
  readonly importedAt: string;
  readonly sealedMode: boolean;
}

/**
 * The bundle with the later timeAnchor (the current one on a tie): a late older bundle never
 * lowers freshness. Also merges a tenant's state found in two partitions.
 */
export function newerBundle(current: NewestBundle | null, candidate: NewestBundle): NewestBundle {
  const candidateAnchor = parseUtcInstant(candidate.timeAnchor);
  const currentAnchor = current && parseUtcInstant(current.timeAnchor);
  if (current && currentAnchor && candidateAnchor && compareInstants(candidateAnchor, currentAnchor) <= 0) return current;
  return {
    bundleId: candidate.bundleId,
    timeAnchor: candidate.timeAnchor,
    importOperator: candidate.importOperator,
    importedAt: candidate.importedAt,
    sealedMode: candidate.sealedMode,
  };
}

/** now − timeAnchor in seconds, never negative (a timeAnchor ahead of this clock counts as fresh). */
export function stalenessSeconds(newest: NewestBundle, nowMs: number): number {
  const anchor = parseUtcInstant(newest.timeAnchor);
  if (!anchor) throw new RangeError(`stalenessSeconds: unchecked timeAnchor ${newest.timeAnchor}`);
  return Math.max(0, (nowMs - anchor.epochMs) / 1000);
}

export type FreshnessReport =
  | {
      readonly tenant: string;
      readonly stale: false;
      /** Null when the tenant has imported no bundle: nothing to be stale against. */
      readonly stalenessSeconds: number | null;
      readonly thresholdSeconds: number;
      readonly bundleId: string | null;
      readonly timeAnchor: string | null;
      readonly importOperator: string | null;
    }
  | {
      readonly tenant: string;
      readonly stale: true;
      readonly code: 'ERR_AIRGAP_STALE';
      readonly message: string;
      readonly stalenessSeconds: number;
      readonly thresholdSeconds: number;
      readonly bundleId: string;
      readonly timeAnchor: string;
      readonly importOperator: string;
    };

/**
 * Is the tenant over the freshness threshold (DESIGN.md 5)? Over it, its exports are blocked
 * with ERR_AIRGAP_STALE and a remediation message naming the last bundleId, timeAnchor and
 * importOperator. A tenant without any bundle import is not air-gapped, so never stale.
 */
export function freshnessOf(tenant: string, newest: NewestBundle | null, nowMs: number, thresholdSeconds: number): FreshnessReport {
  if (!newest) return { tenant, stale: false, stalenessSeconds: null, thresholdSeconds, bundleId: null, timeAnchor: null, importOperator: null };
  const seconds = stalenessSeconds(newest, nowMs);
  const known = { tenant, stalenessSeconds: seconds, thresholdSeconds, bundleId: newest.bundleId, timeAnchor: newest.timeAnchor, importOperator: newest.importOperator };
  if (seconds <= thresholdSeconds) return { ...known, stale: false };
  return {
    ...known,
    stale: true,
    code: 'ERR_AIRGAP_STALE',
    message:
      `exports for tenant ${tenant} are blocked: the newest air-gap bundle ${newest.bundleId} has timeAnchor ${newest.timeAnchor}, ` +
      `${Math.floor(seconds)} s ago, over the ${thresholdSeconds} s threshold; import a fresh bundle ` +
      `(the last one was imported by ${newest.importOperator})`,
  };
}
