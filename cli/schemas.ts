import { loadConfig } from '../config.js';
import { UsageError } from './errors.js';
import { createCodec } from './pipeline.js';

export const SCHEMAS_USAGE = 'ledger schemas register   register every topic value schema (<topic>-value, BACKWARD) with SCHEMA_REGISTRY_URL';

export async function schemasCommand(argv: readonly string[], out: NodeJS.WritableStream): Promise<number> {
  if (argv[0] !== 'register' || argv.length > 1) throw new UsageError(`usage: ${SCHEMAS_USAGE}`);
  const config = loadConfig();
  if (!config.schemaRegistry) throw new UsageError('ledger schemas register: SCHEMA_REGISTRY_URL is not set');
  const ids = await createCodec(config).registerAll();
  for (const [topic, id] of ids) out.write(`${JSON.stringify({ subject: `${topic}-value`, id })}\n`);
  return 0;
}
