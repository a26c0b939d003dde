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

const UTC_TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?Z$/;

const isLeapYear = (year: number): boolean => year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
const daysInMonth = (year: number, month: number): number =>
  [31, isLeapYear(year) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1] ?? 0;

export function parseUtcInstant(text: string): UtcInstant | undefined {
  const match = UTC_TIMESTAMP.exec(text);
  if (!match) return undefined;
  const [year, month, day, hour, minute, second] = match.slice(1, 7).map(Number);
  const validDate = month >= 1 && month <= 12 && day >= 1 && day <= daysInMonth(year, month);
  const validTime = hour <= 23 && minute <= 59 && second <= 59;
  if (!validDate || !validTime) return undefined;
  const nanoseconds = (match[7] ?? '').padEnd(9, '0');
  const epochMs = Date.UTC(year, month - 1, day, hour, minute, second) + Number(nanoseconds.slice(0, 3));
  return { wholeSeconds: text.slice(0, 19), nanoseconds, epochMs };
}

/** Negative, zero or positive as `left` is before, equal to or after `right`. */
export function compareInstants(left: UtcInstant, right: UtcInstant): number {
  if (left.wholeSeconds !== right.wholeSeconds) return left.wholeSeconds < right.wholeSeconds ? -1 : 1;
  if (left.nanoseconds !== right.nanoseconds) return left.nanoseconds < right.nanoseconds ? -1 : 1;
  return 0;
}
