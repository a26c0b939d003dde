import { constants } from 'node:buffer';
import { mkdir, mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dumpTopicPath, LineFileWriter, readDumpTopic } from '../../cli/dump-files.js';
import { UsageError } from '../../cli/errors.js';

// The topic files of `ledger replay` / `ledger dump`, written and read line by line.

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dump-files-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const record = (i: number) => ({ partition: i % 3, offset: i, key: `tenant/run-${i}`, value: { n: i, text: 'x'.repeat(i % 50) } });

describe('LineFileWriter and readDumpTopic', () => {
  it('write many lines through the stream and read them back in order', async () => {
    const writer = new LineFileWriter(dumpTopicPath(dir, 'many'));
    const count = 100_000; // ~7 MB: far more than one stream buffer, so writes wait for 'drain'
    for (let i = 0; i < count; i++) await writer.write(JSON.stringify(record(i)));
    await writer.close();
    expect(writer.lines).toBe(count);
    const back = await readDumpTopic<unknown>(dir, 'many', 'verify');
    expect(back).toHaveLength(count);
    expect(back[0]).toEqual(record(0));
    expect(back[count - 1]).toEqual(record(count - 1));
    expect((await readFile(dumpTopicPath(dir, 'many'), 'utf8')).endsWith('}\n')).toBe(true);
  });

  it('report a file it cannot write as a rejection, not a crash', async () => {
    const writer = new LineFileWriter(join(dir, 'no-such-dir', 'x.ndjson'));
    await expect((async () => {
      for (let i = 0; i < 10; i++) await writer.write('{}');
      await writer.close();
    })()).rejects.toThrow(/ENOENT/);
  });

  it('skip blank lines, accept CRLF and a last line without a newline', async () => {
    await writeFile(dumpTopicPath(dir, 'crlf'), `${JSON.stringify(record(1))}\r\n\n   \n${JSON.stringify(record(2))}`);
    expect(await readDumpTopic(dir, 'crlf', 'verify')).toEqual([record(1), record(2)]);
  });

  it('refuse a missing file, a directory and a line that is not a record with one UsageError line', async () => {
    await expect(readDumpTopic(dir, 'missing', 'verify')).rejects.toThrow(new UsageError(`ledger verify: cannot read ${dumpTopicPath(dir, 'missing')}`));
    const asDirectory = join(dir, 'folder');
    await mkdir(dumpTopicPath(asDirectory, 'x'), { recursive: true });
    await expect(readDumpTopic(asDirectory, 'x', 'prove')).rejects.toThrow(new UsageError(`ledger prove: cannot read ${dumpTopicPath(asDirectory, 'x')}`));
    for (const [bad, line] of [['not json', 2], ['null', 2], ['{"partition":"0","offset":1}', 2], ['{"partition":0}', 2]] as const) {
      await writeFile(dumpTopicPath(dir, 'bad'), `${JSON.stringify(record(1))}\n${bad}\n${JSON.stringify(record(3))}\n`);
      const rejection = readDumpTopic(dir, 'bad', 'verify');
      await expect(rejection).rejects.toBeInstanceOf(UsageError);
      await expect(rejection).rejects.toThrow(`ledger verify: ${dumpTopicPath(dir, 'bad')} line ${line} is not a {partition, offset, key, value} record`);
    }
  });

  it('read a file longer than the longest string V8 can build', async () => {
    // Blank lines of 1 MiB up to past MAX_STRING_LENGTH, between two records: reading the file
    // as one string (what this module did) fails; line by line it holds two records.
    const path = dumpTopicPath(dir, 'huge');
    const file = await open(path, 'w');
    const blank = Buffer.from(`${' '.repeat(1024 * 1024 - 1)}\n`);
    await file.write(`${JSON.stringify(record(1))}\n`);
    for (let written = 0; written <= constants.MAX_STRING_LENGTH; written += blank.length) await file.write(blank);
    await file.write(`${JSON.stringify(record(2))}\n`);
    await file.close();
    await expect(readFile(path, 'utf8')).rejects.toThrow(/string longer than|Invalid string length/i);
    expect(await readDumpTopic(dir, 'huge', 'verify')).toEqual([record(1), record(2)]);
    await rm(path);
  }, 120_000);
});
