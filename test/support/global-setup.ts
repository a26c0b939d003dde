// Vitest global setup for the integration project: makes sure the local stack (Kafka, and the
// schema registry unless LEDGER_STACK_NO_REGISTRY=1) answers before any test file runs, and at
// teardown stops only what it started itself, so a stack the developer started keeps running.
// With KAFKA_BROKERS set the tests use that external broker and nothing is started.

type Component = 'kafka' | 'registry';

interface ComponentUpResult {
  state: 'started' | 'already-running' | 'unavailable' | 'skipped';
  reason?: string;
}

// The part of scripts/stack.mjs used here (the script is plain JavaScript with JSDoc types).
interface StackApi {
  up(options: { registry?: boolean }): Promise<Record<Component, ComponentUpResult>>;
  down(options: { components?: Component[] }): Promise<unknown>;
}

// A computed specifier keeps TypeScript from resolving the .mjs file (it has no declarations).
const stackModuleUrl = new URL('../../scripts/stack.mjs', import.meta.url).href;

function isStackApi(value: unknown): value is StackApi {
  if (typeof value !== 'object' || value === null) return false;
  const candidate = value as Record<string, unknown>;
  return typeof candidate.up === 'function' && typeof candidate.down === 'function';
}

async function loadStack(): Promise<StackApi> {
  const loaded: unknown = await import(stackModuleUrl);
  if (!isStackApi(loaded)) throw new Error(`${stackModuleUrl} does not export up() and down()`);
  return loaded;
}

const isSet = (name: string): boolean => (process.env[name] ?? '').trim() !== '';

export default async function setup(): Promise<() => Promise<void>> {
  if (isSet('KAFKA_BROKERS')) {
    process.stderr.write(`integration: using the external broker at KAFKA_BROKERS=${process.env.KAFKA_BROKERS}\n`);
    return async () => undefined;
  }
  const stack = await loadStack();
  const wantRegistry = process.env.LEDGER_STACK_NO_REGISTRY !== '1' && !isSet('SCHEMA_REGISTRY_URL');
  const result = await stack.up({ registry: wantRegistry });
  if (result.registry.state === 'unavailable') {
    process.stderr.write(`integration: schema registry unavailable, tests that need it will fail: ${result.registry.reason ?? ''}\n`);
  }
  const startedHere = (['kafka', 'registry'] as const).filter((component) => result[component].state === 'started');
  return async () => {
    if (startedHere.length > 0) await stack.down({ components: [...startedHere] });
  };
}
