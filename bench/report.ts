/** One machine-readable figure; `npm run bench` prints one JSON object per line. */
export interface BenchResult {
  readonly name: string;
  readonly unit: string;
  readonly value: number;
  readonly params?: Readonly<Record<string, unknown>>;
  /** For pipeline figures: the ceiling measured in the same run, and value / ceiling. */
  readonly ceiling?: { readonly name: string; readonly value: number; readonly ratio: number };
}

export function printResult(result: BenchResult): void {
  const rounded = { ...result, value: round(result.value), ...(result.ceiling ? { ceiling: { ...result.ceiling, value: round(result.ceiling.value), ratio: round(result.ceiling.ratio, 3) } } : {}) };
  process.stdout.write(`${JSON.stringify(rounded)}\n`);
}

export const withCeiling = (result: BenchResult, ceiling: BenchResult): BenchResult => ({
  ...result,
  ceiling: { name: ceiling.name, value: ceiling.value, ratio: result.value / ceiling.value },
});

const round = (n: number, digits = 1): number => Math.round(n * 10 ** digits) / 10 ** digits;

/** Runs `fn` repeatedly for about `seconds` and returns operations per second. */
export function opsPerSecond(fn: () => void, seconds = 2, opsPerCall = 1): number {
  for (let i = 0; i < 100; i++) fn(); // warm-up
  const deadline = process.hrtime.bigint() + BigInt(Math.round(seconds * 1e9));
  const start = process.hrtime.bigint();
  let calls = 0;
  while (process.hrtime.bigint() < deadline) {
    fn();
    calls++;
  }
  return (calls * opsPerCall) / (Number(process.hrtime.bigint() - start) / 1e9);
}

/** One figure's measurement over `seconds`, in ops/s. */
export type Measure = (seconds: number) => number | Promise<number>;

/**
 * Ops/s of each measure, run in alternating short rounds keeping each one's best round: on a
 * shared machine the best round is the least disturbed, and alternating keeps the figures that
 * are compared with each other measured under the same conditions.
 */
export async function bestOfRounds(measures: readonly Measure[], seconds: number, rounds: number): Promise<number[]> {
  const best = measures.map(() => 0);
  for (let round = 0; round < rounds; round++) {
    for (const [i, measure] of measures.entries()) best[i] = Math.max(best[i], await measure(seconds / rounds));
  }
  return best;
}

/** Units/s of `unit` (which returns the units it did: leaves, records) run back to back for about `seconds`. */
export async function unitsPerSecond(unit: () => number | Promise<number>, seconds: number): Promise<number> {
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(Math.round(seconds * 1e9));
  let units = 0;
  while (process.hrtime.bigint() < deadline) units += await unit();
  return units / (Number(process.hrtime.bigint() - start) / 1e9);
}
