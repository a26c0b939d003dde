import { type ChangelogEntry, type ChangelogRecord, type StoreBackend, type StorePartition } from './store.js';

/** In-memory backend for unit tests: the same contract as RocksDB, nothing on disk. */
class MemoryPartition implements StorePartition {
  constructor(
    private readonly data: Map<string, Buffer>,
    private readonly meta: { offset: number | null },
  ) {}

  async get(key: string): Promise<Buffer | undefined> {
    return this.data.get(key);
  }

  async getMany(keys: readonly string[]): Promise<Array<Buffer | undefined>> {
    return keys.map((k) => this.data.get(k));
  }

  async *range(prefix: string, after?: string): AsyncIterable<readonly [string, Buffer]> {
    const keys = [...this.data.keys()].filter((k) => k.startsWith(prefix) && (after === undefined || compareKeys(k, after) > 0)).sort(compareKeys);
    for (const k of keys) {
      const v = this.data.get(k);
      if (v !== undefined) yield [k, v] as const;
    }
  }

  async write(entries: readonly ChangelogEntry[], changelogOffset: number | null): Promise<void> {
    for (const e of entries) {
      if (e.value === null) this.data.delete(e.key);
      else this.data.set(e.key, e.value);
    }
    if (changelogOffset !== null) this.meta.offset = changelogOffset;
  }

  async restore(records: readonly ChangelogRecord[], changelogOffset: number): Promise<void> {
    const entries: ChangelogEntry[] = [];
    for (const r of records) if (r.key !== null) entries.push({ key: r.key.toString('utf8'), value: r.value });
    return this.write(entries, changelogOffset);
  }

  async changelogOffset(): Promise<number | null> {
    return this.meta.offset;
  }

  async clear(): Promise<void> {
    this.data.clear();
    this.meta.offset = null;
  }

  async close(): Promise<void> {}
}

/** Byte order of UTF-8 keys, as RocksDB's default comparator sorts them. */
export function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

export class MemoryBackend implements StoreBackend {
  readonly kind = 'memory' as const;
  private readonly partitions = new Map<string, { data: Map<string, Buffer>; meta: { offset: number | null } }>();

  async open(store: string, partition: number): Promise<StorePartition> {
    const id = `${store}/${partition}`;
    let state = this.partitions.get(id);
    if (!state) {
      state = { data: new Map(), meta: { offset: null } };
      this.partitions.set(id, state);
    }
    return new MemoryPartition(state.data, state.meta);
  }

  async destroy(store: string, partition: number): Promise<void> {
    this.partitions.delete(`${store}/${partition}`);
  }
}
