// Worker thread of the validate processor: runs the CPU-heavy part (JSON, JCS, SHA-256,
// Ed25519) for one chunk of a batch and returns the outcomes in order.
import { serveWorkerPool } from '../runtime/worker-pool.js';
import { keyringFromTransfer, validateOutcome, type TransferableKey, type ValidateItem, type ValidateOutcome } from './validate-core.js';
import { validateChunkCodec, type ValidateWire } from './validate-wire.js';

export interface WorkerConfig {
  readonly keys: readonly TransferableKey[];
  readonly signaturesRequired: boolean;
}

serveWorkerPool<WorkerConfig, ValidateItem, ValidateOutcome, ValidateWire>(validateChunkCodec, (config) => {
  const settings = { keyring: keyringFromTransfer(config.keys), signaturesRequired: config.signaturesRequired, clockMs: () => performance.now() };
  return (item) => validateOutcome(item, settings);
});
