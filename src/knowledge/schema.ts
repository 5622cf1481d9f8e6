import { TakError } from '../util/errors.js';
import { type DatasetId, datasetClasses, isDatasetId, DATASET_IDS } from './datasets.js';

/**
 * The knowledge file: per class a name prompt, a position text and a shape text (method-spec §5,
 * §9), each with where it came from. One file per dataset, knowledge/<dataset>.json.
 */
export const KNOWLEDGE_FORMAT = 'tak-wgpu-knowledge/1';

/** The class-name prompt of issue 6 (in the style of the CLIP-Driven Universal Model's name prompts), the `name` variant. */
export const NAME_PROMPT_TEMPLATE = 'A computerized tomography scan of the human abdomen includes the [CLS].';

export const REVIEW_STATUSES = ['unreviewed', 'author-checked', 'clinician-checked'] as const;
export type ReviewStatus = (typeof REVIEW_STATUSES)[number];

/** How a generated text was checked against rendered label volumes (agent 2, method-spec §9). */
export interface VisualCheck {
  performed: boolean;
  /** Why it was skipped, or which views were shown. */
  note: string;
  views: number;
}

export interface Provenance {
  source: 'curated' | 'generated';
  /** The LLM that wrote a generated text; null for curated texts. */
  model: string | null;
  /** YYYY-MM-DD */
  date: string;
  review: ReviewStatus;
  /** Generated texts only. */
  visualCheck?: VisualCheck;
  /** Generated texts only: claims agent 1 proposed and agent 2 kept. */
  claims?: { proposed: number; kept: number };
}

export interface Description {
  text: string;
  provenance: Provenance;
}

export interface KnowledgeClass {
  id: number;
  key: string;
  name: string;
  abbreviation: string;
  namePrompt: string;
  position: Description;
  shape: Description;
}

export interface KnowledgeFile {
  format: typeof KNOWLEDGE_FORMAT;
  dataset: DatasetId;
  classes: KnowledgeClass[];
}

export const MIN_SENTENCES = 2;
export const MAX_SENTENCES = 5;
/** BiomedCLIP's context is 256 tokens (data-and-text §3); 1,000 characters stay inside it (about 4–5 characters per WordPiece token). */
export const MAX_TEXT_CHARS = 1000;

export function namePrompt(className: string): string {
  return NAME_PROMPT_TEMPLATE.replace('[CLS]', className);
}

/** Sentences end with . ! or ? followed by white space or the end; "2.5 cm" is not a break. */
export function countSentences(text: string): number {
  return text.split(/(?<=[.!?])\s+/).filter((s) => s.trim().length > 0).length;
}

/** Why `text` is not a usable description, or undefined when it is. */
export function describeTextProblem(text: string): string | undefined {
  const trimmed = text.trim();
  if (trimmed.length === 0) return 'is empty';
  if (trimmed !== text) return 'has leading or trailing white space';
  if (text.length > MAX_TEXT_CHARS) return `has ${text.length} characters, more than ${MAX_TEXT_CHARS}`;
  if (!/[.!?]$/.test(text)) return 'does not end with a full stop';
  if (text.includes('[CLS]')) return 'still contains the [CLS] placeholder';
  const sentences = countSentences(text);
  if (sentences < MIN_SENTENCES || sentences > MAX_SENTENCES) {
    return `has ${sentences} sentence(s); write ${MIN_SENTENCES} to ${MAX_SENTENCES}`;
  }
  return undefined;
}

/** Collects every problem of a document so one error lists them all. */
class Problems {
  readonly list: string[] = [];
  add(path: string, message: string): void {
    this.list.push(`${path} ${message}`);
  }
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

function checkKeys(value: Json, path: string, allowed: readonly string[], problems: Problems): void {
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) problems.add(`${path}.${key}`, `is not a known field (known: ${allowed.join(', ')})`);
  }
}

function checkProvenance(value: unknown, path: string, problems: Problems): void {
  if (!isObject(value)) return problems.add(path, 'must be an object');
  checkKeys(value, path, ['source', 'model', 'date', 'review', 'visualCheck', 'claims'], problems);
  if (value.source !== 'curated' && value.source !== 'generated') problems.add(`${path}.source`, 'must be "curated" or "generated"');
  if (value.source === 'curated' && value.model !== null) problems.add(`${path}.model`, 'must be null for a curated text');
  if (value.source === 'generated' && (typeof value.model !== 'string' || value.model === '')) {
    problems.add(`${path}.model`, 'must name the model that generated the text');
  }
  if (typeof value.date !== 'string' || !/^\d{4}-\d{2}-\d{2}$/.test(value.date) || Number.isNaN(Date.parse(value.date))) {
    problems.add(`${path}.date`, 'must be a date written YYYY-MM-DD');
  }
  if (!(REVIEW_STATUSES as readonly unknown[]).includes(value.review)) {
    problems.add(`${path}.review`, `must be one of ${REVIEW_STATUSES.join(', ')}`);
  }
  if (value.source === 'generated') {
    const check = value.visualCheck;
    if (!isObject(check) || typeof check.performed !== 'boolean' || typeof check.note !== 'string' || !Number.isInteger(check.views)) {
      problems.add(`${path}.visualCheck`, 'must be {performed: boolean, note: string, views: integer} for a generated text');
    }
    const claims = value.claims;
    if (!isObject(claims) || !Number.isInteger(claims.proposed) || !Number.isInteger(claims.kept)) {
      problems.add(`${path}.claims`, 'must be {proposed: integer, kept: integer} for a generated text');
    }
  }
}

function checkDescription(value: unknown, path: string, problems: Problems): void {
  if (!isObject(value)) return problems.add(path, 'must be an object {text, provenance}');
  checkKeys(value, path, ['text', 'provenance'], problems);
  if (typeof value.text !== 'string') problems.add(`${path}.text`, 'must be a string');
  else {
    const problem = describeTextProblem(value.text);
    if (problem) problems.add(`${path}.text`, problem);
  }
  checkProvenance(value.provenance, `${path}.provenance`, problems);
}

/**
 * Checks a parsed knowledge file against the schema and the dataset's class list, and returns it
 * typed. Throws one TakError listing every problem, prefixed with `source` (the file name).
 */
export function validateKnowledge(value: unknown, source: string): KnowledgeFile {
  const problems = new Problems();
  if (!isObject(value)) throw new TakError(`${source}: a knowledge file must hold a JSON object; see docs/knowledge.md`);
  checkKeys(value, '$', ['format', 'dataset', 'classes'], problems);
  if (value.format !== KNOWLEDGE_FORMAT) problems.add('$.format', `must be "${KNOWLEDGE_FORMAT}"`);
  if (!isDatasetId(value.dataset)) {
    problems.add('$.dataset', `must be one of ${DATASET_IDS.join(', ')}`);
  } else if (!Array.isArray(value.classes)) {
    problems.add('$.classes', 'must be an array');
  } else {
    const expected = datasetClasses(value.dataset);
    if (value.classes.length !== expected.length) {
      problems.add('$.classes', `has ${value.classes.length} entries; ${value.dataset} has ${expected.length} classes (background included)`);
    }
    value.classes.forEach((entry: unknown, index: number) => {
      const path = `$.classes[${index}]`;
      const want = expected[index];
      if (!isObject(entry)) return problems.add(path, 'must be an object');
      checkKeys(entry, path, ['id', 'key', 'name', 'abbreviation', 'namePrompt', 'position', 'shape'], problems);
      if (want) {
        for (const field of ['id', 'key', 'name', 'abbreviation'] as const) {
          if (entry[field] !== want[field]) problems.add(`${path}.${field}`, `is ${JSON.stringify(entry[field])}; ${value.dataset} class ${index} has ${JSON.stringify(want[field])}`);
        }
        if (entry.namePrompt !== namePrompt(want.name)) problems.add(`${path}.namePrompt`, `must be ${JSON.stringify(namePrompt(want.name))}`);
      }
      checkDescription(entry.position, `${path}.position`, problems);
      checkDescription(entry.shape, `${path}.shape`, problems);
    });
  }
  if (problems.list.length > 0) {
    const shown = problems.list.slice(0, 20).map((p) => `  - ${p}`).join('\n');
    const more = problems.list.length > 20 ? `\n  … and ${problems.list.length - 20} more` : '';
    throw new TakError(`${source} is not a valid knowledge file (${problems.list.length} problem(s)):\n${shown}${more}\nFix the entries (format: docs/knowledge.md) or regenerate with \`tak-wgpu knowledge generate\`.`);
  }
  return value as unknown as KnowledgeFile;
}
