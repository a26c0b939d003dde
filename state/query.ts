// Read-only queries over the committed state of the stores an instance hosts, like Kafka
// Streams' interactive queries: the query API and the staleness gauge read projections here,
// never through a processor. Only restored partitions are listed, and only committed writes
// are visible (a store partition receives a batch's writes after its transaction commits).
import type { StorePartition } from './store.js';
import { compareKeys } from './memory.js';
import { decodeValue } from './transaction.js';

export interface HostedPartition {
  readonly partition: number;
  readonly store: StorePartition;
}

/** Implemented by both drivers. */
export interface HostedStores {
  hosted(store: string): readonly HostedPartition[];
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

  /** Entries under `prefix` of every hosted partition, merged in key order. */
  async range(prefix: string): Promise<Array<readonly [string, V]>> {
    const entries: Array<readonly [string, V]> = [];
    for (const { store } of this.source.hosted(this.name)) {
      for await (const [key, raw] of store.range(prefix)) entries.push([key, decodeValue<V>(raw)]);
    }
    return entries.sort((a, b) => compareKeys(a[0], b[0]));
  }
}
