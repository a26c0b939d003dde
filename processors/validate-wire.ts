// How a chunk of ValidateItems travels to a validate worker: the values copied back to back into
// one ArrayBuffer that is transferred, not cloned, so the worker gets them without a second copy
// and a kafkajs value (a view into its fetch response) never drags the whole response along.
import type { ChunkCodec } from '../runtime/worker-pool.js';
import type { ValidateItem } from './validate-core.js';

export interface ValidateWire {
  /** Every item's value, back to back. */
  readonly values: ArrayBuffer;
  /** Where each item's value ends in `values`. */
  readonly ends: readonly number[];
  /** Each item without its value (headers, and the decoded record for Avro). */
  readonly rest: ReadonlyArray<Omit<ValidateItem, 'bytes'>>;
}

export const validateChunkCodec: ChunkCodec<ValidateItem, ValidateWire> = {
  pack(items) {
    let total = 0;
    for (const item of items) total += item.bytes.byteLength;
    // Its own ArrayBuffer: transferring a pooled Buffer's would detach unrelated Buffers.
    const values = new Uint8Array(total);
    const ends: number[] = [];
    const rest: Omit<ValidateItem, 'bytes'>[] = [];
    let at = 0;
    for (const { bytes, ...others } of items) {
      values.set(bytes, at);
      at += bytes.byteLength;
      ends.push(at);
      rest.push(others);
    }
    return { wire: { values: values.buffer, ends, rest }, transfer: [values.buffer] };
  },
  unpack({ values, ends, rest }) {
    return rest.map((others, i) => {
      const start = i === 0 ? 0 : ends[i - 1];
      return { ...others, bytes: new Uint8Array(values, start, ends[i] - start) };
    });
  },
};
