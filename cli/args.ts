import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UsageError } from './errors.js';

type Options = NonNullable<ParseArgsConfig['options']>;

/** Strict flag parsing: an unknown or malformed flag is a UsageError naming it. */
export function parseFlags<T extends Options>(command: string, argv: readonly string[], options: T) {
  try {
    return parseArgs({ args: [...argv], options, strict: true, allowPositionals: false }).values;
  } catch (error) {
    const message = error instanceof Error ? error.message.split('\n')[0] : String(error);
    throw new UsageError(`ledger ${command}: ${message.replace(/^TypeError \[[A-Z_]+\]: /, '')} (see ledger --help)`);
  }
}

export function requiredFlag(command: string, name: string, value: string | undefined): string {
  if (value === undefined || value === '') throw new UsageError(`ledger ${command}: --${name} is required`);
  return value;
}

export function integerFlag(command: string, name: string, value: string | undefined, fallback: number, min = 1): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value) || Number(value) < min) throw new UsageError(`ledger ${command}: --${name} must be a whole number >= ${min}, got "${value}"`);
  return Number(value);
}

/** An ISO-8601 instant as epoch milliseconds, or undefined. */
export function parseIsoInstant(text: string): number | undefined {
  const ms = Date.parse(text);
  return /^\d{4}-\d{2}-\d{2}T/.test(text) && !Number.isNaN(ms) ? ms : undefined;
}

/** An ISO-8601 instant flag (e.g. --now), as epoch milliseconds. */
export function instantFlag(command: string, name: string, value: string): number {
  const ms = parseIsoInstant(value);
  if (ms === undefined) throw new UsageError(`ledger ${command}: --${name} "${value}" is not an ISO-8601 instant`);
  return ms;
}
