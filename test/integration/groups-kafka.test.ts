import { randomBytes } from 'node:crypto';
import { Kafka, logLevel, type Admin } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildPipeline, type Pipeline } from '../../cli/pipeline.js';
import { loadConfig } from '../../config.js';
import { jsonLineLogger } from '../../runtime/kafka/client.js';
import { startNewGroupsAtEnd, uncommittedBefore } from '../../runtime/kafka/groups.js';
import { TOPICS } from '../../topology.js';
import { kafkaBrokers } from '../support/env.js';
import { endOffsets, ensurePipelineTopics } from '../support/topics.js';

// startNewGroupsAtEnd on the broker: a new application's groups are committed at the end of their
// inputs (what `ledger demo` does first), and a group that has committed offsets is not moved.

const appId = `groups-it-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
const kafka = new Kafka({ clientId: appId, brokers: kafkaBrokers(), logLevel: logLevel.NOTHING });
const silent = jsonLineLogger('test', { write: () => true } as unknown as NodeJS.WritableStream);
let admin: Admin;
let pipeline: Pipeline;

beforeAll(async () => {
  admin = kafka.admin();
  await admin.connect();
  await ensurePipelineTopics(admin);
  pipeline = buildPipeline(loadConfig({}, { LEDGER_APP_ID: appId, LEDGER_ALLOW_UNSIGNED: 'true', SCHEMA_REGISTRY_URL: '' }), silent, { workers: 0, watchKeyring: false });
});

afterAll(async () => {
  await pipeline?.close();
  for (const processor of ['validate', 'dedupe', 'projector']) await admin?.deleteGroups([`${appId}-${processor}`]).catch(() => undefined);
  await admin?.disconnect();
});

const committed = async (groupId: string, topic: string): Promise<Map<number, number>> => {
  const [offsets] = await admin.fetchOffsets({ groupId, topics: [topic] });
  return new Map((offsets?.partitions ?? []).map((p) => [p.partition, Number(p.offset)]));
};

describe('startNewGroupsAtEnd', () => {
  it('commits a new application at the end of its inputs and leaves groups that committed alone', async () => {
    // Records on the input before the application exists: not its to decide.
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic: TOPICS.exportsCreated, acks: -1, messages: [0, 1, 2].map((i) => ({ key: `${appId}/${i}`, value: `{"note":"${appId}"}` })) });
    await producer.disconnect();

    // dedupe has already committed (an earlier run of the application): offset 0 everywhere.
    const dedupeGroup = `${appId}-dedupe`;
    const validatedPartitions = [...(await endOffsets(admin, TOPICS.validated)).keys()];
    await admin.setOffsets({ groupId: dedupeGroup, topic: TOPICS.validated, partitions: validatedPartitions.map((partition) => ({ partition, offset: '0' })) });

    const inputEnds = await endOffsets(admin, TOPICS.exportsCreated);
    expect([...inputEnds.values()].reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(3);
    const moved = await startNewGroupsAtEnd(admin, pipeline.topology);
    expect(moved.sort()).toEqual([`${appId}-projector`, `${appId}-validate`]);
    expect(await committed(`${appId}-validate`, TOPICS.exportsCreated)).toEqual(inputEnds);
    for (const topic of [TOPICS.events, TOPICS.merkleRoots, TOPICS.airgapBundles]) {
      expect(await committed(`${appId}-projector`, topic), topic).toEqual(await endOffsets(admin, topic));
    }
    expect([...(await committed(dedupeGroup, TOPICS.validated)).values()]).toEqual(validatedPartitions.map(() => 0));

    // A second call moves nothing: every group has committed by now.
    expect(await startNewGroupsAtEnd(admin, pipeline.topology)).toEqual([]);
    expect(await committed(`${appId}-validate`, TOPICS.exportsCreated)).toEqual(inputEnds);
  });

  it('uncommittedBefore counts what the groups reading the given topics have yet to commit below a point', async () => {
    // The application as the first test left it: validate committed at the end of its input.
    const start = await endOffsets(admin, TOPICS.exportsCreated);
    const before = new Map([[TOPICS.exportsCreated, start]]);
    expect(await uncommittedBefore(admin, pipeline.topology, before)).toBe(0);

    // Five records written while the application was stopped, all to one partition: it resumes five behind.
    const partition = [...start.keys()][0];
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic: TOPICS.exportsCreated, acks: -1, messages: [0, 1, 2, 3, 4].map((i) => ({ key: `${appId}/late/${i}`, value: '{}', partition })) });
    await producer.disconnect();
    const later = await endOffsets(admin, TOPICS.exportsCreated);
    expect(await uncommittedBefore(admin, pipeline.topology, new Map([[TOPICS.exportsCreated, later]]))).toBe(5);
    // Counted only below the given point, and only for the groups reading that topic (dedupe at 0 on its own input is not asked).
    expect(await uncommittedBefore(admin, pipeline.topology, before)).toBe(0);
    await admin.setOffsets({ groupId: `${appId}-validate`, topic: TOPICS.exportsCreated, partitions: [{ partition, offset: String((later.get(partition) ?? 0) - 2) }] });
    expect(await uncommittedBefore(admin, pipeline.topology, new Map([[TOPICS.exportsCreated, later]]))).toBe(2);

    // A group that committed nothing counts from each partition's first offset, where it would
    // start: the partition written above now starts two records before its end.
    await admin.deleteGroups([`${appId}-validate`]);
    await admin.deleteTopicRecords({ topic: TOPICS.exportsCreated, partitions: [{ partition, offset: String((later.get(partition) ?? 0) - 2) }] });
    const offsets = await admin.fetchTopicOffsets(TOPICS.exportsCreated);
    const ends = new Map([[TOPICS.exportsCreated, new Map(offsets.map((o) => [o.partition, Number(o.high)]))]]);
    expect(offsets.find((o) => o.partition === partition)?.low).toBe(String((later.get(partition) ?? 0) - 2));
    expect(await uncommittedBefore(admin, pipeline.topology, ends)).toBe(offsets.reduce((sum, o) => sum + Number(o.high) - Number(o.low), 0));
  });
});
