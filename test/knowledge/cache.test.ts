import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cachePaths, loadEmbeddings } from '../../src/knowledge/cache.js';
import { DATASET_IDS, datasetClasses } from '../../src/knowledge/datasets.js';
import { UseLiteEncoder } from '../../src/knowledge/encoders/use-lite.js';
import { defaultKnowledgePath, loadKnowledge } from '../../src/knowledge/knowledge-file.js';
import { PROMPT_VARIANTS, promptRows } from '../../src/knowledge/prompts.js';

const tmp = (): string => mkdtempSync(join(tmpdir(), 'tak-cache-'));

describe('prompt rows', () => {
  const knowledge = loadKnowledge('amos');
  it('position+shape is upstream\'s [shape_0..15, position_0..15]', () => {
    const rows = promptRows(knowledge, 'position+shape');
    expect(rows).toHaveLength(32);
    expect(rows[6]).toEqual({ classId: 6, kind: 'shape', text: knowledge.classes[6]!.shape.text });
    expect(rows[16 + 6]).toEqual({ classId: 6, kind: 'position', text: knowledge.classes[6]!.position.text });
  });
  it('single-text variants repeat their text in both halves', () => {
    const rows = promptRows(knowledge, 'name');
    expect(rows[3]!.text).toBe('A computerized tomography scan of the human abdomen includes the left kidney.');
    expect(rows.slice(16).map((r) => r.text)).toEqual(rows.slice(0, 16).map((r) => r.text));
  });
});

describe('committed default-encoder caches', () => {
  for (const dataset of DATASET_IDS) {
    for (const prompt of PROMPT_VARIANTS) {
      it(`${dataset}/${prompt} is present, intact and matches the current knowledge texts`, () => {
        const e = loadEmbeddings(dataset, 'default', prompt);
        const c = datasetClasses(dataset).length;
        expect([e.count, e.dim]).toEqual([2 * c, 512]);
        expect(e.meta.encoder.id).toBe('use-lite');
        if (prompt !== 'position+shape') expect(Array.from(e.rows.subarray(c * 512))).toEqual(Array.from(e.rows.subarray(0, c * 512)));
      });
    }
  }

  it('holds what the default encoder computes for those texts', async () => {
    const encoder = await UseLiteEncoder.open();
    const cached = loadEmbeddings('amos', 'default', 'position+shape');
    const rows = promptRows(loadKnowledge('amos'), 'position+shape');
    const picked = [2, 16 + 12];
    const { data, dim } = await encoder.encode(picked.map((i) => rows[i]!.text));
    expect(dim).toBe(512);
    picked.forEach((row, k) => {
      const diff = Math.max(...Array.from(data.subarray(k * dim, (k + 1) * dim), (v, j) => Math.abs(v - cached.rows[row * dim + j]!)));
      expect(diff).toBeLessThan(1e-5);
    });
  });
});

describe('loadEmbeddings refuses what it cannot trust', () => {
  it('names the stale rows and the command that rebuilds them', () => {
    const knowledgePath = join(tmp(), 'amos.json');
    const doc = JSON.parse(readFileSync(defaultKnowledgePath('amos'), 'utf8'));
    doc.classes[6].shape.text = 'The liver is a large wedge-shaped organ. It has two main lobes.';
    writeFileSync(knowledgePath, JSON.stringify(doc));
    expect(() => loadEmbeddings('amos', 'default', 'shape', { knowledgePath })).toThrow(
      /amos\.use-lite\.shape\.f32 is stale: the knowledge texts of liver shape changed after it was computed; rebuild it with `tak-wgpu knowledge embed --dataset amos --encoder default --prompt shape`/,
    );
    expect(() => loadEmbeddings('amos', 'default', 'position+shape', { knowledgePath })).toThrow(/stale: the knowledge texts of liver shape changed/);
    // Caches of texts that did not change stay usable.
    expect(loadEmbeddings('amos', 'default', 'position', { knowledgePath }).count).toBe(32);
  });

  it('detects a truncated data file', () => {
    const dir = tmp();
    const from = cachePaths('synapse', 'use-lite', 'name');
    const to = cachePaths('synapse', 'use-lite', 'name', dir);
    copyFileSync(from.meta, to.meta);
    writeFileSync(to.data, readFileSync(from.data).subarray(0, 1000));
    expect(() => loadEmbeddings('synapse', 'default', 'name', { dir })).toThrow(/does not match its metadata \(1000 bytes.*damaged or half-written/);
  });

  it('says how to create a missing cache', () => {
    expect(() => loadEmbeddings('synapse', 'default', 'shape', { dir: tmp() })).toThrow(/no embedding cache .*synapse\.use-lite\.shape\.f32.*`tak-wgpu knowledge embed --dataset synapse --encoder default --prompt shape`/);
  });
});
