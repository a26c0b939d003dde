import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { finished } from 'node:stream/promises';
import type { DumpRecord } from '../merkle/audit.js';
import { UsageError } from './errors.js';

// DIR/<topic>.ndjson, written by `ledger replay` and `ledger dump`, read by `ledger verify` and
// `ledger prove`: one {partition, offset, key, value} per line, values as plain JSON. Both ways
// go line by line through streams: a topic with infinite retention soon outgrows the longest
// string V8 can build (about 512 MiB: one string of the whole file failed with "Invalid string
// length" on a ledger.events of 346,020 events, 562 MB as NDJSON, here).

/** Lines written to a file through a stream, waiting whenever the stream asks to. */
export class LineFileWriter {
  private readonly stream: WriteStream;
  private failure: Error | null = null;
  lines = 0;

  constructor(readonly path: string) {
    this.stream = createWriteStream(path);
    // Kept and rethrown by the next write or close: an unhandled 'error' would end the process.
    this.stream.on('error', (error) => {
      this.failure = error;
    });
  }

  async write(line: string): Promise<void> {
    if (this.failure) throw this.failure;
    this.lines++;
    if (!this.stream.write(`${line}\n`)) await once(this.stream, 'drain');
  }

  async close(): Promise<void> {
    if (this.failure) throw this.failure;
    this.stream.end();
    await finished(this.stream);
  }
}

export function dumpTopicPath(dir: string, topic: string): string {
  return join(dir, `${topic}.ndjson`);
}

export async function readDumpTopic<V>(dir: string, topic: string, command: string): Promise<Array<DumpRecord<V>>> {
  const path = dumpTopicPath(dir, topic);
  const input = createReadStream(path);
  try {
    await once(input, 'open');
  } catch {
    throw new UsageError(`ledger ${command}: cannot read ${path}`);
  }
  const records: Array<DumpRecord<V>> = [];
  let lineNumber = 0;
  try {
    for await (const line of createInterface({ input, crlfDelay: Infinity })) {
      lineNumber++;
      if (line.trim() !== '') records.push(dumpRecord<V>(line, () => `ledger ${command}: ${path} line ${lineNumber} is not a {partition, offset, key, value} record`));
    }
  } catch (error) {
    input.destroy();
    throw error instanceof UsageError ? error : new UsageError(`ledger ${command}: cannot read ${path}`);
  }
  return records;
}

function dumpRecord<V>(line: string, complaint: () => string): DumpRecord<V> {
  let record: DumpRecord<V>;
  try {
    record = JSON.parse(line) as DumpRecord<V>;
  } catch {
    throw new UsageError(complaint());
  }
  if (typeof record !== 'object' || record === null || typeof record.partition !== 'number' || typeof record.offset !== 'number') throw new UsageError(complaint());
  return record;
}
