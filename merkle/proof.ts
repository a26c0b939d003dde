// RFC 6962 section 2.1.1 audit paths, and their verification (RFC 9162 section 2.1.3.2).
// Computing and verifying come in pairs; a mismatch is a typed error carrying both roots.
import type { LogHasher } from './hasher.js';
import { rootFromLeafHashes, splitPoint } from './tree.js';

export class RootMismatchError extends Error {
  readonly code = 'ERR_MERKLE_ROOT_MISMATCH' as const;
  constructor(
    readonly expected: string,
    readonly computed: string,
  ) {
    super(`inclusion proof leads to root ${computed}, expected ${expected}`);
  }
}

export class ProofShapeError extends Error {
  readonly code = 'ERR_MERKLE_PROOF_SHAPE' as const;
}

/** PATH(m, D[n]): the sibling hashes from leaf m up to the root, bottom first. */
export function inclusionProof(hasher: LogHasher, leafHashes: readonly Uint8Array[], index: number): Buffer[] {
  if (!Number.isInteger(index) || index < 0 || index >= leafHashes.length) {
    throw new ProofShapeError(`leaf index ${index} is outside a tree of ${leafHashes.length} leaves`);
  }
  return path(hasher, leafHashes, index, 0, leafHashes.length);
}

function path(hasher: LogHasher, leaves: readonly Uint8Array[], m: number, from: number, to: number): Buffer[] {
  const n = to - from;
  if (n === 1) return [];
  const k = splitPoint(n);
  if (m < k) return [...path(hasher, leaves, m, from, from + k), rootFromLeafHashes(hasher, leaves.slice(from + k, to))];
  return [...path(hasher, leaves, m - k, from + k, to), rootFromLeafHashes(hasher, leaves.slice(from, from + k))];
}

/** The root an inclusion proof leads to; throws ProofShapeError when the proof cannot fit the tree. */
export function rootFromInclusionProof(hasher: LogHasher, index: number, size: number, leafHash: Uint8Array, proof: readonly Uint8Array[]): Buffer {
  if (!Number.isInteger(index) || !Number.isInteger(size) || index < 0 || index >= size) {
    throw new ProofShapeError(`leaf index ${index} is outside a tree of ${size} leaves`);
  }
  let fn = index;
  let sn = size - 1;
  let r: Buffer = Buffer.from(leafHash);
  for (const p of proof) {
    if (sn === 0) throw new ProofShapeError(`proof has more hashes than a tree of ${size} leaves needs`);
    if (fn % 2 === 1 || fn === sn) {
      r = hasher.hashChildren(p, r);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      r = hasher.hashChildren(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  if (sn !== 0) throw new ProofShapeError(`proof has fewer hashes than a tree of ${size} leaves needs`);
  return r;
}

/** Throws RootMismatchError (or ProofShapeError) unless the proof places leafHash at index under root. */
export function verifyInclusion(hasher: LogHasher, index: number, size: number, leafHash: Uint8Array, proof: readonly Uint8Array[], root: Uint8Array): void {
  const computed = rootFromInclusionProof(hasher, index, size, leafHash, proof);
  if (!computed.equals(Buffer.from(root))) throw new RootMismatchError(Buffer.from(root).toString('hex'), computed.toString('hex'));
}
