import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import yargs from 'yargs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { knowledgeCommand } from '../../src/cli/commands/knowledge.js';
import { datasetClasses } from '../../src/knowledge/datasets.js';
import { type GenerateOptions, dryRunText, generateKnowledge, partialPath } from '../../src/knowledge/generator/generate.js';
import { loadKnowledge } from '../../src/knowledge/knowledge-file.js';
import { DOUBTFUL_CLAIM, StandInOpenAI, WRONG_CLAIMS } from './support/stand-in-openai.js';

const KEY = 'sk-test-0123456789abcdef';
let server: StandInOpenAI;
let lines: string[];

beforeEach(async () => {
  server = await StandInOpenAI.start(KEY);
  lines = [];
});
afterEach(async () => {
  await server.close();
});

function options(overrides: Partial<GenerateOptions> = {}): GenerateOptions {
  return {
    dataset: 'amos',
    out: join(mkdtempSync(join(tmpdir(), 'tak-gen-')), 'amos.generated.json'),
    apiKey: KEY,
    baseURL: server.baseURL,
    model: 'gpt-4o',
    maxRetries: 3,
    timeoutMs: 1500,
    formatRetries: 2,
    minConfidence: 0.6,
    views: [],
    viewsNote: 'no --data given',
    date: '2026-01-02',
    log: (line) => lines.push(line),
    ...overrides,
  };
}

const calls = (organ: string, schema: string, kind = ''): number =>
  server.requests.filter((r) => r.organ === organ && r.schema === schema && r.kind === kind).length;

async function failureOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    return (error as Error).message;
  }
  return 'no error';
}

describe('generateKnowledge against the stand-in server', () => {
  it('writes a valid knowledge file from checked claims and reports token usage', async () => {
    const opts = options();
    const result = await generateKnowledge(opts);
    const knowledge = loadKnowledge('amos', result.path);
    expect(server.requests.length).toBe(16 * 4);
    expect(server.requests.every((r) => r.authorization === `Bearer ${KEY}`)).toBe(true);
    expect(result.usage).toEqual({ calls: 64, promptTokens: 6400, completionTokens: 640 });
    const liver = knowledge.classes[6]!;
    expect(liver.position.text).toBe('The liver lies inside the abdominal cavity. The liver has neighbouring organs on several sides.');
    for (const entry of knowledge.classes) {
      for (const text of [entry.position.text, entry.shape.text]) {
        for (const dropped of [...WRONG_CLAIMS, DOUBTFUL_CLAIM]) expect(text).not.toContain(dropped);
      }
    }
    expect(liver.position.provenance).toEqual({
      source: 'generated', model: 'gpt-4o', date: '2026-01-02', review: 'unreviewed',
      visualCheck: { performed: false, note: 'no --data given', views: 0 },
      claims: { proposed: 4, kept: 2 },
    });
    expect(liver.shape.provenance.claims).toEqual({ proposed: 3, kept: 2 });
    expect(existsSync(partialPath(opts.out))).toBe(false);
    expect(lines.join('\n')).toMatch(/visual check skipped: no --data given/);
  });

  it('keeps doubtful claims when --min-confidence allows them', async () => {
    const result = await generateKnowledge(options({ dataset: 'synapse', minConfidence: 0.1 }));
    expect(loadKnowledge('synapse', result.path).classes[1]!.position.text).toContain(DOUBTFUL_CLAIM);
  });

  it('sends views as images to agent 2 and records the visual check', async () => {
    const views = [{ caption: 'amos_0001, 3-D label render, anterior view', png: Buffer.from('89504e470d0a1a0a', 'hex') }];
    const result = await generateKnowledge(options({ views, viewsNote: '1 view of amos_0001' }));
    expect(server.requests.filter((r) => r.schema === 'claim_verdicts').every((r) => r.images === 1)).toBe(true);
    expect(server.requests.filter((r) => r.schema !== 'claim_verdicts').every((r) => r.images === 0)).toBe(true);
    expect(loadKnowledge('amos', result.path).classes[2]!.shape.provenance.visualCheck).toEqual({ performed: true, note: '1 view of amos_0001', views: 1 });
  });

  it('retries through 429, 500 and a timeout, and re-asks after malformed JSON', async () => {
    server.inject((r) => r.organ === 'liver' && r.kind === 'position', '429', 2);
    server.inject((r) => r.organ === 'spleen' && r.schema === 'claim_verdicts', '500', 1);
    server.inject((r) => r.organ === 'aorta' && r.kind === 'shape', 'timeout', 1);
    server.inject((r) => r.organ === 'stomach' && r.schema === 'organ_descriptions', 'malformed', 1);
    const result = await generateKnowledge(options());
    loadKnowledge('amos', result.path);
    expect(calls('liver', 'organ_claims', 'position')).toBe(3);
    expect(calls('spleen', 'claim_verdicts')).toBe(2);
    expect(calls('aorta', 'organ_claims', 'shape')).toBe(2);
    // The re-ask shows the model its broken answer and the problem: 2 more messages.
    expect(server.requests.filter((r) => r.organ === 'stomach' && r.schema === 'organ_descriptions').map((r) => r.messages)).toEqual([2, 4]);
    const log = lines.join('\n');
    expect(log).toMatch(/openai: .*429.*retrying/);
    expect(log).toMatch(/openai: .*500.*retrying/);
    expect(log).toMatch(/openai: connection timed out - retrying/);
    expect(log).toMatch(/stomach \(compose\): answer unusable \(it is not valid JSON/);
    // Only answered calls count: 64 answers + 1 malformed answer.
    expect(result.usage.calls).toBe(65);
  });

  it('gives up on an answer that stays malformed, naming the class, and keeps finished classes', async () => {
    const opts = options();
    server.inject((r) => r.organ === 'gallbladder' && r.kind === 'shape', 'malformed', 10);
    const message = await failureOf(generateKnowledge(opts));
    expect(message).toMatch(/^gallbladder \(shape claims\): the model's answer was unusable 3 time\(s\), last because it is not valid JSON/);
    const partial = JSON.parse(readFileSync(partialPath(opts.out), 'utf8'));
    expect(Object.keys(partial.classes)).toEqual(['background', 'spleen', 'right_kidney', 'left_kidney']);
    expect(lines.join('\n')).toMatch(/stopped after 4 new class\(es\); this run used \d+ calls/);
  });

  it('fails clearly on a rejected key without retrying and never shows the key', async () => {
    const message = await failureOf(generateKnowledge(options({ apiKey: 'sk-wrong-key-for-this-test' })));
    expect(message).toMatch(/authentication failed at http:\/\/127\.0\.0\.1:\d+\/v1 \(401\): the key in OPENAI_API_KEY was rejected/);
    expect(server.requests.length).toBe(1);
    const everything = `${message}\n${lines.join('\n')}`;
    expect(everything).not.toContain('sk-wrong-key-for-this-test');
    expect(everything).not.toContain(KEY);
  });

  it('redacts the key from server messages it shows', async () => {
    server.inject(() => true, '403', 1);
    const message = await failureOf(generateKnowledge(options()));
    expect(message).toMatch(/permission denied at .* \(403: .*Project of key \[redacted\] may not use this model/);
    expect(message).not.toContain(KEY);
  });

  it('resumes after an interrupted run without asking again for finished classes', async () => {
    const opts = options();
    // Liver (class 6) fails on every try: the SDK retries 3 times, then the run stops.
    server.inject((r) => r.organ === 'liver', '500', 4);
    const message = await failureOf(generateKnowledge(opts));
    expect(message).toMatch(/liver \(position claims\): server error at .* after 3 retries .* re-run the same command to resume/);
    expect(calls('liver', 'organ_claims', 'position')).toBe(4);
    const done = datasetClasses('amos').slice(0, 6).map((c) => c.name);
    server.requests.length = 0;
    const result = await generateKnowledge(opts);
    expect(result.resumed).toHaveLength(6);
    expect(result.generated).toHaveLength(10);
    expect(server.requests.some((r) => done.includes(r.organ))).toBe(false);
    expect(result.usage.calls).toBe(40);
    expect(result.totalUsage.calls).toBe(64);
    expect(loadKnowledge('amos', result.path).classes.map((c) => c.position.provenance.source)).toEqual(Array(16).fill('generated'));
    expect(existsSync(partialPath(opts.out))).toBe(false);
  });

  it('refuses to resume a partial run made with another model', async () => {
    const opts = options();
    writeFileSync(partialPath(opts.out), JSON.stringify({ format: 'tak-wgpu-knowledge-partial/1', dataset: 'amos', model: 'gpt-4o-mini', classes: {} }));
    expect(await failureOf(generateKnowledge(opts))).toMatch(/partial run for dataset amos with model gpt-4o-mini; resume it with those settings or delete it/);
    expect(server.requests.length).toBe(0);
  });
});

describe('tak-wgpu knowledge generate (CLI, in process)', () => {
  const run = (args: string[]) =>
    yargs(args).command(knowledgeCommand).strict().fail((msg, error) => { throw error ?? new Error(msg); }).parseAsync();

  it('writes a valid file through --base-url with the key from OPENAI_API_KEY', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'tak-cli-')), 'synapse.json');
    process.env.OPENAI_API_KEY = KEY;
    try {
      await run(['knowledge', 'generate', '--dataset', 'synapse', '--base-url', server.baseURL, '--out', out]);
    } finally {
      delete process.env.OPENAI_API_KEY;
    }
    expect(loadKnowledge('synapse', out).classes).toHaveLength(14);
  });

  it('asks for OPENAI_API_KEY when it is missing', async () => {
    delete process.env.OPENAI_API_KEY;
    await expect(run(['knowledge', 'generate', '--dataset', 'amos', '--base-url', server.baseURL])).rejects.toThrow(/OPENAI_API_KEY is not set/);
    expect(server.requests.length).toBe(0);
  });

  it('--dry-run text carries both paper templates for every class and needs no key', () => {
    const text = dryRunText('amos', 'gpt-4o', 0);
    for (const c of datasetClasses('amos').slice(1)) {
      expect(text).toContain(`Describe the relative positional relationship of the ${c.name} with other organs.`);
      expect(text).toContain(`Describe the shape and structure of the ${c.name}.`);
    }
    expect(text).toMatch(/No rendered views are available/);
  });
});
