import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel, type Consumer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { counterTopology, type CountOutput } from '../../examples/counter-topology.js';
import { ensureTopics } from '../../runtime/kafka/topics.js';
import { allTopics } from '../../runtime/topology-types.js';
import { kafkaBrokers } from '../support/env.js';
import { killHard, killIfRunning, sleep, startWorker, stopGracefully, waitFor, type Worker } from '../support/processes.js';

// Exactly-once through the real broker: a stateful counter runs as a child process and is
// killed with SIGKILL mid-stream, again and again; once its RocksDB directory is deleted too,
// and for a while two instances share (and steal) partitions. Every count depends on the
// stored previous count, so any lost or repeated input, output or store write would show as a
// gap or a repeat in a key's sequence 1..n.

const run = `eos-${Date.now().toString(36)}`;
const topology = counterTopology({ appId: run, inputTopic: `${run}.in`, outputTopic: `${run}.out`, partitions: 3 });
const MIN_RECORDS = 3_000;
const KEYS = 40;
const kafka = new Kafka({ clientId: 'eos-test', brokers: kafkaBrokers(), logLevel: logLevel.NOTHING });

let stateDirs: string[] = [];
const workers: Worker[] = [];
const outputs: Array<{ partition: number; offset: number; value: CountOutput }> = [];
let outputConsumer: Consumer;

const workerEnv = (stateDir: string): Record<string, string> => ({
  KAFKA_BROKERS: kafkaBrokers().join(','),
  COUNTER_APP_ID: run,
  COUNTER_INPUT: `${run}.in`,
  COUNTER_OUTPUT: `${run}.out`,
  COUNTER_PARTITIONS: '3',
  LEDGER_STATE_DIR: stateDir,
});

beforeAll(async () => {
  const admin = kafka.admin();
  await admin.connect();
  await ensureTopics(admin, allTopics(topology));
  await admin.disconnect();
  outputConsumer = kafka.consumer({ groupId: `${run}-checker`, readUncommitted: false, maxWaitTimeInMs: 200 });
  await outputConsumer.connect();
  await outputConsumer.subscribe({ topic: `${run}.out`, fromBeginning: true });
  await outputConsumer.run({
    eachMessage: async ({ partition, message }) => {
      outputs.push({ partition, offset: Number(message.offset), value: JSON.parse(String(message.value)) as CountOutput });
    },
  });
  stateDirs = [await mkdtemp(join(tmpdir(), 'eos-a-')), await mkdtemp(join(tmpdir(), 'eos-b-'))];
});

afterAll(async () => {
  workers.forEach(killIfRunning);
  await outputConsumer?.disconnect();
  for (const d of stateDirs) await rm(d, { recursive: true, force: true });
});

describe('Kafka driver exactly-once', () => {
  it('loses and duplicates nothing across kill -9, a wiped store and a rebalance', async (context) => {
    context.onTestFailed(() => {
      for (const [i, w] of workers.entries()) {
        process.stderr.write(`--- worker ${i} log (last 40 lines)\n${w.logs.slice(-40).map((l) => JSON.stringify(l)).join('\n')}\n`);
      }
    });
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    const inputKeys: string[] = [];
    let produced = 0;
    let faultsDone = false;
    // A steady stream that lasts as long as the faults do (and at least MIN_RECORDS).
    const produceAll = (async () => {
      while (!faultsDone || produced < MIN_RECORDS) {
        const chunk = Array.from({ length: 100 }, (_, i) => {
          const key = `k${(produced + i) * 7 % KEYS}`;
          inputKeys.push(key);
          return { key, value: `v${produced + i}` };
        });
        await producer.send({ topic: `${run}.in`, messages: chunk, acks: -1 });
        produced += chunk.length;
        await sleep(150);
      }
    })();

    const restoredAfterWipe: number[] = [];
    let current = startWorker('examples/counter-worker.js', workerEnv(stateDirs[0]));
    workers.push(current);
    for (let round = 0; round < 4; round++) {
      const seen = outputs.length;
      await waitFor(`worker to make progress in round ${round}`, () => outputs.length > seen + 100);
      await sleep(300 + ((round * 389) % 900));
      await killHard(current);
      if (round === 1) {
        // The local RocksDB directory is gone: the store must come back from its changelog.
        await rm(stateDirs[0], { recursive: true, force: true });
      }
      current = startWorker('examples/counter-worker.js', workerEnv(stateDirs[0]));
      workers.push(current);
      if (round === 1) {
        await waitFor('restore after wipe', () => current.logs.some((l) => l.message === 'restored store from changelog'));
        restoredAfterWipe.push(...current.logs.filter((l) => l.message === 'restored store from changelog').map((l) => Number(l.records)));
      }
    }
    // A second instance joins: partitions (and their stores) move to it, then it is killed and
    // the first takes them back.
    const second = startWorker('examples/counter-worker.js', workerEnv(stateDirs[1]));
    workers.push(second);
    const seenBefore = outputs.length;
    await waitFor('both instances to process', () => second.logs.some((l) => l.message === 'ready') && outputs.length > seenBefore + 300);
    await sleep(1_000);
    await killHard(second);
    faultsDone = true;

    await produceAll;
    await producer.disconnect();
    const TOTAL = produced;
    await waitFor('every input to be counted', () => outputs.length >= TOTAL, 240_000);
    await sleep(1_500); // anything extra (a duplicate) would arrive now
    expect(await stopGracefully(current)).toBe(0);

    const problems = workers.flatMap((w) => w.logs.filter((l) => l.level === 'error'));
    expect(problems).toEqual([]);
    expect(restoredAfterWipe.reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
    expect(outputs.length).toBe(TOTAL);
    // Each input offset was counted exactly once.
    const sources = new Set(outputs.map((o) => `${o.value.source.partition}:${o.value.source.offset}`));
    expect(sources.size).toBe(TOTAL);
    // Per key, in output order, the counts are exactly 1..n with n = the key's inputs.
    const expected = new Map<string, number>();
    for (const k of inputKeys) expected.set(k, (expected.get(k) ?? 0) + 1);
    const sequences = new Map<string, number[]>();
    for (const o of [...outputs].sort((a, b) => a.partition - b.partition || a.offset - b.offset)) {
      sequences.set(o.value.key, [...(sequences.get(o.value.key) ?? []), o.value.count]);
    }
    for (const [key, n] of expected) {
      expect(sequences.get(key), key).toEqual(Array.from({ length: n }, (_, i) => i + 1));
    }
  });
});
