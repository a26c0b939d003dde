// Kafka's default partitioner for keyed records: murmur2 of the key bytes, made positive,
// modulo the partition count — the same as the Java client and kafkajs' DefaultPartitioner,
// so the in-process driver puts every record where the Kafka driver would.

const SEED = 0x9747b28c;
const M = 0x5bd1e995;
const R = 24;

export function murmur2(data: Uint8Array): number {
  const length = data.length;
  let h = SEED ^ length;
  const length4 = length >>> 2;
  for (let i = 0; i < length4; i++) {
    const i4 = i * 4;
    let k = data[i4] | (data[i4 + 1] << 8) | (data[i4 + 2] << 16) | (data[i4 + 3] << 24);
    k = Math.imul(k, M);
    k ^= k >>> R;
    k = Math.imul(k, M);
    h = Math.imul(h, M);
    h ^= k;
  }
  const tail = length & ~3;
  const rest = length % 4;
  if (rest === 3) h ^= data[tail + 2] << 16;
  if (rest >= 2) h ^= data[tail + 1] << 8;
  if (rest >= 1) {
    h ^= data[tail];
    h = Math.imul(h, M);
  }
  h ^= h >>> 13;
  h = Math.imul(h, M);
  h ^= h >>> 15;
  return h | 0;
}

/**
 * Partition of an output record. Keyed records follow Kafka's default partitioner; a record
 * without a key stays on the partition number it came from (modulo the target's count), which
 * keeps replays deterministic where Kafka's producer would pick one at random.
 */
export function partitionFor(key: string | null, partitionCount: number, sourcePartition: number): number {
  if (key === null) return sourcePartition % partitionCount;
  return (murmur2(Buffer.from(key, 'utf8')) & 0x7fffffff) % partitionCount;
}
