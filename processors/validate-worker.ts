// Worker thread of the validate processor: runs the CPU-heavy part (JSON, JCS, SHA-256,
// Ed25519) for one chunk of a batch and returns the outcomes in order.
import { parentPort } from 'node:worker_threads';
import type { PoolRequest, PoolResponse } from '../runtime/worker-pool.js';
import { keyringFromTransfer, validateOutcome, type TransferableKey, type ValidateItem, type ValidateOutcome, type ValidateSettings } from './validate-core.js';

export interface WorkerConfig {
  readonly keys: readonly TransferableKey[];
  readonly signaturesRequired: boolean;
}

let settings: ValidateSettings | null = null;

parentPort?.on('message', (message: PoolRequest<WorkerConfig, ValidateItem>) => {
  if (message.kind === 'configure') {
    settings = { keyring: keyringFromTransfer(message.config.keys), signaturesRequired: message.config.signaturesRequired };
    return;
  }
  let response: PoolResponse<ValidateOutcome>;
  try {
    if (!settings) throw new Error('validate worker used before it was configured');
    const current = settings;
    response = { id: message.id, results: message.items.map((item) => validateOutcome(item, current)) };
  } catch (error) {
    response = { id: message.id, error: error instanceof Error ? error.message : String(error) };
  }
  parentPort?.postMessage(response);
});
