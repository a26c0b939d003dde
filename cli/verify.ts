import { loadKeyringFile } from '../contracts/keyring.js';
import type { LedgerEvent } from '../contracts/ledger-event.js';
import type { MerkleRootRecord } from '../contracts/merkle-root.js';
import { auditLedger } from '../merkle/audit.js';
import { TOPICS } from '../topology.js';
import { parseFlags, requiredFlag } from './args.js';
import { readDumpTopic } from './dump-files.js';

export const VERIFY_USAGE = 'ledger verify --dir DIR --keys FILE   offline audit of a replay output or topic dump (events, roots, signatures, chain)';

/** Exit 0 when the dump is consistent; 1 with one precise line at the first inconsistency. */
export async function verifyCommand(argv: readonly string[], out: NodeJS.WritableStream): Promise<number> {
  const flags = parseFlags('verify', argv, { dir: { type: 'string' }, keys: { type: 'string' } });
  const dir = requiredFlag('verify', 'dir', flags.dir);
  const keyring = loadKeyringFile(requiredFlag('verify', 'keys', flags.keys));
  const summary = auditLedger({
    events: await readDumpTopic<LedgerEvent>(dir, TOPICS.events, 'verify'),
    roots: await readDumpTopic<MerkleRootRecord>(dir, TOPICS.merkleRoots, 'verify'),
    keyring,
  });
  out.write(`${JSON.stringify({ ok: true, ...summary })}\n`);
  return 0;
}
