#!/usr/bin/env node
// Entry point of the `tak-wgpu` command; the TypeScript sources are compiled to dist/ by `npm ci`
// (the package's `prepare` script) or `npm run build`.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const main = new URL('../dist/src/cli/main.js', import.meta.url);
if (!existsSync(fileURLToPath(main))) {
  process.stderr.write('tak-wgpu is not built yet: run `npm ci` (or `npm run build`) in the project folder first.\n');
  process.exit(1);
}
await import(main.href);
