import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { DumpRecord } from '../merkle/audit.js';
import { UsageError } from './errors.js';

/**
 * Reads DIR/<topic>.ndjson as written by `ledger replay` or `ledger dump`: one
 * {partition, offset, key, value} per line, values as plain JSON.
 */
export async function readDumpTopic<V>(dir: string, topic: string, command: string): Promise<Array<DumpRecord<V>>> {
  const path = join(dir, `${topic}.ndjson`);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    throw new UsageError(`ledger ${command}: cannot read ${path}`);
  }
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line, i) => {
      try {
        const record = JSON.parse(line) as DumpRecord<V>;
        if (typeof record.partition !== 'number' || typeof record.offset !== 'number') throw new Error('no partition/offset');
        return record;
      } catch {
        throw new UsageError(`ledger ${command}: ${path} line ${i + 1} is not a {partition, offset, key, value} record`);
      }
    });
}
