import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import { Keyring, loadKeyringFile, parseKeyringJson } from '../contracts/keyring.js';
import type { DriverLogger } from './kafka/driver.js';

/**
 * The keyring in force. Loaded from a file at start-up (a malformed file is a start-up error),
 * reloaded when the file changes or on SIGHUP (wired by the CLI). A malformed file at reload
 * keeps the previous keyring and logs an error: the running pipeline neither stops nor starts
 * trusting nothing at all by accident.
 */
export class KeyringSource {
  private keyring: Keyring;
  private readonly listeners: Array<(keyring: Keyring) => void> = [];

  private constructor(
    keyring: Keyring,
    private readonly path: string | null,
    private readonly logger: DriverLogger | null,
  ) {
    this.keyring = keyring;
  }

  static fixed(keyring: Keyring): KeyringSource {
    return new KeyringSource(keyring, null, null);
  }

  /** Throws KeyringError (with a message naming the problem) when the file is unusable. */
  static fromFile(path: string, logger: DriverLogger, options: { watch?: boolean } = {}): KeyringSource {
    const source = new KeyringSource(loadKeyringFile(path), path, logger);
    if (options.watch !== false) watchFile(path, { interval: 1_000, persistent: false }, () => source.reload());
    return source;
  }

  current(): Keyring {
    return this.keyring;
  }

  onChange(listener: (keyring: Keyring) => void): void {
    this.listeners.push(listener);
  }

  /** Re-reads the file; returns false (and keeps the current keyring) when it is unusable. */
  reload(): boolean {
    if (!this.path) return true;
    try {
      const next = parseKeyringJson(readFileSync(this.path, 'utf8'));
      this.keyring = next;
      for (const listener of this.listeners) listener(next);
      this.logger?.info('keyring reloaded', { path: this.path, keys: next.size });
      return true;
    } catch (error) {
      this.logger?.error('keyring reload failed; keeping the previous keyring', { path: this.path, error: error instanceof Error ? error.message : String(error) });
      return false;
    }
  }

  close(): void {
    if (this.path) unwatchFile(this.path);
  }
}
