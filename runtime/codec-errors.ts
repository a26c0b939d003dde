/** Every way encoding or decoding a record value can fail. Tests and callers branch on `code`. */
export type CodecErrorCode =
  /** Fingerprint or registry id names no schema we know (or no registry is configured). */
  | 'CODEC_UNKNOWN_SCHEMA'
  /** The framing was recognised but the bytes are damaged: truncated, trailing data, bad varint… */
  | 'CODEC_CORRUPT'
  /** Neither JSON (where allowed), single-object nor Confluent framing. */
  | 'CODEC_UNKNOWN_FORMAT'
  /** The registry could not be reached or failed (5xx): transient, worth retrying. */
  | 'CODEC_REGISTRY_UNAVAILABLE'
  /** The registry refused a schema as incompatible with the subject's history (HTTP 409). */
  | 'CODEC_REGISTRY_INCOMPATIBLE'
  /** The registry refused a request for another reason (auth, invalid schema, config mismatch). */
  | 'CODEC_REGISTRY_REJECTED'
  /** The writer schema is known but cannot be read as the topic's record (schema resolution failed). */
  | 'CODEC_SCHEMA_MISMATCH'
  /** The topic has no record declared in the codec's topic map. */
  | 'CODEC_UNKNOWN_TOPIC'
  /** A value to encode does not match its record schema. */
  | 'CODEC_INVALID_VALUE'
  /** The schemas directory could not be read or a schema does not parse. */
  | 'CODEC_SCHEMA_LOAD';

export class CodecError extends Error {
  readonly code: CodecErrorCode;

  constructor(code: CodecErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CodecError';
    this.code = code;
  }

  /** True when the same call may succeed later (registry down): the runtime should retry, not dead-letter. */
  get transient(): boolean {
    return this.code === 'CODEC_REGISTRY_UNAVAILABLE';
  }
}

export const isCodecError = (error: unknown): error is CodecError => error instanceof CodecError;

/** The message of an unknown thrown value, for wrapping library errors without their stacks. */
export const describeCause = (error: unknown): string =>
  error instanceof Error ? error.message : String(error);
