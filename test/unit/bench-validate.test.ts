import { describe, expect, it } from 'vitest';
import { benchValidate } from '../../bench/validate.js';

// The validate section on a short run: what it prints and how the figures relate, not how fast
// (no timing thresholds).

describe('benchValidate', () => {
  it('prints the verify ceiling, the upper bound from verify + the contract primitives, and the three validate figures', async () => {
    const results = await benchValidate({ seconds: 0.3 });
    expect(results.map((r) => r.name)).toEqual(['ed25519.verify', 'validate.single_thread.upper-bound', 'validate.contract_single_thread', 'validate.single_thread', 'validate.all_cores']);
    const [raw, bound] = results;
    expect(raw.params?.messages).toBe(1000);
    for (const r of results) expect(r.value).toBeGreaterThan(0);
    for (const r of results.slice(1)) expect(r.ceiling?.name).toBe('ed25519.verify');
    // Costs add: one verification plus the primitives, below each of them.
    const primitives = bound.params?.primitivesPerSecond as number;
    expect(bound.value).toBeCloseTo(1 / (1 / raw.value + 1 / primitives), -1);
    expect(bound.value).toBeLessThan(raw.value);
    expect(bound.value).toBeLessThan(primitives);
  }, 120_000);
});
