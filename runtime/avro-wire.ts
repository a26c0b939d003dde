/** How a record value is framed on the wire, told from its first bytes only. */
export type WireFormat = 'json' | 'single-object' | 'confluent' | 'unknown';

// Avro single-object encoding (Avro spec): 0xC3 0x01, then the 8-byte little-endian
// CRC-64-AVRO fingerprint of the writer schema, then the Avro binary body.
const SINGLE_OBJECT_MARKER = Buffer.from([0xc3, 0x01]);
const FINGERPRINT_LENGTH = 8;
export const SINGLE_OBJECT_HEADER_LENGTH = SINGLE_OBJECT_MARKER.length + FINGERPRINT_LENGTH;

// Confluent wire format: magic byte 0x00, then the 4-byte big-endian schema id, then the body.
const CONFLUENT_MAGIC = 0x00;
export const CONFLUENT_HEADER_LENGTH = 5;

const OPEN_BRACE = 0x7b;
// JSON's insignificant whitespace (RFC 8259): space, tab, line feed, carriage return.
const JSON_WHITESPACE = new Set([0x20, 0x09, 0x0a, 0x0d]);

/**
 * Cheap classification of a value, without decoding it: a JSON object (first non-whitespace
 * byte `{`), single-object Avro (0xC3 0x01) or Confluent-framed Avro (0x00). A recognised
 * marker with a truncated header still classifies; decoding then reports it as corrupt.
 */
export function detectFormat(bytes: Uint8Array): WireFormat {
  if (bytes.length === 0) return 'unknown';
  if (bytes[0] === CONFLUENT_MAGIC) return 'confluent';
  if (bytes.length >= 2 && bytes[0] === SINGLE_OBJECT_MARKER[0] && bytes[1] === SINGLE_OBJECT_MARKER[1]) {
    return 'single-object';
  }
  for (const byte of bytes) {
    if (JSON_WHITESPACE.has(byte)) continue;
    return byte === OPEN_BRACE ? 'json' : 'unknown';
  }
  return 'unknown';
}

/** The bytes before a single-object body: marker and the writer schema's fingerprint. */
export const singleObjectHeader = (fingerprint: Buffer): Buffer => Buffer.concat([SINGLE_OBJECT_MARKER, fingerprint]);

/** The bytes before a Confluent-framed body: magic byte and the registry's schema id. */
export function confluentHeader(schemaId: number): Buffer {
  const header = Buffer.alloc(CONFLUENT_HEADER_LENGTH);
  header.writeUInt8(CONFLUENT_MAGIC, 0);
  header.writeUInt32BE(schemaId, 1);
  return header;
}

/** Fingerprint and body of a single-object value; undefined when the header is truncated. */
export function unframeSingleObject(bytes: Buffer): { fingerprint: Buffer; body: Buffer } | undefined {
  if (bytes.length < SINGLE_OBJECT_HEADER_LENGTH) return undefined;
  return {
    fingerprint: bytes.subarray(SINGLE_OBJECT_MARKER.length, SINGLE_OBJECT_HEADER_LENGTH),
    body: bytes.subarray(SINGLE_OBJECT_HEADER_LENGTH),
  };
}

/** Schema id and body of a Confluent-framed value; undefined when the header is truncated. */
export function unframeConfluent(bytes: Buffer): { schemaId: number; body: Buffer } | undefined {
  if (bytes.length < CONFLUENT_HEADER_LENGTH) return undefined;
  return { schemaId: bytes.readUInt32BE(1), body: bytes.subarray(CONFLUENT_HEADER_LENGTH) };
}

/** A Buffer view of any byte array, without copying. */
export const asBuffer = (bytes: Uint8Array): Buffer =>
  Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
