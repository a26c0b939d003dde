// DSSE v1 pre-authentication encoding (PAE), the only DSSE piece the export contract needs.

/** DESIGN.md 3.1: the payload type every export signature is bound to. */
export const EXPORT_PAYLOAD_TYPE = 'application/vnd.findings-ledger.orchestrator-export.v1+json';

/**
 * PAE = "DSSEv1" SP LEN(type) SP type SP LEN(payload) SP payload, where LEN is the ASCII decimal
 * length in bytes (UTF-8 for the type), so non-ASCII text cannot shift the boundaries.
 */
export function pae(payloadType: string, payload: Uint8Array): Buffer {
  const typeBytes = Buffer.from(payloadType, 'utf8');
  const header = Buffer.from(`DSSEv1 ${typeBytes.length} `, 'ascii');
  const middle = Buffer.from(` ${payload.byteLength} `, 'ascii');
  return Buffer.concat([header, typeBytes, middle, payload]);
}
