// DESIGN.md 3.4: dedupe and status transitions of one run, as a pure decision over the stored
// state of the run and the incoming validated export. Table rows are checked top to bottom.
import { digestsEqual } from './digests.js';
import type { ExportStatus } from './export.js';

/** What the dedupe store keeps per tenantId/runId. */
export interface RunState {
  readonly idempotencyKey: string;
  /** The latest accepted status. */
  readonly status: ExportStatus;
  /** contentHash accepted for each status the run went through. */
  readonly contentHashes: Readonly<Partial<Record<ExportStatus, string>>>;
  /** Timestamp (ms) of the record that made the run terminal; drives retention. */
  readonly terminalAtMs?: number;
}

export interface IncomingExport {
  readonly idempotencyKey: string;
  readonly status: ExportStatus;
  readonly contentHash: string;
  readonly timestampMs: number;
}

export type DedupeDecision =
  | { readonly outcome: 'accepted'; readonly next: RunState }
  | { readonly outcome: 'duplicate' }
  | { readonly outcome: 'rejected'; readonly code: 'ERR_REPLAY_MISMATCH' | 'ERR_IDEMPOTENCY_CONFLICT' | 'ERR_INVALID_TRANSITION'; readonly message: string };

const TERMINAL: ReadonlySet<ExportStatus> = new Set(['succeeded', 'failed', 'canceled']);

/** pending < running < terminal (all terminal statuses rank alike: terminal is final). */
export const statusRank = (status: ExportStatus): number => (status === 'pending' ? 0 : status === 'running' ? 1 : 2);
export const isTerminal = (status: ExportStatus): boolean => TERMINAL.has(status);

export function decideTransition(state: RunState | undefined, incoming: IncomingExport): DedupeDecision {
  if (!state) return { outcome: 'accepted', next: stateAfter(undefined, incoming) }; //                first record
  if (!digestsEqual(state.idempotencyKey, incoming.idempotencyKey)) {
    return { outcome: 'rejected', code: 'ERR_REPLAY_MISMATCH', message: `idempotencyKey ${incoming.idempotencyKey} differs from the run's ${state.idempotencyKey}` };
  }
  const seen = state.contentHashes[incoming.status];
  if (seen !== undefined) {
    if (digestsEqual(seen, incoming.contentHash)) return { outcome: 'duplicate' }; //                same status, same content
    return {
      outcome: 'rejected',
      code: 'ERR_IDEMPOTENCY_CONFLICT',
      message: `status ${incoming.status} was already recorded with contentHash ${seen}, not ${incoming.contentHash}`,
    };
  }
  if (isTerminal(state.status) || statusRank(incoming.status) <= statusRank(state.status)) {
    return {
      outcome: 'rejected',
      code: 'ERR_INVALID_TRANSITION',
      message: `status cannot move from ${state.status} to ${incoming.status}${isTerminal(state.status) ? ' (terminal is final)' : ''}`,
    };
  }
  return { outcome: 'accepted', next: stateAfter(state, incoming) }; //                            forward, skips allowed
}

function stateAfter(state: RunState | undefined, incoming: IncomingExport): RunState {
  return {
    idempotencyKey: state?.idempotencyKey ?? incoming.idempotencyKey,
    status: incoming.status,
    contentHashes: Object.assign({}, state?.contentHashes, { [incoming.status]: incoming.contentHash }), // not a spread: README, Benchmarks
    ...(isTerminal(incoming.status) ? { terminalAtMs: incoming.timestampMs } : {}),
  };
}
