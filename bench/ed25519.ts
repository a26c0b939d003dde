// Ed25519 verification throughput of both implementations, on the message the validate stage
// actually verifies: the DSSE PAE of a canonical export of typical size.
import { randomUUID } from 'node:crypto';
import { canonicalJsonBytes } from '../contracts/canonical-json.js';
import { EXPORT_PAYLOAD_TYPE, pae } from '../contracts/dsse.js';
import {
  generateEd25519KeyPair,
  nobleEd25519Verifier,
  nodeEd25519Verifier,
  signEd25519,
  type Ed25519Verifier,
} from '../contracts/ed25519.js';
import { opsPerSecond } from './report.js';

export interface Ed25519BenchFigure {
  readonly impl: string;
  readonly verifiesPerSecond: number;
}

function sampleMessage(): Buffer {
  const body = {
    runId: randomUUID(),
    jobType: 'scan',
    artifactHash: `sha256:${'a'.repeat(64)}`,
    startedAt: '2025-01-01T00:00:00Z',
    completedAt: '2025-01-01T00:10:00Z',
    status: 'succeeded',
    manifestPath: `cas://manifests/${'b'.repeat(64)}`,
    logsPath: `cas://logs/${'c'.repeat(64)}`,
    tenantId: 'tenant-a',
    environment: 'prod',
    idempotencyKey: `sha256:${'d'.repeat(64)}`,
  };
  return pae(EXPORT_PAYLOAD_TYPE, canonicalJsonBytes(body));
}

/** Verifies per second of each implementation, one after the other on the calling thread (one core). */
export async function benchEd25519(options: { secondsPerImpl?: number } = {}): Promise<Ed25519BenchFigure[]> {
  const seconds = options.secondsPerImpl ?? 3;
  const keys = generateEd25519KeyPair();
  const message = sampleMessage();
  const signature = signEd25519(message, keys.privateKey);
  const figures: Ed25519BenchFigure[] = [];
  for (const verifier of [nodeEd25519Verifier, nobleEd25519Verifier] satisfies Ed25519Verifier[]) {
    if (!verifier.verify(keys.publicKey, message, signature)) throw new Error(`${verifier.name} rejects a valid signature`);
    const verifiesPerSecond = opsPerSecond(() => {
      verifier.verify(keys.publicKey, message, signature);
    }, seconds);
    figures.push({ impl: verifier.name, verifiesPerSecond });
    // Let timers and I/O run between the two measurements.
    await new Promise((resolve) => setImmediate(resolve));
  }
  return figures;
}
