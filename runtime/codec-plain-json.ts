import type { Type, types } from 'avsc';
import { CodecError } from './codec-errors.js';

/** A value that JSON.stringify renders as is. */
export type PlainJson = null | boolean | number | string | PlainJson[] | { [key: string]: PlainJson };

type Direction = 'toJson' | 'fromJson';

const MAX_REPORTED_PATHS = 5;

const describeJsValue = (value: unknown): string => {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (Buffer.isBuffer(value)) return 'bytes';
  return typeof value;
};

// A record check fails either on a non-object or, with noUndeclaredFields, on extra keys.
function describeMismatch(type: Type, value: unknown): string {
  if ((type.typeName === 'record' || type.typeName === 'error') && typeof value === 'object' && value !== null) {
    const declared = new Set((type as types.RecordType).fields.map((field) => field.name));
    const undeclared = Object.keys(value).filter((key) => !declared.has(key));
    if (undeclared.length > 0) return `undeclared field(s) ${undeclared.join(', ')}`;
  }
  return `expected ${type.typeName}, got ${describeJsValue(value)}`;
}

/** Throws CODEC_INVALID_VALUE naming the first offending paths when `value` does not fit `type`. */
export function assertMatchesSchema(type: Type, value: unknown, context: string): void {
  const problems: string[] = [];
  const valid = type.isValid(value, {
    noUndeclaredFields: true,
    errorHook: (path: string[], offending: unknown, offendingType: Type) => {
      if (problems.length < MAX_REPORTED_PATHS) {
        const where = path.length > 0 ? path.join('.') : '(root)';
        problems.push(`${where}: ${describeMismatch(offendingType, offending)}`);
      }
    },
  });
  if (!valid) {
    const detail = problems.length > 0 ? problems.join('; ') : 'mismatch';
    throw new CodecError('CODEC_INVALID_VALUE', `${context}: value does not match ${type.name ?? type.typeName}: ${detail}`);
  }
}

const toBytes = (value: unknown, direction: Direction): unknown => {
  if (direction === 'toJson') return Buffer.from(value as Uint8Array).toString('base64');
  return Buffer.from(value as string, 'base64');
};

function convertRecord(type: types.RecordType, value: unknown, direction: Direction): Record<string, unknown> {
  const source = value as Record<string, unknown>;
  const converted: Record<string, unknown> = {};
  for (const field of type.fields) {
    const fieldValue = source[field.name] === undefined ? field.defaultValue() : source[field.name];
    converted[field.name] = convert(field.type, fieldValue, direction);
  }
  return converted;
}

function convertUnion(type: types.UnwrappedUnionType, value: unknown, direction: Direction): unknown {
  if (value === null || value === undefined) return null;
  // In JSON, bytes are base64 strings: pick the branch the converted value fits, not the raw one.
  const branch = type.types.find((candidate) => {
    if (candidate.typeName === 'null') return false;
    if (direction === 'fromJson' && candidate.typeName === 'bytes') return typeof value === 'string';
    return candidate.isValid(value);
  });
  return branch === undefined ? value : convert(branch, value, direction);
}

function convert(type: Type, value: unknown, direction: Direction): unknown {
  switch (type.typeName) {
    case 'bytes':
    case 'fixed':
      return toBytes(value, direction);
    case 'array': {
      const itemsType = (type as types.ArrayType).itemsType;
      return (value as unknown[]).map((item) => convert(itemsType, item, direction));
    }
    case 'map': {
      const valuesType = (type as types.MapType).valuesType as Type;
      const entries = Object.entries(value as Record<string, unknown>);
      return Object.fromEntries(entries.map(([key, item]) => [key, convert(valuesType, item, direction)]));
    }
    case 'record':
    case 'error':
      return convertRecord(type as types.RecordType, value, direction);
    case 'union:unwrapped':
      return convertUnion(type as types.UnwrappedUnionType, value, direction);
    default:
      // Primitives (longs are already JS numbers) and enums are their own JSON rendering.
      return value;
  }
}

/**
 * The plain-JSON rendering of a record value (DESIGN 7): every field present in schema order,
 * absent optional fields as null, bytes as base64, longs as numbers. This is also the form to
 * hash (eventHash, Merkle signatures): it is what a reader of the topic can reconstruct.
 */
export function toPlainJson(type: Type, value: unknown, context: string): PlainJson {
  assertMatchesSchema(type, value, context);
  return convert(type, value, 'toJson') as PlainJson;
}

/** The inverse of toPlainJson: base64 strings back to bytes, then checked against the schema. */
export function fromPlainJson(type: Type, json: unknown, context: string): unknown {
  let value: unknown;
  try {
    value = convert(type, json, 'fromJson');
  } catch (error) {
    throw new CodecError('CODEC_INVALID_VALUE', `${context}: not a plain-JSON ${type.name ?? type.typeName}`, { cause: error });
  }
  assertMatchesSchema(type, value, context);
  return value;
}
