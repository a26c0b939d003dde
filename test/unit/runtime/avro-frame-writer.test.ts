import avro from 'avsc';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FrameWriter } from '../../../runtime/avro-frame-writer.js';

const type = avro.Type.forSchema({
  type: 'record',
  name: 'Blob',
  fields: [
    { name: 'label', type: 'string' },
    { name: 'data', type: 'bytes' },
  ],
});
const header = Buffer.from([0xc3, 0x01, 1, 2, 3, 4, 5, 6, 7, 8]);
const expected = (value: unknown): Buffer => Buffer.concat([header, type.toBuffer(value)]);
const blob = (bytes: number, fill = 0x61): { label: string; data: Buffer } => ({ label: `blob of ${bytes}`, data: Buffer.alloc(bytes, fill) });

describe('FrameWriter', () => {
  it('writes the header and the same body as avsc toBuffer, whatever the size', () => {
    const writer = new FrameWriter();
    fc.assert(
      fc.property(fc.string(), fc.uint8Array({ maxLength: 40_000 }), (label, data) => {
        const value = { label, data: Buffer.from(data) };
        expect(writer.write(header, type, value)).toEqual(expected(value));
      }),
      { numRuns: 200 },
    );
  });

  it('grows past its initial buffer, and encodes values over its retention bound into their own buffer', () => {
    const writer = new FrameWriter();
    for (const bytes of [10, 20_000, 300_000, 2 * 1024 * 1024, 10]) {
      expect(writer.write(header, type, blob(bytes))).toEqual(expected(blob(bytes)));
    }
  });

  it('hands out buffers that later writes do not touch', () => {
    const writer = new FrameWriter();
    const first = writer.write(header, type, blob(100, 0x61));
    const copy = Buffer.from(first);
    writer.write(header, type, blob(100, 0x62));
    writer.write(header, type, blob(50_000, 0x63));
    expect(first).toEqual(copy);
  });

  it('throws avsc’s error for a value that does not fit the type', () => {
    expect(() => new FrameWriter().write(header, type, { label: 7, data: Buffer.alloc(1) })).toThrow();
  });
});
