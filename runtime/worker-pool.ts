import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { dirname, join, relative } from 'node:path';
import { Worker } from 'node:worker_threads';
import { packageRoot } from './paths.js';

/** Messages a pool worker understands: a configuration broadcast, or one chunk of work. */
export type PoolRequest<Config, Item> = { readonly kind: 'configure'; readonly config: Config } | { readonly kind: 'chunk'; readonly id: number; readonly items: readonly Item[] };
export type PoolResponse<Result> = { readonly id: number; readonly results: readonly Result[] } | { readonly id: number; readonly error: string };

/**
 * A fixed set of worker threads that each take a contiguous chunk of a batch; results come back
 * in input order, so a processor can spread CPU work over all cores and still forward in order.
 */
export class WorkerPool<Config, Item, Result> {
  private readonly workers: Worker[];
  private readonly waiting = new Map<number, { resolve: (r: readonly Result[]) => void; reject: (e: Error) => void }>();
  private nextId = 0;

  constructor(script: URL, size: number, config: Config) {
    this.workers = Array.from({ length: size }, () => {
      const worker = new Worker(script);
      worker.on('message', (message: PoolResponse<Result>) => {
        const pending = this.waiting.get(message.id);
        if (!pending) return;
        this.waiting.delete(message.id);
        if ('error' in message) pending.reject(new Error(message.error));
        else pending.resolve(message.results);
      });
      worker.on('error', (error) => this.failAll(error));
      return worker;
    });
    this.configure(config);
  }

  get size(): number {
    return this.workers.length;
  }

  configure(config: Config): void {
    const message: PoolRequest<Config, Item> = { kind: 'configure', config };
    for (const w of this.workers) w.postMessage(message);
  }

  /** Splits `items` into one contiguous chunk per worker and concatenates the results in order. */
  async map(items: readonly Item[]): Promise<Result[]> {
    const chunkSize = Math.ceil(items.length / this.workers.length);
    const chunks = this.workers.map((_, i) => items.slice(i * chunkSize, (i + 1) * chunkSize)).filter((c) => c.length > 0);
    const results = await Promise.all(chunks.map((chunk, i) => this.send(this.workers[i], chunk)));
    return results.flat();
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }

  private send(worker: Worker, items: readonly Item[]): Promise<readonly Result[]> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      const message: PoolRequest<Config, Item> = { kind: 'chunk', id, items };
      worker.postMessage(message);
    });
  }

  private failAll(error: Error): void {
    for (const pending of this.waiting.values()) pending.reject(error);
    this.waiting.clear();
  }
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
