import { isUtf8 } from 'node:buffer';
import type { Type, types } from 'avsc';

// avsc trusts the block counts of arrays and maps: a corrupt or hostile count of 2^31 makes it
// allocate and loop that many times even when the buffer ended long before. Input topics take
// bytes from other teams, so every Avro body is walked once here, with bounds checks, before avsc
// reads it. Rule: a block may not claim more items than bytes remain. Every item of our schemas
// takes at least one byte; only arrays of zero-byte items (null, empty records) would be limited.
// On request (input topics), a string and a map key must be UTF-8, as the Avro spec says, and so
// must bytes: a writer schema may say bytes where the reader says string (Avro promotes it), and
// the input readers' schemas hold no binary field. avsc would decode each invalid byte as U+FFFD,
// three bytes when the value is written again, so a 1 MiB input could turn into records three
// times its size further down the pipeline. The pipeline's own topics hold what its encoder wrote
// from JS strings, always UTF-8, and skip the check (~1.5 µs of a ValidatedExport's 2 µs).

class MalformedBody extends Error {}

interface Cursor {
  readonly bytes: Uint8Array;
  position: number;
  readonly utf8: boolean;
}

const remaining = (cursor: Cursor): number => cursor.bytes.length - cursor.position;

function take(cursor: Cursor, length: number, what: string): void {
  if (length < 0 || length > remaining(cursor)) {
    throw new MalformedBody(`${what} of ${length} bytes at byte ${cursor.position} overruns the body`);
  }
  cursor.position += length;
}

/** A zig-zag varint, at most 10 bytes; values beyond 2^53 are refused (JS numbers, like avsc). */
function readLong(cursor: Cursor): number {
  let unsigned = 0;
  let scale = 1;
  for (let index = 0; index < 10; index += 1) {
    if (remaining(cursor) === 0) throw new MalformedBody(`varint truncated at byte ${cursor.position}`);
    const byte = cursor.bytes[cursor.position]!;
    cursor.position += 1;
    unsigned += (byte & 0x7f) * scale;
    if ((byte & 0x80) === 0) {
      if (unsigned > Number.MAX_SAFE_INTEGER) throw new MalformedBody('long beyond 2^53');
      return unsigned % 2 === 0 ? unsigned / 2 : -(unsigned + 1) / 2;
    }
    scale *= 128;
  }
  throw new MalformedBody(`varint longer than 10 bytes at byte ${cursor.position}`);
}

/** A string or bytes value; UTF-8 is checked when the cursor asks for it. */
function takeText(cursor: Cursor, what: 'string' | 'bytes'): void {
  const length = readLong(cursor);
  const start = cursor.position;
  take(cursor, length, what);
  if (!cursor.utf8) return;
  const text = cursor.bytes.subarray(start, cursor.position);
  if (!isUtf8(text)) throw new MalformedBody(`${what} at byte ${start} is not UTF-8`);
}

function readIndex(cursor: Cursor, count: number, what: string): number {
  const index = readLong(cursor);
  if (index < 0 || index >= count) throw new MalformedBody(`${what} index ${index} out of range 0..${count - 1}`);
  return index;
}

// A scanner checks one value of its type at the cursor and moves past it. Scanners are built
// once per writer type (closures over the schema), so a body is walked without looking up type
// names or allocating per value.
type Scanner = (cursor: Cursor) => void;

const scanners = new WeakMap<Type, Scanner>();

function scanBlocks(cursor: Cursor, scanItem: Scanner): void {
  for (;;) {
    let count = readLong(cursor);
    if (count === 0) return;
    if (count < 0) {
      count = -count;
      readLong(cursor); // byte size of the block, only a skipping hint
    }
    if (count > remaining(cursor)) {
      throw new MalformedBody(`block of ${count} items with ${remaining(cursor)} bytes left`);
    }
    for (let item = 0; item < count; item += 1) scanItem(cursor);
  }
}

function scannerFor(type: Type): Scanner {
  const known = scanners.get(type);
  if (known) return known;
  // Registered before it is built: a recursive record refers to itself through this entry.
  let built: Scanner | undefined;
  scanners.set(type, (cursor) => built!(cursor));
  built = buildScanner(type);
  scanners.set(type, built);
  return built;
}

function buildScanner(type: Type): Scanner {
  const typeName = type.typeName;
  switch (typeName) {
    case 'null':
      return () => undefined;
    case 'boolean':
      return (cursor) => {
        const position = cursor.position;
        take(cursor, 1, 'boolean');
        if (cursor.bytes[position]! > 1) throw new MalformedBody(`boolean byte ${cursor.bytes[position]} at ${position}`);
      };
    case 'int':
      return (cursor) => {
        const value = readLong(cursor);
        if (value < -0x8000_0000 || value > 0x7fff_ffff) throw new MalformedBody(`int ${value} out of range`);
      };
    case 'long':
      return (cursor) => void readLong(cursor);
    case 'float':
      return (cursor) => take(cursor, 4, 'float');
    case 'double':
      return (cursor) => take(cursor, 8, 'double');
    case 'bytes':
    case 'string':
      return (cursor) => takeText(cursor, typeName);
    case 'fixed': {
      const size = (type as types.FixedType).size;
      return (cursor) => take(cursor, size, 'fixed');
    }
    case 'enum': {
      const count = (type as types.EnumType).symbols.length;
      return (cursor) => void readIndex(cursor, count, 'enum');
    }
    case 'array': {
      const item = scannerFor((type as types.ArrayType).itemsType);
      return (cursor) => scanBlocks(cursor, item);
    }
    case 'map': {
      const value = scannerFor((type as types.MapType).valuesType as Type);
      const entry: Scanner = (cursor) => {
        takeText(cursor, 'string');
        value(cursor);
      };
      return (cursor) => scanBlocks(cursor, entry);
    }
    case 'record':
    case 'error': {
      const fields = (type as types.RecordType).fields.map((field) => scannerFor(field.type));
      return (cursor) => {
        for (let index = 0; index < fields.length; index += 1) fields[index]!(cursor);
      };
    }
    case 'union:unwrapped':
    case 'union:wrapped': {
      const branches = (type as types.UnwrappedUnionType).types.map((branch) => scannerFor(branch));
      return (cursor) => branches[readIndex(cursor, branches.length, 'union')]!(cursor);
    }
    default:
      if (typeName.startsWith('logical:')) return scannerFor((type as types.LogicalType).underlyingType);
      // Reported when a body reaches such a value, as a malformed body, not when building.
      return () => {
        throw new MalformedBody(`unsupported Avro type ${typeName}`);
      };
  }
}

/**
 * Checks that `body` is one complete, bounded Avro value of the writer schema `type`.
 * Returns a description of the first problem, or undefined when the body is well formed.
 * `utf8`: also check that every string is UTF-8 (for bytes from outside the pipeline).
 */
export function findBodyProblem(type: Type, body: Uint8Array, options: { readonly utf8?: boolean } = {}): string | undefined {
  const cursor: Cursor = { bytes: body, position: 0, utf8: options.utf8 ?? false };
  try {
    scannerFor(type)(cursor);
  } catch (error) {
    if (error instanceof MalformedBody) return error.message;
    if (error instanceof RangeError) return 'value nested too deeply';
    throw error;
  }
  if (remaining(cursor) > 0) return `${remaining(cursor)} bytes of trailing data after the value`;
  return undefined;
}
