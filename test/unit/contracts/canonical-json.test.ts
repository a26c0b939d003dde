import { readdirSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  CanonicalJsonError,
  canonicalJson,
  canonicalJsonBytes,
  findDuplicateMemberName,
  MAX_CANONICAL_DEPTH,
  withCanonicalJsonBytes,
} from '../../../contracts/canonical-json.js';
import { readJson } from './fixtures.js';

interface VectorCase {
  desc: string;
  input?: string;
  ieee754?: string;
  want?: string;
  wantErr?: string;
}
interface VectorFile {
  desc: string;
  cases: VectorCase[];
}

const vectorDir = new URL('../../vectors/rfc8785/', import.meta.url);

function fromIeee754(hex: string): number {
  const view = new DataView(new ArrayBuffer(8));
  view.setBigUint64(0, BigInt(`0x${hex}`));
  return view.getFloat64(0);
}

function errorCodeOf(run: () => unknown): string | undefined {
  try {
    run();
    return undefined;
  } catch (error) {
    if (error instanceof CanonicalJsonError) return error.code;
    throw error;
  }
}

describe('RFC 8785 vectors (test/vectors/rfc8785)', () => {
  const files = readdirSync(vectorDir).filter((name) => name.endsWith('.json')).sort();
  it('finds the vector files', () => {
    expect(files.length).toBeGreaterThanOrEqual(5);
  });
  for (const file of files) {
    const vectors = readJson(new URL(file, vectorDir)) as VectorFile;
    describe(`${file}: ${vectors.desc}`, () => {
      for (const vector of vectors.cases) {
        it(vector.desc, () => {
          const value: unknown = vector.ieee754 === undefined ? JSON.parse(vector.input ?? '') : fromIeee754(vector.ieee754);
          const subject = vector.ieee754 === undefined ? value : [value];
          if (vector.wantErr !== undefined) {
            expect(errorCodeOf(() => canonicalJson(subject))).toBe(vector.wantErr);
            return;
          }
          const want = vector.ieee754 === undefined ? vector.want : `[${vector.want}]`;
          expect(canonicalJson(subject)).toBe(want);
          expect(canonicalJsonBytes(subject).equals(Buffer.from(want ?? '', 'utf8'))).toBe(true);
        });
      }
    });
  }
});

describe('canonicalJson beyond the vectors', () => {
  it('is idempotent: canonicalising the parsed canonical text gives the same text', () => {
    const text = canonicalJson({ b: [1.5, 'x', { d: null, c: false }], a: '\u00e9' });
    expect(canonicalJson(JSON.parse(text))).toBe(text);
  });

  it('keeps a null member (absent and null are different documents)', () => {
    expect(canonicalJson({ a: null })).toBe('{"a":null}');
    expect(canonicalJson({})).toBe('{}');
  });

  it('encodes non-ASCII as UTF-8 bytes', () => {
    expect(canonicalJsonBytes({ k: '\u00e9\ud83d\ude00' }).toString('hex')).toBe(Buffer.from('{"k":"é😀"}', 'utf8').toString('hex'));
  });

  it.each([
    ['undefined member', { a: undefined }],
    ['bigint', [1n]],
    ['function', [() => 1]],
    ['Date instance', [new Date(0)]],
    ['Map instance', [new Map()]],
    ['Buffer', [Buffer.from('x')]],
  ])('rejects a non-JSON value: %s', (_name, value) => {
    expect(errorCodeOf(() => canonicalJson(value))).toBe('ERR_JCS_UNSUPPORTED_VALUE');
  });

  it('accepts null-prototype objects', () => {
    const object = Object.create(null) as Record<string, unknown>;
    object.b = 1;
    object.a = 2;
    expect(canonicalJson(object)).toBe('{"a":2,"b":1}');
  });

  it('refuses nesting deeper than its bound instead of exhausting the stack', () => {
    const deep = JSON.parse(`${'['.repeat(100_000)}${']'.repeat(100_000)}`) as unknown;
    expect(errorCodeOf(() => canonicalJson(deep))).toBe('ERR_JCS_TOO_DEEP');
    const atLimit = JSON.parse(`${'['.repeat(MAX_CANONICAL_DEPTH)}${']'.repeat(MAX_CANONICAL_DEPTH)}`) as unknown;
    expect(canonicalJson(atLimit)).toHaveLength(2 * MAX_CANONICAL_DEPTH);
  });
});

/**
 * The straightforward definition the byte writer must match: JSON.stringify for strings and
 * numbers, members sorted with Array#sort, text concatenated, errors with the same codes.
 */
function referenceJcs(value: unknown, depth = 0): string {
  const fail = (code: string): never => {
    throw Object.assign(new Error(code), { code });
  };
  if (value === null) return 'null';
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : fail('ERR_JCS_NON_FINITE_NUMBER');
  if (typeof value === 'string') return /\p{Cs}/u.test(value) ? fail('ERR_JCS_LONE_SURROGATE') : JSON.stringify(value);
  if (typeof value !== 'object') return fail('ERR_JCS_UNSUPPORTED_VALUE');
  if (depth >= MAX_CANONICAL_DEPTH) return fail('ERR_JCS_TOO_DEEP');
  if (Array.isArray(value)) return `[${value.map((item) => referenceJcs(item, depth + 1)).join(',')}]`;
  const prototype: unknown = Object.getPrototypeOf(value);
  if (prototype !== Object.prototype && prototype !== null) return fail('ERR_JCS_UNSUPPORTED_VALUE');
  const object = value as Record<string, unknown>;
  const members = Object.keys(object)
    .sort()
    .map((key) => `${referenceJcs(key)}:${referenceJcs(object[key], depth + 1)}`);
  return `{${members.join(',')}}`;
}

function outcome(run: () => string): { text: string } | { code: string } {
  try {
    return { text: run() };
  } catch (error) {
    return { code: (error as { code: string }).code };
  }
}

// Strings that take every path of the writer: plain ASCII, escapes, non-ASCII, pairs, lone halves.
const anyString = fc.oneof(
  fc.string(),
  fc.string({ unit: 'binary' }),
  fc.string({ unit: fc.constantFrom('a', '"', '\\', '\u0000', '\u001f', '\u007f', 'é', '\u2028', '😀', '\ud800', '\udc00') }),
  fc.constantFrom('', 'sha256:' + 'ab'.repeat(32), '3f1c2b9e-5d4a-4c1b-9a7e-2b6f0c8d1e45', 'x'.repeat(70_000)),
  // Long enough for the native path (32 units and more), with and without characters it must refuse.
  fc.string({ minLength: 30, maxLength: 90, unit: fc.oneof({ weight: 30, arbitrary: fc.constantFrom('a', '~', ' ', '/') }, fc.constantFrom('"', '\\', '\u0000', '\u001f', '\u007f', 'é', '😀', '\ud800')) }),
);
const anyNumber = fc.oneof(fc.double(), fc.integer(), fc.constantFrom(-0, 1e21, 1e-7, 5e-324, Number.MAX_SAFE_INTEGER + 2));
const { value: anyValue } = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constant(null),
    fc.boolean(),
    anyNumber,
    anyString,
    fc.array(tie('value'), { maxLength: 5 }),
    // Up to 40 members: both the insertion sort and Array#sort path.
    fc.dictionary(anyString, tie('value'), { maxKeys: 40 }),
  ),
}));

describe('canonicalJson against the straightforward definition', () => {
  it('gives the same text, or the same error code, for any value', () => {
    fc.assert(
      fc.property(anyValue, (value) => {
        const expected = outcome(() => referenceJcs(value));
        expect(outcome(() => canonicalJson(value))).toEqual(expected);
        if ('text' in expected) expect(canonicalJsonBytes(value).equals(Buffer.from(expected.text, 'utf8'))).toBe(true);
      }),
      { numRuns: 2_000 },
    );
  });

  it('orders member names by UTF-16 code units, not code points, on both sort paths', () => {
    for (const extra of [0, 40]) {
      const object: Record<string, number> = { '\ufb01': 1, '\ud83d\ude00': 2, z: 3, '10': 4, '9': 5 };
      for (let i = 0; i < extra; i++) object[`k${i}`] = i;
      expect(canonicalJson(object)).toBe(referenceJcs(object));
    }
  });
});

describe('withCanonicalJsonBytes', () => {
  it('lends the same bytes as canonicalJsonBytes, and canonicalJsonBytes results are not overwritten later', () => {
    const first = canonicalJsonBytes({ b: 'é', a: [1, 2] });
    withCanonicalJsonBytes({ a: [1, 2], b: 'é' }, (bytes) => expect(bytes.equals(first)).toBe(true));
    canonicalJsonBytes({ something: 'else entirely, and longer than the first' });
    expect(first.toString('utf8')).toBe('{"a":[1,2],"b":"é"}');
  });

  it('gives a nested call its own buffer (a getter that canonicalises during the walk)', () => {
    const tricky = {
      get inner(): string {
        return canonicalJson({ y: 'inner' });
      },
      outer: 'x',
    };
    expect(withCanonicalJsonBytes(tricky, (bytes) => bytes.toString('utf8'))).toBe('{"inner":"{\\"y\\":\\"inner\\"}","outer":"x"}');
  });

  it('recovers after an error in the middle of a value', () => {
    expect(() => canonicalJson({ a: 'x'.repeat(100), b: [1, Number.NaN] })).toThrow(CanonicalJsonError);
    expect(canonicalJson({ a: 1 })).toBe('{"a":1}');
  });

  it('handles values larger than its initial buffer, then small ones again', () => {
    const big = { data: 'y'.repeat(3 * 1024 * 1024), tail: 'é'.repeat(10) };
    expect(canonicalJsonBytes(big).equals(Buffer.from(referenceJcs(big), 'utf8'))).toBe(true);
    expect(canonicalJson({ small: true })).toBe('{"small":true}');
  });
});

describe('findDuplicateMemberName', () => {
  it.each([
    ['{"a":1,"b":2}', undefined],
    ['{"a":1,"a":2}', 'a'],
    ['{"a":1,"\\u0061":2}', 'a'],
    ['{"a":{"a":1},"b":[{"a":1},{"a":2}]}', undefined],
    ['{"x":[{"k":1,"k":2}]}', 'k'],
    ['{"s":"{\\"a\\":1,\\"a\\":2}","t":"]}"}', undefined],
    ['["a","a"]', undefined],
    ['{"a":"a","b":"a"}', undefined],
    ['{}', undefined],
    ['{"a\\\\":1,"a\\\\":2}', 'a\\'],
  ])('%s -> %s', (text, want) => {
    JSON.parse(text);
    expect(findDuplicateMemberName(text)).toBe(want);
  });

  it('walks 100k nested arrays without recursion', () => {
    expect(findDuplicateMemberName(`${'['.repeat(100_000)}${']'.repeat(100_000)}`)).toBeUndefined();
  });

  // Documents written member by member, so duplicates can be placed anywhere; the expected
  // answer comes from the tree: the first member, in document order, whose name its object had already.
  type Tree = string | number | Tree[] | { readonly members: ReadonlyArray<readonly [string, Tree]> };
  const name = fc.oneof(fc.constantFrom('a', 'b', 'a\\', 'a"', '\\', 'é', '\u0000'), fc.string({ maxLength: 4 }));
  const { tree } = fc.letrec<{ tree: Tree }>((tie) => ({
    tree: fc.oneof(
      { depthSize: 'small' },
      fc.string({ unit: fc.constantFrom('x', '"', '\\', '{', '}', '[', ']', ',', ':') }),
      fc.integer(),
      fc.array(tie('tree'), { maxLength: 4 }),
      fc.array(fc.tuple(name, tie('tree')), { maxLength: 5 }).map((members) => ({ members })),
    ),
  }));
  // Member names are written plainly or with every character \u-escaped, which must compare equal.
  const render = (value: Tree, escapeNames: boolean): string => {
    if (typeof value === 'string' || typeof value === 'number') return JSON.stringify(value);
    if (Array.isArray(value)) return `[${value.map((item) => render(item, escapeNames)).join(',')}]`;
    const unitEscapes = (text: string): string => Array.from({ length: text.length }, (_, i) => `\\u${text.charCodeAt(i).toString(16).padStart(4, '0')}`).join('');
    const key = (text: string): string => (escapeNames ? `"${unitEscapes(text)}"` : JSON.stringify(text));
    return `{${value.members.map(([k, v]) => `${key(k)}:${render(v, escapeNames)}`).join(',')}}`;
  };
  const firstDuplicate = (value: Tree): string | undefined => {
    if (typeof value === 'string' || typeof value === 'number') return undefined;
    if (Array.isArray(value)) {
      for (const item of value) {
        const found = firstDuplicate(item);
        if (found !== undefined) return found;
      }
      return undefined;
    }
    const seen = new Set<string>();
    for (const [k, v] of value.members) {
      if (seen.has(k)) return k;
      seen.add(k);
      const found = firstDuplicate(v);
      if (found !== undefined) return found;
    }
    return undefined;
  };

  it('finds the first duplicate of any document, names escaped or not', () => {
    fc.assert(
      fc.property(tree, fc.boolean(), (value, escapeNames) => {
        const text = render(value, escapeNames);
        JSON.parse(text);
        expect(findDuplicateMemberName(text)).toBe(firstDuplicate(value));
      }),
      { numRuns: 3_000 },
    );
  });
});
