import type { ClassInfo } from '../datasets.js';

/**
 * The prompts of TAK's two-agent knowledge generation (method-spec §9). The paper's templates are
 * public; the rest of its prompts are not, so these are the project's own wording.
 */
export type DescriptionKind = 'position' | 'shape';

/** The paper's two question templates (method-spec §9, issue 6). */
export const TEMPLATES: Record<DescriptionKind, string> = {
  position: 'Describe the relative positional relationship of [CLS] with other organs.',
  shape: 'Describe the shape and structure of [CLS].',
};

/** What a good answer covers, per kind (issue 6). */
const GUIDANCE: Record<DescriptionKind, string> = {
  position:
    'Cover anterior/posterior, left/right (the patient\'s sides) and superior/inferior relations, contact and enclosure, ' +
    'and place small organs relative to large ones (kidneys, stomach, liver, aorta, inferior vena cava).',
  shape:
    'Cover morphology, typical adult size, orientation in the body, structural complexity and how much the shape varies between patients.',
};

/** The line the stand-in test server and a human reader use to see which class a request is about. */
export const ORGAN_LINE = 'Organ: ';

export const AGENT1_SYSTEM =
  'You are an anatomist describing abdominal organs as they appear on contrast-enhanced CT of adults. ' +
  'Answer with individual, independently checkable claims: one fact per claim, one plain sentence each, no lists inside a claim, no hedging filler.';

export function agent1Prompt(target: ClassInfo, kind: DescriptionKind, classes: readonly ClassInfo[]): string {
  const others = classes.filter((c) => c.id !== target.id && c.id !== 0).map((c) => c.name);
  const subject = target.id === 0 ? 'the background class (everything in the scan that is not one of the labelled organs)' : `the ${target.name}`;
  return [
    `${ORGAN_LINE}${target.name}`,
    `The labelled classes of this CT dataset are: ${others.join(', ')}; everything else is background.`,
    TEMPLATES[kind].replace('[CLS]', subject),
    GUIDANCE[kind],
    'Give 4 to 8 claims.',
  ].join('\n');
}

export const AGENT2_VERIFY_SYSTEM =
  'You are a radiologist checking claims about abdominal anatomy. For every claim, answer consistent, inconsistent or uncertain, ' +
  'with a confidence between 0 and 1 and a one-sentence reason. Mark a claim inconsistent when it is anatomically wrong or contradicted by the images.';

export function agent2VerifyPrompt(target: ClassInfo, claims: { id: string; statement: string }[], views: number): string {
  const evidence = views > 0
    ? `Check them against the ${views} attached rendered views of labelled CT volumes (3-D label renders and slices with orientation marks), and against your anatomical knowledge.`
    : 'No rendered views are available for this run: judge from anatomical knowledge alone, and answer uncertain where that is not enough.';
  return [
    `${ORGAN_LINE}${target.name}`,
    evidence,
    `Claims (JSON): ${JSON.stringify(claims)}`,
  ].join('\n');
}

export const AGENT2_COMPOSE_SYSTEM =
  'You write concise anatomical descriptions for a text encoder. Use only the facts in the given claims; do not add new ones.';

export function agent2ComposePrompt(target: ClassInfo, kept: Record<DescriptionKind, string[]>): string {
  return [
    `${ORGAN_LINE}${target.name}`,
    'Write the final position description and the final shape description from these checked claims.',
    'Each description: 2 to 5 complete sentences of plain prose, at most 900 characters, naming the organ, no lists, no abbreviations with full stops (write "for example", not "e.g.").',
    `Position claims (JSON): ${JSON.stringify(kept.position)}`,
    `Shape claims (JSON): ${JSON.stringify(kept.shape)}`,
  ].join('\n');
}
