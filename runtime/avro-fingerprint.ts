import type { Type } from 'avsc';

// CRC-64-AVRO, the Rabin fingerprint of the Avro specification ("Schema Fingerprints"):
// EMPTY is both the initial value and the polynomial; the table is the usual byte-wise CRC table.
const EMPTY = 0xc15d213aa4d7a795n;
const MASK_64 = 0xffff_ffff_ffff_ffffn;

const FINGERPRINT_TABLE: readonly bigint[] = Array.from({ length: 256 }, (_, index) => {
  let fingerprint = BigInt(index);
  for (let bit = 0; bit < 8; bit += 1) {
    fingerprint = (fingerprint >> 1n) ^ (EMPTY & -(fingerprint & 1n));
  }
  return fingerprint & MASK_64;
});

/** CRC-64-AVRO of `bytes`, as an unsigned 64-bit value (Java's `long` is its two's complement). */
export function rabinFingerprint64(bytes: Uint8Array): bigint {
  let fingerprint = EMPTY;
  for (const byte of bytes) {
    fingerprint = (fingerprint >> 8n) ^ FINGERPRINT_TABLE[Number((fingerprint ^ BigInt(byte)) & 0xffn)]!;
  }
  return fingerprint;
}

/**
 * The Parsing Canonical Form of a parsed schema. avsc's `schema()` without attributes is exactly
 * that form (full names, no doc/aliases/defaults, spec key order); the unit tests pin it to the
 * Avro project's canonical-form vectors.
 */
export const parsingCanonicalForm = (type: Type): string => JSON.stringify(type.schema());

/** The 8 bytes single-object encoding puts after its marker: CRC-64-AVRO of the PCF, little-endian. */
export function schemaFingerprint(type: Type): Buffer {
  const fingerprint = rabinFingerprint64(Buffer.from(parsingCanonicalForm(type), 'utf8'));
  const bytes = Buffer.alloc(8);
  bytes.writeBigUInt64LE(fingerprint);
  return bytes;
}
