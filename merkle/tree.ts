// RFC 6962 section 2.1: the Merkle Tree Hash of n leaf hashes, splitting at the largest power
// of two smaller than n (not the midpoint: only this split is interoperable).
import type { LogHasher } from './hasher.js';

/** The largest power of two strictly smaller than n (n ≥ 2). */
export function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** MTH over already-hashed leaves (leafHashes[i] = hashLeaf(entry i)). */
export function rootFromLeafHashes(hasher: LogHasher, leafHashes: readonly Uint8Array[]): Buffer {
  if (leafHashes.length === 0) return hasher.emptyRoot();
  return subtreeRoot(hasher, leafHashes, 0, leafHashes.length);
}

function subtreeRoot(hasher: LogHasher, leaves: readonly Uint8Array[], from: number, to: number): Buffer {
  const n = to - from;
  if (n === 1) return Buffer.from(leaves[from]);
  const k = splitPoint(n);
  return hasher.hashChildren(subtreeRoot(hasher, leaves, from, from + k), subtreeRoot(hasher, leaves, from + k, to));
}
