import { compareKeys } from './memory.js';
import type { ChangelogEntry, StorePartition } from './store.js';
import type { KeyValueStore } from '../runtime/types.js';

// Store values are JSON documents; the same bytes go to the local database and the changelog.
const encodeValue = (value: unknown): Buffer => Buffer.from(JSON.stringify(value), 'utf8');
export const decodeValue = <V>(bytes: Buffer): V => JSON.parse(bytes.toString('utf8')) as V;

interface PendingWrite<V> {
  readonly value: V | undefined; // undefined = delete
  readonly bytes: Buffer | null;
}

/**
 * The writes of one batch against one store partition. Reads see the batch's own writes; the
 * writes become changelog records (produced inside the Kafka transaction) and reach the local
 * database only after that transaction commits (`StorePartition.write`).
 */
export class StoreTransaction<V> implements KeyValueStore<V> {
  private readonly pending = new Map<string, PendingWrite<V>>();
  private readonly fetched = new Map<string, V | undefined>();

  constructor(private readonly partition: StorePartition) {}

  /** Reads many keys in one round trip before a batch runs. */
  async prefetch(keys: readonly string[]): Promise<void> {
    const missing = [...new Set(keys)].filter((k) => !this.fetched.has(k) && !this.pending.has(k));
    if (missing.length === 0) return;
    const values = await this.partition.getMany(missing);
    missing.forEach((k, i) => {
      const raw = values[i];
      this.fetched.set(k, raw === undefined ? undefined : decodeValue<V>(raw));
    });
  }

  async get(key: string): Promise<V | undefined> {
    const write = this.pending.get(key);
    if (write) return write.value;
    if (this.fetched.has(key)) return this.fetched.get(key);
    const raw = await this.partition.get(key);
    const value = raw === undefined ? undefined : decodeValue<V>(raw);
    this.fetched.set(key, value);
    return value;
  }

  async getMany(keys: readonly string[]): Promise<Array<V | undefined>> {
    await this.prefetch(keys);
    return keys.map((key) => {
      const write = this.pending.get(key);
      return write ? write.value : this.fetched.get(key);
    });
  }

  put(key: string, value: V): void {
    this.pending.set(key, { value, bytes: encodeValue(value) });
  }

  delete(key: string): void {
    this.pending.set(key, { value: undefined, bytes: null });
  }

  async *range(prefix: string): AsyncIterable<readonly [string, V]> {
    const merged = new Map<string, V>();
    for await (const [k, raw] of this.partition.range(prefix)) merged.set(k, decodeValue<V>(raw));
    for (const [k, w] of this.pending) {
      if (!k.startsWith(prefix)) continue;
      if (w.value === undefined) merged.delete(k);
      else merged.set(k, w.value);
    }
    for (const k of [...merged.keys()].sort(compareKeys)) yield [k, merged.get(k) as V] as const;
  }

  /** The changelog records of this batch, one per key written (the last write wins). */
  changes(): ChangelogEntry[] {
    return [...this.pending].map(([key, w]) => ({ key, value: w.bytes }));
  }

  get size(): number {
    return this.pending.size;
  }
}
