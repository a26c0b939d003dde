// Read-only queries over the committed state of the stores an instance hosts, like Kafka
// Streams' interactive queries: the query API and the staleness gauge read projections here,
// never through a processor. Only restored partitions are listed, and only committed writes
// are visible (a store partition receives a batch's writes after its transaction commits).
import type { ChangelogEntry, StorePartition } from './store.js';
import { compareKeys } from './memory.js';
import { decodeValue } from './transaction.js';

export interface HostedPartition {
  readonly partition: number;
  readonly store: StorePartition;
}

/** Implemented by both drivers. */
export interface HostedStores {
  hosted(store: string): readonly HostedPartition[];
  /** Calls `listener` with every batch of writes committed to `store` from now on, on any partition hosted here. */
  onCommitted(store: string, listener: CommittedWriteListener): void;
}

export class ReadOnlyStore<V> {
  constructor(
    private readonly source: HostedStores,
    private readonly name: string,
  ) {}

  /** Partitions of this store hosted (and restored) here. */
  partitions(): number[] {
    return this.source.hosted(this.name).map((h) => h.partition);
  }

  /** The value of `key` in the partition that owns it, if that partition is hosted here. */
  async get(key: string, partition: number): Promise<V | undefined> {
    const hosted = this.source.hosted(this.name).find((h) => h.partition === partition);
    const raw = hosted && (await hosted.store.get(key));
    return raw === undefined ? undefined : decodeValue<V>(raw);
  }

  /**
   * The first `limit` entries under `prefix` after the key `after` (all hosted partitions merged,
   * in key order) that `accept` keeps, and whether more follow. Reads at most limit + 1 accepted
   * entries per partition, so a page costs the same at the first run of a tenant and at its
   * millionth.
   */
  async page(prefix: string, options: { after: string | null; limit: number; accept?: (value: V) => boolean }): Promise<{ entries: Array<readonly [string, V]>; more: boolean }> {
    const entries: Array<readonly [string, V]> = [];
    for (const { store } of this.source.hosted(this.name)) {
      let taken = 0;
      for await (const [key, raw] of store.range(prefix, options.after ?? undefined)) {
        const value = decodeValue<V>(raw);
        if (options.accept && !options.accept(value)) continue;
        entries.push([key, value]);
        if (++taken > options.limit) break;
      }
    }
    entries.sort((a, b) => compareKeys(a[0], b[0]));
    return { entries: entries.slice(0, options.limit), more: entries.length > options.limit };
  }
}

export type CommittedWriteListener = (partition: number, entries: readonly ChangelogEntry[]) => void;

/** Fans committed store writes out to listeners (the drivers own one; tasks report into it). */
export class CommittedWrites {
  private readonly listeners = new Map<string, CommittedWriteListener[]>();

  on(store: string, listener: CommittedWriteListener): void {
    this.listeners.set(store, [...(this.listeners.get(store) ?? []), listener]);
  }

  emit(store: string, partition: number, entries: readonly ChangelogEntry[]): void {
    for (const listener of this.listeners.get(store) ?? []) listener(partition, entries);
  }
}

interface CachedPartition<V> {
  readonly store: StorePartition;
  readonly entries: Map<string, V>;
  /** Writes committed while the initial load runs, applied after it (in order). */
  pending: ChangelogEntry[] | null;
  loaded: Promise<void>;
}

/**
 * An in-memory copy of the entries under one prefix of a store, kept current from committed
 * writes: for questions asked often over many keys (a scrape over every tenant) without
 * iterating the database each time. A partition is loaded once when it becomes hosted (again),
 * and dropped when it is no longer hosted here.
 */
export class CommittedPrefixView<V> {
  private readonly partitions = new Map<number, CachedPartition<V>>();

  constructor(
    private readonly source: HostedStores,
    private readonly name: string,
    private readonly prefix: string,
  ) {
    source.onCommitted(name, (partition, entries) => this.apply(partition, entries));
  }

  /** The entries of every hosted partition (a key may appear once per partition). */
  async entries(): Promise<Array<readonly [string, V]>> {
    const hosted = this.source.hosted(this.name);
    const live = new Set(hosted.map((h) => h.partition));
    for (const partition of this.partitions.keys()) if (!live.has(partition)) this.partitions.delete(partition);
    for (const h of hosted) if (this.partitions.get(h.partition)?.store !== h.store) this.load(h);
    await Promise.all([...this.partitions.values()].map((c) => c.loaded));
    const result: Array<readonly [string, V]> = [];
    for (const cached of this.partitions.values()) if (cached.pending === null) for (const entry of cached.entries) result.push(entry);
    return result;
  }

  private load(hosted: HostedPartition): void {
    const cached: CachedPartition<V> = { store: hosted.store, entries: new Map(), pending: [], loaded: Promise.resolve() };
    this.partitions.set(hosted.partition, cached);
    cached.loaded = this.fill(hosted.partition, cached).catch(() => {
      // A partition closed mid-load (rebalance): forget it; the next call loads it again if hosted.
      if (this.partitions.get(hosted.partition) === cached) this.partitions.delete(hosted.partition);
    });
  }

  private async fill(partition: number, cached: CachedPartition<V>): Promise<void> {
    for await (const [key, raw] of cached.store.range(this.prefix)) cached.entries.set(key, decodeValue<V>(raw));
    if (this.partitions.get(partition) !== cached) return; // dropped or replaced meanwhile
    const pending = cached.pending ?? [];
    cached.pending = null;
    this.applyTo(cached, pending);
  }

  private apply(partition: number, entries: readonly ChangelogEntry[]): void {
    const cached = this.partitions.get(partition);
    if (!cached) return;
    const mine = entries.filter((e) => e.key.startsWith(this.prefix));
    if (cached.pending) cached.pending.push(...mine);
    else this.applyTo(cached, mine);
  }

  private applyTo(cached: CachedPartition<V>, entries: readonly ChangelogEntry[]): void {
    for (const { key, value } of entries) {
      if (value === null) cached.entries.delete(key);
      else cached.entries.set(key, decodeValue<V>(value));
    }
  }
}
