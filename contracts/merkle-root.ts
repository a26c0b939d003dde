// DESIGN.md 4: one sealed Merkle batch of a partition of ledger.events, as a signed record.
// Leaves are RFC 6962 leaf hashes of the raw bytes of each eventHash; the signature is
// Ed25519 over JCS(the record without `signature`), and chains through previousSignature.
import { encodeBase64, tryDecodeBase64 } from './base64.js';
import { canonicalJsonBytes } from './canonical-json.js';
import { digestRawBytes, isDigestString } from './digests.js';
import { verifyEd25519 } from './ed25519.js';
import { rfc6962Sha256 } from '../merkle/hasher.js';
import { rootFromLeafHashes } from '../merkle/tree.js';

export interface MerkleRootRecord {
  readonly partition: number;
  readonly batchSeq: number;
  readonly firstOffset: number;
  readonly lastOffset: number;
  readonly leafCount: number;
  /** eventHash strings, in offset order. */
  readonly leaves: readonly string[];
  readonly rootHash: string;
  readonly anchorReference: string;
  readonly bundleIds: readonly string[];
  readonly previousSignature: string | null;
  readonly keyId: string;
  readonly sealedAt: string;
  readonly signature: string;
}

export type UnsignedMerkleRoot = Omit<MerkleRootRecord, 'signature'>;

const rawDigest = Buffer.alloc(32);

/** RFC 6962 leaf hash of one event: SHA-256(0x00 ‖ raw bytes of its eventHash). */
export function eventLeafHash(eventHash: string): Buffer {
  if (!isDigestString(eventHash)) digestRawBytes(eventHash); // throws the DigestError naming it
  rawDigest.write(eventHash.slice(7), 'hex'); // validated above: exactly 64 hex digits
  return rfc6962Sha256.hashLeaf(rawDigest);
}

/** `sha256:<hex>` root of the batch's eventHashes. */
export function batchRootHash(eventHashes: readonly string[]): string {
  return `sha256:${rootFromLeafHashes(rfc6962Sha256, eventHashes.map(eventLeafHash)).toString('hex')}`;
}

/**
 * A batch not anchored outside the site: its reference names the log position it seals
 * (`airgap::ledger.events/<partition>/<batchSeq>`), which an external anchor would replace.
 */
export const airgapAnchorReference = (partition: number, batchSeq: number): string => `airgap::ledger.events/${partition}/${batchSeq}`;

export const merkleRootSigningBytes = (root: UnsignedMerkleRoot): Buffer => canonicalJsonBytes(root);

export function signMerkleRoot(root: UnsignedMerkleRoot, sign: (message: Buffer) => Buffer): MerkleRootRecord {
  return { ...root, signature: encodeBase64(sign(merkleRootSigningBytes(root))) };
}

export function merkleRootSignatureValid(root: MerkleRootRecord, publicKey: Uint8Array): boolean {
  const { signature, ...unsigned } = root;
  const bytes = tryDecodeBase64(signature);
  return bytes !== undefined && verifyEd25519(publicKey, merkleRootSigningBytes(unsigned), bytes);
}
