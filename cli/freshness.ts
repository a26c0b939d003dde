import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Writable } from 'node:stream';
import { loadConfig } from '../config.js';
import type { FreshnessReport } from '../contracts/airgap.js';
import { ProjectionQueries } from '../processors/projector-queries.js';
import { TENANTS_STORE } from '../processors/projector.js';
import type { HostedPartition } from '../state/query.js';
import { RocksDbBackend } from '../state/rocksdb.js';
import { instantFlag, integerFlag, parseFlags, requiredFlag } from './args.js';
import { UsageError } from './errors.js';

export const FRESHNESS_USAGE = 'ledger freshness --tenant T [--url http://host:port | --dir REPLAY_OUT [--partitions N] [--now ISO]] [--threshold SECONDS]';

/**
 * `ledger freshness --tenant T`: prints the tenant's freshness JSON; exits 1 with the
 * ERR_AIRGAP_STALE JSON when the tenant is over the threshold (DESIGN.md 5, 7). Asks a running
 * pipeline's query API (default http://127.0.0.1:$METRICS_PORT), or reads the projections a
 * `ledger replay` left in DIR/state — offline, for sealed sites.
 */
export async function freshnessCommand(argv: readonly string[], stdout: Writable): Promise<number> {
  const flags = parseFlags('freshness', argv, {
    tenant: { type: 'string' },
    url: { type: 'string' },
    dir: { type: 'string' },
    partitions: { type: 'string' },
    now: { type: 'string' },
    threshold: { type: 'string' },
  });
  const tenant = requiredFlag('freshness', 'tenant', flags.tenant);
  if (flags.url !== undefined && flags.dir !== undefined) throw new UsageError('ledger freshness: give --url or --dir, not both');
  const config = loadConfig(process.env, flags.threshold !== undefined ? { AIRGAP_FRESHNESS_THRESHOLD_SECONDS: flags.threshold } : {});
  const report =
    flags.dir !== undefined
      ? await fromReplayState({
          dir: flags.dir,
          tenant,
          partitions: integerFlag('freshness', 'partitions', flags.partitions, 3),
          nowMs: flags.now === undefined ? Date.now() : instantFlag('freshness', 'now', flags.now),
          thresholdSeconds: config.freshnessThresholdSeconds,
        })
      : await fromQueryApi(flags.url ?? `http://127.0.0.1:${config.metricsPort}`, tenant, flags.threshold !== undefined);
  stdout.write(`${JSON.stringify(report)}\n`);
  return report.stale ? 1 : 0;
}

async function fromQueryApi(base: string, tenant: string, thresholdGiven: boolean): Promise<FreshnessReport> {
  if (thresholdGiven) throw new UsageError('ledger freshness: --threshold applies to --dir; a running pipeline uses its own AIRGAP_FRESHNESS_THRESHOLD_SECONDS');
  let url: URL;
  try {
    url = new URL(`/v1/tenants/${encodeURIComponent(tenant)}/freshness`, base);
  } catch {
    throw new UsageError(`ledger freshness: --url ${base} is not a URL`);
  }
  let response: Response;
  try {
    response = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  } catch (error) {
    throw new FreshnessQueryError(`cannot reach the query API at ${url.origin}: ${error instanceof Error ? (error.cause instanceof Error ? error.cause.message : error.message) : String(error)}`);
  }
  const body = (await response.json().catch(() => null)) as (FreshnessReport & { error?: string }) | null;
  if ((response.status === 200 || response.status === 409) && body && typeof body.stale === 'boolean') return body;
  throw new FreshnessQueryError(`${url.href} answered ${response.status}${body?.error ? `: ${body.error}` : ''}`);
}

async function fromReplayState(options: { dir: string; tenant: string; partitions: number; nowMs: number; thresholdSeconds: number }): Promise<FreshnessReport> {
  const stateDir = join(options.dir, 'state');
  // Opening a missing store would create an empty one and report a fresh tenant.
  if (!existsSync(join(stateDir, TENANTS_STORE))) throw new UsageError(`ledger freshness: ${options.dir} holds no projector state (${join(stateDir, TENANTS_STORE)}); run ledger replay --out ${options.dir} first`);
  const backend = new RocksDbBackend(stateDir);
  const hosted: HostedPartition[] = [];
  try {
    for (let partition = 0; partition < options.partitions; partition++) hosted.push({ partition, store: await backend.open(TENANTS_STORE, partition) });
    const queries = new ProjectionQueries({
      stores: { hosted: (store) => (store === TENANTS_STORE ? hosted : []), onCommitted: () => undefined }, // read-only: nothing commits
      partitions: options.partitions,
      freshnessThresholdSeconds: options.thresholdSeconds,
      clock: () => options.nowMs,
    });
    return await queries.freshness(options.tenant);
  } finally {
    for (const h of hosted) await h.store.close();
  }
}

export class FreshnessQueryError extends Error {
  readonly code = 'FRESHNESS_QUERY' as const;
}
