// The pipeline's wiring, and the one place that declares topics (partitions, configs),
// processors and stores (DESIGN.md 1, 2, 6). Names only: the logic lives in processors/.
import { DedupeProcessor, RUNS_STORE } from './processors/dedupe.js';
import { MERKLE_STORE, MerkleProcessor } from './processors/merkle.js';
import { ANCHORS_STORE, ProjectorProcessor, RUNS_PROJECTION_STORE, TENANTS_STORE } from './processors/projector.js';
import { ValidateProcessor, type ValidatePool } from './processors/validate.js';
import type { KeyringSource } from './runtime/keyring-source.js';
import { MAX_RECORD_BYTES, type DeadLetter, type ProcessorSpec, type StoreSpec, type TopicSpec, type Topology } from './runtime/topology-types.js';
import { rejectionValue } from './processors/validate-core.js';

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

/** Every topic takes records up to MAX_RECORD_BYTES (why: runtime/topology-types.ts). */
const LARGE = { 'max.message.bytes': String(MAX_RECORD_BYTES) };
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
    { name: TOPICS.exportsCreated, partitions, value: { kind: 'raw', record: 'Export' }, config: LARGE, doc: 'input: exports, JSON or Avro' },
    { name: TOPICS.airgapBundles, partitions, value: { kind: 'raw', record: 'AirgapBundleImport' }, config: LARGE, doc: 'input: air-gap bundle imports, JSON or Avro' },
    { name: TOPICS.validated, partitions, value: avro(TOPICS.validated), config: LARGE, doc: 're-keyed tenantId/runId' },
    { name: TOPICS.rejected, partitions, value: avro(TOPICS.rejected), config: { ...LARGE, 'retention.ms': YEAR_MS }, doc: 'dead letters' },
    { name: TOPICS.duplicates, partitions, value: avro(TOPICS.duplicates), config: LARGE },
    { name: TOPICS.events, partitions, value: avro(TOPICS.events), config: { ...LARGE, ...INFINITE }, doc: 'the ledger' },
    { name: TOPICS.merkleRoots, partitions, value: avro(TOPICS.merkleRoots), config: { ...LARGE, ...INFINITE } },
    { name: TOPICS.timeline, partitions, value: avro(TOPICS.timeline), config: { ...LARGE, 'cleanup.policy': 'compact' } },
    { name: TOPICS.airgapTimeline, partitions, value: avro(TOPICS.airgapTimeline), config: { ...LARGE, 'cleanup.policy': 'compact' } },
  ];
}

/** What the processors need from the outside world; the CLI builds it from config.ts. */
export interface PipelineDependencies {
  readonly appId: string;
  readonly partitions: number;
  readonly keyring: KeyringSource;
  readonly signaturesRequired: boolean;
  readonly validatePool: ValidatePool | null;
  /** Terminal runs are forgotten after this long (0: kept forever). */
  readonly dedupeRetentionMs: number;
  /** Merkle sealing; null when no signing key is configured (the merkle stage is then absent). */
  readonly merkle: {
    readonly batchSize: number;
    readonly batchMaxWaitMs: number;
    readonly keyId: string;
    readonly sign: (message: Buffer) => Buffer;
  } | null;
  /** Roots signed with this key id anchor the projections (null or absent: any root). */
  readonly projectorRootKeyId?: string | null;
  /** The processors to wire (default: all; merkle only with a signing key). */
  readonly processors?: readonly ProcessorName[];
}

export const PROCESSOR_NAMES = ['validate', 'dedupe', 'merkle', 'projector'] as const;

const STORES: readonly StoreSpec[] = [
  { name: RUNS_STORE, doc: 'per tenantId/runId: idempotencyKey, status, contentHash per status' },
  { name: MERKLE_STORE, doc: 'per partition: the open batch, next batchSeq, previous signature' },
  { name: RUNS_PROJECTION_STORE, doc: 'per tenantId/runId: the latest timeline entry (with its Merkle anchor) and startedAt' },
  { name: ANCHORS_STORE, doc: 'per eventHash: the run waiting for its root, or a root that arrived before its event' },
  { name: TENANTS_STORE, doc: 'per tenant: newest bundle and counts (t/), findings (f/), imported bundles (b/)' },
];
export type ProcessorName = (typeof PROCESSOR_NAMES)[number];

export function pipelineTopology(deps: PipelineDependencies): Topology {
  const validate: ProcessorSpec = {
    name: 'validate',
    inputs: [TOPICS.exportsCreated],
    outputs: [TOPICS.validated, TOPICS.rejected],
    stores: [],
    create: () =>
      new ValidateProcessor({
        topics: { input: TOPICS.exportsCreated, validated: TOPICS.validated, rejected: TOPICS.rejected },
        keyring: deps.keyring,
        signaturesRequired: deps.signaturesRequired,
        pool: deps.validatePool,
      }),
  };
  const dedupe: ProcessorSpec = {
    name: 'dedupe',
    inputs: [TOPICS.validated],
    outputs: [TOPICS.events, TOPICS.duplicates, TOPICS.rejected],
    stores: [RUNS_STORE],
    create: () =>
      new DedupeProcessor({
        topics: { events: TOPICS.events, duplicates: TOPICS.duplicates, rejected: TOPICS.rejected },
        terminalRetentionMs: deps.dedupeRetentionMs,
      }),
  };
  const merkleDeps = deps.merkle;
  const merkle: ProcessorSpec | null = merkleDeps && {
    name: 'merkle',
    inputs: [TOPICS.events],
    outputs: [TOPICS.merkleRoots],
    stores: [MERKLE_STORE],
    create: () => new MerkleProcessor({ topics: { roots: TOPICS.merkleRoots }, ...merkleDeps }),
  };
  const projector: ProcessorSpec = {
    name: 'projector',
    inputs: [TOPICS.events, TOPICS.merkleRoots, TOPICS.airgapBundles],
    outputs: [TOPICS.timeline, TOPICS.airgapTimeline, TOPICS.rejected],
    stores: [RUNS_PROJECTION_STORE, ANCHORS_STORE, TENANTS_STORE],
    create: () =>
      new ProjectorProcessor({
        topics: {
          events: TOPICS.events,
          roots: TOPICS.merkleRoots,
          bundles: TOPICS.airgapBundles,
          timeline: TOPICS.timeline,
          airgapTimeline: TOPICS.airgapTimeline,
          rejected: TOPICS.rejected,
        },
        rootKeyId: deps.projectorRootKeyId ?? null,
      }),
  };
  const wanted = (spec: ProcessorSpec | null): spec is ProcessorSpec => spec !== null && (deps.processors ?? PROCESSOR_NAMES).some((n) => n === spec.name);
  const processors = [validate, dedupe, merkle, projector].filter(wanted);
  return {
    appId: deps.appId,
    topics: pipelineTopics(deps.partitions),
    stores: STORES.filter((store) => processors.some((p) => p.stores.includes(store.name))),
    processors,
    deadLetter: UNDECODABLE_TO_REJECTED,
  };
}

/**
 * A value on an internal topic that no retry will decode (an unknown schema id, damaged bytes)
 * is rejected like a malformed export: ERR_MALFORMED on ledger.exports.rejected, with the
 * processor as its stage, its coordinates and its bytes.
 */
const UNDECODABLE_TO_REJECTED: DeadLetter = {
  topic: TOPICS.rejected,
  record: (input) => ({
    key: null,
    code: 'ERR_MALFORMED',
    value: rejectionValue({
      code: 'ERR_MALFORMED',
      message: `${input.processor} cannot decode this ${input.topic} value: ${input.reason}`,
      // Every processor of this topology is one of PROCESSOR_NAMES.
      stage: PROCESSOR_NAMES.find((name) => name === input.processor) ?? 'validate',
      source: { topic: input.topic, partition: input.partition, offset: input.offset },
      original: input.value,
    }),
  }),
};
