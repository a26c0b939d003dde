import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EXPORT_PAYLOAD_TYPE, pae } from '../../../contracts/dsse.js';
import { readJson } from './fixtures.js';

interface PaeCase {
  desc: string;
  payloadType: string;
  payloadHex: string;
  wantHex: string;
  wantUtf8?: string;
}

const vectors = readJson(new URL('../../vectors/dsse/pae.json', import.meta.url)) as { cases: PaeCase[] };

describe('DSSE PAE (test/vectors/dsse/pae.json)', () => {
  for (const vector of vectors.cases) {
    it(vector.desc, () => {
      const encoded = pae(vector.payloadType, Buffer.from(vector.payloadHex, 'hex'));
      expect(encoded.toString('hex')).toBe(vector.wantHex);
      if (vector.wantUtf8 !== undefined) expect(encoded.toString('utf8')).toBe(vector.wantUtf8);
    });
  }

  it('counts bytes, not UTF-16 code units', () => {
    const payload = Buffer.from('\u00e9\ud83d\ude00', 'utf8'); // 2 + 4 bytes, 3 code units
    expect(pae('t\u00e9', payload).toString('utf8')).toBe(`DSSEv1 3 t\u00e9 6 \u00e9\ud83d\ude00`);
  });

  it('is the concatenation the definition spells out, for any type and payload', () => {
    const literal = (type: string, payload: Uint8Array): Buffer => {
      const typeBytes = Buffer.from(type, 'utf8');
      return Buffer.concat([Buffer.from(`DSSEv1 ${typeBytes.length} `), typeBytes, Buffer.from(` ${payload.byteLength} `), payload]);
    };
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme' }), fc.uint8Array({ maxLength: 2000 }), (type, payload) => {
        expect(pae(type, payload).equals(literal(type, payload))).toBe(true);
      }),
    );
  });

  it('fixes the export payload type of DESIGN.md 3.1', () => {
    expect(EXPORT_PAYLOAD_TYPE).toBe('application/vnd.findings-ledger.orchestrator-export.v1+json');
  });
});
