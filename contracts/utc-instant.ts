// UTC ISO-8601 instants as the contracts accept them (DESIGN.md 3.3 #6, 5): `YYYY-MM-DDThh:mm:ss[.f{1,9}]Z`
// with a real calendar date. Compared exactly (nanoseconds kept), not through Date's milliseconds.
// Leap seconds (:60) are refused: no clock here can order them.

export interface UtcInstant {
  /** `YYYY-MM-DDThh:mm:ss`: compares lexically. */
  readonly wholeSeconds: string;
  /** Nine digits, zero-padded: compares lexically. */
  readonly nanoseconds: string;
  /** Milliseconds since the epoch (sub-millisecond digits dropped), for durations. */
  readonly epochMs: number;
}

const isLeapYear = (year: number): boolean => year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
const daysInMonth = (year: number, month: number): number => (month === 2 && isLeapYear(year) ? 29 : DAYS_IN_MONTH[month - 1]);

const ZERO = 0x30;
/** Where each separator of `YYYY-MM-DDThh:mm:ss` sits. */
const SEPARATORS = [[4, '-'], [7, '-'], [10, 'T'], [13, ':'], [16, ':']] as const;
const WHOLE_SECONDS_LENGTH = 19;
const MAX_FRACTION_DIGITS = 9;

/** The value of `count` ASCII digits at `at`, or -1 when any of them is not a digit. */
function digitsAt(text: string, at: number, count: number): number {
  let value = 0;
  for (let index = at; index < at + count; index++) {
    const digit = text.charCodeAt(index) - ZERO;
    if (!(digit >= 0 && digit <= 9)) return -1;
    value = value * 10 + digit;
  }
  return value;
}

// Read by position rather than by regular expression: every export carries one or two of these.
export function parseUtcInstant(text: string): UtcInstant | undefined {
  if (typeof text !== 'string') return undefined; // as the regular expression it replaces did (it read null as "null")
  const fractionDigits = text.length - WHOLE_SECONDS_LENGTH - 2; // after "." and before "Z"
  const hasFraction = fractionDigits >= 1 && fractionDigits <= MAX_FRACTION_DIGITS && text[WHOLE_SECONDS_LENGTH] === '.';
  if (!(text.length === WHOLE_SECONDS_LENGTH + 1 || hasFraction) || text[text.length - 1] !== 'Z') return undefined;
  if (SEPARATORS.some(([at, separator]) => text[at] !== separator)) return undefined;
  const year = digitsAt(text, 0, 4);
  const month = digitsAt(text, 5, 2);
  const day = digitsAt(text, 8, 2);
  const hour = digitsAt(text, 11, 2);
  const minute = digitsAt(text, 14, 2);
  const second = digitsAt(text, 17, 2);
  if (hasFraction && digitsAt(text, WHOLE_SECONDS_LENGTH + 1, fractionDigits) < 0) return undefined;
  const validDate = year >= 0 && month >= 1 && month <= 12 && day >= 1 && day <= daysInMonth(year, month);
  const validTime = hour >= 0 && hour <= 23 && minute >= 0 && minute <= 59 && second >= 0 && second <= 59;
  if (!validDate || !validTime) return undefined;
  const nanoseconds = hasFraction ? text.slice(WHOLE_SECONDS_LENGTH + 1, -1).padEnd(MAX_FRACTION_DIGITS, '0') : '000000000';
  const epochMs = Date.UTC(year, month - 1, day, hour, minute, second) + Number(nanoseconds.slice(0, 3));
  return { wholeSeconds: text.slice(0, WHOLE_SECONDS_LENGTH), nanoseconds, epochMs };
}

/** Negative, zero or positive as `left` is before, equal to or after `right`. */
export function compareInstants(left: UtcInstant, right: UtcInstant): number {
  if (left.wholeSeconds !== right.wholeSeconds) return left.wholeSeconds < right.wholeSeconds ? -1 : 1;
  if (left.nanoseconds !== right.nanoseconds) return left.nanoseconds < right.nanoseconds ? -1 : 1;
  return 0;
}
