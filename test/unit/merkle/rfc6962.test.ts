import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { rfc6962Sha256 as H } from '../../../merkle/hasher.js';
import { inclusionProof, rootFromInclusionProof, verifyInclusion } from '../../../merkle/proof.js';
import { rootFromLeafHashes } from '../../../merkle/tree.js';

interface Reference {
  leaves: string[];
  roots: string[];
  inclusion: Array<{ desc: string; index: number; size: number; proof: string[] }>;
}
const ref = JSON.parse(readFileSync(new URL('../../vectors/rfc6962/reference.json', import.meta.url), 'utf8')) as Reference;
const unhex = (h: string) => Buffer.from(h, 'hex');
const leafHashes = ref.leaves.map((l) => H.hashLeaf(unhex(l)));

describe('RFC 6962 tree hash', () => {
  it.each(ref.roots.map((root, size) => [size, root] as const))('root of the first %i reference leaves', (size, root) => {
    expect(rootFromLeafHashes(H, leafHashes.slice(0, size)).toString('hex')).toBe(root);
  });

  it.each(ref.inclusion)('audit path: $desc', ({ index, size, proof }) => {
    expect(inclusionProof(H, leafHashes.slice(0, size), index).map((p) => p.toString('hex'))).toEqual(proof);
    expect(() => verifyInclusion(H, index, size, leafHashes[index], proof.map(unhex), unhex(ref.roots[size]))).not.toThrow();
  });
});

describe('inclusion proofs for every leaf of every tree size up to 40', () => {
  const many = Array.from({ length: 40 }, (_, i) => H.hashLeaf(Buffer.from(`leaf-${i}`)));

  it('verify, and any tampering fails', () => {
    for (let size = 1; size <= many.length; size++) {
      const tree = many.slice(0, size);
      const root = rootFromLeafHashes(H, tree);
      for (let i = 0; i < size; i++) {
        const proof = inclusionProof(H, tree, i);
        expect(rootFromInclusionProof(H, i, size, tree[i], proof).equals(root)).toBe(true);
        // wrong leaf, wrong index, a flipped bit in a proof hash, a dropped or an extra hash
        expect(() => verifyInclusion(H, i, size, H.hashLeaf(Buffer.from('other')), proof, root)).toThrow(expect.objectContaining({ code: 'ERR_MERKLE_ROOT_MISMATCH' }));
        if (size > 1) {
          expect(() => verifyInclusion(H, (i + 1) % size, size, tree[i], proof, root)).toThrow();
          const flipped = proof.map((p, j) => (j === 0 ? Buffer.from(p.map((b, k) => (k === 0 ? b ^ 1 : b))) : p));
          expect(() => verifyInclusion(H, i, size, tree[i], flipped, root)).toThrow(expect.objectContaining({ code: 'ERR_MERKLE_ROOT_MISMATCH' }));
          expect(() => verifyInclusion(H, i, size, tree[i], proof.slice(1), root)).toThrow();
        }
        expect(() => verifyInclusion(H, i, size, tree[i], [...proof, root], root)).toThrow();
      }
    }
  });

  it('refuses indexes outside the tree', () => {
    expect(() => inclusionProof(H, many.slice(0, 3), 3)).toThrow(expect.objectContaining({ code: 'ERR_MERKLE_PROOF_SHAPE' }));
    expect(() => rootFromInclusionProof(H, -1, 3, many[0], [])).toThrow(expect.objectContaining({ code: 'ERR_MERKLE_PROOF_SHAPE' }));
  });
});

describe('rfc6962Sha256', () => {
  // Digests are copied into Buffers from Node's shared pool: each must still be its own 32 bytes.
  it('returns digests as 32-byte Buffers that share no bytes with one another', () => {
    const digests = [H.hashLeaf(Buffer.from('a')), H.hashChildren(unhex(ref.roots[1]), unhex(ref.roots[2])), H.emptyRoot(), H.hashLeaf(unhex('00'.repeat(32)))];
    const copies = digests.map((d) => Buffer.from(d));
    digests.forEach((d, i) => {
      expect(Buffer.isBuffer(d) && d.length).toBe(32);
      d.fill(0xff);
      digests.forEach((other, j) => (j > i ? expect(other).toEqual(copies[j]) : undefined));
    });
    expect(H.emptyRoot().toString('hex')).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'); // sha256 of ''
  });
});

describe('rootFromLeafHashes', () => {
  // The tree passes inner leaves to hashChildren uncopied; the root it returns must still be
  // the caller's own Buffer.
  it('returns a new Buffer that aliases no leaf, and leaves the leaves unchanged', () => {
    for (const size of [1, 2, 3]) {
      const tree = Array.from({ length: size }, (_, i) => H.hashLeaf(Buffer.from(`alias-${i}`)));
      const before = tree.map((leaf) => Buffer.from(leaf));
      const root = rootFromLeafHashes(H, tree);
      root.fill(0);
      expect(tree).toEqual(before);
    }
  });
});
