// Layers, as in Quix Streams: a Store has one StorePartition (one database) per Kafka partition;
// each batch works in a StoreTransaction (state/transaction.ts) whose writes reach the partition
// only after the Kafka transaction that carried them to the changelog has committed.

export interface ChangelogEntry {
  readonly key: string;
  /** Null is a tombstone (delete). */
  readonly value: Buffer | null;
}

/** A changelog record as read back from Kafka: key and value bytes exactly as produced. */
export interface ChangelogRecord {
  readonly key: Buffer | null;
  /** Null is a tombstone (delete). */
  readonly value: Buffer | null;
}

export interface StorePartition {
  get(key: string): Promise<Buffer | undefined>;
  getMany(keys: readonly string[]): Promise<Array<Buffer | undefined>>;
  /**
   * Entries whose key starts with `prefix`, in byte order of the keys; with `after`, only keys
   * after it (a page's start). A caller that stops early ends the underlying iterator.
   */
  range(prefix: string, after?: string): AsyncIterable<readonly [string, Buffer]>;
  /**
   * Applies entries atomically together with the changelog offset they were read from or
   * written at, so a restart knows where to resume restoring.
   */
  write(entries: readonly ChangelogEntry[], changelogOffset: number | null): Promise<void>;
  /**
   * Restore: applies changelog records as read, keys as bytes (not decoded to strings and
   * encoded again), skipping records without a key; the offset of the last one is stored with
   * the last of them. A partition may apply them in several writes: until the last, the stored
   * offset stays the previous one, and restoring again from it gives the same store.
   */
  restore(records: readonly ChangelogRecord[], changelogOffset: number): Promise<void>;
  /** Offset of the last changelog record this partition holds (null: none yet). */
  changelogOffset(): Promise<number | null>;
  /** Drops every entry and the changelog offset (a store ahead of its changelog starts over). */
  clear(): Promise<void>;
  close(): Promise<void>;
}

export interface StoreBackend {
  readonly kind: 'rocksdb' | 'memory';
  open(store: string, partition: number): Promise<StorePartition>;
  /** Removes a partition's local data (a wiped directory restores from the changelog). */
  destroy(store: string, partition: number): Promise<void>;
}

export class StoreError extends Error {
  constructor(
    readonly code: 'STORE_OPEN_FAILED' | 'STORE_IO' | 'STORE_CLOSED',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'StoreError';
  }
}
