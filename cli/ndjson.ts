import type { Readable } from 'node:stream';

export interface RawLine {
  readonly number: number;
  /** The line's bytes (without the newline), or null when it exceeded `maxBytes`. */
  readonly bytes: Buffer | null;
  readonly size: number;
}

/**
 * Splits a byte stream into lines without decoding it (invalid UTF-8 must reach the validator
 * as it was), dropping the bytes of a line past `maxBytes` so one huge line cannot exhaust memory.
 * A final line without a newline counts; a trailing newline does not start another line.
 */
export async function* rawLines(input: Readable, maxBytes: number): AsyncGenerator<RawLine> {
  let parts: Buffer[] = [];
  let size = 0;
  let number = 0;
  const finish = (): RawLine => {
    number++;
    let bytes = size > maxBytes + 1 ? null : Buffer.concat(parts);
    if (bytes && bytes.length > 0 && bytes[bytes.length - 1] === 0x0d) bytes = bytes.subarray(0, bytes.length - 1);
    if (bytes && bytes.length > maxBytes) bytes = null; // measured without the CR of a CRLF ending
    const line = { number, bytes, size: bytes ? bytes.length : size };
    parts = [];
    size = 0;
    return line;
  };
  for await (const chunk of input as AsyncIterable<Buffer | string>) {
    const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    let start = 0;
    for (let nl = buffer.indexOf(0x0a); nl !== -1; nl = buffer.indexOf(0x0a, start)) {
      append(buffer.subarray(start, nl));
      yield finish();
      start = nl + 1;
    }
    append(buffer.subarray(start));
  }
  if (size > 0) yield finish();

  function append(piece: Buffer): void {
    if (piece.length === 0) return;
    if (size + piece.length <= maxBytes + 1) parts.push(piece);
    else parts = [];
    size += piece.length;
  }
}
