import { AssignerProtocol, type PartitionAssigner } from 'kafkajs';

/**
 * Assigns partition NUMBERS, not topic-partitions: a member that gets partition P gets P of
 * every subscribed topic, so a task reading several co-partitioned inputs sees all of them
 * (kafkajs' round-robin would split them across members). Partition numbers go round-robin
 * over the sorted member ids.
 */
export const CoPartitionedAssigner: PartitionAssigner = ({ cluster }) => ({
  name: 'FindingsLedgerCoPartitioned',
  version: 1,
  async assign({ members, topics }) {
    const memberIds = members.map((m) => m.memberId).sort();
    const counts = topics.map((topic) => cluster.findTopicPartitionMetadata(topic).length);
    const partitionCount = Math.max(0, ...counts);
    const assignment = new Map<string, Record<string, number[]>>(memberIds.map((id) => [id, {}]));
    for (let p = 0; p < partitionCount; p++) {
      const owner = assignment.get(memberIds[p % memberIds.length]);
      if (!owner) continue;
      topics.forEach((topic, i) => {
        if (p < counts[i]) (owner[topic] ??= []).push(p);
      });
    }
    return memberIds.map((memberId) => ({
      memberId,
      memberAssignment: AssignerProtocol.MemberAssignment.encode({
        version: 1,
        assignment: assignment.get(memberId) ?? {},
        userData: Buffer.alloc(0),
      }),
    }));
  },
  protocol({ topics }) {
    return {
      name: 'FindingsLedgerCoPartitioned',
      metadata: AssignerProtocol.MemberMetadata.encode({ version: 1, topics, userData: Buffer.alloc(0) }),
    };
  },
});
