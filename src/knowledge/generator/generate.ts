import { existsSync, readFileSync, rmSync } from 'node:fs';
import { TakError } from '../../util/errors.js';
import { writeFileAtomic } from '../../util/fs.js';
import { type ClassInfo, type DatasetId, datasetClasses } from '../datasets.js';
import { saveKnowledge } from '../knowledge-file.js';
import { type Description, type KnowledgeClass, type KnowledgeFile, KNOWLEDGE_FORMAT, type VisualCheck, namePrompt } from '../schema.js';
import { AgentClient, type ClientSettings, type Usage, addUsage, emptyUsage } from './client.js';
import {
  AGENT1_SYSTEM, AGENT2_COMPOSE_SYSTEM, AGENT2_VERIFY_SYSTEM, type DescriptionKind,
  agent1Prompt, agent2ComposePrompt, agent2VerifyPrompt,
} from './prompts.js';
import { CLAIMS_FORMAT, type ClaimVerdict, DESCRIPTIONS_FORMAT, VERDICTS_FORMAT, parseClaims, parseDescriptions, parseVerdicts } from './schemas.js';
import { type View, viewContent } from './views.js';

/**
 * TAK's knowledge generation (method-spec §9) as two agents:
 *  1. text only: per class and per template, a list of individual claims;
 *  2. multimodal check: every claim judged consistent / inconsistent / uncertain with a
 *     confidence against rendered label views (or, without views, anatomical knowledge alone);
 *     inconsistent and low-confidence claims are dropped here, then agent 2 composes the final
 *     texts from the kept claims only.
 * Finished classes go to <out>.partial.json after each class (atomically), so a run that stops
 * resumes where it stopped.
 */
export interface GenerateOptions extends Omit<ClientSettings, 'log'> {
  dataset: DatasetId;
  out: string;
  /** Rendered views of labelled cases for agent 2; empty: the visual check is skipped. */
  views: readonly View[];
  /** What the views show (cases, kinds), or why there are none; recorded in provenance. */
  viewsNote: string;
  /** Claims judged below this confidence are dropped (inconsistent ones always are). */
  minConfidence: number;
  log?: (line: string) => void;
  /** YYYY-MM-DD for provenance; default today (UTC). */
  date?: string;
}

interface ClassResult {
  position: Description;
  shape: Description;
  usage: Usage;
}

interface PartialFile {
  format: 'tak-wgpu-knowledge-partial/1';
  dataset: DatasetId;
  model: string;
  classes: Record<string, ClassResult>;
}

export interface GenerateResult {
  path: string;
  /** Tokens of this run's calls. */
  usage: Usage;
  /** Tokens behind all classes of the file, earlier interrupted runs included. */
  totalUsage: Usage;
  /** Classes generated in this run (the rest came from the partial file). */
  generated: string[];
  resumed: string[];
}

export const partialPath = (out: string): string => `${out}.partial.json`;

function readPartial(path: string, dataset: DatasetId, model: string): PartialFile {
  if (!existsSync(path)) return { format: 'tak-wgpu-knowledge-partial/1', dataset, model, classes: {} };
  const partial = JSON.parse(readFileSync(path, 'utf8')) as PartialFile;
  if (partial.format !== 'tak-wgpu-knowledge-partial/1' || partial.dataset !== dataset || partial.model !== model) {
    throw new TakError(`${path} holds a partial run for dataset ${partial.dataset} with model ${partial.model}; resume it with those settings or delete it to start over`);
  }
  return partial;
}

/** Claim ids P1.. / S1.. keep the two kinds apart in agent 2's single check. */
const claimId = (kind: DescriptionKind, index: number): string => `${kind === 'position' ? 'P' : 'S'}${index + 1}`;

async function generateClass(client: AgentClient, target: ClassInfo, options: GenerateOptions, log: (line: string) => void): Promise<ClassResult> {
  const classes = datasetClasses(options.dataset);
  const before = { ...client.usage };
  const claims = {} as Record<DescriptionKind, string[]>;
  for (const kind of ['position', 'shape'] as const) {
    claims[kind] = await client.askJson(`${target.name} (${kind} claims)`, AGENT1_SYSTEM, agent1Prompt(target, kind, classes), CLAIMS_FORMAT, parseClaims);
  }
  const all = (['position', 'shape'] as const).flatMap((kind) => claims[kind].map((statement, i) => ({ id: claimId(kind, i), kind, statement })));
  const verifyText = agent2VerifyPrompt(target, all.map(({ id, statement }) => ({ id, statement })), options.views.length);
  const verifyContent = options.views.length > 0 ? [{ type: 'text' as const, text: verifyText }, ...viewContent(options.views)] : verifyText;
  const verdicts = await client.askJson(`${target.name} (check)`, AGENT2_VERIFY_SYSTEM, verifyContent, VERDICTS_FORMAT, (v) => parseVerdicts(v, all.map((c) => c.id)));
  const byId = new Map<string, ClaimVerdict>(verdicts.map((v) => [v.claim, v]));
  const keep = (id: string): boolean => {
    const v = byId.get(id)!;
    return v.verdict !== 'inconsistent' && v.confidence >= options.minConfidence;
  };
  const kept = {
    position: all.filter((c) => c.kind === 'position' && keep(c.id)).map((c) => c.statement),
    shape: all.filter((c) => c.kind === 'shape' && keep(c.id)).map((c) => c.statement),
  };
  for (const kind of ['position', 'shape'] as const) {
    if (kept[kind].length === 0) {
      throw new TakError(`${target.name}: agent 2 kept none of the ${claims[kind].length} ${kind} claims (all inconsistent or below --min-confidence ${options.minConfidence}); lower --min-confidence or re-run`);
    }
  }
  const texts = await client.askJson(`${target.name} (compose)`, AGENT2_COMPOSE_SYSTEM, agent2ComposePrompt(target, kept), DESCRIPTIONS_FORMAT, parseDescriptions);
  const visualCheck: VisualCheck = { performed: options.views.length > 0, note: options.viewsNote, views: options.views.length };
  const describe = (kind: DescriptionKind): Description => ({
    text: texts[kind],
    provenance: {
      source: 'generated', model: options.model, date: options.date ?? new Date().toISOString().slice(0, 10), review: 'unreviewed',
      visualCheck, claims: { proposed: claims[kind].length, kept: kept[kind].length },
    },
  });
  const usage = { calls: client.usage.calls - before.calls, promptTokens: client.usage.promptTokens - before.promptTokens, completionTokens: client.usage.completionTokens - before.completionTokens };
  const dropped = all.length - kept.position.length - kept.shape.length;
  log(`  ${target.name}: kept ${kept.position.length}/${claims.position.length} position and ${kept.shape.length}/${claims.shape.length} shape claims (${dropped} dropped); ${usage.calls} calls, ${usage.promptTokens} + ${usage.completionTokens} tokens`);
  return { position: describe('position'), shape: describe('shape'), usage };
}

export async function generateKnowledge(options: GenerateOptions): Promise<GenerateResult> {
  const log = options.log ?? (() => {});
  const partialFile = partialPath(options.out);
  const partial = readPartial(partialFile, options.dataset, options.model);
  const client = new AgentClient({ ...options, log });
  const classes = datasetClasses(options.dataset);
  const resumed = classes.filter((c) => partial.classes[c.key]).map((c) => c.key);
  if (resumed.length > 0) log(`resuming from ${partialFile}: ${resumed.length} of ${classes.length} classes already done`);
  log(options.views.length > 0 ? `visual check: ${options.viewsNote}` : `visual check skipped: ${options.viewsNote}`);
  const generated: string[] = [];
  try {
    for (const target of classes) {
      if (partial.classes[target.key]) continue;
      log(`class ${target.id} ${target.name}`);
      partial.classes[target.key] = await generateClass(client, target, options, log);
      writeFileAtomic(partialFile, `${JSON.stringify(partial, null, 2)}\n`);
      generated.push(target.key);
    }
  } catch (error) {
    log(`stopped after ${generated.length} new class(es); this run used ${formatUsage(client.usage)}`);
    throw error;
  }
  const knowledge: KnowledgeFile = {
    format: KNOWLEDGE_FORMAT,
    dataset: options.dataset,
    classes: classes.map((c): KnowledgeClass => {
      const result = partial.classes[c.key]!;
      return { id: c.id, key: c.key, name: c.name, abbreviation: c.abbreviation, namePrompt: namePrompt(c.name), position: result.position, shape: result.shape };
    }),
  };
  saveKnowledge(options.out, knowledge);
  rmSync(partialFile, { force: true });
  const totalUsage = emptyUsage();
  for (const result of Object.values(partial.classes)) addUsage(totalUsage, result.usage);
  return { path: options.out, usage: client.usage, totalUsage, generated, resumed };
}

export function formatUsage(usage: Usage): string {
  return `${usage.calls} calls, ${usage.promptTokens} prompt + ${usage.completionTokens} completion tokens`;
}

/** What --dry-run prints: every prompt agent 1 would send, and agent 2's with placeholders. */
export function dryRunText(dataset: DatasetId, model: string, views: number): string {
  const classes = datasetClasses(dataset);
  const lines = [`dry run: ${classes.length} classes × 4 calls to ${model}; nothing is sent`, '', `agent 1 system: ${AGENT1_SYSTEM}`];
  for (const target of classes) {
    for (const kind of ['position', 'shape'] as const) lines.push('', `--- agent 1, ${target.name}, ${kind} ---`, agent1Prompt(target, kind, classes));
  }
  const example = classes[1]!;
  lines.push(
    '', `agent 2 check system: ${AGENT2_VERIFY_SYSTEM}`,
    `--- agent 2 check, e.g. ${example.name} (claims from agent 1 filled in; ${views} view(s) attached) ---`,
    agent2VerifyPrompt(example, [{ id: 'P1', statement: '<claim from agent 1>' }], views),
    '', `agent 2 compose system: ${AGENT2_COMPOSE_SYSTEM}`,
    `--- agent 2 compose, e.g. ${example.name} (kept claims filled in) ---`,
    agent2ComposePrompt(example, { position: ['<kept position claim>'], shape: ['<kept shape claim>'] }),
  );
  return lines.join('\n');
}
