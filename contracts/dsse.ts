// DSSE v1 pre-authentication encoding (PAE), the only DSSE piece the export contract needs.

/** DESIGN.md 3.1: the payload type every export signature is bound to. */
export const EXPORT_PAYLOAD_TYPE = 'application/vnd.findings-ledger.orchestrator-export.v1+json';

/**
 * PAE = "DSSEv1" SP LEN(type) SP type SP LEN(payload) SP payload, where LEN is the ASCII decimal
 * length in bytes (UTF-8 for the type), so non-ASCII text cannot shift the boundaries.
 */
export function pae(payloadType: string, payload: Uint8Array): Buffer {
  // Built in one allocation: the message is made once per verified record and is otherwise a
  // copy of the payload, so the four-part concat was a measurable share of the overhead.
  const header = `DSSEv1 ${Buffer.byteLength(payloadType, 'utf8')} ${payloadType} ${payload.byteLength} `;
  const headerBytes = Buffer.byteLength(header, 'utf8');
  const message = Buffer.allocUnsafe(headerBytes + payload.byteLength);
  message.write(header, 0, 'utf8');
  message.set(payload, headerBytes);
  return message;
}
