import type { Topology, ValueFormat } from './topology-types.js';
import { topicSpec } from './topology-types.js';

/** The Avro codec's shape as the runtime needs it (runtime/codec.ts implements it). */
export interface AvroValueCodec {
  encode(topic: string, value: unknown): Promise<Buffer>;
  decode(topic: string, bytes: Buffer): Promise<unknown>;
}

export class SerdeError extends Error {
  constructor(
    readonly code: 'SERDE_NO_AVRO_CODEC' | 'SERDE_NOT_BYTES' | 'SERDE_BAD_JSON',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'SerdeError';
  }
}

/** Encodes and decodes values by the format each topic declares in the topology. */
export class TopicSerde {
  constructor(
    private readonly topology: Topology,
    private readonly avro: AvroValueCodec | null,
  ) {}

  format(topic: string): ValueFormat {
    return topicSpec(this.topology, topic).value;
  }

  async encode(topic: string, value: unknown): Promise<Buffer> {
    const format = this.format(topic);
    switch (format.kind) {
      case 'raw':
        if (!Buffer.isBuffer(value)) throw new SerdeError('SERDE_NOT_BYTES', `topic ${topic} carries raw bytes, got ${typeof value}`);
        return value;
      case 'json':
        return Buffer.from(JSON.stringify(value), 'utf8');
      case 'avro':
        return this.requireAvro(topic).encode(topic, value);
    }
  }

  async decode(topic: string, bytes: Buffer): Promise<unknown> {
    const format = this.format(topic);
    switch (format.kind) {
      case 'raw':
        return bytes;
      case 'json':
        try {
          return JSON.parse(bytes.toString('utf8')) as unknown;
        } catch (error) {
          throw new SerdeError('SERDE_BAD_JSON', `topic ${topic}: value is not JSON`, { cause: error });
        }
      case 'avro':
        return this.requireAvro(topic).decode(topic, bytes);
    }
  }

  /**
   * For processors that read raw input and decide late (ProcessorContext.decode): the Avro
   * record a raw topic declares, or the topic's usual decoding otherwise.
   */
  async decodeOnDemand(topic: string, bytes: Buffer): Promise<unknown> {
    const format = this.format(topic);
    if (format.kind === 'raw' && format.record) return this.requireAvro(topic).decode(topic, bytes);
    return this.decode(topic, bytes);
  }

  private requireAvro(topic: string): AvroValueCodec {
    if (!this.avro) throw new SerdeError('SERDE_NO_AVRO_CODEC', `topic ${topic} is Avro but no Avro codec was configured`);
    return this.avro;
  }
}
