// Offline audit of a ledger dump (DESIGN.md 4, `ledger verify`): every event's eventHash is
// recomputed from its content, every batch's root from its leaves, every leaf is checked against
// the events of its partition in offset order, the signature of every batch against the keyring,
// and the chain through previousSignature. The first inconsistency is a typed error with a
// message precise enough to find the record.
import { digestsEqual } from '../contracts/digests.js';
import type { Keyring } from '../contracts/keyring.js';
import { ledgerEventHash, type LedgerEventBody } from '../contracts/ledger-event.js';
import { batchRootHash, eventLeafHash, merkleRootSignatureValid, type MerkleRootRecord } from '../contracts/merkle-root.js';
import { rfc6962Sha256 } from './hasher.js';
import { inclusionProof } from './proof.js';

export interface DumpRecord<V> {
  readonly partition: number;
  readonly offset: number;
  readonly key: string | null;
  readonly value: V;
}

export type AuditErrorCode =
  | 'ERR_AUDIT_EVENT_HASH'
  | 'ERR_AUDIT_ROOT_HASH'
  | 'ERR_AUDIT_LEAF_COUNT'
  | 'ERR_AUDIT_LEAF'
  | 'ERR_AUDIT_SIGNATURE'
  | 'ERR_AUDIT_CHAIN'
  | 'ERR_AUDIT_SEQUENCE'
  | 'ERR_AUDIT_UNSEALED'
  | 'ERR_AUDIT_UNKNOWN_EVENT';

export class AuditError extends Error {
  constructor(
    readonly code: AuditErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'AuditError';
  }
}

export interface AuditSummary {
  readonly events: number;
  readonly batches: number;
  readonly partitions: number;
}

type LedgerEventRecord = LedgerEventBody & { readonly eventHash: string };

export function auditLedger(options: {
  events: ReadonlyArray<DumpRecord<LedgerEventRecord>>;
  roots: ReadonlyArray<DumpRecord<MerkleRootRecord>>;
  keyring: Keyring;
}): AuditSummary {
  for (const e of options.events) checkEventHash(e);
  const eventsByPartition = groupBy(options.events, (e) => e.partition, (a, b) => a.offset - b.offset);
  const rootsByPartition = groupBy(options.roots, (r) => r.value.partition, (a, b) => a.value.batchSeq - b.value.batchSeq);
  for (const partition of new Set([...eventsByPartition.keys(), ...rootsByPartition.keys()])) {
    auditPartition(partition, eventsByPartition.get(partition) ?? [], (rootsByPartition.get(partition) ?? []).map((r) => r.value), options.keyring);
  }
  return { events: options.events.length, batches: options.roots.length, partitions: new Set(options.events.map((e) => e.partition)).size };
}

function checkEventHash(e: DumpRecord<LedgerEventRecord>): void {
  const { eventHash, ...body } = e.value;
  const computed = ledgerEventHash(body);
  if (!digestsEqual(computed, eventHash)) {
    throw new AuditError('ERR_AUDIT_EVENT_HASH', `ledger.events partition ${e.partition} offset ${e.offset}: eventHash ${eventHash} does not match the event's content (it hashes to ${computed})`);
  }
}

function auditPartition(partition: number, events: ReadonlyArray<DumpRecord<LedgerEventRecord>>, roots: readonly MerkleRootRecord[], keyring: Keyring): void {
  let eventIndex = 0;
  let previous: MerkleRootRecord | null = null;
  for (const root of roots) {
    const where = `partition ${partition} batch ${root.batchSeq}`;
    const expectedSeq = previous ? previous.batchSeq + 1 : 0;
    if (root.batchSeq !== expectedSeq) throw new AuditError('ERR_AUDIT_SEQUENCE', `${where}: expected batchSeq ${expectedSeq} (batches missing or repeated)`);
    if (root.previousSignature !== (previous ? previous.signature : null)) {
      throw new AuditError('ERR_AUDIT_CHAIN', `${where}: previousSignature does not match the signature of ${previous ? `batch ${previous.batchSeq}` : 'nothing (batch 0 must have null)'}`);
    }
    if (root.leafCount !== root.leaves.length) throw new AuditError('ERR_AUDIT_LEAF_COUNT', `${where}: leafCount ${root.leafCount} but ${root.leaves.length} leaves`);
    const computedRoot = batchRootHash(root.leaves);
    if (!digestsEqual(computedRoot, root.rootHash)) throw new AuditError('ERR_AUDIT_ROOT_HASH', `${where}: rootHash ${root.rootHash} but the leaves give ${computedRoot}`);
    // The leaves are exactly the partition's events in [firstOffset, lastOffset], in offset order.
    if (eventIndex < events.length && events[eventIndex].offset < root.firstOffset) {
      throw new AuditError('ERR_AUDIT_UNSEALED', `partition ${partition} offset ${events[eventIndex].offset}: event is in no batch (${where} starts at offset ${root.firstOffset})`);
    }
    root.leaves.forEach((leaf, i) => {
      const event = events[eventIndex + i];
      if (!event || event.offset > root.lastOffset) {
        throw new AuditError('ERR_AUDIT_UNKNOWN_EVENT', `${where} leaf ${i}: ${leaf} has no event in offsets ${root.firstOffset}..${root.lastOffset}`);
      }
      if (!digestsEqual(event.value.eventHash, leaf)) {
        throw new AuditError('ERR_AUDIT_LEAF', `${where} leaf ${i}: ${leaf}, but the event at offset ${event.offset} has eventHash ${event.value.eventHash}`);
      }
    });
    eventIndex += root.leaves.length;
    // Content first, signature last: each kind of tampering gets its own message.
    const key = keyring.lookup(root.keyId);
    if (!key) throw new AuditError('ERR_AUDIT_SIGNATURE', `${where}: signing key ${root.keyId} is not in the keyring`);
    // Fail closed, as validate does for exports: a revoked key's signatures prove nothing (the
    // keyring has no revocation time, so none of them can be told apart from a forgery).
    if (key.status === 'revoked') throw new AuditError('ERR_AUDIT_SIGNATURE', `${where}: signing key ${root.keyId} is revoked in the keyring`);
    if (!merkleRootSignatureValid(root, key.publicKey)) throw new AuditError('ERR_AUDIT_SIGNATURE', `${where}: signature does not verify with key ${root.keyId}`);

    if (eventIndex < events.length && events[eventIndex].offset <= root.lastOffset) {
      throw new AuditError('ERR_AUDIT_LEAF_COUNT', `${where}: event at offset ${events[eventIndex].offset} lies inside the batch but is not one of its leaves`);
    }
    previous = root;
  }
  if (eventIndex < events.length) {
    throw new AuditError('ERR_AUDIT_UNSEALED', `partition ${partition}: ${events.length - eventIndex} event(s) from offset ${events[eventIndex].offset} are in no sealed batch`);
  }
}

function groupBy<T>(items: readonly T[], key: (t: T) => number, order: (a: T, b: T) => number): Map<number, T[]> {
  const groups = new Map<number, T[]>();
  for (const item of items) {
    const group = groups.get(key(item));
    if (group) group.push(item);
    else groups.set(key(item), [item]);
  }
  for (const list of groups.values()) list.sort(order);
  return groups;
}

export interface InclusionProofReport {
  readonly eventHash: string;
  readonly partition: number;
  readonly batchSeq: number;
  readonly leafIndex: number;
  readonly treeSize: number;
  readonly leafHash: string;
  readonly auditPath: readonly string[];
  readonly rootHash: string;
  readonly anchorReference: string;
  readonly keyId: string;
  readonly signature: string;
}

/** The RFC 6962 audit path of one event inside its sealed batch, or null when no batch holds it. */
export function proveEvent(eventHash: string, roots: ReadonlyArray<DumpRecord<MerkleRootRecord>>): InclusionProofReport | null {
  for (const { value: root } of roots) {
    const leafIndex = root.leaves.findIndex((leaf) => digestsEqual(leaf, eventHash));
    if (leafIndex < 0) continue;
    const leafHashes = root.leaves.map(eventLeafHash);
    return {
      eventHash: root.leaves[leafIndex],
      partition: root.partition,
      batchSeq: root.batchSeq,
      leafIndex,
      treeSize: root.leaves.length,
      leafHash: leafHashes[leafIndex].toString('hex'),
      auditPath: inclusionProof(rfc6962Sha256, leafHashes, leafIndex).map((h) => h.toString('hex')),
      rootHash: root.rootHash,
      anchorReference: root.anchorReference,
      keyId: root.keyId,
      signature: root.signature,
    };
  }
  return null;
}
