import { describe, expect, it } from 'vitest';
import { benchEd25519, signedMessages, verifyInTurn } from '../../bench/ed25519.js';
import { generateEd25519KeyPair, nobleEd25519Verifier, nodeEd25519Verifier } from '../../contracts/ed25519.js';

// The ed25519 section on a tiny workload: what it measures and prints, not how fast (no timing thresholds).

describe('benchEd25519', () => {
  it('prints both implementations over distinct messages, and node:crypto over one repeated message', async () => {
    const results = await benchEd25519({ seconds: 0.02, messages: 8 });
    expect(results.map((r) => [r.name, r.params?.impl, r.params?.messages])).toEqual([
      ['ed25519.verify', nodeEd25519Verifier.name, 8],
      ['ed25519.verify', nobleEd25519Verifier.name, 8],
      ['ed25519.verify.repeated_message', nodeEd25519Verifier.name, 1],
    ]);
    for (const r of results) expect(r.value).toBeGreaterThan(0);
  }, 60_000);

  it('signs distinct messages of about the requested size', () => {
    const keys = generateEd25519KeyPair();
    const samples = signedMessages(keys.privateKey, 20, 1024);
    expect(new Set(samples.map((s) => s.message.toString('hex'))).size).toBe(20);
    expect(new Set(samples.map((s) => s.signature.toString('hex'))).size).toBe(20);
    for (const { message, signature } of samples) {
      expect(message.length).toBeGreaterThan(900);
      expect(message.length).toBeLessThan(1100);
      expect(nodeEd25519Verifier.verify(keys.publicKey, message, signature)).toBe(true);
    }
  });

  it('verifies in turn and refuses to time a verifier that rejects', () => {
    const keys = generateEd25519KeyPair();
    const samples = signedMessages(keys.privateKey, 3);
    const seen: Buffer[] = [];
    const recording = { name: 'recording', verify: (_key: Uint8Array, message: Uint8Array) => (seen.push(Buffer.from(message)), true) };
    const verifyOnce = verifyInTurn(recording, keys.publicKey, samples);
    for (let i = 0; i < 4; i++) verifyOnce();
    expect(seen).toEqual([0, 1, 2, 0].map((i) => samples[i].message));
    const rejecting = verifyInTurn({ name: 'rejecting', verify: () => false }, keys.publicKey, samples);
    expect(() => rejecting()).toThrow(/rejected a valid signature/);
  });
});
