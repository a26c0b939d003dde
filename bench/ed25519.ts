// Ed25519 verification throughput on the messages the validate stage verifies: DSSE PAEs of
// canonical ~1 KiB exports, each signed once. Every figure cycles through distinct (message,
// signature) pairs, as a stream does: one pair verified over and over trains the CPU's branch
// predictors on its scalars and ran 3-9 % faster here, a rate no stream reaches. That repeated
// figure is printed too, so the difference stays visible.
import { canonicalJsonBytes } from '../contracts/canonical-json.js';
import { EXPORT_PAYLOAD_TYPE, pae } from '../contracts/dsse.js';
import { generateEd25519KeyPair, nobleEd25519Verifier, nodeEd25519Verifier, signEd25519, type Ed25519PrivateKeyInput, type Ed25519Verifier } from '../contracts/ed25519.js';
import { exportBody } from '../examples/exports.js';
import { bestOfRounds, opsPerSecond, type BenchResult } from './report.js';

export interface SignedMessage {
  readonly message: Buffer;
  readonly signature: Buffer;
}

/** More pairs than any branch predictor's history: a cycle through them is as good as a stream. */
export const DISTINCT_MESSAGES = 1_000;

/** `count` distinct PAEs of canonical exports of about `approxBytes`, each signed by `privateKey`. */
export function signedMessages(privateKey: Ed25519PrivateKeyInput, count: number, approxBytes = 1024): SignedMessage[] {
  return Array.from({ length: count }, (_, i) => {
    const message = pae(EXPORT_PAYLOAD_TYPE, canonicalJsonBytes(exportBody({ tenantId: 'acme', runSeed: `verify-${i}`, status: 'running', approxBytes })));
    return { message, signature: signEd25519(message, privateKey) };
  });
}

/**
 * One verification per call, cycling through `samples`; throws if one does not verify, so a
 * broken verifier cannot post a fast figure.
 */
export function verifyInTurn(verifier: Ed25519Verifier, publicKey: Uint8Array, samples: readonly SignedMessage[]): () => void {
  let next = 0;
  return () => {
    const { message, signature } = samples[next];
    next = (next + 1) % samples.length;
    if (!verifier.verify(publicKey, message, signature)) throw new Error(`bench: ${verifier.name} rejected a valid signature`);
  };
}

/** Verifies per second of both implementations on one core, and node:crypto's on one repeated message. */
export async function benchEd25519(options: { seconds?: number; messages?: number } = {}): Promise<BenchResult[]> {
  const seconds = options.seconds ?? 3;
  const keys = generateEd25519KeyPair();
  const samples = signedMessages(keys.privateKey, options.messages ?? DISTINCT_MESSAGES);
  const cases = [
    { name: 'ed25519.verify', verifier: nodeEd25519Verifier, samples },
    { name: 'ed25519.verify', verifier: nobleEd25519Verifier, samples },
    { name: 'ed25519.verify.repeated_message', verifier: nodeEd25519Verifier, samples: samples.slice(0, 1) },
  ];
  const rates = await bestOfRounds(
    cases.map(({ verifier, samples: cycle }) => {
      const verifyOnce = verifyInTurn(verifier, keys.publicKey, cycle);
      return (slice: number) => opsPerSecond(verifyOnce, slice);
    }),
    seconds,
    5,
  );
  return cases.map(({ name, verifier, samples: cycle }, i) => ({
    name,
    unit: 'verifies/s',
    value: rates[i],
    params: { impl: verifier.name, threads: 1, messages: cycle.length, messageBytes: cycle[0].message.length },
  }));
}
