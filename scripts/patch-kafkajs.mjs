// @ts-check
// Fixes kafkajs 2.2.4's read_committed filter (src/consumer/filterAbortedMessages.js): it marks at
// most ONE aborted transaction as started per message. When a fetch begins past the first offsets
// of two aborted transactions of different producers, the second is never marked and its records
// are delivered as if committed (found here on a partition written by several transactional
// producers). The Java client marks every aborted transaction whose first offset has been
// reached; so does this patch (`if` → `while`). Runs at `npm ci`/`npm install` (postinstall);
// idempotent; fails loudly if kafkajs changed, so the fix is never silently lost.
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const file = require.resolve('kafkajs/src/consumer/filterAbortedMessages.js');
const version = JSON.parse(readFileSync(require.resolve('kafkajs/package.json'), 'utf8')).version;
const buggy = `    if (
      remainingAbortedTransactions.length &&
      Long.fromValue(message.offset).gte(remainingAbortedTransactions[0].firstOffset)
    ) {`;
const fixed = `    while (
      remainingAbortedTransactions.length &&
      Long.fromValue(message.offset).gte(remainingAbortedTransactions[0].firstOffset)
    ) {`;
const text = readFileSync(file, 'utf8');
if (text.includes(fixed)) process.exit(0);
if (version !== '2.2.4' || !text.includes(buggy)) {
  console.error(`patch-kafkajs: kafkajs ${version} does not have the expected filterAbortedMessages.js; re-check the read_committed fix (see scripts/patch-kafkajs.mjs)`);
  process.exit(1);
}
writeFileSync(file, text.replace(buggy, fixed));
console.error('patch-kafkajs: applied the read_committed aborted-transaction fix to kafkajs 2.2.4');
