// DESIGN.md 4: one sealed Merkle batch of a partition of ledger.events, as a signed record.
// Leaves are RFC 6962 leaf hashes of the raw bytes of each eventHash; the signature is
// Ed25519 over JCS(the record without `signature`), and chains through previousSignature.
import { encodeBase64, tryDecodeBase64 } from './base64.js';
import { canonicalJsonBytes } from './canonical-json.js';
import { decodeDigestInto, digestRawBytes } from './digests.js';
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

const DIGEST_BYTES = 32;
const rawDigest = Buffer.alloc(DIGEST_BYTES);
/** RFC 6962 leaf hash of one event: SHA-256(0x00 ‖ raw bytes of its eventHash). */
export function eventLeafHash(eventHash: string): Buffer {
  // What the fast decoding refuses goes to the reference one, which throws the DigestError naming it.
  if (!decodeDigestInto(eventHash, rawDigest)) rawDigest.set(digestRawBytes(eventHash));
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

/** What JSON value each member of an unsigned root must hold for the direct canonical form. */
const MEMBER_CHECKS: { readonly [K in keyof UnsignedMerkleRoot]: (value: unknown) => boolean } = {
  anchorReference: isString,
  batchSeq: Number.isFinite,
  bundleIds: isStringArray,
  firstOffset: Number.isFinite,
  keyId: isString,
  lastOffset: Number.isFinite,
  leafCount: Number.isFinite,
  leaves: isStringArray,
  partition: Number.isFinite,
  previousSignature: (value) => value === null || isString(value),
  rootHash: isString,
  sealedAt: isString,
};
// RFC 8785 3.2.3 member order (UTF-16 code units; these names are ASCII).
const MEMBER_NAMES = (Object.keys(MEMBER_CHECKS) as Array<keyof UnsignedMerkleRoot>).sort();

function isString(value: unknown): value is string {
  return typeof value === 'string';
}

function isStringArray(value: unknown): boolean {
  // A toJSON would be honoured by JSON.stringify but not by JCS. Indexed loop, not every():
  // a hole must fail here as it fails JCS.
  if (!Array.isArray(value) || (value as { toJSON?: unknown }).toJSON !== undefined) return false;
  for (let index = 0; index < value.length; index++) if (typeof value[index] !== 'string') return false;
  return true;
}

/**
 * JCS of an unsigned root in one JSON.stringify of its members in JCS order, or undefined when
 * the value is not exactly a record's shape (then the generic JCS decides: same bytes, or its
 * error). For a 256-leaf record the generic walk, which concatenates ~500 pieces and checks each
 * string, cost ~2-3x this. It is the same text because JCS is JSON.stringify's string and number
 * forms with sorted keys (see canonical-json.ts), for a plain object of exactly these members
 * holding finite numbers and strings. The one difference: JSON.stringify escapes a lone
 * surrogate as \uXXXX where JCS refuses it, so any \u escape in the text (also a control
 * character's) defers to the generic walk.
 */
export function merkleRootCanonicalJson(root: UnsignedMerkleRoot): string | undefined {
  const prototype: unknown = Object.getPrototypeOf(root);
  if (prototype !== Object.prototype && prototype !== null) return undefined;
  const names = Object.keys(root).sort();
  if (names.length !== MEMBER_NAMES.length) return undefined;
  const members: Readonly<Record<string, unknown>> = root;
  const ordered: Record<string, unknown> = {};
  for (let index = 0; index < MEMBER_NAMES.length; index++) {
    const name = MEMBER_NAMES[index];
    if (names[index] !== name) return undefined;
    const value = members[name]; // read once: a getter could answer differently twice
    if (!MEMBER_CHECKS[name](value)) return undefined;
    ordered[name] = value;
  }
  const text = JSON.stringify(ordered);
  return text.includes('\\u') ? undefined : text;
}

export function merkleRootSigningBytes(root: UnsignedMerkleRoot): Buffer {
  const text = merkleRootCanonicalJson(root);
  return text === undefined ? canonicalJsonBytes(root) : Buffer.from(text, 'utf8');
}

export function signMerkleRoot(root: UnsignedMerkleRoot, sign: (message: Buffer) => Buffer): MerkleRootRecord {
  return { ...root, signature: encodeBase64(sign(merkleRootSigningBytes(root))) };
}

export function merkleRootSignatureValid(root: MerkleRootRecord, publicKey: Uint8Array): boolean {
  const { signature, ...unsigned } = root;
  const bytes = tryDecodeBase64(signature);
  return bytes !== undefined && verifyEd25519(publicKey, merkleRootSigningBytes(unsigned), bytes);
}
