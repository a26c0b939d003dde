import type { Writable, Readable } from 'node:stream';
import { loadConfig } from '../config.js';
import { MAX_EXPORT_BYTES, type ValidationResult } from '../contracts/export.js';
import { jsonLineLogger } from '../runtime/kafka/client.js';
import { validateItem } from '../processors/validate-core.js';
import { parseFlags } from './args.js';
import { loadKeyring } from './pipeline.js';
import { rawLines, type RawLine } from './ndjson.js';

export const VALIDATE_USAGE = 'ledger validate [--keys FILE] [--allow-unsigned]   stdin: NDJSON exports; stdout: one result line per input line';

/**
 * `ledger validate`: the export contract offline, for sealed sites. One output line per input
 * line, in order: {"line", "ok", "code", "runId"}. Exit 0 when every line is OK, 1 when any was
 * rejected, 2 for bad flags or an unusable keyring.
 */
export async function validateCommand(argv: readonly string[], io: { stdin: Readable; stdout: Writable }): Promise<number> {
  const flags = parseFlags('validate', argv, { keys: { type: 'string' }, 'allow-unsigned': { type: 'boolean' } });
  const config = loadConfig(process.env, {
    ...(flags.keys !== undefined ? { LEDGER_KEYRING: flags.keys } : {}),
    ...(flags['allow-unsigned'] ? { LEDGER_ALLOW_UNSIGNED: 'true' } : {}),
  });
  const keyring = loadKeyring(config, jsonLineLogger('validate'), { watch: false });
  const settings = { keyring: keyring.current(), signaturesRequired: config.signaturesRequired };
  let rejected = 0;
  for await (const line of rawLines(io.stdin, MAX_EXPORT_BYTES)) {
    const result = validateLine(line, settings);
    if (!result.ok) rejected++;
    const out = { line: line.number, ok: result.ok, code: result.ok ? 'OK' : result.code, runId: result.runId ?? null };
    if (!io.stdout.write(`${JSON.stringify(out)}\n`)) await new Promise((r) => io.stdout.once('drain', r));
  }
  return rejected === 0 ? 0 : 1;
}

/** Stands in for a line that was too long to keep: only its length matters to rule #1. */
const OVERSIZED = Buffer.alloc(MAX_EXPORT_BYTES + 1);

function validateLine(line: RawLine, settings: Parameters<typeof validateItem>[1]): ValidationResult {
  // An oversized line was not kept; its size alone decides (#1), as on the topic.
  const bytes = line.bytes ?? OVERSIZED;
  return validateItem({ bytes, headers: {} }, settings);
}
