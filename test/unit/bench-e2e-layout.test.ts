import { describe, expect, it } from 'vitest';
import { DEFAULT_LAYOUT, parseLayout } from '../../bench/e2e.js';

// BENCH_E2E_PROCESSES: which `ledger run` processes the end-to-end benchmark starts.

describe('parseLayout', () => {
  it('reads one process per |-separated group of processors', () => {
    expect(parseLayout('validate|dedupe, merkle ,projector')).toEqual([['validate'], ['dedupe', 'merkle', 'projector']]);
    expect(parseLayout('validate,dedupe,merkle,projector')).toEqual(DEFAULT_LAYOUT);
  });

  it('refuses a layout that misses, repeats or misspells a processor, or has an empty process', () => {
    for (const text of ['validate|dedupe', 'validate,validate,merkle,projector', 'validate,dedupe,merkle,projector,projector', 'validate||dedupe,merkle,projector', 'x,dedupe,merkle,projector', '']) {
      expect(() => parseLayout(text), text).toThrow(/^BENCH_E2E_PROCESSES must name each of validate,dedupe,merkle,projector once/);
    }
  });
});
