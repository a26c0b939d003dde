// Every Prometheus metric of the pipeline, declared once (DESIGN.md 5, "Metrics"). Names follow
// Prometheus conventions: base units (seconds), `_total` for counters.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { MetricsSink } from './runtime/types.js';

export interface PipelineMetrics {
  readonly registry: Registry;
  readonly recordsTotal: Counter<'processor' | 'outcome'>;
  readonly rejectedTotal: Counter<'code'>;
  readonly merkleBatchLeaves: Histogram<string>;
  readonly dsseVerifySeconds: Histogram<string>;
  readonly projectionLagSeconds: Gauge<'topic'>;
  readonly consumerLag: Gauge<'group' | 'topic' | 'partition'>;
  readonly airgapStalenessSeconds: Gauge<'tenant'>;
  /** Newest record timestamp the projector has applied, per input topic (for the lag gauge). */
  readonly projectorApplied: Map<string, number>;
  /** Where scrapes read staleness from, once the stores exist (before that: no series). */
  useStaleness(source: StalenessSource): void;
}

/**
 * Staleness is computed at scrape time from the committed projections (seconds at `nowMs`), so
 * it grows between bundle imports.
 */
export type StalenessSource = (nowMs: number) => Promise<Iterable<{ readonly tenant: string; readonly seconds: number }>>;

export interface MetricsOptions {
  defaultMetrics?: boolean;
  /** The scrape clock (replay fixes it at --now). */
  clock?: () => number;
}

/** The processor whose applied records ledger_projection_lag_seconds measures. */
const PROJECTOR = 'projector';

export function createMetrics(options: MetricsOptions = {}): PipelineMetrics {
  const registry = new Registry();
  if (options.defaultMetrics !== false) registerProcessMetrics(registry);
  const clock = options.clock ?? Date.now;
  const projectorApplied = new Map<string, number>();
  let staleness: StalenessSource | null = null;
  return {
    projectorApplied,
    useStaleness(source) {
      staleness = source;
    },
    registry,
    recordsTotal: new Counter({
      name: 'ledger_records_total',
      help: 'Records processed, by processor and outcome (accepted, duplicate, rejected, ...).',
      labelNames: ['processor', 'outcome'],
      registers: [registry],
    }),
    rejectedTotal: new Counter({
      name: 'ledger_rejected_total',
      help: 'Rejected records by rejection code.',
      labelNames: ['code'],
      registers: [registry],
    }),
    merkleBatchLeaves: new Histogram({
      name: 'ledger_merkle_batch_leaves',
      help: 'Leaves per sealed Merkle batch.',
      buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096],
      registers: [registry],
    }),
    dsseVerifySeconds: new Histogram({
      name: 'ledger_dsse_verify_seconds',
      help: 'Time to verify the DSSE signatures of one export.',
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05],
      registers: [registry],
    }),
    projectionLagSeconds: new Gauge({
      name: 'ledger_projection_lag_seconds',
      help: 'Age of the newest record the projector has applied, per input topic, at scrape time.',
      labelNames: ['topic'],
      registers: [registry],
      collect() {
        this.reset();
        const now = clock();
        for (const [topic, newestMs] of projectorApplied) this.set({ topic }, Math.max(0, (now - newestMs) / 1000));
      },
    }),
    consumerLag: new Gauge({
      name: 'ledger_consumer_lag_records',
      help: 'Records between the committed position and the end of each input partition.',
      labelNames: ['group', 'topic', 'partition'],
      registers: [registry],
    }),
    airgapStalenessSeconds: new Gauge({
      name: 'ledger_airgap_staleness_seconds',
      help: 'Seconds since the newest air-gap bundle timeAnchor of each tenant, computed at scrape time.',
      labelNames: ['tenant'],
      registers: [registry],
      async collect() {
        this.reset();
        if (!staleness) return;
        for (const { tenant, seconds } of await staleness(clock())) this.set({ tenant }, seconds);
      },
    }),
  };
}

/**
 * prom-client's default process metrics, minus three gauges named like counters
 * (`nodejs_active_{handles,requests,resources}_total`), which `promtool check metrics` refuses;
 * their information stays in the `nodejs_active_{handles,requests,resources}` gauges (by type).
 */
const MISNAMED_DEFAULT_GAUGES = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];

function registerProcessMetrics(registry: Registry): void {
  collectDefaultMetrics({ register: registry });
  for (const name of MISNAMED_DEFAULT_GAUGES) registry.removeSingleMetric(name);
}

/** The runtime's committed outcomes and observations, into these metrics. */
export function metricsSink(metrics: PipelineMetrics, options: { timings?: boolean } = {}): MetricsSink {
  // Offline replay leaves timings out, so its metrics.prom is a function of the input.
  const timings = options.timings !== false;
  return {
    outcome(processor, outcome, code) {
      metrics.recordsTotal.inc({ processor, outcome });
      if (code) metrics.rejectedTotal.inc({ code });
    },
    observe(_processor, name, value) {
      if (name === 'merkle_batch_leaves') metrics.merkleBatchLeaves.observe(value);
      else if (timings) metrics.dsseVerifySeconds.observe(value);
    },
    consumerLag(group, topic, partition, records) {
      metrics.consumerLag.set({ group, topic, partition: String(partition) }, records);
    },
    applied(processor, topic, timestampMs) {
      if (processor !== PROJECTOR) return;
      metrics.projectorApplied.set(topic, Math.max(metrics.projectorApplied.get(topic) ?? -Infinity, timestampMs));
    },
  };
}
