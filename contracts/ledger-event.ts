// DESIGN.md 3.5: the ledger event and its hashes. Events are a pure function of the validated
// export: no wall clock, no random ids, so a replay is byte-identical.
import { withCanonicalJsonBytes } from './canonical-json.js';
import { sha256Digest } from './digests.js';

export interface LedgerEventBody {
  readonly eventId: string;
  readonly type: 'ledger_export';
  readonly tenantId: string;
  readonly runId: string;
  readonly status: string;
  readonly idempotencyKey: string;
  readonly contentHash: string;
  readonly dsseDigest: string | null;
  /** The export without signatures, in its JSON rendering (absent optional fields as null). */
  readonly export: Readonly<Record<string, unknown>>;
  readonly source: { readonly topic: string; readonly partition: number; readonly offset: number };
}

export interface LedgerEvent extends LedgerEventBody {
  readonly eventHash: string;
}

const sha256OfCanonicalJson = (value: unknown): string => withCanonicalJsonBytes(value, sha256Digest);

/** One event per (run, status): sha256 of JCS({contentHash, runId, status, tenantId}). */
export function ledgerEventId(fields: { tenantId: string; runId: string; status: string; contentHash: string }): string {
  return sha256OfCanonicalJson({ contentHash: fields.contentHash, runId: fields.runId, status: fields.status, tenantId: fields.tenantId });
}

/** eventHash = sha256 of JCS(the event's JSON rendering without eventHash). */
export function ledgerEventHash(body: LedgerEventBody): string {
  return sha256OfCanonicalJson(body);
}

export function sealLedgerEvent(body: LedgerEventBody): LedgerEvent {
  // Not `{ ...body, eventHash }`: Node 20 builds a fresh hidden class for that on every call (README, Benchmarks).
  return Object.assign({}, body, { eventHash: ledgerEventHash(body) });
}
