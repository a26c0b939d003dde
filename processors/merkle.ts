// The merkle processor (DESIGN.md 4): per partition of ledger.events, eventHashes accumulate in
// offset order into an open batch, which seals at `batchSize` leaves, after `batchMaxWaitMs` of
// wall time (punctuation) or at the end of a replay's input. The open batch and the signature
// chain live in a changelog-backed store, so a restart neither seals twice, skips an event, nor
// breaks the chain: a sealed root and the state that follows it commit in one transaction.
import { airgapAnchorReference, batchRootHash, signMerkleRoot, type MerkleRootRecord } from '../contracts/merkle-root.js';
import type { InputRecord, KeyValueStore, Processor, ProcessorContext } from '../runtime/types.js';

export const MERKLE_STORE = 'merkle-batches';
const STATE_KEY = 'state';

/**
 * Most leaves a batch may have. A sealed root lists every leaf, and the open batch is one store
 * value: ~74 bytes per leaf, ~0.74 MB at 10,000. That stays under MAX_BATCH_BYTES, so a batch
 * seals at batchSize unless its events bring many distinct bundleIds. At 20,000 leaves a broker
 * with the default 1 MB record limit refused the root (MESSAGE_TOO_LARGE).
 */
export const MAX_BATCH_LEAVES = 10_000;

/**
 * A batch also seals early, before an event that would take its leaves and bundleIds past this
 * many bytes (as JSON, the store's encoding and never smaller than the root's Avro). bundleIds
 * are free text bounded only by the 1 MiB export, so a few exports of one tenant could otherwise
 * make one root or store value larger than any record limit and halt the partition for every
 * tenant on it. With it, a root or open batch stays under this plus one event's share (at most
 * ~6 MiB of JSON for a 1 MiB bundleId of control characters), below the topics' record limit
 * (MAX_RECORD_BYTES, 8 MiB).
 */
export const MAX_BATCH_BYTES = 1024 * 1024;

export interface MerkleOptions {
  readonly topics: { readonly roots: string };
  readonly batchSize: number;
  readonly batchMaxWaitMs: number;
  readonly keyId: string;
  readonly sign: (message: Buffer) => Buffer;
}

/**
 * Appended to in place, but only on a unit's own copy (ownCopy): copying the leaves on every
 * append made a batch O(batchSize²).
 */
interface OpenBatch {
  readonly firstOffset: number;
  lastOffset: number;
  readonly leaves: string[];
  readonly bundleIds: string[];
  /** Wall clock when the batch's first event arrived (drives the max-wait seal). */
  readonly openedAtMs: number;
}

interface BatchState {
  readonly nextBatchSeq: number;
  readonly previousSignature: string | null;
  /** Last offset of the last sealed batch: an event at or below it is never sealed again. */
  readonly lastSealedOffset: number;
  readonly open: OpenBatch | null;
}

const INITIAL: BatchState = { nextBatchSeq: 0, previousSignature: null, lastSealedOffset: -1, open: null };

/** The LedgerEvent fields merkle reads. */
interface LedgerEventValue {
  readonly eventHash: string;
  readonly export: { readonly bundleId?: string | null };
}

/**
 * The state a unit works on: its open batch copied once, so appending in place never changes the
 * value the store handed out (a store may cache it; the transaction encoded it at put time).
 */
function ownCopy(state: BatchState): BatchState {
  const open = state.open;
  return open ? { ...state, open: { ...open, leaves: [...open.leaves], bundleIds: [...open.bundleIds] } } : state;
}

/**
 * Offsets commit with the state, so this only matters after a manual offset reset: an event
 * already sealed or already in the open batch is not taken twice.
 */
const isTaken = (state: BatchState, record: InputRecord<LedgerEventValue>): boolean =>
  record.offset <= (state.open ? state.open.lastOffset : state.lastSealedOffset);

/** Bytes of a string in the store's JSON encoding of the open batch, with its separating comma. */
const jsonBytes = (text: string): number => Buffer.byteLength(JSON.stringify(text)) + 1;

/** What the open batch's leaves and bundleIds take in its store value (see MAX_BATCH_BYTES). */
const openBatchBytes = (open: OpenBatch): number =>
  open.leaves.reduce((sum, leaf) => sum + jsonBytes(leaf), 0) + open.bundleIds.reduce((sum, id) => sum + jsonBytes(id), 0);

/** What appending this event adds: its leaf, and its bundleId when the batch does not list it yet. */
function bytesAdded(open: OpenBatch | null, event: LedgerEventValue): number {
  const bundleId = event.export.bundleId;
  const listed = !bundleId || (open?.bundleIds.includes(bundleId) ?? false);
  return jsonBytes(event.eventHash) + (listed ? 0 : jsonBytes(bundleId));
}

export class MerkleProcessor implements Processor<LedgerEventValue> {
  private context!: ProcessorContext;
  private store!: KeyValueStore<BatchState>;

  constructor(private readonly options: MerkleOptions) {
    if (!Number.isInteger(options.batchSize) || options.batchSize < 1 || options.batchSize > MAX_BATCH_LEAVES) {
      throw new RangeError(`merkle batch size must be a whole number from 1 to ${MAX_BATCH_LEAVES}, got ${options.batchSize}`);
    }
  }

  init(context: ProcessorContext): void {
    this.context = context;
    this.store = context.store<BatchState>(MERKLE_STORE);
    // Check often enough that a batch seals within ~10% after its max wait.
    context.schedule(Math.max(10, Math.floor(this.options.batchMaxWaitMs / 10)), (now) => this.sealIfExpired(now));
  }

  process(record: InputRecord<LedgerEventValue>): Promise<void> {
    return this.processBatch([record]);
  }

  async processBatch(records: ReadonlyArray<InputRecord<LedgerEventValue>>): Promise<void> {
    let state = ownCopy((await this.store.get(STATE_KEY)) ?? INITIAL);
    let openBytes = state.open ? openBatchBytes(state.open) : 0;
    for (const record of records) {
      if (isTaken(state, record)) continue;
      let adds = bytesAdded(state.open, record.value);
      if (state.open && openBytes + adds > MAX_BATCH_BYTES) {
        state = this.seal(state);
        adds = bytesAdded(null, record.value);
        openBytes = 0;
      }
      openBytes += adds;
      state = this.append(state, record);
      if (state.open && state.open.leaves.length >= this.options.batchSize) {
        state = this.seal(state);
        openBytes = 0;
      }
    }
    this.store.put(STATE_KEY, state);
  }

  async endOfInput(): Promise<void> {
    const state = (await this.store.get(STATE_KEY)) ?? INITIAL;
    if (state.open) this.store.put(STATE_KEY, this.seal(state));
  }

  private async sealIfExpired(nowMs: number): Promise<void> {
    const state = await this.store.get(STATE_KEY);
    if (state?.open && nowMs - state.open.openedAtMs >= this.options.batchMaxWaitMs) this.store.put(STATE_KEY, this.seal(state));
  }

  private append(state: BatchState, record: InputRecord<LedgerEventValue>): BatchState {
    const bundleId = record.value.export.bundleId;
    const open = state.open;
    if (!open) {
      const opened: OpenBatch = { firstOffset: record.offset, lastOffset: record.offset, leaves: [record.value.eventHash], bundleIds: bundleId ? [bundleId] : [], openedAtMs: this.context.wallClockMs() };
      return { ...state, open: opened };
    }
    open.lastOffset = record.offset;
    open.leaves.push(record.value.eventHash);
    if (bundleId && !open.bundleIds.includes(bundleId)) open.bundleIds.push(bundleId);
    return state;
  }

  private seal(state: BatchState): BatchState {
    const open = state.open;
    if (!open) return state;
    const root: MerkleRootRecord = signMerkleRoot(
      {
        partition: this.context.partition,
        batchSeq: state.nextBatchSeq,
        firstOffset: open.firstOffset,
        lastOffset: open.lastOffset,
        leafCount: open.leaves.length,
        leaves: open.leaves,
        rootHash: batchRootHash(open.leaves),
        anchorReference: airgapAnchorReference(this.context.partition, state.nextBatchSeq),
        bundleIds: open.bundleIds,
        previousSignature: state.previousSignature,
        keyId: this.options.keyId,
        sealedAt: new Date(this.context.wallClockMs()).toISOString(),
      },
      this.options.sign,
    );
    // Partition P's roots go to partition P of the roots topic: the projector's task P reads
    // the events and the roots of one partition together.
    this.context.forward({ topic: this.options.topics.roots, key: String(this.context.partition), partition: this.context.partition, value: root });
    this.context.recordOutcome('sealed');
    this.context.observe('merkle_batch_leaves', open.leaves.length);
    return { nextBatchSeq: state.nextBatchSeq + 1, previousSignature: root.signature, lastSealedOffset: open.lastOffset, open: null };
  }
}
