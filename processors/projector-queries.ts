// Queries over the projector's committed projections (DESIGN.md 5): tenant freshness, the runs
// of a tenant with stable pagination, and the staleness of every hosted tenant for the gauge.
// The HTTP routes are a thin shell over these (projectorRoutes).
import type { IncomingMessage } from 'node:http';
import { freshnessOf, newerBundle, stalenessSeconds, type FreshnessReport, type NewestBundle } from '../contracts/airgap.js';
import { compareInstants, parseUtcInstant } from '../contracts/utc-instant.js';
import type { RouteHandler } from '../runtime/http.js';
import { CommittedPrefixView, ReadOnlyStore, type HostedStores } from '../state/query.js';
import { RUNS_PROJECTION_STORE, TENANT_PREFIX, tenantKey, TENANTS_STORE, type RunProjection, type TenantProjection, type TimelineEntry } from './projector.js';
import { runKey } from './validate-core.js';

export interface ProjectionQueryOptions {
  readonly stores: HostedStores;
  /** Partitions of the projector's input topics (which partition owns a tenant). */
  readonly partitions: number;
  readonly freshnessThresholdSeconds: number;
  readonly clock: () => number;
}

export class NotHostedError extends Error {
  readonly code = 'NOT_HOSTED' as const;
}

export class BadQueryError extends Error {
  readonly code = 'BAD_QUERY' as const;
}

export const DEFAULT_PAGE_SIZE = 100;
export const MAX_PAGE_SIZE = 1000;

export interface RunSummary extends TimelineEntry {
  readonly startedAt: string;
}

export interface RunsPage {
  readonly tenant: string;
  readonly runs: readonly RunSummary[];
  /** Opaque; pass as `cursor` for the next page. Null on the last page. */
  readonly nextCursor: string | null;
  /** Runs live in every partition: a page is complete only when all are hosted here. */
  readonly partitions: { readonly hosted: readonly number[]; readonly total: number };
}

export class ProjectionQueries {
  private readonly tenants: ReadOnlyStore<unknown>;
  private readonly runs: ReadOnlyStore<RunProjection>;
  /** Every tenant's projection in memory: a scrape reads 10,000 tenants without touching RocksDB. */
  private readonly tenantIndex: CommittedPrefixView<TenantProjection>;

  constructor(private readonly options: ProjectionQueryOptions) {
    this.tenants = new ReadOnlyStore<unknown>(options.stores, TENANTS_STORE);
    this.runs = new ReadOnlyStore<RunProjection>(options.stores, RUNS_PROJECTION_STORE);
    this.tenantIndex = new CommittedPrefixView<TenantProjection>(options.stores, TENANTS_STORE, TENANT_PREFIX);
  }

  /**
   * The tenant's freshness (DESIGN.md 5). Its bundles live in the partition their key (the
   * tenantId) was sent to — by whichever partitioner the producer uses (murmur2 for Java and
   * KafkaJS, CRC32 for librdkafka), so every hosted partition is asked and the newest bundle wins.
   */
  async freshness(tenant: string): Promise<FreshnessReport> {
    const newest = await this.newestBundle(tenant);
    const hosted = this.tenants.partitions();
    if (newest === null && hosted.length < this.options.partitions) {
      throw new NotHostedError(`no bundle of tenant ${tenant} in the partitions hosted here (${hosted.join(', ') || 'none'} of ${this.options.partitions}); ask the instance hosting the others`);
    }
    return freshnessOf(tenant, newest, this.options.clock(), this.options.freshnessThresholdSeconds);
  }

  private async newestBundle(tenant: string): Promise<NewestBundle | null> {
    let newest: NewestBundle | null = null;
    for (const partition of this.tenants.partitions()) {
      const projection = (await this.tenants.get(tenantKey(tenant), partition)) as TenantProjection | undefined;
      if (projection) newest = newerBundle(newest, projection.newest);
    }
    return newest;
  }

  /**
   * The tenant's runs ordered by (runId, startedAt), `limit` per page after `cursor` — the
   * export contract's stable order: a run appearing between two pages lands where it sorts,
   * and no run is repeated or skipped. A run is one key, `tenantId/runId`, and runIds are UUIDs
   * (DESIGN.md 3.3), so key byte order is runId order and a page is read from the cursor's key
   * on, not from the tenant's first run.
   */
  async runsOf(tenant: string, options: { limit?: number; cursor?: string | null } = {}): Promise<RunsPage> {
    const limit = options.limit ?? DEFAULT_PAGE_SIZE;
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE_SIZE) throw new BadQueryError(`limit must be an integer in 1..${MAX_PAGE_SIZE}`);
    const after = options.cursor ? decodeCursor(options.cursor) : null;
    const page = await this.runs.page(`${tenant}/`, {
      after: after ? runKey(tenant, after.runId) : null,
      limit,
      // A tenant whose id extends this one past a slash shares the key prefix.
      accept: (p) => p.entry.tenantId === tenant,
    });
    const runs = page.entries.map(([, p]): RunSummary => ({ ...p.entry, startedAt: p.startedAt })).sort(compareRuns);
    const last = runs[runs.length - 1];
    return {
      tenant,
      runs,
      nextCursor: page.more && last ? encodeCursor(last) : null,
      partitions: { hosted: this.runs.partitions(), total: this.options.partitions },
    };
  }

  /** Staleness of every tenant whose bundles this instance hosts, at `nowMs` (the gauge): one value per tenant. */
  async staleness(nowMs: number): Promise<Array<{ tenant: string; seconds: number }>> {
    const newest = new Map<string, NewestBundle>();
    for (const [key, value] of await this.tenantIndex.entries()) {
      const tenant = key.slice(TENANT_PREFIX.length);
      const current = newest.get(tenant);
      newest.set(tenant, current ? newerBundle(current, value.newest) : value.newest);
    }
    return [...newest].map(([tenant, bundle]) => ({ tenant, seconds: stalenessSeconds(bundle, nowMs) }));
  }
}

type RunPosition = Pick<RunSummary, 'runId' | 'startedAt'>;

function compareRuns(a: RunPosition, b: RunPosition): number {
  if (a.runId !== b.runId) return a.runId < b.runId ? -1 : 1;
  const left = parseUtcInstant(a.startedAt);
  const right = parseUtcInstant(b.startedAt);
  return left && right ? compareInstants(left, right) : a.startedAt < b.startedAt ? -1 : a.startedAt > b.startedAt ? 1 : 0;
}

const encodeCursor = (run: RunPosition): string => Buffer.from(JSON.stringify([run.runId, run.startedAt]), 'utf8').toString('base64url');

function decodeCursor(cursor: string): RunPosition {
  try {
    const parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown;
    if (Array.isArray(parsed) && parsed.length === 2 && typeof parsed[0] === 'string' && typeof parsed[1] === 'string') {
      return { runId: parsed[0], startedAt: parsed[1] };
    }
  } catch {
    // reported below
  }
  throw new BadQueryError('cursor is not one this API returned');
}

const FRESHNESS_PATH = /^\/v1\/tenants\/([^/]+)\/freshness$/;
const RUNS_PATH = /^\/v1\/tenants\/([^/]+)\/runs$/;

/**
 * `GET /v1/tenants/:tenant/freshness` → 200, or 409 with the ERR_AIRGAP_STALE JSON;
 * `GET /v1/tenants/:tenant/runs?limit=&cursor=` → 200 page. 400 for a bad query, 503 when the
 * partition that owns the answer is not hosted here (or not restored yet).
 */
export function projectorRoutes(queries: ProjectionQueries): RouteHandler[] {
  const answer = async (work: () => Promise<{ status: number; body: unknown }>) => {
    try {
      return await work();
    } catch (error) {
      if (error instanceof BadQueryError) return { status: 400, body: { error: error.message } };
      if (error instanceof NotHostedError) return { status: 503, body: { error: error.message } };
      throw error;
    }
  };
  return [
    async (_request: IncomingMessage, url: URL) => {
      const match = FRESHNESS_PATH.exec(url.pathname);
      if (!match) return null;
      return answer(async () => {
        const report = await queries.freshness(decodeSegment(match[1]));
        return { status: report.stale ? 409 : 200, body: report };
      });
    },
    async (_request: IncomingMessage, url: URL) => {
      const match = RUNS_PATH.exec(url.pathname);
      if (!match) return null;
      return answer(async () => {
        const limitText = url.searchParams.get('limit');
        const limit = limitText === null ? undefined : /^\d{1,7}$/.test(limitText) ? Number(limitText) : NaN;
        return { status: 200, body: await queries.runsOf(decodeSegment(match[1]), { limit, cursor: url.searchParams.get('cursor') }) };
      });
    },
  ];
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new BadQueryError('tenant is not valid percent-encoding');
  }
}
