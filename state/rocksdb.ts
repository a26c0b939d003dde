import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import {
  StoreError,
  type ChangelogEntry,
  type ChangelogRecord,
  type StoreBackend,
  type StorePartition,
} from './store.js';

// The `rocksdb` package (Level) is CommonJS with a callback API; this is the only file that
// sees it. Everything above speaks StorePartition.
type Callback<T> = (error: Error | null | undefined, value: T) => void;
interface RawIterator {
  next(cb: (error: Error | null | undefined, key?: Buffer, value?: Buffer) => void): void;
  end(cb: (error?: Error | null) => void): void;
}
interface RawDb {
  /** The native database handle the binding's batch functions take. */
  readonly context: NativeHandle;
  open(options: Record<string, unknown>, cb: (error?: Error | null) => void): void;
  close(cb: (error?: Error | null) => void): void;
  get(key: string, options: { asBuffer: true }, cb: Callback<Buffer>): void;
  getMany(keys: readonly string[], options: { asBuffer: true }, cb: Callback<Array<Buffer | undefined>>): void;
  iterator(options: Record<string, unknown>): RawIterator;
}
declare const nativeHandle: unique symbol;
type NativeHandle = { readonly [nativeHandle]: true };
/**
 * The package's own native batch functions (its chained-batch.js is a thin wrapper over them
 * that refuses to be used again once written). A native WriteBatch is freed only when V8
 * collects its wrapper, so one batch per write left the heap full of dead multi-hundred-KiB
 * batches and every new one grew into fresh pages: 1.5-2 µs per put against 0.2 µs when one
 * batch is cleared and refilled (README, Decisions).
 */
interface RawBatchBinding {
  batch_init(db: NativeHandle): NativeHandle;
  batch_put(batch: NativeHandle, key: string | Buffer, value: Buffer): void;
  batch_del(batch: NativeHandle, key: string | Buffer): void;
  batch_clear(batch: NativeHandle): void;
  batch_write(batch: NativeHandle, options: { sync: boolean }, cb: (error?: Error | null) => void): void;
}
const require = createRequire(import.meta.url);
const rocksdb = require('rocksdb') as (location: string) => RawDb;
const binding = require('rocksdb/binding') as RawBatchBinding;

const changelogRecordBytes = (r: ChangelogRecord): number => (r.key?.length ?? 0) + (r.value?.length ?? 0);

/**
 * The length of a key to be written (UTF-16 units for a string: close enough for the batch size
 * bound). An empty key is refused, as the package's chained batch refused it: its get() cannot
 * read one back.
 */
function checkedKeyLength(key: string | Buffer): number {
  if (key.length === 0) throw new StoreError('STORE_IO', 'a store key cannot be empty');
  return key.length;
}

/** What `apply`'s fill callback writes into: one atomic batch. */
interface BatchWriter {
  put(key: string | Buffer, value: Buffer): void;
  del(key: string | Buffer): void;
}

/**
 * A cleared batch keeps its buffer for the next write. One that held more than this is dropped
 * instead (a restore batch can hold a whole fetch), so an idle store partition pins at most this.
 */
const MAX_KEPT_BATCH_BYTES = 4 * 1024 * 1024;

const isNotFound = (error: Error): boolean => error.message.startsWith('NotFound');

// One key space holds the user's keys and the store's own (the changelog offset). Keys come from
// the input (a runKey starts with the tenantId, which may start with any character), so none may
// be refused: that would fail its batch on every retry. The store's own keys start with NUL and a
// second character that is not NUL; a user key starting with NUL is kept with one more NUL in
// front. Every other key is kept as it is, so databases written before this rule read the same.
const NUL = '\u0000';
const NUL_BYTE = Buffer.from([0]);
const CHANGELOG_OFFSET_KEY = `${NUL}changelog-offset`;
const storedKey = (key: string): string => (key.startsWith(NUL) ? NUL + key : key);
const storedKeyBytes = (key: Buffer): Buffer => (key.length > 0 && key[0] === 0 ? Buffer.concat([NUL_BYTE, key]) : key);
/** The user key a stored key holds, or null for one of the store's own. */
function userKey(stored: Buffer): string | null {
  if (stored.length === 0 || stored[0] !== 0) return stored.toString('utf8');
  return stored.length > 1 && stored[1] === 0 ? stored.subarray(1).toString('utf8') : null;
}

function call<T>(fn: (cb: Callback<T>) => void, what: string): Promise<T> {
  return new Promise((resolve, reject) =>
    fn((error, value) => (error ? reject(new StoreError('STORE_IO', `${what}: ${error.message}`, { cause: error })) : resolve(value))),
  );
}

class RocksDbPartition implements StorePartition {
  private closed = false;
  /** A written and cleared batch, ready for the next write of the database it was made for. */
  private spare: { readonly db: RawDb; readonly batch: NativeHandle } | null = null;
  private constructor(
    private db: RawDb,
    private readonly location: string,
  ) {}

  static async open(location: string): Promise<RocksDbPartition> {
    return new RocksDbPartition(await openDb(location), location);
  }

  get(key: string): Promise<Buffer | undefined> {
    return this.getStored(storedKey(key));
  }

  private getStored(key: string): Promise<Buffer | undefined> {
    this.assertOpen();
    return new Promise((resolve, reject) =>
      this.db.get(key, { asBuffer: true }, (error, value) => {
        if (!error) resolve(value);
        else if (isNotFound(error)) resolve(undefined);
        else reject(new StoreError('STORE_IO', `get ${this.location}: ${error.message}`, { cause: error }));
      }),
    );
  }

  getMany(keys: readonly string[]): Promise<Array<Buffer | undefined>> {
    this.assertOpen();
    if (keys.length === 0) return Promise.resolve([]);
    return call((cb) => this.db.getMany(keys.map(storedKey), { asBuffer: true }, cb), `getMany ${this.location}`);
  }

  async *range(prefix: string, after?: string): AsyncIterable<readonly [string, Buffer]> {
    this.assertOpen();
    const from = storedKey(prefix);
    const options: Record<string, unknown> = { keyAsBuffer: true, valueAsBuffer: true };
    if (from !== '') options.gte = from;
    if (after !== undefined && Buffer.compare(Buffer.from(after, 'utf8'), Buffer.from(prefix, 'utf8')) >= 0) {
      delete options.gte;
      options.gt = storedKey(after);
    }
    if (from !== '') options.lt = prefixUpperBound(from);
    const it = this.db.iterator(options);
    try {
      for (;;) {
        const entry = await new Promise<readonly [Buffer, Buffer] | null>((resolve, reject) =>
          it.next((error, key, value) => {
            if (error) reject(new StoreError('STORE_IO', `iterate ${this.location}: ${error.message}`, { cause: error }));
            else if (key === undefined || value === undefined) resolve(null);
            else resolve([key, value] as const);
          }),
        );
        if (entry === null) return;
        const key = userKey(entry[0]);
        if (key !== null) yield [key, entry[1]] as const;
      }
    } finally {
      await new Promise<void>((resolve) => it.end(() => resolve()));
    }
  }

  async write(entries: readonly ChangelogEntry[], changelogOffset: number | null): Promise<void> {
    if (entries.length === 0 && changelogOffset === null) return;
    return this.apply((batch) => {
      for (const e of entries) {
        if (e.value === null) batch.del(storedKey(e.key));
        else batch.put(storedKey(e.key), e.value);
      }
    }, changelogOffset);
  }

  /**
   * In writes of at most about MAX_KEPT_BATCH_BYTES (a fetch can hold several MiB), so that one
   * batch serves them all; only the last carries the offset. A stop between two of them leaves
   * the previous offset with some of the records after it applied: restoring again from that
   * offset applies them a second time, in order, which gives the same store (each record sets or
   * deletes its key).
   */
  async restore(records: readonly ChangelogRecord[], changelogOffset: number): Promise<void> {
    let from = 0;
    do {
      const first = from;
      let end = first;
      for (let bytes = 0; end < records.length; end++) {
        bytes += changelogRecordBytes(records[end]);
        if (bytes > MAX_KEPT_BATCH_BYTES && end > first) break;
      }
      await this.apply((batch) => {
        for (let at = first; at < end; at++) {
          const r = records[at];
          if (r.key === null) continue;
          if (r.value === null) batch.del(storedKeyBytes(r.key));
          else batch.put(storedKeyBytes(r.key), r.value);
        }
      }, end === records.length ? changelogOffset : null);
      from = end;
    } while (from < records.length);
  }

  /**
   * One atomic write. Each entry goes to the native WriteBatch as it is filled: no array of
   * operation objects per write, which for a restore of a large changelog was millions of
   * short-lived objects. If `fill` throws, nothing is written.
   */
  private async apply(fill: (batch: BatchWriter) => void, changelogOffset: number | null): Promise<void> {
    this.assertOpen();
    const db = this.db;
    // A batch writes to the database it was made for: after clear() reopened it, that one is
    // closed (and the binding would write through its freed handle).
    const batch = this.spare?.db === db ? this.spare.batch : binding.batch_init(db.context);
    this.spare = null;
    let bytes = 0;
    const writer: BatchWriter = {
      put: (key, value) => {
        bytes += checkedKeyLength(key) + value.length;
        binding.batch_put(batch, key, value);
      },
      del: (key) => {
        bytes += checkedKeyLength(key);
        binding.batch_del(batch, key);
      },
    };
    try {
      fill(writer);
      if (changelogOffset !== null) writer.put(CHANGELOG_OFFSET_KEY, Buffer.from(String(changelogOffset)));
      // No fsync: the changelog is the durable copy; a lost tail of local writes is restored from it.
      await call<void>((cb) => binding.batch_write(batch, { sync: false }, (e) => cb(e, undefined)), `write ${this.location}`);
    } finally {
      binding.batch_clear(batch);
      if (bytes <= MAX_KEPT_BATCH_BYTES && !this.closed) this.spare = { db, batch };
    }
  }

  async changelogOffset(): Promise<number | null> {
    const raw = await this.getStored(CHANGELOG_OFFSET_KEY);
    return raw === undefined ? null : Number(raw.toString('utf8'));
  }

  async clear(): Promise<void> {
    this.assertOpen();
    this.spare = null;
    await call<void>((cb) => this.db.close((e) => cb(e, undefined)), `close ${this.location}`);
    await rm(this.location, { recursive: true, force: true });
    this.db = await openDb(this.location);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.spare = null;
    await call<void>((cb) => this.db.close((e) => cb(e, undefined)), `close ${this.location}`);
  }

  private assertOpen(): void {
    if (this.closed) throw new StoreError('STORE_CLOSED', `store ${this.location} is closed`);
  }
}

async function openDb(location: string): Promise<RawDb> {
  await mkdir(location, { recursive: true });
  const db = rocksdb(location);
  await new Promise<void>((resolve, reject) =>
    db.open({ createIfMissing: true }, (error) =>
      error
        ? reject(new StoreError('STORE_OPEN_FAILED', `cannot open RocksDB store at ${location}: ${error.message}`, { cause: error }))
        : resolve(),
    ),
  );
  return db;
}

/** Smallest string greater than every string with this prefix (for an exclusive upper bound). */
function prefixUpperBound(prefix: string): Buffer {
  const bytes = Buffer.from(prefix, 'utf8');
  let end = bytes.length;
  while (end > 0 && bytes[end - 1] === 0xff) end--;
  if (end === 0) return Buffer.from([0xff, 0xff, 0xff, 0xff]);
  const upper = Buffer.from(bytes.subarray(0, end));
  upper[end - 1]++;
  return upper;
}

/** One RocksDB database per store per partition, under `<dir>/<store>/<partition>`. */
export class RocksDbBackend implements StoreBackend {
  readonly kind = 'rocksdb' as const;
  constructor(private readonly dir: string) {}

  location(store: string, partition: number): string {
    return join(this.dir, store, String(partition));
  }

  open(store: string, partition: number): Promise<StorePartition> {
    return RocksDbPartition.open(this.location(store, partition));
  }

  async destroy(store: string, partition: number): Promise<void> {
    await rm(this.location(store, partition), { recursive: true, force: true });
  }
}
