#!/usr/bin/env node
// Thin launcher: the CLI is compiled to dist/ by `npm ci` (prepare → build).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
const entry = new URL('../dist/cli/ledger.js', import.meta.url);
if (!existsSync(fileURLToPath(entry))) {
  process.stderr.write('ledger: not built yet; run `npm ci` (or `npm run build`) in the project first\n');
  process.exit(2);
}
await import(entry.href);
