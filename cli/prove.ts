import type { MerkleRootRecord } from '../contracts/merkle-root.js';
import { proveEvent } from '../merkle/audit.js';
import { TOPICS } from '../topology.js';
import { parseFlags, requiredFlag } from './args.js';
import { readDumpTopic } from './dump-files.js';
import { UsageError } from './errors.js';

export const PROVE_USAGE = 'ledger prove --event EVENTHASH --dir DIR   RFC 6962 audit path and root of one event, offline';

export async function proveCommand(argv: readonly string[], out: NodeJS.WritableStream): Promise<number> {
  const flags = parseFlags('prove', argv, { event: { type: 'string' }, dir: { type: 'string' } });
  const eventHash = requiredFlag('prove', 'event', flags.event);
  if (!/^sha256:[0-9a-fA-F]{64}$/.test(eventHash)) throw new UsageError(`ledger prove: --event must be a sha256:<64 hex> eventHash, got "${eventHash}"`);
  const roots = await readDumpTopic<MerkleRootRecord>(requiredFlag('prove', 'dir', flags.dir), TOPICS.merkleRoots, 'prove');
  const proof = proveEvent(eventHash, roots);
  if (!proof) {
    process.stderr.write(`ledger: prove: no sealed batch holds event ${eventHash}\n`);
    return 1;
  }
  out.write(`${JSON.stringify(proof)}\n`);
  return 0;
}
