import { lstat } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { describeFailure, UsageError } from '../../../cli/errors.js';

// The one line (and exit status) any failure reaching the top of a `ledger` command becomes.

describe('describeFailure', () => {
  it('prints a usage error as it is, exit 2', () => {
    expect(describeFailure(new UsageError('replay: --in is required'))).toEqual({ line: 'replay: --in is required', exitCode: 2 });
  });

  it('names a coded error once, first line only; configuration and keyring errors exit 2, others 1', () => {
    const coded = (code: string, message: string) => Object.assign(new Error(message), { code });
    expect(describeFailure(coded('CONFIG_INVALID', 'LEDGER_PARTITIONS must be a whole number'))).toEqual({ line: 'CONFIG_INVALID: LEDGER_PARTITIONS must be a whole number', exitCode: 2 });
    expect(describeFailure(coded('ERR_KEYRING_INVALID', 'not JSON'))).toEqual({ line: 'ERR_KEYRING_INVALID: not JSON', exitCode: 2 });
    expect(describeFailure(coded('STORE_IO', 'write failed\n    at stack frame'))).toEqual({ line: 'STORE_IO: write failed', exitCode: 1 });
    expect(describeFailure('plain text')).toEqual({ line: 'plain text', exitCode: 1 });
  });

  it('does not repeat the code of a Node system error, whose message already starts with it', async () => {
    const error = await lstat('/etc/passwd/state').catch((e: unknown) => e);
    expect(describeFailure(error)).toEqual({ line: expect.stringMatching(/^ENOTDIR: not a directory, lstat '\/etc\/passwd\/state'$/), exitCode: 1 });
  });
});
