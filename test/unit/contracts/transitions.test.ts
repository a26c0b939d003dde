import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { sha256Digest } from '../../../contracts/digests.js';
import type { ExportStatus } from '../../../contracts/export.js';
import { decideTransition, type DedupeDecision, type IncomingExport, type RunState } from '../../../contracts/transitions.js';

// DESIGN.md 3.4, one test per row of the table, then a property test against a small model.
// "Same status" = the incoming status was already recorded for the run (documented decision in
// contracts/transitions.ts): replaying an earlier status is a duplicate or a conflict, never a
// transition.

const digest = (seed: string): string => sha256Digest(Buffer.from(seed));
const KEY = digest('key-a');
const OTHER_KEY = digest('key-b');
const upperHex = (d: string): string => `sha256:${d.slice('sha256:'.length).toUpperCase()}`;
const content = (status: ExportStatus, variant = 0): string => digest(`content:${status}:${variant}`);

const incoming = (status: ExportStatus, overrides: Partial<IncomingExport> = {}): IncomingExport => ({
  idempotencyKey: KEY,
  status,
  contentHash: content(status),
  timestampMs: 1_000,
  ...overrides,
});

/** Feeds the events in order, keeping the state of accepted ones; returns the last decision. */
function decideAll(events: readonly IncomingExport[]): { decision: DedupeDecision; state: RunState | undefined } {
  let state: RunState | undefined;
  let decision: DedupeDecision | undefined;
  for (const event of events) {
    decision = decideTransition(state, event);
    if (decision.outcome === 'accepted') state = decision.next;
  }
  if (!decision) throw new Error('no events');
  return { decision, state };
}

const acceptedAll = (...statuses: ExportStatus[]): RunState => {
  const { decision, state } = decideAll(statuses.map((s) => incoming(s)));
  expect(decision.outcome).toBe('accepted');
  if (!state) throw new Error('no state');
  return state;
};

const codeOf = (decision: DedupeDecision): string => (decision.outcome === 'rejected' ? decision.code : decision.outcome);

describe('decideTransition (DESIGN.md 3.4)', () => {
  it('row 1: the first record of a run is accepted and becomes the run state', () => {
    const decision = decideTransition(undefined, incoming('running', { timestampMs: 5 }));
    expect(decision).toEqual({ outcome: 'accepted', next: { idempotencyKey: KEY, status: 'running', contentHashes: { running: content('running') } } });
    const terminal = decideTransition(undefined, incoming('failed', { timestampMs: 7 }));
    expect(terminal).toMatchObject({ outcome: 'accepted', next: { status: 'failed', terminalAtMs: 7 } });
  });

  it('row 2: a stored idempotencyKey other than the incoming one is ERR_REPLAY_MISMATCH, checked before everything else', () => {
    const state = acceptedAll('running');
    // Same status and content: the key mismatch still wins over "duplicate".
    expect(codeOf(decideTransition(state, incoming('running', { idempotencyKey: OTHER_KEY })))).toBe('ERR_REPLAY_MISMATCH');
    // A forward move with another key is not accepted either.
    expect(codeOf(decideTransition(state, incoming('succeeded', { idempotencyKey: OTHER_KEY })))).toBe('ERR_REPLAY_MISMATCH');
  });

  it('row 2: the same key in other hex case is not a mismatch', () => {
    const state = acceptedAll('running');
    expect(decideTransition(state, incoming('running', { idempotencyKey: upperHex(KEY) }))).toEqual({ outcome: 'duplicate' });
    expect(decideTransition(state, incoming('succeeded', { idempotencyKey: upperHex(KEY) })).outcome).toBe('accepted');
    // And the other way round: an upper-case stored key matches a lower-case incoming one.
    const upperFirst = decideTransition(undefined, incoming('pending', { idempotencyKey: upperHex(KEY) }));
    if (upperFirst.outcome !== 'accepted') throw new Error('first record not accepted');
    expect(decideTransition(upperFirst.next, incoming('running')).outcome).toBe('accepted');
  });

  it('row 3: same status, same contentHash is a duplicate (also for an earlier status and after terminal)', () => {
    expect(decideTransition(acceptedAll('running'), incoming('running'))).toEqual({ outcome: 'duplicate' });
    const done = acceptedAll('pending', 'running', 'succeeded');
    expect(decideTransition(done, incoming('succeeded'))).toEqual({ outcome: 'duplicate' });
    expect(decideTransition(done, incoming('pending'))).toEqual({ outcome: 'duplicate' });
  });

  it('row 4: same status, different contentHash is ERR_IDEMPOTENCY_CONFLICT', () => {
    expect(codeOf(decideTransition(acceptedAll('running'), incoming('running', { contentHash: content('running', 1) })))).toBe('ERR_IDEMPOTENCY_CONFLICT');
    const done = acceptedAll('pending', 'succeeded');
    expect(codeOf(decideTransition(done, incoming('succeeded', { contentHash: content('succeeded', 1) })))).toBe('ERR_IDEMPOTENCY_CONFLICT');
    expect(codeOf(decideTransition(done, incoming('pending', { contentHash: content('pending', 1) })))).toBe('ERR_IDEMPOTENCY_CONFLICT');
  });

  it('row 5: forward moves are accepted, skips included, and the state records every status', () => {
    const state = acceptedAll('pending', 'running', 'succeeded');
    expect(state).toEqual({
      idempotencyKey: KEY,
      status: 'succeeded',
      contentHashes: { pending: content('pending'), running: content('running'), succeeded: content('succeeded') },
      terminalAtMs: 1_000,
    });
    for (const terminal of ['succeeded', 'failed', 'canceled'] as const) {
      const skip = decideTransition(acceptedAll('pending'), incoming(terminal, { timestampMs: 42 }));
      expect(skip).toMatchObject({ outcome: 'accepted', next: { status: terminal, terminalAtMs: 42 } });
    }
    expect(decideTransition(acceptedAll('pending'), incoming('running'))).toMatchObject({ outcome: 'accepted', next: { status: 'running' } });
    expect(decideTransition(acceptedAll('running'), incoming('canceled'))).toMatchObject({ outcome: 'accepted', next: { status: 'canceled' } });
  });

  it('row 6: moving back is ERR_INVALID_TRANSITION', () => {
    expect(codeOf(decideTransition(acceptedAll('running'), incoming('pending')))).toBe('ERR_INVALID_TRANSITION');
    expect(codeOf(decideTransition(acceptedAll('succeeded'), incoming('running')))).toBe('ERR_INVALID_TRANSITION');
    expect(codeOf(decideTransition(acceptedAll('failed'), incoming('pending')))).toBe('ERR_INVALID_TRANSITION');
  });

  it('row 6: changing status after terminal is ERR_INVALID_TRANSITION (succeeded → failed, any terminal to another)', () => {
    const terminals = ['succeeded', 'failed', 'canceled'] as const;
    for (const from of terminals) {
      for (const to of terminals.filter((t) => t !== from)) {
        const decision = decideTransition(acceptedAll('pending', from), incoming(to));
        expect(codeOf(decision), `${from} → ${to}`).toBe('ERR_INVALID_TRANSITION');
      }
    }
  });

  it('rejections carry a message and leave no state change (the function is pure)', () => {
    const state = acceptedAll('running');
    const snapshot = structuredClone(state);
    const decision = decideTransition(state, incoming('pending'));
    expect(decision.outcome === 'rejected' && decision.message.length > 0).toBe(true);
    expect(state).toEqual(snapshot);
  });
});

// ---- Property test: random event sequences for a few runs against an independent model. ----

const STATUSES: readonly ExportStatus[] = ['pending', 'running', 'succeeded', 'failed', 'canceled'];
const RUNS = ['run-a', 'run-b', 'run-c'];

interface ModelEvent {
  readonly run: string;
  readonly status: ExportStatus;
  /** 0 or 1: two different contents per (run, status). */
  readonly contentVariant: number;
  /** 0: the run's key; 1: the same key in upper-case hex; 2: another key. */
  readonly keyVariant: number;
  readonly timestampMs: number;
}

type ModelOutcome = 'accepted' | 'duplicate' | 'ERR_REPLAY_MISMATCH' | 'ERR_IDEMPOTENCY_CONFLICT' | 'ERR_INVALID_TRANSITION';

/** The model keeps the history of accepted (status, content) per run and the key of the first. */
interface ModelRun {
  readonly keyHexLower: string;
  readonly accepted: Array<{ status: ExportStatus; content: string; timestampMs: number }>;
}

const ORDER: Readonly<Record<ExportStatus, number>> = { pending: 0, running: 1, succeeded: 2, failed: 2, canceled: 2 };
const FINAL = new Set<ExportStatus>(['succeeded', 'failed', 'canceled']);

function modelDecide(run: ModelRun | undefined, key: string, status: ExportStatus, contentHash: string): ModelOutcome {
  if (run === undefined) return 'accepted';
  if (key.toLowerCase() !== run.keyHexLower) return 'ERR_REPLAY_MISMATCH';
  const earlier = run.accepted.find((a) => a.status === status);
  if (earlier) return earlier.content === contentHash ? 'duplicate' : 'ERR_IDEMPOTENCY_CONFLICT';
  const latest = run.accepted[run.accepted.length - 1];
  if (FINAL.has(latest.status)) return 'ERR_INVALID_TRANSITION';
  return ORDER[status] > ORDER[latest.status] ? 'accepted' : 'ERR_INVALID_TRANSITION';
}

const keyFor = (run: string, variant: number): string => {
  const base = digest(`key:${run}`);
  return variant === 0 ? base : variant === 1 ? upperHex(base) : digest(`other-key:${run}`);
};

const eventArbitrary: fc.Arbitrary<ModelEvent> = fc.record({
  run: fc.constantFrom(...RUNS),
  status: fc.constantFrom(...STATUSES),
  contentVariant: fc.integer({ min: 0, max: 1 }),
  // Mostly the run's own key, so that sequences get past row 2.
  keyVariant: fc.oneof({ weight: 6, arbitrary: fc.constant(0) }, { weight: 2, arbitrary: fc.constant(1) }, { weight: 1, arbitrary: fc.constant(2) }),
  timestampMs: fc.nat({ max: 1_000_000 }),
});

describe('decideTransition against a model', () => {
  it('agrees with the model on long random sequences over a few runs, and its state stays consistent', () => {
    const seen = new Set<ModelOutcome>();
    fc.assert(
      fc.property(fc.array(eventArbitrary, { minLength: 1, maxLength: 200 }), (events) => {
        const states = new Map<string, RunState>();
        const model = new Map<string, ModelRun>();
        for (const event of events) {
          const key = keyFor(event.run, event.keyVariant);
          const hash = content(event.status, event.contentVariant);
          const expected = modelDecide(model.get(event.run), key, event.status, hash);
          const decision = decideTransition(states.get(event.run), { idempotencyKey: key, status: event.status, contentHash: hash, timestampMs: event.timestampMs });
          expect(codeOf(decision)).toBe(expected);
          seen.add(expected);
          if (decision.outcome !== 'accepted') continue;
          const before = model.get(event.run);
          const run: ModelRun = before ?? { keyHexLower: key.toLowerCase(), accepted: [] };
          run.accepted.push({ status: event.status, content: hash, timestampMs: event.timestampMs });
          model.set(event.run, run);
          states.set(event.run, decision.next);
          // The state is what the model says: latest status, per-status contents, first key as given, terminal time.
          const terminalEntry = run.accepted.find((a) => FINAL.has(a.status));
          expect(decision.next.status).toBe(event.status);
          expect(decision.next.idempotencyKey.toLowerCase()).toBe(run.keyHexLower);
          expect(decision.next.contentHashes).toEqual(Object.fromEntries(run.accepted.map((a) => [a.status, a.content])));
          expect(decision.next.terminalAtMs).toBe(terminalEntry?.timestampMs);
        }
      }),
      { numRuns: 300, seed: 3_4_2026 },
    );
    // The generator reaches every row of the table.
    expect([...seen].sort()).toEqual(['ERR_IDEMPOTENCY_CONFLICT', 'ERR_INVALID_TRANSITION', 'ERR_REPLAY_MISMATCH', 'accepted', 'duplicate']);
  });
});
