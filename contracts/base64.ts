// Strict base64 (RFC 4648 4 and 5). Producers may send either alphabet, padded or not, but a
// string that no conforming encoder could have produced is refused rather than guessed at:
// whitespace, stray characters, both alphabets at once, misplaced or wrong padding, and
// non-zero unused bits in the last character (which would let several strings decode alike).

export class Base64Error extends Error {
  override readonly name = 'Base64Error';
  readonly code = 'ERR_BASE64_INVALID';
}

const STANDARD_BODY = /^[A-Za-z0-9+/]*$/;
const URL_SAFE_BODY = /^[A-Za-z0-9_-]*$/;
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

function sextetValue(char: string): number {
  const index = ALPHABET.indexOf(char);
  if (index >= 0) return index;
  return char === '+' || char === '-' ? 62 : 63;
}

function stripPadding(text: string): string {
  const body = text.replace(/=+$/, '');
  const padding = text.length - body.length;
  if (padding === 0) return body;
  if (text.length % 4 !== 0 || padding > 2) throw new Base64Error('base64 padding does not complete a 4-character group');
  return body;
}

function checkUnusedBits(body: string): void {
  const remainder = body.length % 4;
  if (remainder === 1) throw new Base64Error('base64 length leaves a dangling character');
  if (remainder === 0) return;
  // 2 chars carry 8 bits (4 unused), 3 chars carry 16 bits (2 unused).
  const unusedMask = remainder === 2 ? 0b1111 : 0b11;
  if ((sextetValue(body[body.length - 1]) & unusedMask) !== 0) {
    throw new Base64Error('base64 has non-zero unused bits in its last character');
  }
}

/** Decodes standard or URL-safe base64, padded or not; throws Base64Error on anything else. */
export function decodeBase64(text: string): Buffer {
  const body = stripPadding(text);
  // URL-safe only matters when the text is not standard (a body of the shared characters is both).
  const standard = STANDARD_BODY.test(body);
  const urlSafeOnly = !standard && URL_SAFE_BODY.test(body);
  if (!standard && !urlSafeOnly) {
    throw new Base64Error('base64 contains characters outside one alphabet (or mixes standard and URL-safe)');
  }
  checkUnusedBits(body);
  return Buffer.from(body, urlSafeOnly ? 'base64url' : 'base64');
}

/** decodeBase64 for callers that only need "valid or not". */
export function tryDecodeBase64(text: string): Buffer | undefined {
  try {
    return decodeBase64(text);
  } catch (error) {
    if (error instanceof Base64Error) return undefined;
    throw error;
  }
}

/** Standard alphabet, padded. */
export function encodeBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}
