// How a rejection message shows a value taken from the input. Values are untrusted and may be as
// long as the record (or, for a header, longer), and a message travels in the Rejection record
// and in logs: JSON of up to 1 MiB of control characters is 6 MiB, which would push the record
// past any limit. So a message shows the start of the value and says how long it was.

/** Characters of a value's JSON shown in a message before it is cut. */
export const MAX_QUOTED_CHARS = 120;

/** The value as JSON (so quotes, control characters and emptiness are visible), cut to MAX_QUOTED_CHARS. */
export function quote(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  if (text.length <= MAX_QUOTED_CHARS) return text;
  // Not between the two halves of a surrogate pair.
  const end = isHighSurrogate(text.charCodeAt(MAX_QUOTED_CHARS - 1)) ? MAX_QUOTED_CHARS - 1 : MAX_QUOTED_CHARS;
  return `${text.slice(0, end)}… (${text.length} characters as JSON)`;
}

const isHighSurrogate = (code: number): boolean => code >= 0xd800 && code <= 0xdbff;

/** Values a message lists before it says how many more there are. */
export const MAX_QUOTED_VALUES = 5;

/** quote() of the first MAX_QUOTED_VALUES values, comma-separated, then how many were left out. */
export function quoteList(values: readonly unknown[]): string {
  const shown = values.slice(0, MAX_QUOTED_VALUES).map(quote).join(', ');
  return values.length > MAX_QUOTED_VALUES ? `${shown} and ${values.length - MAX_QUOTED_VALUES} more` : shown;
}
