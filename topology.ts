// The pipeline's wiring, and the one place that declares topics (partitions, configs),
// processors and stores (DESIGN.md 1, 2, 6). Names only: the logic lives in processors/.
import type { ProcessorSpec, StoreSpec, TopicSpec, Topology } from './runtime/topology-types.js';

export const TOPICS = {
  exportsCreated: 'orchestrator.export.created',
  airgapBundles: 'ledger.airgap.bundles',
  validated: 'ledger.exports.validated',
  rejected: 'ledger.exports.rejected',
  duplicates: 'ledger.exports.duplicates',
  events: 'ledger.events',
  merkleRoots: 'ledger.merkle.roots',
  timeline: 'ledger.timeline',
  airgapTimeline: 'ledger.airgap.timeline',
} as const;

const INFINITE = { 'retention.ms': '-1' };
const YEAR_MS = String(365 * 24 * 3600 * 1000);

/** Avro record of each typed topic's values (the input topics also accept JSON). */
export const TOPIC_RECORDS: Readonly<Record<string, string>> = {
  [TOPICS.exportsCreated]: 'Export',
  [TOPICS.airgapBundles]: 'AirgapBundleImport',
  [TOPICS.validated]: 'ValidatedExport',
  [TOPICS.rejected]: 'Rejection',
  [TOPICS.duplicates]: 'Duplicate',
  [TOPICS.events]: 'LedgerEvent',
  [TOPICS.merkleRoots]: 'MerkleRoot',
  [TOPICS.timeline]: 'TimelineEntry',
  [TOPICS.airgapTimeline]: 'AirgapImpact',
};

/** Input topics carry JSON or Avro from producers; processors read their raw bytes. */
export const JSON_INPUT_TOPICS: readonly string[] = [TOPICS.exportsCreated, TOPICS.airgapBundles];

export function pipelineTopics(partitions: number): TopicSpec[] {
  const avro = (name: string) => ({ kind: 'avro' as const, record: TOPIC_RECORDS[name] });
  return [
    { name: TOPICS.exportsCreated, partitions, value: { kind: 'raw' }, doc: 'input: exports, JSON or Avro' },
    { name: TOPICS.airgapBundles, partitions, value: { kind: 'raw' }, doc: 'input: air-gap bundle imports, JSON or Avro' },
    { name: TOPICS.validated, partitions, value: avro(TOPICS.validated), doc: 're-keyed tenantId/runId' },
    { name: TOPICS.rejected, partitions, value: avro(TOPICS.rejected), config: { 'retention.ms': YEAR_MS }, doc: 'dead letters' },
    { name: TOPICS.duplicates, partitions, value: avro(TOPICS.duplicates) },
    { name: TOPICS.events, partitions, value: avro(TOPICS.events), config: INFINITE, doc: 'the ledger' },
    { name: TOPICS.merkleRoots, partitions, value: avro(TOPICS.merkleRoots), config: INFINITE },
    { name: TOPICS.timeline, partitions, value: avro(TOPICS.timeline), config: { 'cleanup.policy': 'compact' } },
    { name: TOPICS.airgapTimeline, partitions, value: avro(TOPICS.airgapTimeline), config: { 'cleanup.policy': 'compact' } },
  ];
}

export interface PipelineParts {
  readonly appId: string;
  readonly partitions: number;
  readonly processors: readonly ProcessorSpec[];
  readonly stores: readonly StoreSpec[];
}

export function pipelineTopology(parts: PipelineParts): Topology {
  return { appId: parts.appId, topics: pipelineTopics(parts.partitions), stores: parts.stores, processors: parts.processors };
}
