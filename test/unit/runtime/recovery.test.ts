import { describe, expect, it } from 'vitest';
import { WriteBehind } from '../../../runtime/kafka/recovery.js';
import { MemoryBackend } from '../../../state/memory.js';
import type { ChangelogRecord, StorePartition } from '../../../state/store.js';

/** A store whose writes finish only when the test says so (or fail when it says so). */
class ControlledStore {
  readonly started: Array<{ records: readonly ChangelogRecord[]; offset: number }> = [];
  readonly applied: Array<number | null> = [];
  private readonly finishers: Array<(error?: Error) => void> = [];

  constructor(private readonly inner: StorePartition) {}

  readonly partition = (): StorePartition => ({
    get: (key) => this.inner.get(key),
    getMany: (keys) => this.inner.getMany(keys),
    range: (prefix, after) => this.inner.range(prefix, after),
    changelogOffset: () => this.inner.changelogOffset(),
    clear: () => this.inner.clear(),
    close: () => this.inner.close(),
    write: (entries, offset) => this.inner.write(entries, offset),
    restore: (records, offset) => {
      this.started.push({ records, offset });
      return new Promise<void>((resolve, reject) => {
        this.finishers.push((error) => {
          if (error) return reject(error);
          void this.inner.restore(records, offset).then(() => {
            this.applied.push(offset);
            resolve();
          }, reject);
        });
      });
    },
  });

  /** Lets the oldest unfinished write complete (or fail). */
  finish(error?: Error): void {
    const next = this.finishers.shift();
    if (!next) throw new Error('no write in flight');
    next(error);
  }

  get inFlight(): number {
    return this.finishers.length;
  }
}

const entry = (key: string, value: string): ChangelogRecord => ({ key: Buffer.from(key), value: Buffer.from(value) });
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

async function controlled(): Promise<ControlledStore> {
  return new ControlledStore(await new MemoryBackend().open('s', 0));
}

describe('WriteBehind (restore writes overlapping the next fetch)', () => {
  it('returns before the store write finishes, keeps one write in flight, applies in order', async () => {
    const store = await controlled();
    const writer = new WriteBehind(store.partition());
    await writer.restore([entry('a', '1')], 0); // started, not finished
    expect(store.inFlight).toBe(1);

    let secondReturned = false;
    const second = writer.restore([entry('a', '2'), entry('b', '1')], 1).then(() => (secondReturned = true));
    await settle();
    expect(secondReturned).toBe(false); // waits for the first batch before starting its own
    expect(store.started).toHaveLength(1);

    store.finish();
    await second;
    expect(store.started.map((s) => s.offset)).toEqual([0, 1]);
    expect(store.inFlight).toBe(1);

    const drained = writer.drain();
    store.finish();
    await drained;
    expect(store.applied).toEqual([0, 1]);
    const inner = store.partition();
    expect((await inner.getMany(['a', 'b'])).map((v) => v?.toString())).toEqual(['2', '1']);
    expect(await inner.changelogOffset()).toBe(1);
  });

  it('fails the next write when a write fails, without an unhandled rejection', async () => {
    const store = await controlled();
    const writer = new WriteBehind(store.partition());
    await writer.restore([entry('a', '1')], 0);
    store.finish(new Error('disk full'));
    await settle();
    await expect(writer.restore([entry('b', '1')], 1)).rejects.toThrow('disk full');
    expect(store.started).toHaveLength(1);
    await expect(writer.drain()).rejects.toThrow('disk full');
  });

  it('reports a failure of the last write through drain', async () => {
    const store = await controlled();
    const writer = new WriteBehind(store.partition());
    await writer.restore([entry('a', '1')], 0);
    const drained = writer.drain();
    store.finish(new Error('io error'));
    await expect(drained).rejects.toThrow('io error');
  });

  it('drains at once when nothing was written', async () => {
    await expect(new WriteBehind((await controlled()).partition()).drain()).resolves.toBeUndefined();
  });
});
