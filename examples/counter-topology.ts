import type { Topology } from '../runtime/topology-types.js';
import type { InputRecord, KeyValueStore, Processor, ProcessorContext } from '../runtime/types.js';

// A minimal stateful topology that exercises the runtime end to end (store, changelog,
// exactly-once outputs): for every input record it emits the running count of its key.
// Because each count depends on the stored previous one, a lost or doubled input, output or
// store write shows up as a gap or a repeat in the per-key sequence 1, 2, 3, …

export interface CountOutput {
  readonly key: string;
  readonly count: number;
  readonly source: { readonly partition: number; readonly offset: number };
}

class CountingProcessor implements Processor<Buffer> {
  private context!: ProcessorContext;
  private counts!: KeyValueStore<number>;

  constructor(private readonly outputTopic: string) {}

  init(context: ProcessorContext): void {
    this.context = context;
    this.counts = context.store<number>('counts');
  }

  keysToPrefetch(record: InputRecord<Buffer>): Array<{ store: string; key: string }> {
    return record.key === null ? [] : [{ store: 'counts', key: record.key }];
  }

  async process(record: InputRecord<Buffer>): Promise<void> {
    const key = record.key ?? '(null)';
    const count = ((await this.counts.get(key)) ?? 0) + 1;
    this.counts.put(key, count);
    const value: CountOutput = { key, count, source: { partition: record.partition, offset: record.offset } };
    this.context.forward({ topic: this.outputTopic, key, value });
  }
}

export function counterTopology(options: { appId: string; inputTopic: string; outputTopic: string; partitions: number }): Topology {
  return {
    appId: options.appId,
    topics: [
      { name: options.inputTopic, partitions: options.partitions, value: { kind: 'raw' } },
      { name: options.outputTopic, partitions: options.partitions, value: { kind: 'json' } },
    ],
    stores: [{ name: 'counts' }],
    processors: [
      {
        name: 'counter',
        inputs: [options.inputTopic],
        outputs: [options.outputTopic],
        stores: ['counts'],
        create: () => new CountingProcessor(options.outputTopic),
      },
    ],
  };
}
