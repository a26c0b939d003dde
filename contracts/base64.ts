// Strict base64 (RFC 4648 4 and 5). Producers may send either alphabet, padded or not, but a
// string that no conforming encoder could have produced is refused rather than guessed at:
// whitespace, stray characters, both alphabets at once, misplaced or wrong padding, and
// non-zero unused bits in the last character (which would let several strings decode alike).

export class Base64Error extends Error {
  override readonly name = 'Base64Error';
  readonly code = 'ERR_BASE64_INVALID';
}

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const PADDING = 0x3d; // '='

// By char code: the sextet a character stands for, or -1. Both alphabets' last two characters
// are listed ('+' and '-' are 62, '/' and '_' 63); which alphabet a text uses is checked apart.
const SEXTET = new Int8Array(128).fill(-1);
for (let index = 0; index < ALPHABET.length; index++) SEXTET[ALPHABET.charCodeAt(index)] = index;
for (const [char, value] of [['+', 62], ['/', 63], ['-', 62], ['_', 63]] as const) SEXTET[char.charCodeAt(0)] = value;
const isStandardOnly = (code: number): boolean => code === 0x2b || code === 0x2f; // '+' '/'
const isUrlSafeOnly = (code: number): boolean => code === 0x2d || code === 0x5f; // '-' '_'

/** The length of `text` without its trailing padding; throws when the padding is wrong. */
function bodyLength(text: string): number {
  let end = text.length;
  while (end > 0 && text.charCodeAt(end - 1) === PADDING) end--;
  const padding = text.length - end;
  if (padding > 0 && (text.length % 4 !== 0 || padding > 2)) throw new Base64Error('base64 padding does not complete a 4-character group');
  return end;
}

const alphabetError = (): Base64Error => new Base64Error('base64 contains characters outside one alphabet (or mixes standard and URL-safe)');

/** 'base64url' when the body uses URL-safe characters, 'base64' otherwise; throws on any other character or on both alphabets at once. */
function bodyEncoding(text: string, end: number): 'base64' | 'base64url' {
  let standard = false;
  let urlSafe = false;
  for (let index = 0; index < end; index++) {
    const code = text.charCodeAt(index);
    if (code >= SEXTET.length || SEXTET[code] < 0) throw alphabetError();
    if (isStandardOnly(code)) standard = true;
    else if (isUrlSafeOnly(code)) urlSafe = true;
    if (standard && urlSafe) throw alphabetError();
  }
  return urlSafe ? 'base64url' : 'base64';
}

function checkUnusedBits(text: string, end: number): void {
  const remainder = end % 4;
  if (remainder === 1) throw new Base64Error('base64 length leaves a dangling character');
  if (remainder === 0) return;
  // 2 chars carry 8 bits (4 unused), 3 chars carry 16 bits (2 unused).
  const unusedMask = remainder === 2 ? 0b1111 : 0b11;
  if ((SEXTET[text.charCodeAt(end - 1)] & unusedMask) !== 0) {
    throw new Base64Error('base64 has non-zero unused bits in its last character');
  }
}

/** Decodes standard or URL-safe base64, padded or not; throws Base64Error on anything else. */
export function decodeBase64(text: string): Buffer {
  // One pass over the characters: this runs for every signature of every record.
  const end = bodyLength(text);
  const encoding = bodyEncoding(text, end);
  checkUnusedBits(text, end);
  return Buffer.from(end === text.length ? text : text.slice(0, end), encoding);
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
