import { describeTextProblem } from '../schema.js';

/**
 * JSON schemas for the agents' structured outputs (OpenAI `response_format: json_schema`, strict)
 * and the checks applied to what comes back: strict mode constrains a real model, but a proxy or
 * an older model may still answer anything, so every answer is parsed and checked here.
 */
export const VERDICTS = ['consistent', 'inconsistent', 'uncertain'] as const;
export type Verdict = (typeof VERDICTS)[number];

export interface JsonSchemaFormat {
  name: string;
  schema: Record<string, unknown>;
}

export const CLAIMS_FORMAT: JsonSchemaFormat = {
  name: 'organ_claims',
  schema: {
    type: 'object',
    properties: { claims: { type: 'array', items: { type: 'string' } } },
    required: ['claims'],
    additionalProperties: false,
  },
};

export const VERDICTS_FORMAT: JsonSchemaFormat = {
  name: 'claim_verdicts',
  schema: {
    type: 'object',
    properties: {
      verdicts: {
        type: 'array',
        items: {
          type: 'object',
          properties: {
            claim: { type: 'string' },
            verdict: { type: 'string', enum: [...VERDICTS] },
            confidence: { type: 'number' },
            reason: { type: 'string' },
          },
          required: ['claim', 'verdict', 'confidence', 'reason'],
          additionalProperties: false,
        },
      },
    },
    required: ['verdicts'],
    additionalProperties: false,
  },
};

export const DESCRIPTIONS_FORMAT: JsonSchemaFormat = {
  name: 'organ_descriptions',
  schema: {
    type: 'object',
    properties: { position: { type: 'string' }, shape: { type: 'string' } },
    required: ['position', 'shape'],
    additionalProperties: false,
  },
};

/** Thrown by a parser when an answer does not fit; the message is shown to the model on re-ask. */
export class AnswerProblem extends Error {}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export function parseClaims(value: unknown): string[] {
  if (!isObject(value) || !Array.isArray(value.claims)) throw new AnswerProblem('expected {"claims": [string, ...]}');
  const claims = value.claims.filter((c): c is string => typeof c === 'string').map((c) => c.trim()).filter(Boolean);
  if (claims.length !== value.claims.length || claims.length === 0) throw new AnswerProblem('"claims" must be a non-empty list of non-empty strings');
  return claims;
}

export interface ClaimVerdict {
  claim: string;
  verdict: Verdict;
  confidence: number;
  reason: string;
}

/** Verdicts for exactly the claim ids asked about, each once. */
export function parseVerdicts(value: unknown, ids: string[]): ClaimVerdict[] {
  if (!isObject(value) || !Array.isArray(value.verdicts)) throw new AnswerProblem('expected {"verdicts": [...]}');
  const verdicts = value.verdicts.map((v, i): ClaimVerdict => {
    if (!isObject(v) || typeof v.claim !== 'string' || !(VERDICTS as readonly unknown[]).includes(v.verdict) ||
      typeof v.confidence !== 'number' || !(v.confidence >= 0 && v.confidence <= 1) || typeof v.reason !== 'string') {
      throw new AnswerProblem(`verdicts[${i}] must be {claim, verdict: consistent|inconsistent|uncertain, confidence in [0, 1], reason}`);
    }
    return { claim: v.claim, verdict: v.verdict as Verdict, confidence: v.confidence, reason: v.reason };
  });
  const seen = verdicts.map((v) => v.claim).sort();
  if (seen.join('\u0000') !== [...ids].sort().join('\u0000')) {
    throw new AnswerProblem(`give exactly one verdict for each of the claims ${ids.join(', ')}`);
  }
  return verdicts;
}

export function parseDescriptions(value: unknown): { position: string; shape: string } {
  if (!isObject(value) || typeof value.position !== 'string' || typeof value.shape !== 'string') {
    throw new AnswerProblem('expected {"position": string, "shape": string}');
  }
  const position = value.position.trim();
  const shape = value.shape.trim();
  for (const [kind, text] of [['position', position], ['shape', shape]] as const) {
    const problem = describeTextProblem(text);
    if (problem) throw new AnswerProblem(`the ${kind} description ${problem}`);
  }
  return { position, shape };
}
