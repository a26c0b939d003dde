// RFC 6962 section 2.1: the Merkle Tree Hash of n leaf hashes, splitting at the largest power
// of two smaller than n (not the midpoint: only this split is interoperable).
import type { LogHasher } from './hasher.js';

/** The largest power of two strictly smaller than n (n ≥ 2). */
export function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** MTH over already-hashed leaves (leafHashes[i] = hashLeaf(entry i)), as a new Buffer. */
export function rootFromLeafHashes(hasher: LogHasher, leafHashes: readonly Uint8Array[]): Buffer {
  const n = leafHashes.length;
  if (n === 0) return hasher.emptyRoot();
  // The MTH of one leaf is its leaf hash: copied, so the root never aliases the caller's leaf.
  if (n === 1) return Buffer.from(leafHashes[0]);
  const k = splitPoint(n);
  return hasher.hashChildren(subtreeRoot(hasher, leafHashes, 0, k), subtreeRoot(hasher, leafHashes, k, n));
}

/** MTH of leaves[from, to); a single leaf is returned as is (hashChildren only reads it), not copied. */
function subtreeRoot(hasher: LogHasher, leaves: readonly Uint8Array[], from: number, to: number): Uint8Array {
  if (to - from === 1) return leaves[from];
  const k = from + splitPoint(to - from);
  return hasher.hashChildren(subtreeRoot(hasher, leaves, from, k), subtreeRoot(hasher, leaves, k, to));
}
