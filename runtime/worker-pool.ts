import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { dirname, join, relative } from 'node:path';
import { parentPort, Worker } from 'node:worker_threads';
import { packageRoot } from './paths.js';

/**
 * How a chunk of items travels to a worker. postMessage clones a Buffer's whole backing
 * ArrayBuffer, and a kafkajs message value is a view into its fetch response: cloning items
 * as they are would copy the response once per chunk. A codec packs a chunk into fresh
 * buffers that are transferred, not copied.
 */
export interface ChunkCodec<Item, Wire> {
  /** Main thread: the chunk as a message value, and the ArrayBuffers handed over with it. */
  pack(items: readonly Item[]): { readonly wire: Wire; readonly transfer: readonly ArrayBuffer[] };
  /** Worker thread: the items back. */
  unpack(wire: Wire): Item[];
}

/** Messages a pool worker understands: a configuration broadcast, or one chunk of work. */
export type PoolRequest<Config, Wire> = { readonly kind: 'configure'; readonly config: Config } | { readonly kind: 'chunk'; readonly id: number; readonly wire: Wire };
export type PoolResponse<Result> = { readonly id: number; readonly results: readonly Result[] } | { readonly id: number; readonly error: string };

// A batch is cut into several chunks per worker so that a worker the OS (or a slow record)
// holds back leaves the rest to the others instead of holding up the batch; each chunk still
// has enough records that one round trip (~0.1 ms) is noise against its work (~5 ms at 32
// signed exports).
const CHUNKS_PER_WORKER = 8;
const MIN_CHUNK_ITEMS = 16;
const MAX_CHUNK_ITEMS = 64;
// Up to three chunks per worker: while it works on one, the next ones already wait in its
// port, so it does not idle while the main thread is busy elsewhere (a GC pause, encoding
// outputs) before it hears the answer and sends more. With two, the workers of a loaded 2-core
// box waited for a message 3-9 % of the time (event loop utilisation 0.91-0.97); with three or
// four, 1-4 %. More would let a worker the OS holds back sit on more of a batch's tail.
const MAX_CHUNKS_IN_FLIGHT = 3;

interface QueuedChunk<Item, Result> {
  readonly kind: 'chunk';
  readonly items: readonly Item[];
  readonly resolve: (results: readonly Result[]) => void;
  readonly reject: (error: Error) => void;
}

type Queued<Config, Item, Result> = QueuedChunk<Item, Result> | { readonly kind: 'configure'; readonly config: Config };

interface PoolWorker {
  readonly thread: Worker;
  inFlight: number;
}

/**
 * A fixed set of worker threads fed from one queue of chunks; results come back in input
 * order, so a processor can spread CPU work over all cores and still forward in order. Several
 * map() calls (several partitions' batches) may be in flight at once and share the workers.
 */
export class WorkerPool<Config, Item, Result, Wire = unknown> {
  private readonly workers: PoolWorker[];
  private readonly queue: Queued<Config, Item, Result>[] = [];
  private readonly waiting = new Map<number, { worker: PoolWorker; chunk: QueuedChunk<Item, Result> }>();
  private nextId = 0;

  constructor(
    script: URL,
    size: number,
    config: Config,
    private readonly codec: ChunkCodec<Item, Wire>,
  ) {
    this.workers = Array.from({ length: size }, () => {
      const worker: PoolWorker = { thread: new Worker(script), inFlight: 0 };
      worker.thread.on('message', (message: PoolResponse<Result>) => this.settle(worker, message));
      worker.thread.on('error', (error) => this.failAll(error));
      return worker;
    });
    this.configure(config);
  }

  get size(): number {
    return this.workers.length;
  }

  /**
   * Applies to every chunk of a map() called after this, and to none called before: queued
   * chunks are sent first, and each worker reads its messages in order.
   */
  configure(config: Config): void {
    this.queue.push({ kind: 'configure', config });
    this.dispatch();
  }

  /** Cuts `items` into chunks for whichever worker is free and concatenates the results in order. */
  async map(items: readonly Item[]): Promise<Result[]> {
    const size = Math.min(MAX_CHUNK_ITEMS, Math.max(MIN_CHUNK_ITEMS, Math.ceil(items.length / (this.workers.length * CHUNKS_PER_WORKER))));
    const chunks: Promise<readonly Result[]>[] = [];
    for (let from = 0; from < items.length; from += size) {
      const slice = items.slice(from, from + size);
      chunks.push(new Promise((resolve, reject) => this.queue.push({ kind: 'chunk', items: slice, resolve, reject })));
    }
    this.dispatch();
    return (await Promise.all(chunks)).flat();
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.thread.terminate()));
  }

  private dispatch(): void {
    while (this.queue.length > 0) {
      const next = this.queue[0];
      if (next.kind === 'configure') {
        const message: PoolRequest<Config, Wire> = { kind: 'configure', config: next.config };
        for (const w of this.workers) w.thread.postMessage(message);
      } else {
        const worker = this.leastBusyWorker();
        if (!worker) return;
        this.send(worker, next);
      }
      this.queue.shift();
    }
  }

  private leastBusyWorker(): PoolWorker | undefined {
    let best: PoolWorker | undefined;
    for (const w of this.workers) if (w.inFlight < MAX_CHUNKS_IN_FLIGHT && (!best || w.inFlight < best.inFlight)) best = w;
    return best;
  }

  private send(worker: PoolWorker, chunk: QueuedChunk<Item, Result>): void {
    const id = this.nextId++;
    let packed: ReturnType<ChunkCodec<Item, Wire>['pack']>;
    try {
      packed = this.codec.pack(chunk.items);
    } catch (error) {
      chunk.reject(error instanceof Error ? error : new Error(String(error)));
      return;
    }
    worker.inFlight++;
    this.waiting.set(id, { worker, chunk });
    const message: PoolRequest<Config, Wire> = { kind: 'chunk', id, wire: packed.wire };
    worker.thread.postMessage(message, [...packed.transfer]);
  }

  private settle(worker: PoolWorker, message: PoolResponse<Result>): void {
    const pending = this.waiting.get(message.id);
    if (!pending) return;
    this.waiting.delete(message.id);
    worker.inFlight--;
    if ('error' in message) pending.chunk.reject(new Error(message.error));
    else pending.chunk.resolve(message.results);
    this.dispatch();
  }

  private failAll(error: Error): void {
    for (const pending of this.waiting.values()) pending.chunk.reject(error);
    this.waiting.clear();
    for (const queued of this.queue.splice(0)) if (queued.kind === 'chunk') queued.reject(error);
    for (const w of this.workers) w.inFlight = 0;
  }
}

/**
 * The worker side of a pool: `configure` turns each configuration broadcast into the function
 * applied to every item of the chunks that follow it; answers keep the chunk's order.
 */
export function serveWorkerPool<Config, Item, Result, Wire>(codec: ChunkCodec<Item, Wire>, configure: (config: Config) => (item: Item) => Result): void {
  const port = parentPort;
  if (!port) throw new Error('serveWorkerPool runs in a worker thread');
  let work: ((item: Item) => Result) | null = null;
  port.on('message', (message: PoolRequest<Config, Wire>) => {
    if (message.kind === 'configure') {
      work = configure(message.config);
      return;
    }
    let response: PoolResponse<Result>;
    try {
      if (!work) throw new Error('pool worker used before it was configured');
      const apply = work;
      response = { id: message.id, results: codec.unpack(message.wire).map((item) => apply(item)) };
    } catch (error) {
      response = { id: message.id, error: error instanceof Error ? error.message : String(error) };
    }
    port.postMessage(response);
  });
}

/**
 * URL of a compiled sibling module for a worker thread. Workers need JavaScript: from the
 * TypeScript sources (under vitest) this points at the same module in dist/.
 */
export function compiledModuleUrl(importMetaUrl: string, file: string): URL {
  const here = new URL(file, importMetaUrl);
  if (existsSync(fileURLToPath(here))) return here;
  const sourceDir = dirname(fileURLToPath(importMetaUrl));
  const root = packageRoot(importMetaUrl);
  return pathToFileURL(join(root, 'dist', relative(root, sourceDir), file));
}
