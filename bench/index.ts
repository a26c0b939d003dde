// `npm run bench [-- section...]`: prints one JSON object per line. Sections: codec, broker,
// ed25519, validate, merkle, store, dedupe, restore, projector (default: all of these), and e2e (only when named). Pipeline figures carry the ceiling
// measured in the same run.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { loadConfig } from '../config.js';
import { packageRoot } from '../runtime/paths.js';
import { benchBroker, benchProduceEncoding } from './broker.js';
import { benchCodec } from './codec.js';
import { benchEd25519 } from './ed25519.js';
import { benchValidate } from './validate.js';
import { benchMerkle } from './merkle.js';
import { benchStore } from './store.js';
import { benchDedupe } from './dedupe.js';
import { benchRestore } from './restore.js';
import { benchProjector } from './projector.js';
import { benchEndToEnd, parseLayout } from './e2e.js';
import { printResult, withCeiling, type BenchResult } from './report.js';

const SECTIONS = ['codec', 'broker', 'ed25519', 'validate', 'merkle', 'store', 'dedupe', 'restore', 'projector', 'e2e'] as const;
/** e2e drives the whole pipeline through the broker for minutes: only when asked for. */
const DEFAULT_SECTIONS = SECTIONS.filter((s) => s !== 'e2e');
type Section = (typeof SECTIONS)[number];

/** Sections that talk to Kafka: the local stack is started for them unless KAFKA_BROKERS is set. */
let stackChecked = false;
function brokers(): readonly string[] {
  if (process.env.KAFKA_BROKERS === undefined && !stackChecked) {
    stackChecked = true;
    const up = spawnSync(process.execPath, [join(packageRoot(import.meta.url), 'scripts', 'stack.mjs'), 'up', '--no-registry'], { stdio: ['ignore', 'ignore', 'inherit'] });
    if (up.status !== 0) process.exit(1);
  }
  return loadConfig().kafka.brokers;
}

async function main(args: readonly string[]): Promise<void> {
  const unknown = args.filter((a) => !(SECTIONS as readonly string[]).includes(a));
  if (unknown.length > 0) {
    process.stderr.write(`bench: unknown section ${unknown.join(', ')}; sections: ${SECTIONS.join(', ')}\n`);
    process.exit(2);
  }
  const chosen: readonly Section[] = args.length > 0 ? (args as Section[]) : DEFAULT_SECTIONS;
  let brokerConsume: BenchResult | undefined;
  if (chosen.includes('broker')) {
    const results = await benchBroker({ brokers: brokers() });
    results.forEach(printResult);
    brokerConsume = results.find((r) => r.name === 'broker.consume');
    (await benchProduceEncoding()).forEach(printResult);
  }
  // Before the in-process sections, so the RSS it reports is not their garbage.
  if (chosen.includes('restore')) (await benchRestore({ brokers: brokers() })).forEach(printResult);
  if (chosen.includes('codec')) {
    for (const r of await benchCodec()) printResult(brokerConsume ? withCeiling(r, brokerConsume) : r);
  }
  if (chosen.includes('ed25519')) (await benchEd25519()).forEach(printResult);
  if (chosen.includes('validate')) (await benchValidate()).forEach(printResult);
  if (chosen.includes('merkle')) (await benchMerkle()).forEach(printResult);
  if (chosen.includes('store')) (await benchStore()).forEach(printResult);
  if (chosen.includes('dedupe')) (await benchDedupe()).forEach(printResult);
  if (chosen.includes('projector')) (await benchProjector()).forEach(printResult);
  if (chosen.includes('e2e')) {
    const layout = process.env.BENCH_E2E_PROCESSES ? parseLayout(process.env.BENCH_E2E_PROCESSES) : undefined;
    (await benchEndToEnd({ brokers: brokers(), ...(layout ? { layout } : {}) })).forEach(printResult);
  }
}

main(process.argv.slice(2)).catch((error: unknown) => {
  process.stderr.write(`bench: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
