// The dedupe processor (DESIGN.md 3.4, 3.5): per tenantId/runId the run's state lives in a
// RocksDB store with a changelog; each validated export becomes a LedgerEvent, a Duplicate
// (no ledger side effect) or a Rejection (stage dedupe). The table itself is
// contracts/transitions.ts; the event's hashes are contracts/ledger-event.ts.
import { ledgerEventId, sealLedgerEvent, type LedgerEvent } from '../contracts/ledger-event.js';
import { decideTransition, isTerminal, type RunState } from '../contracts/transitions.js';
import type { InputRecord, KeyValueStore, Processor, ProcessorContext, SourceCoordinates } from '../runtime/types.js';
import { rejectionValue, runKey, type ValidatedFields } from './validate-core.js';

export const RUNS_STORE = 'dedupe-runs';

export interface DedupeTopics {
  readonly events: string;
  readonly duplicates: string;
  readonly rejected: string;
}

export interface DedupeOptions {
  readonly topics: DedupeTopics;
  /** Terminal runs older than this are forgotten (0: keep forever, the default). */
  readonly terminalRetentionMs: number;
  /** How often the retention sweep runs. */
  readonly retentionSweepMs?: number;
}

/** The ValidatedExport fields dedupe reads (Avro record, see schemas/ValidatedExport.avsc): what validate wrote (validatedValue). */
type ValidatedExport = Omit<ValidatedFields, 'ok' | 'signatures'> & {
  readonly source: SourceCoordinates;
  readonly originalBytes: Buffer;
};

/** The ValidatedExport fields an event is made of (any status string: the bench builds them too). */
type EventFields = Pick<ValidatedExport, 'tenantId' | 'runId' | 'idempotencyKey' | 'contentHash' | 'dsseDigest' | 'export' | 'source'> & { readonly status: string };

/** The LedgerEvent (DESIGN.md 3.5) an accepted ValidatedExport becomes: a pure function of it. */
export function ledgerEventOf(v: EventFields): LedgerEvent {
  return sealLedgerEvent({
    eventId: ledgerEventId(v),
    type: 'ledger_export',
    tenantId: v.tenantId,
    runId: v.runId,
    status: v.status,
    idempotencyKey: v.idempotencyKey,
    contentHash: v.contentHash,
    dsseDigest: v.dsseDigest,
    export: { ...v.export },
    source: { topic: v.source.topic, partition: v.source.partition, offset: v.source.offset },
  });
}

export class DedupeProcessor implements Processor<ValidatedExport> {
  private context!: ProcessorContext;
  private runs!: KeyValueStore<RunState>;

  constructor(private readonly options: DedupeOptions) {}

  init(context: ProcessorContext): void {
    this.context = context;
    this.runs = context.store<RunState>(RUNS_STORE);
    if (this.options.terminalRetentionMs > 0) {
      context.schedule(this.options.retentionSweepMs ?? 60_000, (now) => this.forgetExpiredRuns(now));
    }
  }

  keysToPrefetch(record: InputRecord<ValidatedExport>): Array<{ store: string; key: string }> {
    return [{ store: RUNS_STORE, key: runKey(record.value.tenantId, record.value.runId) }];
  }

  async process(record: InputRecord<ValidatedExport>): Promise<void> {
    const v = record.value;
    const key = runKey(v.tenantId, v.runId);
    const decision = decideTransition(await this.runs.get(key), {
      idempotencyKey: v.idempotencyKey,
      status: v.status,
      contentHash: v.contentHash,
      timestampMs: record.timestamp,
    });
    switch (decision.outcome) {
      case 'accepted': {
        this.runs.put(key, decision.next);
        this.context.forward({ topic: this.options.topics.events, key, value: ledgerEventOf(v) });
        this.context.recordOutcome('accepted');
        return;
      }
      case 'duplicate':
        this.context.forward({
          topic: this.options.topics.duplicates,
          key,
          value: { code: 'DUPLICATE', tenantId: v.tenantId, runId: v.runId, status: v.status, idempotencyKey: v.idempotencyKey, contentHash: v.contentHash, dsseDigest: v.dsseDigest, source: v.source },
        });
        this.context.recordOutcome('duplicate');
        return;
      case 'rejected':
        this.context.forward({
          topic: this.options.topics.rejected,
          key,
          value: rejectionValue({ code: decision.code, message: decision.message, stage: 'dedupe', runId: v.runId, tenantId: v.tenantId, source: v.source, original: v.originalBytes }),
        });
        this.context.recordOutcome('rejected', decision.code);
        return;
    }
  }

  /** Retention: a terminal run older than the retention is forgotten (a later replay of it counts as new). */
  private async forgetExpiredRuns(nowMs: number): Promise<void> {
    const cutoff = nowMs - this.options.terminalRetentionMs;
    for await (const [key, state] of this.runs.range('')) {
      if (isTerminal(state.status) && state.terminalAtMs !== undefined && state.terminalAtMs < cutoff) this.runs.delete(key);
    }
  }
}
