import { TakError, show } from '../util/errors.js';
import type { KnowledgeFile } from './schema.js';

/**
 * Which texts feed the text side (method-spec §5–§7). The model always takes [2C, d]: rows 0..C−1
 * and C..2C−1 are projected separately and concatenated per class (§6), and both rows of a class
 * are positives of each other in the contrastive loss (§7).
 *  - position+shape: upstream's layout, [shape_0..C−1, position_0..C−1].
 *  - shape, position, name: the one text repeated in both halves, so the trainer's input keeps
 *    its [2C, d] shape and the ablation changes only what the text says.
 */
export const PROMPT_VARIANTS = ['position+shape', 'shape', 'position', 'name'] as const;
export type PromptVariant = (typeof PROMPT_VARIANTS)[number];
export type TextKind = 'shape' | 'position' | 'name';

const HALVES: Record<PromptVariant, [TextKind, TextKind]> = {
  'position+shape': ['shape', 'position'],
  shape: ['shape', 'shape'],
  position: ['position', 'position'],
  name: ['name', 'name'],
};

export function checkPromptVariant(value: unknown): PromptVariant {
  if (typeof value !== 'string' || !(PROMPT_VARIANTS as readonly string[]).includes(value)) {
    throw new TakError(`unknown prompt variant ${show(value)}: use one of ${PROMPT_VARIANTS.join(', ')}`);
  }
  return value as PromptVariant;
}

/** The text kinds of the first and second half of the rows. */
export function promptHalves(variant: PromptVariant): [TextKind, TextKind] {
  return HALVES[variant];
}

export interface PromptRow {
  classId: number;
  kind: TextKind;
  text: string;
}

/** The 2C texts of `variant` in row order. */
export function promptRows(knowledge: KnowledgeFile, variant: PromptVariant): PromptRow[] {
  const textOf = (entry: KnowledgeFile['classes'][number], kind: TextKind): string =>
    kind === 'name' ? entry.namePrompt : entry[kind].text;
  return promptHalves(variant).flatMap((kind) =>
    knowledge.classes.map((entry) => ({ classId: entry.id, kind, text: textOf(entry, kind) })),
  );
}
