// A pool worker for test/unit/runtime/worker-pool.test.ts (workers run JavaScript, so it imports
// the compiled pool). Item {n, bytes?}; result {n, scaled: n * factor, byteSum, thread}; an item
// with n < 0 makes the whole chunk fail.
import { threadId } from 'node:worker_threads';
import { serveWorkerPool } from '../../dist/runtime/worker-pool.js';

const identity = { pack: (items) => ({ wire: items, transfer: [] }), unpack: (wire) => wire };

serveWorkerPool(identity, (config) => (item) => {
  if (item.n < 0) throw new Error(`refused item ${item.n}`);
  let byteSum = 0;
  for (const byte of item.bytes ?? []) byteSum += byte;
  return { n: item.n, scaled: item.n * config.factor, byteSum, thread: threadId };
});
