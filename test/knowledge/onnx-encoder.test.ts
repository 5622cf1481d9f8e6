import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { describe, expect, it } from 'vitest';
import { loadEmbeddings } from '../../src/knowledge/cache.js';
import { embedKnowledge } from '../../src/knowledge/embed.js';
import { OnnxTextEncoder } from '../../src/knowledge/encoders/onnx-encoder.js';
import { CONTEXT_LENGTH, openTokenizer, tokenizeBatch } from '../../src/knowledge/encoders/tokenizer.js';
import { WordPieceTokenizer, basicTokens } from '../../src/knowledge/encoders/wordpiece.js';
import { loadKnowledge } from '../../src/knowledge/knowledge-file.js';
import { SPECIAL, tokenizerJson, vocabText } from './support/bert-vocab.js';
import { tinyBertOnnx, tinyBertReference, tinyBertWeights } from './support/tiny-bert.js';

const HAND_VOCAB = [...SPECIAL, 'the', 'liver', "'", 's', 'lobe', '##s', ',', '2', '.', '5', 'cm', 'cafe', 'kid', '##ney', 'lies', 'under', 'diaphragm'];

/** A vocab covering every knowledge text: even-numbered words whole, the others as prefix + ##rest. */
function knowledgeVocab(): string[] {
  const words = new Set<string>();
  for (const dataset of ['amos', 'synapse'] as const) {
    for (const c of loadKnowledge(dataset).classes) for (const t of [c.namePrompt, c.position.text, c.shape.text]) basicTokens(t).forEach((w) => words.add(w));
  }
  const tokens = new Set<string>(SPECIAL);
  [...words].sort().forEach((w, i) => {
    if (i % 2 === 0 || w.length <= 3) tokens.add(w);
    else {
      tokens.add(w.slice(0, 3));
      tokens.add(`##${w.slice(3)}`);
    }
  });
  return [...tokens];
}

function fixtureDir(tokens: string[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'tak-onnx-'));
  writeFileSync(join(dir, 'vocab.txt'), vocabText(tokens));
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(tokenizerJson(tokens)));
  return dir;
}

describe('WordPiece from vocab.txt', () => {
  const dir = fixtureDir(HAND_VOCAB);
  const wordPiece = WordPieceTokenizer.fromVocabFile(join(dir, 'vocab.txt'));

  it('lower-cases, strips accents, splits punctuation and word pieces, reads special ids from the vocab', () => {
    expect([wordPiece.padId, wordPiece.unkId, wordPiece.clsId, wordPiece.sepId]).toEqual([0, 1, 2, 3]);
    // the liver ' s lobe ##s , 2 . 5 cm — cafe kid ##ney ##s !
    expect(wordPiece.encode("The LIVER's lobes, 2.5 cm — Café kidneys!")).toEqual([2, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 1, 16, 17, 18, 10, 1, 3]);
  });

  it('agrees with @huggingface/tokenizers on every knowledge text', () => {
    const tokens = knowledgeVocab();
    const d = fixtureDir(tokens);
    const ours = WordPieceTokenizer.fromVocabFile(join(d, 'vocab.txt'));
    const library = new Tokenizer(JSON.parse(readFileSync(join(d, 'tokenizer.json'), 'utf8')), {});
    const texts = loadKnowledge('amos').classes.flatMap((c) => [c.namePrompt, c.position.text, c.shape.text]);
    for (const text of [...texts, 'Ünïcode  tabs\tand\nnewlines (brackets) 3.5×4 cm.']) {
      expect(ours.encode(text)).toEqual(library.encode(text).ids);
    }
    // The comparison means something only if most words became real pieces, not [UNK].
    const ids = texts.flatMap((t) => ours.encode(t));
    expect(ids.filter((id) => id === ours.unkId).length).toBeLessThan(ids.length * 0.05);
    expect(new Set(ids).size).toBeGreaterThan(300);
  });

  it('pads to the context length with [PAD] and masks exactly the padding', () => {
    const { ids, mask } = tokenizeBatch(wordPiece, ['the liver', 'the liver lies under the diaphragm.']);
    expect(ids.length).toBe(2 * CONTEXT_LENGTH);
    expect(Array.from(ids.subarray(0, 5), Number)).toEqual([2, 5, 6, 3, 0]);
    expect(Array.from(mask.subarray(0, 5), Number)).toEqual([1, 1, 1, 1, 0]);
    expect(Array.from(mask.subarray(CONTEXT_LENGTH), Number).reduce((a, b) => a + b, 0)).toBe(9);
    expect(Array.from(ids.subarray(CONTEXT_LENGTH + 9), Number).every((id) => id === 0)).toBe(true);
  });

  it('refuses a text longer than the context instead of truncating it', () => {
    expect(() => tokenizeBatch(wordPiece, [Array(300).fill('liver').join(' ')])).toThrow(/302 tokens .* more than the encoder's context of 256; shorten it/);
  });
});

describe('OnnxTextEncoder on a tiny BERT built with onnx-proto', () => {
  const tokens = knowledgeVocab();
  const weights = tinyBertWeights(tokens.length, CONTEXT_LENGTH);
  const dir = fixtureDir(tokens);
  const model = join(dir, 'tiny-bert.onnx');
  writeFileSync(model, tinyBertOnnx(weights));
  const library = new Tokenizer(JSON.parse(readFileSync(join(dir, 'tokenizer.json'), 'utf8')), {});
  const texts = ['The liver lies under the diaphragm.', loadKnowledge('amos').classes[13]!.shape.text];

  for (const tokenizer of ['vocab.txt', 'tokenizer.json']) {
    it(`matches a float64 reference of the same network (tokenizer ${tokenizer})`, async () => {
      const encoder = await OnnxTextEncoder.open(model, join(dir, tokenizer));
      const { data, dim } = await encoder.encode(texts);
      await encoder.close();
      expect(dim).toBe(weights.dim);
      texts.forEach((text, row) => {
        const expected = tinyBertReference(weights, library.encode(text).ids);
        expected.forEach((v, k) => expect(data[row * dim + k]).toBeCloseTo(v, 5));
      });
    });
  }

  it('finds the tokenizer beside the model, embeds a dataset and the trainer reads [2C, d] back', async () => {
    const outDir = mkdtempSync(join(tmpdir(), 'tak-cache-'));
    const result = await embedKnowledge({ dataset: 'synapse', encoder: { kind: 'onnx', path: model }, prompt: 'name', outDir });
    expect(result.paths.data).toBe(join(outDir, 'synapse.onnx-tiny-bert.name.f32'));
    const loaded = loadEmbeddings('synapse', 'onnx-tiny-bert', 'name', { dir: outDir });
    expect([loaded.count, loaded.dim]).toEqual([28, weights.dim]);
    // name prompts repeat in both halves; row 6 is the liver.
    expect(Array.from(loaded.rows.subarray(6 * 5, 7 * 5))).toEqual(Array.from(loaded.rows.subarray(20 * 5, 21 * 5)));
    const liver = tinyBertReference(weights, library.encode('A computerized tomography scan of the human abdomen includes the liver.').ids);
    liver.forEach((v, k) => expect(loaded.rows[6 * 5 + k]).toBeCloseTo(v, 5));
  });

  it('says which input a model lacks', async () => {
    const broken = join(dir, 'no-mask.onnx');
    writeFileSync(broken, Buffer.from(readFileSync(model).toString('latin1').replaceAll('attention_mask', 'attention_mast'), 'latin1'));
    await expect(OnnxTextEncoder.open(broken)).rejects.toThrow(/needs "attention_mask"/);
  });

  it('opens tokenizers by file type and refuses others', () => {
    expect(openTokenizer(join(dir, 'vocab.txt')).padId).toBe(0);
    expect(() => openTokenizer(model)).toThrow(/cannot tell the tokenizer type of tiny-bert\.onnx/);
  });
});
