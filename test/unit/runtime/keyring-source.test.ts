import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { generateEd25519KeyPair } from '../../../contracts/ed25519.js';
import { KeyringError, type Keyring } from '../../../contracts/keyring.js';
import { KeyringSource } from '../../../runtime/keyring-source.js';
import { waitFor } from '../../support/processes.js';

// The keyring in force while the pipeline runs: loaded from a file, swapped on reload() (SIGHUP)
// or when the file watcher sees a change, and kept as it was when the new file is unusable.

const dir = mkdtempSync(join(tmpdir(), 'keyring-source-'));
const sources: KeyringSource[] = [];

afterEach(() => {
  for (const source of sources.splice(0)) source.close();
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface LogLine {
  readonly level: 'info' | 'warn' | 'error';
  readonly message: string;
  readonly fields: Record<string, unknown> | undefined;
}

function recordingLogger() {
  const lines: LogLine[] = [];
  return {
    lines,
    info: (message: string, fields?: Record<string, unknown>) => void lines.push({ level: 'info', message, fields }),
    warn: (message: string, fields?: Record<string, unknown>) => void lines.push({ level: 'warn', message, fields }),
    error: (message: string, fields?: Record<string, unknown>) => void lines.push({ level: 'error', message, fields }),
  };
}

const keyEntry = (keyId: string) => ({ keyId, publicKey: generateEd25519KeyPair().publicKeyPem, status: 'active' });

let fileCount = 0;
function keyringFile(content: string): string {
  const path = join(dir, `keyring-${++fileCount}.json`);
  writeFileSync(path, content);
  return path;
}

const document = (...keyIds: string[]): string => JSON.stringify({ keys: keyIds.map(keyEntry) });

function open(path: string, logger = recordingLogger(), watch = false): KeyringSource {
  const source = KeyringSource.fromFile(path, logger, { watch });
  sources.push(source);
  return source;
}

const keyIdsOf = (keyring: Keyring): string[] => [...keyring.keys()].map((k) => k.keyId).sort();

describe('KeyringSource', () => {
  it('loads the keys of the file', () => {
    const source = open(keyringFile(document('k1', 'k2')));
    expect(keyIdsOf(source.current())).toEqual(['k1', 'k2']);
  });

  it('refuses a malformed file at start-up with a KeyringError', () => {
    for (const content of ['{"keys": [', '{"keys": [{"keyId": "k1", "publicKey": "not a key", "status": "active"}]}', '{"keyz": []}']) {
      const path = keyringFile(content);
      let thrown: unknown;
      try {
        open(path);
      } catch (error) {
        thrown = error;
      }
      expect(thrown, content).toBeInstanceOf(KeyringError);
      expect((thrown as KeyringError).code, content).toBe('ERR_KEYRING_INVALID');
    }
  });

  it('refuses a missing file at start-up with a KeyringError', () => {
    let thrown: unknown;
    try {
      open(join(dir, 'no-such-keyring.json'));
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(KeyringError);
    expect((thrown as KeyringError).code).toBe('ERR_KEYRING_UNREADABLE');
  });

  it('reload() swaps in the rewritten file and tells the listeners', () => {
    const path = keyringFile(document('old'));
    const source = open(path);
    const seen: string[][] = [];
    source.onChange((keyring) => seen.push(keyIdsOf(keyring)));
    source.onChange(() => seen.push(['second listener']));

    writeFileSync(path, document('old', 'new'));
    expect(source.reload()).toBe(true);

    expect(source.current().lookup('new')?.status).toBe('active');
    expect(keyIdsOf(source.current())).toEqual(['new', 'old']);
    expect(seen).toEqual([['new', 'old'], ['second listener']]);
  });

  it('reload() of a malformed file returns false and keeps the previous keyring', () => {
    const path = keyringFile(document('k1'));
    const logger = recordingLogger();
    const source = open(path, logger);
    const before = source.current();
    let notified = 0;
    source.onChange(() => notified++);

    for (const broken of ['', '{"keys": [{"keyId": "k1"', JSON.stringify({ keys: [keyEntry('k1'), keyEntry('k1')] })]) {
      writeFileSync(path, broken);
      expect(source.reload(), broken).toBe(false);
      expect(source.current()).toBe(before);
    }
    expect(notified).toBe(0);
    expect(logger.lines.filter((l) => l.level === 'error')).toHaveLength(3);

    // Once the file is good again, the next reload takes it.
    writeFileSync(path, document('k2'));
    expect(source.reload()).toBe(true);
    expect(keyIdsOf(source.current())).toEqual(['k2']);
    expect(notified).toBe(1);
  });

  it('the file watcher picks up a change without reload()', async () => {
    const path = keyringFile(document('before'));
    const logger = recordingLogger();
    const source = open(path, logger, true);
    const changes: string[][] = [];
    source.onChange((keyring) => changes.push(keyIdsOf(keyring)));

    // watchFile takes its baseline stat asynchronously: a write that lands before it is the
    // baseline, so write again until the watcher has seen one.
    await waitFor('the watcher to reload the keyring', () => {
      if (source.current().lookup('after-watch') !== undefined) return true;
      writeFileSync(path, document('before', 'after-watch'));
      return false;
    }, 30_000);
    expect(changes.at(-1)).toEqual(['after-watch', 'before']);
    expect(logger.lines.some((l) => l.level === 'info' && l.message === 'keyring reloaded' && l.fields?.path === path)).toBe(true);

    // A malformed write seen by the watcher is logged and changes nothing.
    const kept = source.current();
    await waitFor('the watcher to report the malformed file', () => {
      if (logger.lines.some((l) => l.level === 'error')) return true;
      writeFileSync(path, '{"keys": "oops"}');
      return false;
    }, 30_000);
    expect(source.current()).toBe(kept);
  });

  it('close() stops watching', async () => {
    const path = keyringFile(document('k1'));
    const source = open(path, recordingLogger(), true);
    source.close();
    writeFileSync(path, document('k1', 'k2'));
    // Nothing to poll for: give the 1 s watcher a few chances to fire, then check it did not.
    await new Promise((r) => setTimeout(r, 2_500));
    expect(source.current().lookup('k2')).toBeUndefined();
  });
});
