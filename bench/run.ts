import { execFileSync } from 'node:child_process';
import { appendFileSync, existsSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { init, shutdown } from '../src/gpu/engine.js';
import type { BenchRow, BenchSuite } from './harness.js';
import { coreSuites } from './core.js';
import { runDataBench } from './data.js';
import { headSuites } from './heads.js';
import { lossSuites } from './losses.js';
import { runConvBench } from './conv.js';
import { runMatmulBench } from './matmul.js';
import { trainSuites } from './train.js';

/**
 * `npm run bench -- [FILTER...] [--json] [--record]`: runs the suites whose name contains a
 * filter word (all without one), prints a table (or one JSON array with --json), and with
 * --record appends the figures with adapter, date and commit to bench/RESULTS.md.
 */
const suites: BenchSuite[] = [
  ...coreSuites,
  { name: 'matmul', run: () => runMatmulBench() },
  { name: 'conv', run: () => runConvBench(process.env.TAK_WGPU_BENCH_CONV ?? '') }, // e.g. TAK_WGPU_BENCH_CONV='8->8': the cases whose name holds it
  ...headSuites,
  ...lossSuites,
  ...trainSuites,
  { name: 'data', run: async () => (await runDataBench()).map((row) => ({ ...row, adapter: 'CPU (data layer)' })) },
];

function commit(): string {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

function format(value: unknown): string {
  if (typeof value !== 'number') return String(value);
  return Math.abs(value) >= 100 ? value.toFixed(0) : Math.abs(value) >= 1 ? value.toFixed(2) : value.toPrecision(3);
}

function table(rows: BenchRow[]): string {
  const extras = [...new Set(rows.flatMap((r) => Object.keys(r).filter((k) => !['name', 'adapter', 'metric', 'value', 'unit'].includes(k))))];
  const header = ['case', 'value', 'unit', ...extras];
  const body = rows.map((r) => [r.name, format(r.value), r.unit, ...extras.map((k) => (r[k] === undefined ? '' : format(r[k])))]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  return [header, ...body].map((cells) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ')).join('\n');
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const json = args.includes('--json');
  const record = args.includes('--record');
  const filters = args.filter((a) => !a.startsWith('--'));
  const chosen = suites.filter((s) => filters.length === 0 || filters.some((f) => s.name.includes(f)));
  if (chosen.length === 0) {
    process.stderr.write(`No benchmark suite matches ${filters.join(' ')}; suites: ${suites.map((s) => s.name).join(', ')}\n`);
    process.exit(2);
  }
  const engine = await init();
  const rows: BenchRow[] = [];
  for (const suite of chosen) {
    if (!json) process.stderr.write(`running ${suite.name}...\n`);
    rows.push(...(await suite.run()));
  }
  if (json) process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
  else process.stdout.write(`\n${engine.gpu.summary.description}\n${table(rows)}\n`);
  if (record) {
    const file = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bench', 'RESULTS.md');
    if (!existsSync(file)) writeFileSync(file, '# Benchmark results\n\nAppended by `npm run bench -- FILTER --record`.\n');
    const when = new Date().toISOString().slice(0, 10);
    appendFileSync(file, `\n## ${chosen.map((s) => s.name).join(', ')} — ${engine.gpu.summary.description}, ${when}, commit ${commit()}\n\n\`\`\`\n${table(rows)}\n\`\`\`\n`);
  }
  await shutdown();
}

main().catch((error: unknown) => {
  process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
