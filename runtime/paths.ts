import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package root (the directory holding package.json), from the sources or from dist/. */
export function packageRoot(importMetaUrl: string = import.meta.url): string {
  const start = dirname(fileURLToPath(importMetaUrl));
  for (let dir = start; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) return start;
  }
}
