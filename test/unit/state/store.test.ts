import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MemoryBackend } from '../../../state/memory.js';
import { RocksDbBackend } from '../../../state/rocksdb.js';
import type { StoreBackend } from '../../../state/store.js';
import { StoreTransaction } from '../../../state/transaction.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

const backends: Array<[string, () => Promise<StoreBackend>]> = [
  ['memory', async () => new MemoryBackend()],
  [
    'rocksdb',
    async () => {
      const dir = await mkdtemp(join(tmpdir(), 'ledger-store-'));
      dirs.push(dir);
      return new RocksDbBackend(dir);
    },
  ],
];

describe.each(backends)('%s store partition', (_name, makeBackend) => {
  it('writes entries and the changelog offset atomically, and deletes', async () => {
    const backend = await makeBackend();
    const store = await backend.open('s', 0);
    expect(await store.changelogOffset()).toBeNull();
    await store.write([{ key: 'a', value: Buffer.from('1') }, { key: 'b', value: Buffer.from('2') }], 7);
    expect((await store.get('a'))?.toString()).toBe('1');
    expect(await store.changelogOffset()).toBe(7);
    await store.write([{ key: 'a', value: null }], 8);
    expect(await store.get('a')).toBeUndefined();
    expect((await store.getMany(['a', 'b', 'c'])).map((v) => v?.toString())).toEqual([undefined, '2', undefined]);
    await store.close();
  });

  it('keeps partitions apart and survives reopening', async () => {
    const backend = await makeBackend();
    const p0 = await backend.open('s', 0);
    const p1 = await backend.open('s', 1);
    await p0.write([{ key: 'k', value: Buffer.from('zero') }], 0);
    expect(await p1.get('k')).toBeUndefined();
    await p0.close();
    await p1.close();
    const again = await backend.open('s', 0);
    expect((await again.get('k'))?.toString()).toBe('zero');
    expect(await again.changelogOffset()).toBe(0);
    await again.clear();
    expect(await again.get('k')).toBeUndefined();
    expect(await again.changelogOffset()).toBeNull();
    await again.close();
  });

  it('ranges over a prefix in key byte order, hiding bookkeeping keys', async () => {
    const backend = await makeBackend();
    const store = await backend.open('r', 0);
    await store.write(['t1/b', 't1/a', 't2/a', 't1/ä'].map((key) => ({ key, value: Buffer.from(key) })), 3);
    const keys: string[] = [];
    for await (const [k] of store.range('t1/')) keys.push(k);
    expect(keys).toEqual(['t1/a', 't1/b', 't1/ä']);
    const all: string[] = [];
    for await (const [k] of store.range('')) all.push(k);
    expect(all).toEqual(['t1/a', 't1/b', 't1/ä', 't2/a']);
    const after = async (prefix: string, key: string): Promise<string[]> => {
      const found: string[] = [];
      for await (const [k] of store.range(prefix, key)) found.push(k);
      return found;
    };
    expect(await after('t1/', 't1/a')).toEqual(['t1/b', 't1/ä']);
    expect(await after('t1/', 't1/aa')).toEqual(['t1/b', 't1/ä']);
    expect(await after('t1/', 't0/z')).toEqual(['t1/a', 't1/b', 't1/ä']);
    expect(await after('t1/', 't1/ä')).toEqual([]);
    expect(await after('t1/', 't2/')).toEqual([]);
    expect(await after('', 't1/b')).toEqual(['t1/ä', 't2/a']);
    await store.close();
  });

  it('keeps any user key, one starting with NUL too, apart from its own changelog offset, across a reopen', async () => {
    const backend = await makeBackend();
    const keys = ['\u0000changelog-offset', '\u0000x', '\u0000\u0000y', '\u0000', 'a'];
    let store = await backend.open('nul', 0);
    await store.write(keys.map((key, i) => ({ key, value: Buffer.from(String(i)) })), 4);
    for (const reopen of [false, true]) {
      if (reopen) {
        await store.close();
        store = await backend.open('nul', 0);
      }
      expect((await store.getMany(keys)).map((v) => v?.toString())).toEqual(['0', '1', '2', '3', '4']);
      expect(await store.get('\u0000changelog-offset')).toEqual(Buffer.from('0'));
      expect(await store.changelogOffset()).toBe(4);
      const listed = async (prefix: string, after?: string): Promise<string[]> => {
        const out: string[] = [];
        for await (const [k] of store.range(prefix, after)) out.push(k);
        return out;
      };
      expect(await listed('')).toEqual(['\u0000', '\u0000\u0000y', '\u0000changelog-offset', '\u0000x', 'a']);
      expect(await listed('\u0000')).toEqual(['\u0000', '\u0000\u0000y', '\u0000changelog-offset', '\u0000x']);
      expect(await listed('\u0000c')).toEqual(['\u0000changelog-offset']);
      expect(await listed('', '\u0000changelog-offset')).toEqual(['\u0000x', 'a']);
    }
    await store.write([{ key: '\u0000x', value: null }], 5);
    expect(await store.get('\u0000x')).toBeUndefined();
    expect(await store.changelogOffset()).toBe(5);
    await store.close();
  });

  it('restores changelog records as read: byte keys, tombstones, keyless records skipped, with the offset', async () => {
    const store = await (await makeBackend()).open('w', 0);
    await store.write([{ key: 'gone', value: Buffer.from('x') }], 0);
    await store.restore(
      [
        { key: Buffer.from('t/ä'), value: Buffer.from('1') },
        { key: null, value: Buffer.from('ignored') },
        { key: Buffer.from('gone'), value: null },
        { key: Buffer.from('t/b'), value: Buffer.from('2') },
        { key: Buffer.from('t/b'), value: Buffer.from('3') },
      ],
      9,
    );
    expect((await store.getMany(['t/ä', 'gone', 't/b'])).map((v) => v?.toString())).toEqual(['1', undefined, '3']);
    const keys: string[] = [];
    for await (const [k] of store.range('')) keys.push(k);
    expect(keys).toEqual(['t/b', 't/ä']);
    expect(await store.changelogOffset()).toBe(9);
    await store.close();
  });

  it('restores changelog records whose keys start with NUL without touching its own offset', async () => {
    const store = await (await makeBackend()).open('v', 0);
    await store.restore([{ key: Buffer.from('ok'), value: Buffer.from('1') }, { key: Buffer.from('\u0000changelog-offset'), value: Buffer.from('5') }], 3);
    expect((await store.getMany(['ok', '\u0000changelog-offset'])).map((v) => v?.toString())).toEqual(['1', '5']);
    expect(await store.changelogOffset()).toBe(3);
    await store.restore([{ key: Buffer.from('\u0000changelog-offset'), value: null }], 4);
    expect(await store.get('\u0000changelog-offset')).toBeUndefined();
    expect(await store.changelogOffset()).toBe(4);
    await store.close();
  });

  it('writes an offset alone, and many entries in one batch', async () => {
    const store = await (await makeBackend()).open('z', 0);
    await store.write([], 11);
    expect(await store.changelogOffset()).toBe(11);
    const entries = Array.from({ length: 5_000 }, (_, i) => ({ key: `k/${i}`, value: i % 7 === 0 ? null : Buffer.from(String(i)) }));
    await store.write(entries, 12);
    const found = await store.getMany(entries.map((e) => e.key));
    expect(found.every((v, i) => (entries[i].value === null ? v === undefined : v?.toString() === String(i)))).toBe(true);
    expect(await store.changelogOffset()).toBe(12);
    await store.close();
  });

  it('a transaction reads its own writes and only reaches the partition when applied', async () => {
    const store = await (await makeBackend()).open('t', 0);
    await store.write([{ key: 'n', value: Buffer.from('1') }], 0);
    const tx = new StoreTransaction<number>(store);
    await tx.prefetch(['n', 'm']);
    expect(await tx.get('n')).toBe(1);
    tx.put('n', 2);
    tx.put('m', 5);
    tx.delete('m');
    expect(await tx.get('n')).toBe(2);
    expect(await tx.get('m')).toBeUndefined();
    expect((await store.get('n'))?.toString()).toBe('1');
    const changes = tx.changes();
    expect(changes.map((c) => [c.key, c.value?.toString() ?? null])).toEqual([
      ['n', '2'],
      ['m', null],
    ]);
    await store.write(changes, 1);
    expect((await store.get('n'))?.toString()).toBe('2');
    await store.close();
  });

  it('a transaction reads many keys in one read of the partition, answering each as get would', async () => {
    const store = await (await makeBackend()).open('g', 0);
    await store.write(['a', 'b', 'c'].map((key, i) => ({ key, value: Buffer.from(String(i + 1)) })), 0);
    const reads: string[][] = [];
    const counted = Object.assign(Object.create(store) as typeof store, {
      get: (key: string) => (reads.push([key]), store.get(key)),
      getMany: (keys: readonly string[]) => (reads.push([...keys]), store.getMany(keys)),
    });
    const tx = new StoreTransaction<number>(counted);
    tx.put('a', 10);
    tx.delete('b');
    expect(await tx.getMany(['a', 'b', 'c', 'missing', 'c'])).toEqual([10, undefined, 3, undefined, 3]);
    expect(reads).toEqual([['c', 'missing']]);
    tx.put('c', 30);
    expect(await tx.getMany(['c', 'missing'])).toEqual([30, undefined]);
    expect(await Promise.all(['a', 'b', 'c', 'missing'].map((k) => tx.get(k)))).toEqual([10, undefined, 30, undefined]);
    expect(reads).toHaveLength(1);
    await store.close();
  });
});

describe('rocksdb store partition: one native batch reused from write to write', () => {
  const open = async (name: string) => {
    const dir = await mkdtemp(join(tmpdir(), 'ledger-store-'));
    dirs.push(dir);
    return new RocksDbBackend(dir).open(name, 0);
  };

  it('a write whose entries cannot be read writes nothing, and leaves nothing behind for the next write', async () => {
    const store = await open('reuse');
    await store.write([{ key: 'kept', value: Buffer.from('1') }], 1);
    const unreadable = {
      key: 'second',
      get value(): Buffer {
        throw new Error('cannot read this entry');
      },
    };
    await expect(store.write([{ key: 'first', value: Buffer.from('x') }, unreadable], 2)).rejects.toThrow('cannot read this entry');
    expect(await store.get('first')).toBeUndefined();
    expect(await store.changelogOffset()).toBe(1);
    await store.write([{ key: 'next', value: Buffer.from('3') }], 3);
    expect((await store.getMany(['kept', 'first', 'next'])).map((v) => v?.toString())).toEqual(['1', undefined, '3']);
    expect(await store.changelogOffset()).toBe(3);
    await store.close();
  });

  it('restores a fetch larger than one kept batch in pieces, in changelog order, with the offset at the end', async () => {
    const store = await open('pieces');
    // 1,200 records of 10 KB (about three pieces): k/7 is written, deleted and written again, k/3
    // written first and deleted last, across pieces.
    const records = [
      ...Array.from({ length: 1_200 }, (_, i) => ({ key: Buffer.from(`k/${i % 400 === 7 ? 7 : i}`), value: i === 407 ? null : Buffer.alloc(10_000, i % 251) })),
      { key: Buffer.from('k/3'), value: null },
    ];
    await store.restore(records, 1_200);
    expect(await store.changelogOffset()).toBe(1_200);
    expect((await store.get('k/7'))?.equals(Buffer.alloc(10_000, 807 % 251))).toBe(true);
    expect((await store.get('k/1199'))?.equals(Buffer.alloc(10_000, 1_199 % 251))).toBe(true);
    expect(await store.get('k/3')).toBeUndefined();
    await store.close();
  });

  it('a restore stopped between two pieces keeps the previous offset, and restoring again from it gives the same store', async () => {
    const store = await open('interrupted');
    const record = (i: number) => ({ key: Buffer.from(`r/${i % 500}`), value: i % 97 === 0 ? null : Buffer.alloc(10_000, i % 251) });
    await store.restore(Array.from({ length: 100 }, (_, i) => record(i)), 99);
    // Offsets 100..1099; the record at offset 1000 cannot be read, so the stop comes after at least one piece.
    const failing = Array.from({ length: 1_000 }, (_, n) => {
      const i = 100 + n;
      if (i !== 1_000) return record(i);
      return {
        key: Buffer.from('r/0'),
        get value(): Buffer {
          throw new Error('stopped');
        },
      };
    });
    await expect(store.restore(failing, 1_099)).rejects.toThrow('stopped');
    expect(await store.changelogOffset()).toBe(99);
    expect(await store.get('r/100')).toBeDefined(); // the first piece was applied past the offset

    await store.restore(Array.from({ length: 1_000 }, (_, n) => record(100 + n)), 1_099);
    expect(await store.changelogOffset()).toBe(1_099);
    const reference = new Map<string, Buffer | null>();
    for (let i = 0; i < 1_100; i++) reference.set(`r/${i % 500}`, record(i).value);
    const keys = [...reference.keys()];
    const found = await store.getMany(keys);
    expect(keys.filter((key, at) => !(reference.get(key) === null ? found[at] === undefined : found[at]?.equals(reference.get(key) as Buffer)))).toEqual([]);
    await store.close();
  });

  it('a write still in flight when clear() starts does not leave its batch to the reopened database', async () => {
    const store = await open('clear-race');
    await store.write([{ key: 'a', value: Buffer.from('1') }], 1);
    const inFlight = store.write([{ key: 'b', value: Buffer.from('2') }], 2);
    await Promise.all([inFlight, store.clear()]);
    await store.write([{ key: 'c', value: Buffer.from('3') }], 0);
    expect((await store.getMany(['a', 'b', 'c'])).map((v) => v?.toString())).toEqual([undefined, undefined, '3']);
    expect(await store.changelogOffset()).toBe(0);
    await store.close();
  });

  it('refuses an empty key, writing nothing of its batch', async () => {
    const store = await open('empty-key');
    await expect(store.write([{ key: 'x', value: Buffer.from('1') }, { key: '', value: Buffer.from('2') }], 1)).rejects.toThrow(/cannot be empty/);
    expect(await store.get('x')).toBeUndefined();
    expect(await store.changelogOffset()).toBeNull();
    await store.close();
  });

  it('each write holds only its own entries: small, large (not kept) and after clear()', async () => {
    const store = await open('sizes');
    await store.write([{ key: 'a', value: Buffer.from('1') }], 0);
    await store.write([{ key: 'a', value: null }], 1);
    const large = Array.from({ length: 600 }, (_, i) => ({ key: `big/${i}`, value: Buffer.alloc(10_000, i % 251) }));
    await store.write(large, 2);
    await store.write([{ key: 'b', value: Buffer.from('2') }], 3);
    expect(await store.get('a')).toBeUndefined();
    expect((await store.get('b'))?.toString()).toBe('2');
    expect((await store.get('big/599'))?.equals(Buffer.alloc(10_000, 599 % 251))).toBe(true);
    await store.clear();
    await store.write([{ key: 'c', value: Buffer.from('3') }], 0);
    expect((await store.getMany(['b', 'big/1', 'c'])).map((v) => v?.toString())).toEqual([undefined, undefined, '3']);
    expect(await store.changelogOffset()).toBe(0);
    await store.close();
    await expect(store.write([{ key: 'd', value: Buffer.from('4') }], 1)).rejects.toThrow(/closed/);
  });
});
