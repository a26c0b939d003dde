import { afterAll, describe, expect, it } from 'vitest';
import { WorkerPool, type ChunkCodec } from '../../../runtime/worker-pool.js';

// The pool that spreads validate batches over worker threads: chunks from one queue, results
// in input order, several batches in flight, configuration changes that apply from the next
// map() on, and buffers handed over rather than cloned. The worker is test/support/pool-worker.mjs.

interface Item {
  readonly n: number;
  readonly bytes?: Uint8Array;
}
interface Result {
  readonly n: number;
  readonly scaled: number;
  readonly byteSum: number;
  readonly thread: number;
}
interface Config {
  readonly factor: number;
}

const script = new URL('../../support/pool-worker.mjs', import.meta.url);
const identity: ChunkCodec<Item, readonly Item[]> = { pack: (items) => ({ wire: items, transfer: [] }), unpack: (wire) => [...wire] };
const pools: WorkerPool<Config, Item, Result, readonly Item[]>[] = [];

function pool(codec: ChunkCodec<Item, readonly Item[]> = identity, factor = 1): WorkerPool<Config, Item, Result, readonly Item[]> {
  const created = new WorkerPool<Config, Item, Result, readonly Item[]>(script, 2, { factor }, codec);
  pools.push(created);
  return created;
}

const items = (count: number, from = 0): Item[] => Array.from({ length: count }, (_, i) => ({ n: from + i }));

afterAll(async () => {
  for (const p of pools) await p.close();
});

describe('WorkerPool', () => {
  it('returns every result in input order, the chunks spread over both workers', async () => {
    const p = pool();
    const results = await p.map(items(1_000));
    expect(results.map((r) => r.n)).toEqual(items(1_000).map((i) => i.n));
    expect(new Set(results.map((r) => r.thread)).size).toBe(2);
    expect(await p.map([])).toEqual([]);
  });

  it('keeps several batches in flight, each with its own results in order', async () => {
    const p = pool();
    const batches = [items(300, 0), items(7, 1_000), items(520, 2_000), items(1, 5_000)];
    const results = await Promise.all(batches.map((b) => p.map(b)));
    results.forEach((r, i) => expect(r.map((x) => x.n)).toEqual(batches[i].map((x) => x.n)));
  });

  it('applies a configuration to every map() called after it and to none called before, even with chunks still queued', async () => {
    const p = pool(identity, 1);
    const before = p.map(items(2_000));
    p.configure({ factor: 10 });
    const after = p.map(items(2_000));
    expect((await before).every((r) => r.scaled === r.n)).toBe(true);
    expect((await after).every((r) => r.scaled === r.n * 10)).toBe(true);
  });

  it('rejects a map() whose chunk failed in the worker, and serves the next one', async () => {
    const p = pool();
    await expect(p.map([...items(100), { n: -1 }, ...items(100, 200)])).rejects.toThrow('refused item -1');
    expect((await p.map(items(50))).map((r) => r.n)).toEqual(items(50).map((i) => i.n));
  });

  it('rejects a map() whose chunk could not be packed, without sending anything', async () => {
    const refusing: ChunkCodec<Item, readonly Item[]> = {
      pack: (chunk) => {
        if (chunk.some((i) => i.n === 13)) throw new Error('cannot pack 13');
        return identity.pack(chunk);
      },
      unpack: identity.unpack,
    };
    const p = pool(refusing);
    await expect(p.map(items(40))).rejects.toThrow('cannot pack 13');
    expect((await p.map(items(10, 100))).map((r) => r.n)).toEqual(items(10, 100).map((i) => i.n));
  });

  it('hands the packed buffers over: the worker reads them and the sender no longer holds them', async () => {
    const packed: ArrayBuffer[] = [];
    // Packs each chunk's bytes into one fresh buffer, as the validate wire does.
    const transferring: ChunkCodec<Item, readonly Item[]> = {
      pack: (chunk) => {
        const values = new Uint8Array(chunk.reduce((n, i) => n + (i.bytes?.byteLength ?? 0), 0));
        let at = 0;
        const wire = chunk.map((i) => {
          const bytes = i.bytes ?? new Uint8Array(0);
          values.set(bytes, at);
          at += bytes.byteLength;
          return { n: i.n, bytes: new Uint8Array(values.buffer, at - bytes.byteLength, bytes.byteLength) };
        });
        packed.push(values.buffer);
        return { wire, transfer: [values.buffer] };
      },
      unpack: identity.unpack,
    };
    const p = pool(transferring);
    const source = Buffer.alloc(64 * 1024, 1);
    const input = items(200).map((i) => ({ n: i.n, bytes: source.subarray(i.n * 3, i.n * 3 + 3) }));
    const results = await p.map(input);
    expect(results.map((r) => r.byteSum)).toEqual(input.map(() => 3));
    expect(packed.length).toBeGreaterThan(1);
    expect(packed.every((buffer) => buffer.byteLength === 0)).toBe(true);
    expect(source.byteLength).toBe(64 * 1024);
  });
});
