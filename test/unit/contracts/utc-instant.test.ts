import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compareInstants, parseUtcInstant } from '../../../contracts/utc-instant.js';

// The definition, as a regular expression plus the calendar: the parser reads by position
// instead (it runs for every export), and must accept and produce exactly the same.
const DEFINITION = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?Z$/;
function referenceParse(text: string): { wholeSeconds: string; nanoseconds: string; epochMs: number } | undefined {
  const match = DEFINITION.exec(text);
  if (!match) return undefined;
  const [year, month, day, hour, minute, second] = match.slice(1, 7).map(Number);
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  const days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1] ?? 0;
  if (!(month >= 1 && month <= 12 && day >= 1 && day <= days && hour <= 23 && minute <= 59 && second <= 59)) return undefined;
  const nanoseconds = (match[7] ?? '').padEnd(9, '0');
  return { wholeSeconds: text.slice(0, 19), nanoseconds, epochMs: Date.UTC(year, month - 1, day, hour, minute, second) + Number(nanoseconds.slice(0, 3)) };
}

describe('parseUtcInstant', () => {
  it.each([
    ['2026-11-22T10:00:00Z', true],
    ['2026-11-22T10:00:00.1Z', true],
    ['2026-11-22T10:00:00.123456789Z', true],
    ['2024-02-29T23:59:59Z', true],
    ['2000-02-29T00:00:00Z', true],
    ['1900-02-29T00:00:00Z', false],
    ['2026-02-29T00:00:00Z', false],
    ['2026-04-31T00:00:00Z', false],
    ['2026-13-01T00:00:00Z', false],
    ['2026-00-01T00:00:00Z', false],
    ['2026-01-00T00:00:00Z', false],
    ['2026-01-01T24:00:00Z', false],
    ['2026-01-01T00:60:00Z', false],
    ['2026-01-01T00:00:60Z', false],
    ['2026-01-01T00:00:00.Z', false],
    ['2026-01-01T00:00:00.1234567890Z', false],
    ['2026-01-01T00:00:00', false],
    ['2026-01-01T00:00:00+00:00', false],
    ['2026-01-01 00:00:00Z', false],
    ['2026-1-01T00:00:00Z', false],
    ['+2026-01-01T00:00:00Z', false],
    ['2026-01-01T00:00:0aZ', false],
    ['２026-01-01T00:00:00Z', false],
    ['', false],
  ])('%s -> %s', (text, valid) => {
    expect(parseUtcInstant(text) !== undefined).toBe(valid);
  });

  it('keeps nanoseconds and milliseconds since the epoch', () => {
    expect(parseUtcInstant('2026-11-22T10:00:00.5Z')).toEqual({ wholeSeconds: '2026-11-22T10:00:00', nanoseconds: '500000000', epochMs: Date.UTC(2026, 10, 22, 10) + 500 });
    const earlier = parseUtcInstant('2026-11-22T10:00:00.000000001Z');
    const later = parseUtcInstant('2026-11-22T10:00:00.000000002Z');
    expect(earlier && later && compareInstants(earlier, later)).toBeLessThan(0);
  });

  it('accepts and reads exactly what the regular expression and the calendar define', () => {
    const digit = fc.constantFrom(...'0123456789');
    const noise = fc.constantFrom('a', 'Z', 'T', '-', ':', '.', ' ', '/', '\u0660', '０');
    const char = fc.oneof({ weight: 12, arbitrary: digit }, { weight: 1, arbitrary: noise });
    const chars = (min: number, max: number) => fc.array(char, { minLength: min, maxLength: max }).map((c) => c.join(''));
    const sep = (usual: string) => fc.oneof({ weight: 20, arbitrary: fc.constant(usual) }, { weight: 1, arbitrary: noise });
    const candidate = fc.oneof(
      fc
        .tuple(chars(3, 5), sep('-'), chars(1, 3), sep('-'), chars(1, 3), sep('T'), chars(1, 3), sep(':'), chars(1, 3), sep(':'), chars(1, 3), fc.option(fc.tuple(sep('.'), chars(0, 11)).map(([d, f]) => d + f)), sep('Z'))
        .map((parts) => parts.map((p) => p ?? '').join('')),
      fc.string(),
    );
    fc.assert(
      fc.property(candidate, (text) => {
        expect(parseUtcInstant(text)).toEqual(referenceParse(text));
      }),
      { numRuns: 5_000 },
    );
  });
});
