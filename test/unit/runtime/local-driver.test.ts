import { describe, expect, it } from 'vitest';
import { counterTopology, type CountOutput } from '../../../examples/counter-topology.js';
import { LocalDriver } from '../../../runtime/local-driver.js';
import { TopicSerde } from '../../../runtime/serde.js';
import type { Topology } from '../../../runtime/topology-types.js';
import type { Processor, ProcessorContext } from '../../../runtime/types.js';
import { MemoryBackend } from '../../../state/memory.js';

const topology = counterTopology({ appId: 'test', inputTopic: 'in', outputTopic: 'out', partitions: 3 });
const makeDriver = (t: Topology = topology) => LocalDriver.create({ topology: t, backend: new MemoryBackend(), serde: new TopicSerde(t, null) });
const outputs = (driver: LocalDriver): CountOutput[] => driver.records('out').map((r) => JSON.parse(String(r.value)) as CountOutput);

describe('in-process driver', () => {
  it('runs a stateful processor: per-key counts, partitioned like Kafka', async () => {
    const driver = await makeDriver();
    const keys = ['a', 'b', 'a', 'c', 'a', 'b'];
    await driver.pipeAll('in', keys.map((key) => ({ key, value: Buffer.from('x') })));
    const byKey = new Map<string, number[]>();
    for (const o of outputs(driver)) byKey.set(o.key, [...(byKey.get(o.key) ?? []), o.count]);
    expect(Object.fromEntries(byKey)).toEqual({ a: [1, 2, 3], b: [1, 2], c: [1] });
    // Output and input of a key share a partition (same key, same partition count).
    for (const r of driver.records('out')) {
      const o = JSON.parse(String(r.value)) as CountOutput;
      expect(r.partition).toBe(o.source.partition);
    }
    await driver.close();
  });

  it('writes every store change to the changelog topic, keyed by store key', async () => {
    const driver = await makeDriver();
    await driver.pipeAll('in', ['k', 'k'].map((key) => ({ key, value: Buffer.from('x') })));
    await driver.pipe('in', { key: 'k', value: Buffer.from('x') });
    const changelog = driver.records('test-counts-changelog');
    expect(changelog.map((r) => [r.key, String(r.value)])).toEqual([
      ['k', '2'],
      ['k', '3'],
    ]);
    await driver.close();
  });

  it('is deterministic: the same input gives byte-identical output', async () => {
    const run = async (): Promise<string> => {
      const driver = await makeDriver();
      await driver.pipeAll('in', Array.from({ length: 200 }, (_, i) => ({ key: `k${i % 17}`, value: Buffer.from(String(i)) })));
      const text = driver.records('out').map((r) => `${r.partition}:${r.offset}:${r.key}:${String(r.value)}`).join('\n');
      await driver.close();
      return text;
    };
    expect(await run()).toBe(await run());
  });

  it('fires wall-clock punctuators and end-of-input hooks', async () => {
    const events: string[] = [];
    class Ticker implements Processor {
      private ctx!: ProcessorContext;
      init(ctx: ProcessorContext): void {
        this.ctx = ctx;
        ctx.schedule(1000, (now) => {
          events.push(`tick@${now}`);
          ctx.forward({ topic: 'ticks', key: null, value: { now } });
        });
      }
      process(): void {}
      endOfInput(): void {
        this.ctx.forward({ topic: 'ticks', key: null, value: { end: true } });
      }
    }
    const t: Topology = {
      appId: 'tick',
      topics: [
        { name: 'src', partitions: 1, value: { kind: 'raw' } },
        { name: 'ticks', partitions: 1, value: { kind: 'json' } },
      ],
      stores: [],
      processors: [{ name: 'ticker', inputs: ['src'], outputs: ['ticks'], stores: [], create: () => new Ticker() }],
    };
    const driver = await makeDriver(t);
    await driver.advanceWallClock(999);
    expect(events).toEqual([]);
    await driver.advanceWallClock(1);
    await driver.advanceWallClock(1000);
    expect(events).toEqual(['tick@1000', 'tick@2000']);
    await driver.endOfInput();
    expect(driver.records('ticks').map((r) => JSON.parse(String(r.value)))).toEqual([{ now: 1000 }, { now: 2000 }, { end: true }]);
    await driver.close();
  });

  it('refuses a forward to a topic the processor did not declare', async () => {
    const t: Topology = {
      appId: 'bad',
      topics: [
        { name: 'src', partitions: 1, value: { kind: 'raw' } },
        { name: 'other', partitions: 1, value: { kind: 'json' } },
      ],
      stores: [],
      processors: [
        {
          name: 'p',
          inputs: ['src'],
          outputs: [],
          stores: [],
          create: () => {
            let ctx: ProcessorContext;
            return { init: (c: ProcessorContext) => void (ctx = c), process: () => ctx.forward({ topic: 'other', key: null, value: 1 }) };
          },
        },
      ],
    };
    const driver = await makeDriver(t);
    await expect(driver.pipe('src', { value: Buffer.from('x') })).rejects.toThrow(/undeclared topic other/);
  });
});
