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
