// `npm run bench [-- section...]`: prints one JSON object per line. Sections: codec, broker,
// validate (default: all). Pipeline figures carry the ceiling measured in the same run.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { loadConfig } from '../config.js';
import { packageRoot } from '../runtime/paths.js';
import { benchBroker } from './broker.js';
import { benchCodec } from './codec.js';
import { benchValidate } from './validate.js';
import { printResult, withCeiling, type BenchResult } from './report.js';

const SECTIONS = ['codec', 'broker', 'validate'] as const;
type Section = (typeof SECTIONS)[number];

async function main(args: readonly string[]): Promise<void> {
  const unknown = args.filter((a) => !(SECTIONS as readonly string[]).includes(a));
  if (unknown.length > 0) {
    process.stderr.write(`bench: unknown section ${unknown.join(', ')}; sections: ${SECTIONS.join(', ')}\n`);
    process.exit(2);
  }
  const chosen: readonly Section[] = args.length > 0 ? (args as Section[]) : SECTIONS;
  let brokerConsume: BenchResult | undefined;
  if (chosen.includes('broker')) {
    if (process.env.KAFKA_BROKERS === undefined) {
      const up = spawnSync(process.execPath, [join(packageRoot(import.meta.url), 'scripts', 'stack.mjs'), 'up', '--no-registry'], { stdio: ['ignore', 'ignore', 'inherit'] });
      if (up.status !== 0) process.exit(1);
    }
    const results = await benchBroker({ brokers: loadConfig().kafka.brokers });
    results.forEach(printResult);
    brokerConsume = results.find((r) => r.name === 'broker.consume');
  }
  if (chosen.includes('codec')) {
    for (const r of await benchCodec()) printResult(brokerConsume ? withCeiling(r, brokerConsume) : r);
  }
  if (chosen.includes('validate')) (await benchValidate()).forEach(printResult);
}

main(process.argv.slice(2)).catch((error: unknown) => {
  process.stderr.write(`bench: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
