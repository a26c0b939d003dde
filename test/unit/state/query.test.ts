import { describe, expect, it } from 'vitest';
import { MemoryBackend } from '../../../state/memory.js';
import { CommittedPrefixView, CommittedWrites, ReadOnlyStore, type HostedPartition, type HostedStores } from '../../../state/query.js';
import type { ChangelogEntry, StorePartition } from '../../../state/store.js';

// Queries over committed state (state/query.ts): what the projector's API and gauges read.

const json = (value: unknown): Buffer => Buffer.from(JSON.stringify(value));

class Hosting implements HostedStores {
  readonly writes = new CommittedWrites();
  partitions: HostedPartition[] = [];
  hosted(store: string): HostedPartition[] {
    return store === 's' ? this.partitions : [];
  }
  onCommitted(store: string, listener: Parameters<CommittedWrites['on']>[1]): void {
    this.writes.on(store, listener);
  }
  /** A committed unit of work: the store gets the write, then the listeners hear of it. */
  async commit(partition: number, entries: ChangelogEntry[]): Promise<void> {
    const hosted = this.partitions.find((h) => h.partition === partition);
    await hosted?.store.write(entries, null);
    this.writes.emit('s', partition, entries);
  }
}

async function hosting(partitions: number): Promise<{ hosting: Hosting; backend: MemoryBackend }> {
  const backend = new MemoryBackend();
  const h = new Hosting();
  for (let p = 0; p < partitions; p++) h.partitions.push({ partition: p, store: await backend.open('s', p) });
  return { hosting: h, backend };
}

describe('ReadOnlyStore', () => {
  it('gets from one hosted partition and ranges over all of them in key order', async () => {
    const { hosting: h } = await hosting(2);
    await h.commit(0, [{ key: 'a/2', value: json(2) }, { key: 'b/1', value: json(9) }]);
    await h.commit(1, [{ key: 'a/1', value: json(1) }]);
    const store = new ReadOnlyStore<number>(h, 's');
    expect(await store.get('a/2', 0)).toBe(2);
    expect(await store.get('a/2', 1)).toBeUndefined();
    expect(await store.page('a/', { after: null, limit: 10 })).toEqual({ entries: [['a/1', 1], ['a/2', 2]], more: false });
    expect(store.partitions()).toEqual([0, 1]);
  });

  it('pages in key order across partitions, after a key, keeping only accepted values', async () => {
    const { hosting: h } = await hosting(2);
    await h.commit(0, [1, 3, 5, 7].map((n) => ({ key: `t/${n}`, value: json(n) })));
    await h.commit(1, [2, 4, 6, 8].map((n) => ({ key: `t/${n}`, value: json(n) })));
    await h.commit(1, [{ key: 'u/0', value: json(0) }]);
    const store = new ReadOnlyStore<number>(h, 's');
    expect(await store.page('t/', { after: null, limit: 3 })).toEqual({ entries: [['t/1', 1], ['t/2', 2], ['t/3', 3]], more: true });
    expect(await store.page('t/', { after: 't/3', limit: 3 })).toEqual({ entries: [['t/4', 4], ['t/5', 5], ['t/6', 6]], more: true });
    expect(await store.page('t/', { after: 't/6', limit: 3 })).toEqual({ entries: [['t/7', 7], ['t/8', 8]], more: false });
    expect(await store.page('t/', { after: 't/8', limit: 3 })).toEqual({ entries: [], more: false });
    expect(await store.page('t/', { after: null, limit: 2, accept: (n) => n % 2 === 0 })).toEqual({ entries: [['t/2', 2], ['t/4', 4]], more: true });
  });

  it('reads at most limit + 1 accepted entries of each partition for a page, wherever the page starts', async () => {
    const { hosting: h } = await hosting(2);
    const keys = Array.from({ length: 500 }, (_, n) => `t/${String(n).padStart(4, '0')}`);
    await h.commit(0, keys.filter((_, n) => n % 2 === 0).map((key) => ({ key, value: json(key) })));
    await h.commit(1, keys.filter((_, n) => n % 2 === 1).map((key) => ({ key, value: json(key) })));
    let read = 0;
    for (const hosted of h.partitions) {
      const range = hosted.store.range.bind(hosted.store);
      hosted.store.range = async function* (prefix: string, after?: string) {
        for await (const entry of range(prefix, after)) {
          read++;
          yield entry;
        }
      };
    }
    const store = new ReadOnlyStore<string>(h, 's');
    const page = await store.page('t/', { after: keys[300], limit: 10 });
    expect(page.entries.map(([k]) => k)).toEqual(keys.slice(301, 311));
    expect(page.more).toBe(true);
    expect(read).toBeLessThanOrEqual(2 * 11);
  });
});

describe('CommittedPrefixView', () => {
  it('loads each hosted partition once, then follows committed writes (puts and deletes) under its prefix', async () => {
    const { hosting: h } = await hosting(2);
    await h.commit(0, [{ key: 't/acme', value: json({ n: 1 }) }, { key: 'f/acme/1', value: json('x') }]);
    const view = new CommittedPrefixView<{ n: number }>(h, 's', 't/');
    expect(await view.entries()).toEqual([['t/acme', { n: 1 }]]);
    await h.commit(1, [{ key: 't/globex', value: json({ n: 2 }) }]);
    await h.commit(0, [{ key: 't/acme', value: null }, { key: 'f/acme/2', value: json('y') }]);
    expect(await view.entries()).toEqual([['t/globex', { n: 2 }]]);
  });

  it('does not lose a write committed while a partition loads', async () => {
    const { hosting: h } = await hosting(1);
    await h.commit(0, [{ key: 't/a', value: json(1) }]);
    const view = new CommittedPrefixView<number>(h, 's', 't/');
    const loading = view.entries();
    await h.commit(0, [{ key: 't/a', value: json(2) }, { key: 't/b', value: json(3) }]);
    await loading;
    expect(new Map(await view.entries())).toEqual(new Map([['t/a', 2], ['t/b', 3]]));
  });

  it('drops a partition no longer hosted here and reloads one that comes back with a new store', async () => {
    const { hosting: h, backend } = await hosting(2);
    await h.commit(1, [{ key: 't/x', value: json(1) }]);
    const view = new CommittedPrefixView<number>(h, 's', 't/');
    expect(await view.entries()).toEqual([['t/x', 1]]);
    const revoked = h.partitions.pop() as HostedPartition;
    expect(await view.entries()).toEqual([]);
    // Meanwhile another instance moved the partition on (the changelog restore wrote it).
    await revoked.store.write([{ key: 't/x', value: json(5) }], null);
    const reopened: StorePartition = await backend.open('s', 1);
    h.partitions.push({ partition: 1, store: reopened });
    expect(await view.entries()).toEqual([['t/x', 5]]);
  });
});
