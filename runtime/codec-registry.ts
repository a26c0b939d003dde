import { COMPATIBILITY, SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import avro from 'avsc';
import type { Type } from 'avsc';
import { CodecError, describeCause } from './codec-errors.js';

/** Where the Confluent-compatible registry is (SCHEMA_REGISTRY_URL / _USERNAME / _PASSWORD). */
export interface RegistryConnection {
  /** Base URL of the Confluent API, e.g. http://127.0.0.1:18081/apis/ccompat/v7 */
  readonly url: string;
  readonly username?: string;
  readonly password?: string;
  /** How long one registry request may take (default 10 s). */
  readonly requestTimeoutMs?: number;
}

const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;

type RegistryMiddleware = NonNullable<ConstructorParameters<typeof SchemaRegistry>[0]['middlewares']>[number];

/**
 * mappersmith, under the registry client, sets no timeout: a request whose answer never comes
 * (a registry restarting behind a half-open connection) would hold the batch that waits for a
 * schema, and its task, forever. With one it fails as CODEC_REGISTRY_UNAVAILABLE and is retried.
 */
const requestTimeout =
  (ms: number): RegistryMiddleware =>
  () => ({
    async prepareRequest(next) {
      const request = await next();
      return request.timeout() ? request : request.enhance({ timeout: ms });
    },
  });

/** Subject of a topic's values under the TopicNameStrategy. */
export const subjectForTopic = (topic: string): string => `${topic}-value`;

// mappersmith reports a failed connection as an HTTP 400 whose message is the socket error.
const NETWORK_FAILURE = /ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|ENETUNREACH|EPIPE|socket hang up|timeout/i;

const httpStatus = (error: unknown): number | undefined => {
  if (typeof error !== 'object' || error === null || !('status' in error)) return undefined;
  return typeof error.status === 'number' ? error.status : undefined;
};

const isCompatibilityConfigMismatch = (error: unknown): boolean =>
  error instanceof Error && error.name === 'ConfluentSchemaRegistryCompatibilityError';

const REGISTER_ATTEMPTS = 5;
/**
 * What another instance creating the same subject at the same moment looks like: Apicurio's
 * 409 "already exists", or the subject seen between its creation and its compatibility being
 * set (the client library sets it after registering). Both settle within moments.
 */
const isCreationRace = (error: unknown): boolean =>
  (httpStatus(error) === 409 && /already exists/i.test(describeCause(error))) || isCompatibilityConfigMismatch(error);

/** One place that turns what the registry client threw into a CodecError with a useful code. */
function registryFailure(error: unknown, what: string): CodecError {
  const status = httpStatus(error);
  const detail = describeCause(error);
  const options = { cause: error };
  if (isCompatibilityConfigMismatch(error)) {
    return new CodecError('CODEC_REGISTRY_REJECTED', `${what}: subject compatibility is not BACKWARD (${detail})`, options);
  }
  if (status === 409) return new CodecError('CODEC_REGISTRY_INCOMPATIBLE', `${what}: refused as incompatible (409): ${detail}`, options);
  if (status === 404) return new CodecError('CODEC_UNKNOWN_SCHEMA', `${what}: not found in the registry (404)`, options);
  if (status === undefined || status >= 500 || (status === 400 && NETWORK_FAILURE.test(detail))) {
    return new CodecError('CODEC_REGISTRY_UNAVAILABLE', `${what}: registry unavailable: ${detail}`, options);
  }
  return new CodecError('CODEC_REGISTRY_REJECTED', `${what}: registry answered ${status}: ${detail}`, options);
}

/** The registry calls the codec makes, through @kafkajs/confluent-schema-registry. */
export class RegistryClient {
  private readonly registry: SchemaRegistry;

  constructor(readonly connection: RegistryConnection) {
    const auth =
      connection.username !== undefined && connection.username !== ''
        ? { username: connection.username, password: connection.password ?? '' }
        : undefined;
    this.registry = new SchemaRegistry({
      host: connection.url,
      auth,
      clientId: 'findings-ledger',
      middlewares: [requestTimeout(connection.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS)],
    });
  }

  /** Registers `schemaJson` under `subject` with BACKWARD compatibility; returns its schema id. */
  async register(subject: string, schemaJson: string): Promise<number> {
    for (let attempt = 1; ; attempt++) {
      try {
        const { id } = await this.registry.register(
          { type: SchemaType.AVRO, schema: schemaJson },
          { subject, compatibility: COMPATIBILITY.BACKWARD },
        );
        return id;
      } catch (error) {
        if (attempt < REGISTER_ATTEMPTS && isCreationRace(error)) {
          await new Promise((resolve) => setTimeout(resolve, 100 * attempt));
          continue;
        }
        throw registryFailure(error, `registering subject ${subject}`);
      }
    }
  }

  /** The Avro writer schema behind a schema id (cached by the client library). */
  async writerType(schemaId: number): Promise<Type> {
    let schema: unknown;
    try {
      schema = await this.registry.getSchema(schemaId);
    } catch (error) {
      throw registryFailure(error, `schema id ${schemaId}`);
    }
    if (!avro.Type.isType(schema)) {
      throw new CodecError('CODEC_SCHEMA_MISMATCH', `schema id ${schemaId} is not an Avro schema`);
    }
    return schema as Type;
  }
}
