// RFC 6962 section 2.1 hashing: the only place that knows SHA-256 and the 0x00/0x01 prefixes.
// Tree and proof code take a LogHasher and never name the hash function.
import { hash } from 'node:crypto';

export interface LogHasher {
  /** Root of the empty tree: the hash of the empty string. */
  emptyRoot(): Buffer;
  /** HASH(0x00 || leaf). */
  hashLeaf(leaf: Uint8Array): Buffer;
  /** HASH(0x01 || left || right). */
  hashChildren(left: Uint8Array, right: Uint8Array): Buffer;
  readonly size: number;
}

// hash() with a 'buffer' output gives each digest its own backing store, which costs about twice
// the SHA-256 of a 65-byte input itself; a 'binary' (latin1: one char per byte) string output
// copied into a small Buffer (Buffer.from takes those from Node's shared pool) is the same 32
// bytes at about half the cost.
const sha256 = (data: Uint8Array): Buffer => Buffer.from(hash('sha256', data, 'binary'), 'binary');

// Leaves of 32 bytes and interior nodes hash 33 and 65 bytes: one scratch buffer each instead
// of an allocation per hash (hash() is synchronous, so a buffer is never shared by two calls).
const leaf32 = Buffer.alloc(33);
leaf32[0] = 0x00;
const node = Buffer.alloc(65);
node[0] = 0x01;

export const rfc6962Sha256: LogHasher = {
  size: 32,
  emptyRoot: () => sha256(Buffer.alloc(0)),
  hashLeaf: (leaf) => {
    if (leaf.length === 32) {
      leaf32.set(leaf, 1);
      return sha256(leaf32);
    }
    const input = Buffer.allocUnsafe(leaf.length + 1);
    input[0] = 0x00;
    input.set(leaf, 1);
    return sha256(input);
  },
  hashChildren: (left, right) => {
    if (left.length !== 32 || right.length !== 32) {
      const prefix = Buffer.from([0x01]);
      return sha256(Buffer.concat([prefix, left, right]));
    }
    node.set(left, 1);
    node.set(right, 33);
    return sha256(node);
  },
};
