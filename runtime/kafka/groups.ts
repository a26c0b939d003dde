import type { Admin } from 'kafkajs';
import { consumerGroupId, type Topology } from '../topology-types.js';

/**
 * Commits the current end offsets of their inputs for the processors' consumer groups that have
 * committed nothing yet, so a new application decides only what comes next (Kafka's
 * auto.offset.reset=latest) rather than every record already on its inputs; a group that has
 * committed offsets stays where it is. Call it before the processors start (a group with members
 * cannot be moved). Returns the groups it moved.
 */
export async function startNewGroupsAtEnd(admin: Admin, topology: Topology): Promise<string[]> {
  const moved: string[] = [];
  for (const spec of topology.processors) {
    const groupId = consumerGroupId(topology.appId, spec.name);
    const committed = await admin.fetchOffsets({ groupId, topics: [...spec.inputs] });
    if (committed.some((topic) => topic.partitions.some((p) => Number(p.offset) >= 0))) continue;
    for (const topic of spec.inputs) {
      const ends = await admin.fetchTopicOffsets(topic);
      await admin.setOffsets({ groupId, topic, partitions: ends.map((p) => ({ partition: p.partition, offset: p.high })) });
    }
    moved.push(groupId);
  }
  return moved;
}

/** Per topic, per partition: an offset (e.g. where a stream of interest starts). */
export type PartitionOffsets = ReadonlyMap<string, ReadonlyMap<number, number>>;

/**
 * How many records below `before` the processors' groups have yet to commit, summed over every
 * group that reads one of its topics (a group that committed nothing on a partition counts from
 * the partition's first offset, where it would start). What a resumed application still has to
 * read before it reaches a given point of its inputs.
 */
export async function uncommittedBefore(admin: Admin, topology: Topology, before: PartitionOffsets): Promise<number> {
  let total = 0;
  for (const spec of topology.processors) {
    const topics = spec.inputs.filter((topic) => before.has(topic));
    if (topics.length === 0) continue;
    const committed = await admin.fetchOffsets({ groupId: consumerGroupId(topology.appId, spec.name), topics });
    for (const { topic, partitions } of committed) {
      const firstOffsets = partitions.some((p) => Number(p.offset) < 0) ? await partitionOffsetsOf(admin, topic, 'low') : new Map<number, number>();
      for (const { partition, offset } of partitions) {
        const from = Number(offset) >= 0 ? Number(offset) : (firstOffsets.get(partition) ?? 0);
        total += Math.max(0, (before.get(topic)?.get(partition) ?? 0) - from);
      }
    }
  }
  return total;
}

/** Per partition of `topic`, its first offset (`low`) or its end offset (`high`). */
export const partitionOffsetsOf = async (admin: Admin, topic: string, edge: 'low' | 'high'): Promise<Map<number, number>> =>
  new Map((await admin.fetchTopicOffsets(topic)).map((o) => [o.partition, Number(o[edge])]));
