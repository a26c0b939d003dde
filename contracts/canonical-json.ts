// RFC 8785 JSON Canonicalization Scheme (JCS). JCS is defined as ECMAScript's own JSON
// serialisation of strings and numbers plus key sorting by UTF-16 code units, so the primitives
// delegate to JSON.stringify/String and only the structure is walked here.

export type CanonicalJsonErrorCode =
  | 'ERR_JCS_NON_FINITE_NUMBER'
  | 'ERR_JCS_LONE_SURROGATE'
  | 'ERR_JCS_UNSUPPORTED_VALUE'
  | 'ERR_JCS_TOO_DEEP';

export class CanonicalJsonError extends Error {
  override readonly name = 'CanonicalJsonError';
  constructor(
    readonly code: CanonicalJsonErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** Nesting bound: the walk recurses, and attacker-shaped input must not exhaust the stack. */
export const MAX_CANONICAL_DEPTH = 1000;

// String.prototype.isWellFormed (ES2024, native since Node 20) is false exactly when a lone
// surrogate half is present; it is several times faster than a /\p{Cs}/u scan on long strings.
const isWellFormed = (String.prototype as unknown as { isWellFormed: (this: string) => boolean }).isWellFormed;

export function hasLoneSurrogate(text: string): boolean {
  return !isWellFormed.call(text);
}

function canonicalString(text: string): string {
  // Lone surrogates are not I-JSON (RFC 7493 2.1) and have no UTF-8 encoding to hash.
  if (hasLoneSurrogate(text)) {
    throw new CanonicalJsonError('ERR_JCS_LONE_SURROGATE', `string contains a lone surrogate: ${JSON.stringify(text)}`);
  }
  // For well-formed strings JSON.stringify emits exactly the JCS escapes (RFC 8785 3.2.2.2).
  return JSON.stringify(text);
}

function canonicalNumber(value: number): string {
  if (!Number.isFinite(value)) {
    throw new CanonicalJsonError('ERR_JCS_NON_FINITE_NUMBER', `${String(value)} has no JSON representation`);
  }
  // Number::toString is the RFC 8785 3.2.2.3 algorithm; it also prints -0 as "0".
  return String(value);
}

function isPlainObject(value: object): value is Record<string, unknown> {
  const prototype: unknown = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

function describe(value: unknown): string {
  if (typeof value === 'object' && value !== null) return value.constructor?.name ?? 'object';
  return typeof value;
}

function canonicalValue(value: unknown, depth: number): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      return canonicalNumber(value);
    case 'string':
      return canonicalString(value);
    case 'object':
      if (depth >= MAX_CANONICAL_DEPTH) {
        throw new CanonicalJsonError('ERR_JCS_TOO_DEEP', `nesting deeper than ${MAX_CANONICAL_DEPTH}`);
      }
      if (Array.isArray(value)) return canonicalArray(value, depth + 1);
      if (isPlainObject(value)) return canonicalObject(value, depth + 1);
      break;
    default:
      break;
  }
  // undefined, functions, bigints, class instances: JSON.stringify would drop or coerce them,
  // which would make the signed bytes differ from the value the caller holds.
  throw new CanonicalJsonError('ERR_JCS_UNSUPPORTED_VALUE', `${describe(value)} is not a JSON value`);
}

function canonicalArray(items: readonly unknown[], depth: number): string {
  let out = '[';
  for (let index = 0; index < items.length; index++) {
    if (index > 0) out += ',';
    out += canonicalValue(items[index], depth);
  }
  return out + ']';
}

function canonicalObject(object: Record<string, unknown>, depth: number): string {
  // Array.prototype.sort without a comparator orders strings by UTF-16 code units (RFC 8785 3.2.3).
  const keys = Object.keys(object).sort();
  let out = '{';
  for (let index = 0; index < keys.length; index++) {
    const key = keys[index];
    if (index > 0) out += ',';
    out += canonicalString(key) + ':' + canonicalValue(object[key], depth);
  }
  return out + '}';
}

/** RFC 8785 canonical text of a JSON value; throws CanonicalJsonError on non-JSON input. */
export function canonicalJson(value: unknown): string {
  return canonicalValue(value, 0);
}

/** The UTF-8 bytes of canonicalJson(value): what gets hashed and signed. */
export function canonicalJsonBytes(value: unknown): Buffer {
  return Buffer.from(canonicalJson(value), 'utf8');
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const COMMA = 0x2c;

/**
 * The first member name that occurs twice in one object of `jsonText`, compared after unescaping.
 * JSON.parse keeps the last duplicate silently, so another parser could read a different value
 * than the one that was verified; I-JSON (RFC 7493 2.3) forbids duplicates. The text must already
 * have passed JSON.parse. Iterative, so nesting depth cannot exhaust the stack.
 */
export function findDuplicateMemberName(jsonText: string): string | undefined {
  // One entry per open container: the names seen so far for an object, null for an array.
  const open: (Set<string> | null)[] = [];
  let expectingName = false;
  for (let index = 0; index < jsonText.length; index++) {
    const char = jsonText.charCodeAt(index);
    if (char === QUOTE) {
      let end = index + 1;
      let escaped = false;
      while (jsonText.charCodeAt(end) !== QUOTE) {
        if (jsonText.charCodeAt(end) === BACKSLASH) {
          escaped = true;
          end += 2;
        } else {
          end += 1;
        }
      }
      const names = open[open.length - 1];
      if (expectingName && names) {
        const name = escaped ? (JSON.parse(jsonText.slice(index, end + 1)) as string) : jsonText.slice(index + 1, end);
        if (names.has(name)) return name;
        names.add(name);
        expectingName = false;
      }
      index = end;
    } else if (char === OPEN_OBJECT) {
      open.push(new Set());
      expectingName = true;
    } else if (char === OPEN_ARRAY) {
      open.push(null);
      expectingName = false;
    } else if (char === CLOSE_OBJECT || char === CLOSE_ARRAY) {
      open.pop();
      expectingName = false;
    } else if (char === COMMA) {
      expectingName = open[open.length - 1] != null;
    }
  }
  return undefined;
}
