import { isUtf8 } from 'node:buffer';
import avro, { type Type, type types } from 'avsc';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { findBodyProblem } from '../../../runtime/avro-body-guard.js';
import { SchemaCatalog } from '../../../runtime/codec.js';

/**
 * The guard's rules written as a plain recursive interpreter over the schema (type names looked
 * up per value): the compiled scanners must report exactly what it reports.
 */
function referenceProblem(type: Type, body: Uint8Array): string | undefined {
  let at = 0;
  const fail = (message: string): never => {
    throw Object.assign(new Error(message), { malformed: true });
  };
  const take = (length: number, what: string): void => {
    if (length < 0 || length > body.length - at) fail(`${what} of ${length} bytes at byte ${at} overruns the body`);
    at += length;
  };
  const long = (): number => {
    let unsigned = 0;
    let scale = 1;
    for (let index = 0; index < 10; index += 1) {
      if (at >= body.length) fail(`varint truncated at byte ${at}`);
      const byte = body[at++]!;
      unsigned += (byte & 0x7f) * scale;
      if ((byte & 0x80) === 0) {
        if (unsigned > Number.MAX_SAFE_INTEGER) fail('long beyond 2^53');
        return unsigned % 2 === 0 ? unsigned / 2 : -(unsigned + 1) / 2;
      }
      scale *= 128;
    }
    return fail(`varint longer than 10 bytes at byte ${at}`);
  };
  const text = (what: 'string' | 'bytes'): void => {
    const length = long();
    const start = at;
    take(length, what);
    if (!isUtf8(body.subarray(start, at))) fail(`${what} at byte ${start} is not UTF-8`);
  };
  const string = (): void => text('string');
  const index = (count: number, what: string): number => {
    const i = long();
    if (i < 0 || i >= count) fail(`${what} index ${i} out of range 0..${count - 1}`);
    return i;
  };
  const blocks = (item: () => void): void => {
    for (let count = long(); count !== 0; count = long()) {
      if (count < 0) {
        count = -count;
        long();
      }
      if (count > body.length - at) fail(`block of ${count} items with ${body.length - at} bytes left`);
      for (let i = 0; i < count; i += 1) item();
    }
  };
  const value = (t: Type): void => {
    const name = t.typeName;
    if (name === 'null') return;
    if (name === 'boolean') {
      const position = at;
      take(1, 'boolean');
      if (body[position]! > 1) fail(`boolean byte ${body[position]} at ${position}`);
    } else if (name === 'int') {
      const v = long();
      if (v < -0x8000_0000 || v > 0x7fff_ffff) fail(`int ${v} out of range`);
    } else if (name === 'long') long();
    else if (name === 'float') take(4, 'float');
    else if (name === 'double') take(8, 'double');
    else if (name === 'bytes') text('bytes');
    else if (name === 'string') string();
    else if (name === 'fixed') take((t as types.FixedType).size, 'fixed');
    else if (name === 'enum') index((t as types.EnumType).symbols.length, 'enum');
    else if (name === 'array') blocks(() => value((t as types.ArrayType).itemsType));
    else if (name === 'map') {
      blocks(() => {
        string();
        value((t as types.MapType).valuesType as Type);
      });
    } else if (name === 'record' || name === 'error') (t as types.RecordType).fields.forEach((f) => value(f.type));
    else if (name.startsWith('union:')) {
      const branches = (t as types.UnwrappedUnionType).types;
      value(branches[index(branches.length, 'union')]!);
    } else if (name.startsWith('logical:')) value((t as types.LogicalType).underlyingType);
    else fail(`unsupported Avro type ${name}`);
  };
  try {
    value(type);
  } catch (error) {
    if ((error as { malformed?: boolean }).malformed) return (error as Error).message;
    if (error instanceof RangeError) return 'value nested too deeply';
    throw error;
  }
  return at < body.length ? `${body.length - at} bytes of trailing data after the value` : undefined;
}

const catalog = SchemaCatalog.load();
// Every type the guard distinguishes, including a recursive record and wrapped unions.
const extra = [
  avro.Type.forSchema({
    type: 'record',
    name: 'Node',
    fields: [
      { name: 'flag', type: 'boolean' },
      { name: 'n', type: 'int' },
      { name: 'f', type: 'float' },
      { name: 'd', type: 'double' },
      { name: 'fx', type: { type: 'fixed', name: 'Four', size: 4 } },
      { name: 'e', type: { type: 'enum', name: 'Colour', symbols: ['RED', 'GREEN'] } },
      { name: 'm', type: { type: 'map', values: 'long' } },
      { name: 'next', type: ['null', 'Node'] },
    ],
  }),
  avro.Type.forSchema(['int', 'string', { type: 'array', items: 'bytes' }], { wrapUnions: true }),
];
const allTypes: Type[] = [...catalog.recordNames().map((name) => catalog.type(name)), ...extra];

/** An encoded random value of `type`, then damaged: bytes flipped, cut short or extended. */
const damagedBody = fc.integer({ min: 0, max: allTypes.length - 1 }).chain((t) =>
  fc.record({
    type: fc.constant(allTypes[t]!),
    body: fc.constant(allTypes[t]!.toBuffer(allTypes[t]!.random())),
    flips: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 3 }),
    cut: fc.option(fc.nat()),
    tail: fc.uint8Array({ maxLength: 3 }),
  }),
);

describe('findBodyProblem', () => {
  it('accepts every well-formed body', () => {
    for (const type of allTypes) {
      for (let sample = 0; sample < 50; sample += 1) expect(findBodyProblem(type, type.toBuffer(type.random()))).toBeUndefined();
    }
  });

  it('reports what the plain interpreter of its rules reports, on damaged bodies', () => {
    fc.assert(
      fc.property(damagedBody, ({ type, body, flips, cut, tail }) => {
        const damaged = Buffer.concat([body, tail]);
        for (const [at, byte] of flips) if (damaged.length > 0) damaged[at % damaged.length] = byte;
        const bytes = cut === null ? damaged : damaged.subarray(0, cut % (damaged.length + 1));
        expect(findBodyProblem(type, bytes, { utf8: true })).toBe(referenceProblem(type, bytes));
      }),
      { numRuns: 3_000 },
    );
  });

  it('names the problem', () => {
    const node = extra[0]!;
    const body = node.toBuffer({ flag: true, n: 1, f: 0, d: 0, fx: Buffer.alloc(4), e: 'RED', m: {}, next: null });
    expect(findBodyProblem(node, Buffer.concat([body, Buffer.from([0])]))).toBe('1 bytes of trailing data after the value');
    const badFlag = Buffer.from(body);
    badFlag[0] = 7;
    expect(findBodyProblem(node, badFlag)).toBe('boolean byte 7 at 0');
    expect(findBodyProblem(node, body.subarray(0, 3))).toMatch(/overruns the body|truncated/);
  });

  it('refuses a string or map key that is not UTF-8 when asked to, and accepts any that is', () => {
    const text = avro.Type.forSchema({ type: 'record', name: 'T', fields: [{ name: 's', type: 'string' }, { name: 'm', type: { type: 'map', values: 'int' } }] });
    const encode = (s: Buffer, key: Buffer): Buffer => Buffer.concat([Buffer.from([s.length * 2]), s, Buffer.from([2, key.length * 2]), key, Buffer.from([0, 0])]);
    const fine = Buffer.from('héllo \u0000 😀', 'utf8');
    const strict = { utf8: true };
    expect(findBodyProblem(text, encode(fine, fine), strict)).toBeUndefined();
    expect(findBodyProblem(text, encode(Buffer.from([0x61, 0xff]), fine), strict)).toBe('string at byte 1 is not UTF-8');
    expect(findBodyProblem(text, encode(fine, Buffer.from([0xed, 0xa0, 0x80])), strict)).toBe(`string at byte ${fine.length + 3} is not UTF-8`); // a surrogate, encoded
    expect(findBodyProblem(text, encode(fine, Buffer.from([0xe2, 0x82])), strict)).toBe(`string at byte ${fine.length + 3} is not UTF-8`); // cut short
    // Without the option (the pipeline's own topics), only the structure is checked.
    expect(findBodyProblem(text, encode(Buffer.from([0x61, 0xff]), fine))).toBeUndefined();
    // A writer's bytes where the reader has a string (Avro promotes it) is text too on input topics.
    const binary = avro.Type.forSchema({ type: 'record', name: 'B', fields: [{ name: 's', type: 'bytes' }] });
    expect(findBodyProblem(binary, Buffer.from([4, 0x61, 0xff]), strict)).toBe('bytes at byte 1 is not UTF-8');
    expect(findBodyProblem(binary, Buffer.from([4, 0x61, 0xff]))).toBeUndefined();
  });

  it('reports a recursion deeper than the stack instead of overflowing', () => {
    const node = extra[0]!;
    // flag, n, f, d, fx, e, an empty map, then branch 1 (another Node) forever.
    const link = Buffer.concat([Buffer.from([1, 2]), Buffer.alloc(12), Buffer.alloc(4), Buffer.from([0, 0, 2])]);
    expect(findBodyProblem(node, Buffer.concat(Array.from({ length: 200_000 }, () => link)))).toBe('value nested too deeply');
  });
});
