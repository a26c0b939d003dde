// How a chunk of ValidateItems travels to a validate worker: the values copied back to back into
// one ArrayBuffer that is transferred, not cloned, so the worker gets them without a second copy
// and a kafkajs value (a view into its fetch response) never drags the whole response along.
// The rest of an item goes as the objects it already has: building one object per item on
// either side (a {...rest} spread) cost more than cloning them.
import type { ChunkCodec } from '../runtime/worker-pool.js';
import type { ValidateItem } from './validate-core.js';

type AvroFields = Pick<ValidateItem, 'decoded' | 'undecodable'>;

export interface ValidateWire {
  /** Every item's value, back to back. */
  readonly values: ArrayBuffer;
  /** Where each item's value ends in `values`. */
  readonly ends: readonly number[];
  readonly headers: ReadonlyArray<ValidateItem['headers']>;
  /** Only the Avro items: their index in the chunk, and the decoded record or the decode error. */
  readonly avro: ReadonlyArray<readonly [number, AvroFields]>;
}

function avroFields(item: ValidateItem): AvroFields | undefined {
  if (item.decoded === undefined && item.undecodable === undefined) return undefined;
  const fields: { decoded?: unknown; undecodable?: string } = {};
  if (item.decoded !== undefined) fields.decoded = item.decoded;
  if (item.undecodable !== undefined) fields.undecodable = item.undecodable;
  return fields;
}

export const validateChunkCodec: ChunkCodec<ValidateItem, ValidateWire> = {
  pack(items) {
    let total = 0;
    for (const item of items) total += item.bytes.byteLength;
    // Its own ArrayBuffer: transferring a pooled Buffer's would detach unrelated Buffers.
    const values = new Uint8Array(total);
    const ends: number[] = [];
    const headers: ValidateItem['headers'][] = [];
    const avro: [number, AvroFields][] = [];
    let at = 0;
    items.forEach((item, index) => {
      values.set(item.bytes, at);
      at += item.bytes.byteLength;
      ends.push(at);
      headers.push(item.headers);
      const fields = avroFields(item);
      if (fields) avro.push([index, fields]);
    });
    return { wire: { values: values.buffer, ends, headers, avro }, transfer: [values.buffer] };
  },
  unpack({ values, ends, headers, avro }) {
    const items: ValidateItem[] = headers.map((itemHeaders, i) => {
      const start = i === 0 ? 0 : ends[i - 1];
      return { bytes: new Uint8Array(values, start, ends[i] - start), headers: itemHeaders };
    });
    for (const [index, fields] of avro) items[index] = { ...items[index], ...fields };
    return items;
  },
};
