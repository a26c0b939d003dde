import { describe, expect, it } from 'vitest';
import { benchDedupe } from '../../bench/dedupe.js';

// The dedupe section on a tiny workload: what it prints, not how fast (no timing thresholds).

describe('benchDedupe', () => {
  it('prints the codec ceiling, the upper bound from its three measured parts, and both backends', async () => {
    const results = await benchDedupe({ blocks: 2, batch: 60, seconds: 0.05 });
    expect(results.map((r) => r.name)).toEqual(['codec.validated_decode_event_encode', 'dedupe.in_process.upper-bound', 'dedupe.in_process', 'dedupe.in_process.memory_backend']);
    const bound = results[1];
    const parts = ['codecPerSecond', 'eventHashesPerSecond', 'storeGetPutPerSecond'].map((name) => bound.params?.[name] as number);
    for (const rate of parts) expect(rate).toBeGreaterThan(0);
    // Costs add up: 1 / (1/a + 1/b + 1/c), below each part (parts are printed rounded).
    expect(bound.value).toBeCloseTo(1 / parts.reduce((sum, rate) => sum + 1 / rate, 0), -1);
    for (const rate of parts) expect(bound.value).toBeLessThan(rate);
    expect(parts[0]).toBe(Math.round(results[0].value)); // the codec part is the ceiling printed above it
  }, 60_000);
});
