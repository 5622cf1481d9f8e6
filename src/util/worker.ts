import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';

/**
 * Starts a `worker_threads` Worker on the module `entry` (a `.js` URL next to the caller, written
 * as `new URL('./x-worker.js', import.meta.url)`), passing `workerData` unchanged.
 *
 * Built code (dist/) has the `.js` file and it is started directly. When the caller itself runs
 * from TypeScript source (vitest), only `x-worker.ts` exists; Node 20 cannot run TypeScript, so the
 * worker first registers module hooks that resolve `./y.js` imports to `./y.ts` and transpile
 * them with the project's `typescript` dev dependency (type-stripping only, no type check).
 */
export function startWorker(entry: URL, workerData: unknown): Worker {
  if (existsSync(fileURLToPath(entry))) return new Worker(entry, { workerData });
  const tsEntry = new URL(entry.href.replace(/\.js$/, '.ts'));
  if (!entry.href.endsWith('.js') || !existsSync(fileURLToPath(tsEntry))) {
    throw new Error(`worker module ${fileURLToPath(entry)} does not exist (nor a .ts source of it): rebuild with \`npm run build\``);
  }
  const boot = [
    "import { register } from 'node:module';",
    `register(${JSON.stringify(`data:text/javascript,${encodeURIComponent(TS_HOOKS)}`)}, { data: ${JSON.stringify(import.meta.url)} });`,
    `await import(${JSON.stringify(tsEntry.href)});`,
  ].join('\n');
  return new Worker(new URL(`data:text/javascript,${encodeURIComponent(boot)}`), { workerData });
}

/** Module hooks (run by Node in its loader thread): `.js` → `.ts` resolution and TS transpiling. */
const TS_HOOKS = `
import { readFileSync, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
let ts, requireFrom;
export function initialize(helperUrl) { requireFrom = createRequire(helperUrl); }
export async function resolve(specifier, context, next) {
  if (context.parentURL?.endsWith('.ts') && specifier.startsWith('.') && specifier.endsWith('.js')) {
    const url = new URL(specifier, context.parentURL);
    const tsUrl = new URL(specifier.slice(0, -3) + '.ts', context.parentURL);
    if (!existsSync(fileURLToPath(url)) && existsSync(fileURLToPath(tsUrl))) return { url: tsUrl.href, format: 'module', shortCircuit: true };
  }
  return next(specifier, context);
}
export async function load(url, context, next) {
  if (!url.endsWith('.ts')) return next(url, context);
  ts ??= requireFrom('typescript');
  const fileName = fileURLToPath(url);
  const { outputText } = ts.transpileModule(readFileSync(fileName, 'utf8'), {
    fileName, compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, sourceMap: false },
  });
  return { format: 'module', source: outputText, shortCircuit: true };
}`;
