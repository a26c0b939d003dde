// Ledger events as dedupe makes them (contracts/ledger-event.ts) for one export of examples/
// exports.ts, without running validate and dedupe: for tests and benchmarks of the later stages.
import { canonicalJsonBytes } from '../contracts/canonical-json.js';
import { sha256Digest } from '../contracts/digests.js';
import type { ExportStatus } from '../contracts/export.js';
import { ledgerEventId, sealLedgerEvent, type LedgerEvent } from '../contracts/ledger-event.js';
import { exportBody } from './exports.js';

export interface EventSpec {
  readonly runSeed: string;
  readonly tenantId?: string;
  readonly status?: ExportStatus;
  /** Overrides the export's bundleId (exportBody sets one per tenant). */
  readonly bundleId?: string | null;
  readonly approxBytes?: number;
  /** Offset of the export on orchestrator.export.created (the event's `source`). */
  readonly sourceOffset?: number;
}

export function ledgerEventFor(spec: EventSpec): LedgerEvent {
  const tenantId = spec.tenantId ?? 'acme';
  const status = spec.status ?? 'pending';
  const generated = exportBody({ tenantId, runSeed: spec.runSeed, status, approxBytes: spec.approxBytes });
  const body = spec.bundleId === undefined ? generated : { ...generated, bundleId: spec.bundleId };
  const contentHash = sha256Digest(canonicalJsonBytes(body));
  const runId = String(body.runId);
  return sealLedgerEvent({
    eventId: ledgerEventId({ tenantId, runId, status, contentHash }),
    type: 'ledger_export',
    tenantId,
    runId,
    status,
    idempotencyKey: String(body.idempotencyKey),
    contentHash,
    dsseDigest: null,
    export: body,
    source: { topic: 'orchestrator.export.created', partition: 0, offset: spec.sourceOffset ?? 0 },
  });
}
