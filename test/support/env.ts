// Where the integration tests find the local stack started by scripts/stack.mjs.
// The defaults match the stack's fixed loopback ports; the environment can point elsewhere.
export const kafkaBrokers = (): string[] =>
  (process.env.KAFKA_BROKERS ?? '127.0.0.1:19092').split(',').map((s) => s.trim()).filter(Boolean);

export const schemaRegistryUrl = (): string =>
  process.env.SCHEMA_REGISTRY_URL ?? 'http://127.0.0.1:18081/apis/ccompat/v7';

/** True when the suite runs on the project's local stack (global-setup starts or reuses it), not on a broker KAFKA_BROKERS names. */
export const usingLocalStack = (): boolean => (process.env.KAFKA_BROKERS ?? '').trim() === '';
