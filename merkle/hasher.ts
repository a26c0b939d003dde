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

const LEAF_PREFIX = Buffer.from([0x00]);
const NODE_PREFIX = Buffer.from([0x01]);

const sha256 = (data: Buffer): Buffer => hash('sha256', data, 'buffer') as unknown as Buffer;

export const rfc6962Sha256: LogHasher = {
  size: 32,
  emptyRoot: () => sha256(Buffer.alloc(0)),
  hashLeaf: (leaf) => sha256(Buffer.concat([LEAF_PREFIX, leaf])),
  hashChildren: (left, right) => sha256(Buffer.concat([NODE_PREFIX, left, right])),
};
