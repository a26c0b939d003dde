// RFC 8785 JSON Canonicalization Scheme (JCS). JCS is defined as ECMAScript's own JSON
// serialisation of strings and numbers plus key sorting by UTF-16 code units, so the primitives
// follow JSON.stringify/String and only the structure is walked here.
//
// The walk writes UTF-8 straight into one reused buffer instead of concatenating strings: the
// canonical form of a ledger event is hashed once per event, and building it as a string made
// tens of short-lived strings per event (plus a flattening copy before hashing), which cost more
// in garbage collection than the walk itself. test/unit/contracts/canonical-json.test.ts checks
// this writer against the plain string-building definition on random values.

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

function isPlainObject(value: object): value is Record<string, unknown> {
  const prototype: unknown = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

function describe(value: unknown): string {
  if (typeof value === 'object' && value !== null) return value.constructor?.name ?? 'object';
  return typeof value;
}

/** Objects with at most this many members are sorted by insertion, larger ones by Array#sort. */
const INSERTION_SORT_MAX = 32;

/**
 * Sorts member names in place by UTF-16 code units (RFC 8785 3.2.3): JS `<` on strings and
 * Array#sort without a comparator both use that order. Array#sort allocates a work array per
 * call; the objects here have a handful of members, where an insertion sort allocates nothing.
 */
function sortMemberNames(names: string[]): void {
  if (names.length > INSERTION_SORT_MAX) {
    names.sort();
    return;
  }
  for (let index = 1; index < names.length; index++) {
    const name = names[index];
    let at = index - 1;
    while (at >= 0 && names[at] > name) {
      names[at + 1] = names[at];
      at--;
    }
    names[at + 1] = name;
  }
}

const INITIAL_BUFFER_BYTES = 16 * 1024;
/** A writer that grew past this for one huge value goes back to the initial size afterwards. */
const MAX_KEPT_BUFFER_BYTES = 1024 * 1024;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const COMMA = 0x2c;
const COLON = 0x3a;

/** Strings that are their own JCS form and their own UTF-8: printable ASCII but `"` and `\`. */
const PLAIN_ASCII = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;
const NATIVE_COPY_MIN_LENGTH = 32;

/** Writes the UTF-8 canonical form of one value at a time into a buffer it keeps. */
class CanonicalWriter {
  private bytes = Buffer.allocUnsafe(INITIAL_BUFFER_BYTES);
  private length = 0;

  /** The canonical bytes of `value`, valid until the next call. */
  write(value: unknown): Buffer {
    this.length = 0;
    this.value(value, 0);
    return this.bytes.subarray(0, this.length);
  }

  /** Drops a buffer grown for an exceptionally large value. */
  shrink(): void {
    if (this.bytes.length > MAX_KEPT_BUFFER_BYTES) this.bytes = Buffer.allocUnsafe(INITIAL_BUFFER_BYTES);
  }

  private value(value: unknown, depth: number): void {
    if (value === null) return this.ascii('null');
    switch (typeof value) {
      case 'boolean':
        return this.ascii(value ? 'true' : 'false');
      case 'number':
        return this.number(value);
      case 'string':
        return this.string(value);
      case 'object':
        if (depth >= MAX_CANONICAL_DEPTH) {
          throw new CanonicalJsonError('ERR_JCS_TOO_DEEP', `nesting deeper than ${MAX_CANONICAL_DEPTH}`);
        }
        if (Array.isArray(value)) return this.array(value, depth + 1);
        if (isPlainObject(value)) return this.object(value, depth + 1);
        break;
      default:
        break;
    }
    // undefined, functions, bigints, class instances: JSON.stringify would drop or coerce them,
    // which would make the signed bytes differ from the value the caller holds.
    throw new CanonicalJsonError('ERR_JCS_UNSUPPORTED_VALUE', `${describe(value)} is not a JSON value`);
  }

  private array(items: readonly unknown[], depth: number): void {
    this.byte(OPEN_ARRAY);
    for (let index = 0; index < items.length; index++) {
      if (index > 0) this.byte(COMMA);
      this.value(items[index], depth);
    }
    this.byte(CLOSE_ARRAY);
  }

  private object(object: Record<string, unknown>, depth: number): void {
    const names = Object.keys(object);
    sortMemberNames(names);
    this.byte(OPEN_OBJECT);
    for (let index = 0; index < names.length; index++) {
      const name = names[index];
      if (index > 0) this.byte(COMMA);
      this.string(name);
      this.byte(COLON);
      this.value(object[name], depth);
    }
    this.byte(CLOSE_OBJECT);
  }

  private number(value: number): void {
    if (!Number.isFinite(value)) {
      throw new CanonicalJsonError('ERR_JCS_NON_FINITE_NUMBER', `${String(value)} has no JSON representation`);
    }
    // Number::toString is the RFC 8785 3.2.2.3 algorithm (ASCII only); it also prints -0 as "0".
    this.ascii(String(value));
  }

  private string(text: string): void {
    // Fast path: printable ASCII other than quote and backslash is its own UTF-8 and its own
    // JCS escape, the case of digests, UUIDs, timestamps and paths. Anything else (escapes,
    // non-ASCII, surrogates) is rewritten by the general path from the opening quote.
    // Long strings are tested and copied natively (~0.5 ns a character against ~2.7 for the
    // loop below, after a fixed ~60 ns that the loop wins back on short ones).
    if (text.length >= NATIVE_COPY_MIN_LENGTH) return this.longString(text);
    const start = this.length;
    this.reserve(text.length + 2);
    const bytes = this.bytes;
    let at = start;
    bytes[at++] = QUOTE;
    for (let index = 0; index < text.length; index++) {
      const unit = text.charCodeAt(index);
      if (unit < 0x20 || unit > 0x7e || unit === QUOTE || unit === BACKSLASH) {
        this.length = start;
        return this.escapedString(text);
      }
      bytes[at++] = unit;
    }
    bytes[at++] = QUOTE;
    this.length = at;
  }

  private longString(text: string): void {
    if (!PLAIN_ASCII.test(text)) return this.escapedString(text);
    this.reserve(text.length + 2);
    this.bytes[this.length++] = QUOTE;
    this.length += this.bytes.write(text, this.length, 'latin1');
    this.bytes[this.length++] = QUOTE;
  }

  private escapedString(text: string): void {
    // Lone surrogates are not I-JSON (RFC 7493 2.1) and have no UTF-8 encoding to hash.
    if (hasLoneSurrogate(text)) {
      throw new CanonicalJsonError('ERR_JCS_LONE_SURROGATE', `string contains a lone surrogate: ${JSON.stringify(text)}`);
    }
    // For well-formed strings JSON.stringify emits exactly the JCS escapes (RFC 8785 3.2.2.2).
    const escaped = JSON.stringify(text);
    this.reserve(escaped.length * 3);
    this.length += this.bytes.write(escaped, this.length, 'utf8');
  }

  /** Text known to be ASCII (literals, numbers). */
  private ascii(text: string): void {
    this.reserve(text.length);
    for (let index = 0; index < text.length; index++) this.bytes[this.length++] = text.charCodeAt(index);
  }

  private byte(value: number): void {
    this.reserve(1);
    this.bytes[this.length++] = value;
  }

  private reserve(count: number): void {
    if (this.length + count <= this.bytes.length) return;
    const grown = Buffer.allocUnsafe(Math.max(2 * this.bytes.length, this.length + count));
    this.bytes.copy(grown, 0, 0, this.length);
    this.bytes = grown;
  }
}

// One writer for the common case; a call made while it is busy (a getter that canonicalises
// something itself) gets a writer of its own rather than overwriting the outer call's bytes.
let idleWriter: CanonicalWriter | null = new CanonicalWriter();

/**
 * Calls `use` with the UTF-8 bytes of canonicalJson(value) without allocating them: for hashing,
 * where the bytes are read once. They live in a buffer reused by the next call, so `use` must
 * not keep them (or anything that shares their memory).
 */
export function withCanonicalJsonBytes<T>(value: unknown, use: (bytes: Buffer) => T): T {
  const writer = idleWriter ?? new CanonicalWriter();
  idleWriter = null;
  try {
    return use(writer.write(value));
  } finally {
    writer.shrink();
    idleWriter = writer;
  }
}

/** RFC 8785 canonical text of a JSON value; throws CanonicalJsonError on non-JSON input. */
export function canonicalJson(value: unknown): string {
  return withCanonicalJsonBytes(value, (bytes) => bytes.toString('utf8'));
}

/** The UTF-8 bytes of canonicalJson(value): what gets hashed and signed. */
export function canonicalJsonBytes(value: unknown): Buffer {
  return withCanonicalJsonBytes(value, (bytes) => {
    // allocUnsafe + copy: the pooled allocation Buffer.from would make, without its slower generic copy.
    const copy = Buffer.allocUnsafe(bytes.length);
    bytes.copy(copy);
    return copy;
  });
}

/**
 * Where the string opened at `open` ends in text that passed JSON.parse: the next quote not
 * escaped by an odd run of backslashes. indexOf skips the string's contents natively; most of
 * an export's text is inside strings.
 */
function closingQuote(jsonText: string, open: number): number {
  let at = jsonText.indexOf('"', open + 1);
  while (at > 0) {
    let backslashes = 0;
    while (jsonText.charCodeAt(at - 1 - backslashes) === BACKSLASH) backslashes++;
    if (backslashes % 2 === 0) return at;
    at = jsonText.indexOf('"', at + 1);
  }
  return jsonText.length; // unterminated: cannot happen after JSON.parse; ends the scan
}

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
  let nextBackslash = jsonText.indexOf('\\');
  for (let index = 0; index < jsonText.length; index++) {
    const char = jsonText.charCodeAt(index);
    if (char === QUOTE) {
      const end = closingQuote(jsonText, index);
      const names = open[open.length - 1];
      if (expectingName && names) {
        // The first backslash at or after this string, kept between names so the search stays linear.
        if (nextBackslash !== -1 && nextBackslash < index) nextBackslash = jsonText.indexOf('\\', index);
        const escaped = nextBackslash !== -1 && nextBackslash < end;
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
