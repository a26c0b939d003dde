import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  CanonicalJsonError,
  canonicalJson,
  canonicalJsonBytes,
  findDuplicateMemberName,
  MAX_CANONICAL_DEPTH,
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
});
