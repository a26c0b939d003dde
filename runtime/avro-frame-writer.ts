import type { Type } from 'avsc';

/** What the scratch buffer starts at: a ledger event (~1.5 KiB) and most records fit. */
const INITIAL_SCRATCH_BYTES = 16 * 1024;
/**
 * Largest scratch buffer kept between calls. A value near the 1 MiB input limit is encoded into
 * a buffer of its own instead, so one large record does not pin megabytes for the process life.
 */
const MAX_SCRATCH_BYTES = 1024 * 1024;

/**
 * Encodes Avro values behind a wire header (single-object or Confluent) through one scratch
 * buffer reused across calls. avsc's toBuffer encodes into a shared 1 KiB buffer and, when the
 * value is larger (a ledger event is ~1.5 KiB), encodes it a second time into a fresh
 * zero-filled buffer, which framing then copied once more. Here a value is encoded once, right
 * after its header, and copied once into a buffer of its exact size.
 */
export class FrameWriter {
  private scratch = Buffer.allocUnsafe(INITIAL_SCRATCH_BYTES);

  /**
   * `header` followed by the Avro binary encoding of `value` as `type`, in a buffer the caller
   * owns. Throws what avsc's encoder throws for a value that does not fit the type.
   */
  write(header: Uint8Array, type: Type, value: unknown): Buffer {
    const end = encodeAfter(this.scratch, header, type, value);
    if (end >= 0) return this.copyOut(end);
    // avsc's encode() skips what does not fit and returns minus the missing byte count.
    const needed = this.scratch.length - end;
    if (needed > MAX_SCRATCH_BYTES) {
      const own = Buffer.allocUnsafe(needed);
      encodeAfter(own, header, type, value);
      return own;
    }
    this.scratch = Buffer.allocUnsafe(Math.min(MAX_SCRATCH_BYTES, Math.max(needed, 2 * this.scratch.length)));
    return this.copyOut(encodeAfter(this.scratch, header, type, value));
  }

  // allocUnsafe + copy, not Buffer.from(view): the same pooled allocation, but Buffer.from's
  // generic typed-array path measured about twice as slow for ~1.5 KiB values.
  private copyOut(end: number): Buffer {
    const out = Buffer.allocUnsafe(end);
    this.scratch.copy(out, 0, 0, end);
    return out;
  }
}

/** Writes `header` then the body into `target`; the end position, or < 0 when it does not fit. */
function encodeAfter(target: Buffer, header: Uint8Array, type: Type, value: unknown): number {
  target.set(header, 0);
  return type.encode(value, target, header.length);
}
