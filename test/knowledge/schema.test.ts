import { describe, expect, it } from 'vitest';
import { DATASET_IDS, datasetClasses } from '../../src/knowledge/datasets.js';
import { loadKnowledge } from '../../src/knowledge/knowledge-file.js';
import { countSentences, validateKnowledge } from '../../src/knowledge/schema.js';

const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

describe('knowledge files', () => {
  for (const dataset of DATASET_IDS) {
    it(`knowledge/${dataset}.json validates and follows the dataset's class order`, () => {
      const knowledge = loadKnowledge(dataset);
      expect(knowledge.classes.map((c) => c.key)).toEqual(datasetClasses(dataset).map((c) => c.key));
      for (const entry of knowledge.classes) {
        // Each text must name its own organ's neighbours, not be a copy of another class's text.
        const others = knowledge.classes.filter((o) => o.id !== entry.id);
        expect(others.some((o) => o.position.text === entry.position.text)).toBe(false);
        expect(others.some((o) => o.shape.text === entry.shape.text)).toBe(false);
      }
    });
  }

  it('counts sentences without splitting decimals', () => {
    expect(countSentences('It is 2.5 cm wide. It is round.')).toBe(2);
    expect(countSentences('One sentence only.')).toBe(1);
  });
});

describe('validateKnowledge', () => {
  const good = loadKnowledge('amos');

  const problemsOf = (mutate: (doc: Record<string, any>) => void): string => {
    const doc = clone(good) as unknown as Record<string, any>;
    mutate(doc);
    try {
      validateKnowledge(doc, 'test.json');
    } catch (error) {
      return (error as Error).message;
    }
    return 'no error';
  };

  it('names the class count a dataset needs', () => {
    expect(problemsOf((d) => d.classes.pop())).toMatch(/has 15 entries; amos has 16 classes/);
  });

  it('rejects a text with one sentence and says how many to write', () => {
    expect(problemsOf((d) => (d.classes[6].shape.text = 'The liver is big.'))).toMatch(/classes\[6\]\.shape\.text has 1 sentence\(s\); write 2 to 5/);
  });

  it('rejects misplaced classes, unknown fields and bad provenance, listing each problem', () => {
    const message = problemsOf((d) => {
      [d.classes[2], d.classes[3]] = [d.classes[3], d.classes[2]];
      d.classes[1].colour = 'red';
      d.classes[4].position.provenance = { source: 'generated', model: '', date: '2025-13-40', review: 'ok' };
    });
    expect(message).toMatch(/classes\[2\]\.key is "left_kidney"; amos class 2 has "right_kidney"/);
    expect(message).toMatch(/classes\[1\]\.colour is not a known field/);
    expect(message).toMatch(/classes\[4\]\.position\.provenance\.model must name the model/);
    expect(message).toMatch(/provenance\.date must be a date written YYYY-MM-DD/);
    expect(message).toMatch(/provenance\.review must be one of/);
    expect(message).toMatch(/provenance\.visualCheck must be/);
    expect(message).toMatch(/^test\.json is not a valid knowledge file/);
  });

  it('requires the name prompt built from the template', () => {
    expect(problemsOf((d) => (d.classes[7].namePrompt = 'stomach'))).toMatch(/namePrompt must be "A computerized tomography scan of the human abdomen includes the stomach\."/);
  });
});
