import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Base64Error, decodeBase64, encodeBase64, tryDecodeBase64 } from '../../../contracts/base64.js';

const bytes = Buffer.from([0xfb, 0xff, 0xbf, 0x00, 0x10, 0xfe, 0x7f]);

describe('decodeBase64', () => {
  it.each([
    ['standard, padded', '+/+/ABD+fw=='],
    ['standard, unpadded', '+/+/ABD+fw'],
    ['URL-safe, unpadded', '-_-_ABD-fw'],
    ['URL-safe, padded', '-_-_ABD-fw=='],
  ])('accepts %s', (_name, text) => {
    expect(decodeBase64(text).equals(bytes)).toBe(true);
  });

  it.each([
    ['', ''],
    ['Zg==', 'f'],
    ['Zg', 'f'],
    ['Zm8=', 'fo'],
    ['Zm8', 'fo'],
    ['Zm9v', 'foo'],
    ['Zm9vYg', 'foob'],
    ['Zm9vYmE', 'fooba'],
    ['Zm9vYmFy', 'foobar'],
  ])('RFC 4648 test vector %s', (text, want) => {
    expect(decodeBase64(text).toString('latin1')).toBe(want);
  });

  it.each([
    ['mixed alphabets', '+_+_ABD-fw'],
    ['whitespace', 'Zm9v YmFy'],
    ['newline', 'Zm9v\nYmFy'],
    ['character outside both alphabets', 'Zm9v*mFy'],
    ['dangling single character', 'Zm9vY'],
    ['too much padding', 'Zg==='],
    ['padding that does not complete a group', 'Zg='],
    ['padding in the middle', 'Zg==Zg=='],
    ['only padding', '=='],
    ['non-zero unused bits (2 chars)', 'Zh'],
    ['non-zero unused bits (3 chars)', 'Zm9='],
  ])('rejects %s', (_name, text) => {
    expect(() => decodeBase64(text)).toThrow(Base64Error);
    expect(tryDecodeBase64(text)).toBeUndefined();
  });

  // The rules as regular expressions (the decoder reads each character once instead).
  const referenceDecode = (text: string): Buffer | undefined => {
    const body = text.replace(/=+$/, '');
    const padding = text.length - body.length;
    if (padding > 0 && (text.length % 4 !== 0 || padding > 2)) return undefined;
    const standard = /^[A-Za-z0-9+/]*$/.test(body);
    if (!standard && !/^[A-Za-z0-9_-]*$/.test(body)) return undefined;
    if (body.length % 4 === 1) return undefined;
    const bytes = Buffer.from(body, standard ? 'base64' : 'base64url');
    // Unused bits are zero exactly when re-encoding gives the same body back.
    const again = bytes.toString(standard ? 'base64' : 'base64url').replace(/=+$/, '');
    return again === body ? bytes : undefined;
  };

  it('accepts and decodes exactly what the rules allow', () => {
    const char = fc.oneof({ weight: 40, arbitrary: fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789') }, fc.constantFrom('+', '/', '-', '_', '=', ' ', '\n', '*', 'é', '\u0000', '\ud800'));
    const candidate = fc.oneof(
      fc.array(char, { maxLength: 20 }).map((c) => c.join('')),
      // Often both alphabets at once.
      fc.array(fc.constantFrom('A', 'b', '0', '+', '/', '-', '_'), { maxLength: 12 }).map((c) => c.join('')),
      fc.tuple(fc.uint8Array({ maxLength: 40 }), fc.boolean(), fc.boolean()).map(([bytes, urlSafe, unpadded]) => {
        const text = Buffer.from(bytes).toString(urlSafe ? 'base64url' : 'base64');
        return unpadded ? text.replace(/=+$/, '') : text;
      }),
    );
    fc.assert(
      fc.property(candidate, (text) => {
        const expected = referenceDecode(text);
        const actual = tryDecodeBase64(text);
        expect(actual === undefined ? undefined : actual.toString('hex')).toBe(expected === undefined ? undefined : expected.toString('hex'));
      }),
      { numRuns: 5_000 },
    );
  });

  it('gives the error a code', () => {
    try {
      decodeBase64('!');
      expect.unreachable();
    } catch (error) {
      expect((error as Base64Error).code).toBe('ERR_BASE64_INVALID');
    }
  });
});

describe('encodeBase64', () => {
  it('writes the standard alphabet with padding', () => {
    expect(encodeBase64(bytes)).toBe('+/+/ABD+fw==');
  });

  it('respects the view of a Uint8Array over a larger buffer', () => {
    const backing = new Uint8Array([1, 2, 3, 4, 5]);
    expect(encodeBase64(backing.subarray(1, 3))).toBe(Buffer.from([2, 3]).toString('base64'));
  });

  it('round-trips with decodeBase64', () => {
    for (let length = 0; length < 70; length++) {
      const data = Buffer.alloc(length, length * 37);
      expect(decodeBase64(encodeBase64(data)).equals(data)).toBe(true);
    }
  });
});
