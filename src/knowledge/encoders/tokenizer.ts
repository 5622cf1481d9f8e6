import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { TakError } from '../../util/errors.js';
import { WordPieceTokenizer } from './wordpiece.js';

/** BiomedCLIP's context_length (open_clip_config.json, data-and-text §3). */
export const CONTEXT_LENGTH = 256;

/** Token ids of one text, [CLS] … [SEP] included, before padding. */
export interface TextTokenizer {
  readonly source: string;
  readonly padId: number;
  encode(text: string): number[];
}

/**
 * A batch as open_clip's HFTokenizer + HFTextEncoder feed BERT (data-and-text §3): ids padded
 * with [PAD] to `length` (padding='max_length'), attention_mask = (ids != pad). Texts longer than
 * the context are refused, not silently truncated, so a cache never holds a cut-off text.
 */
export function tokenizeBatch(tokenizer: TextTokenizer, texts: string[], length = CONTEXT_LENGTH): { ids: BigInt64Array; mask: BigInt64Array } {
  const ids = new BigInt64Array(texts.length * length).fill(BigInt(tokenizer.padId));
  const mask = new BigInt64Array(texts.length * length);
  texts.forEach((text, row) => {
    const tokens = tokenizer.encode(text);
    if (tokens.length > length) {
      throw new TakError(`text ${JSON.stringify(text.slice(0, 60))}… has ${tokens.length} tokens under ${tokenizer.source}, more than the encoder's context of ${length}; shorten it`);
    }
    tokens.forEach((id, i) => {
      ids[row * length + i] = BigInt(id);
      mask[row * length + i] = id === tokenizer.padId ? 0n : 1n;
    });
  });
  return { ids, mask };
}

/** A Hugging Face tokenizer.json, run by the @huggingface/tokenizers library. */
class HfJsonTokenizer implements TextTokenizer {
  readonly padId: number;
  private readonly tokenizer: HfTokenizer;

  constructor(readonly source: string) {
    const json = JSON.parse(readFileSync(source, 'utf8')) as { padding?: { pad_id?: number } };
    const configPath = join(dirname(source), 'tokenizer_config.json');
    const config = existsSync(configPath) ? JSON.parse(readFileSync(configPath, 'utf8')) : {};
    this.tokenizer = new HfTokenizer(json, config);
    const padId = json.padding?.pad_id ?? this.tokenizer.token_to_id('[PAD]');
    if (padId === undefined) throw new TakError(`${source} names no padding id and has no [PAD] token; add "padding": {"pad_id": N}`);
    this.padId = padId;
  }

  encode(text: string): number[] {
    return this.tokenizer.encode(text, { add_special_tokens: true }).ids;
  }
}

/** Opens a tokenizer.json (Hugging Face) or a BERT vocab.txt (WordPiece, lower-case). */
export function openTokenizer(path: string): TextTokenizer {
  if (!existsSync(path)) throw new TakError(`tokenizer file ${path} does not exist; pass a tokenizer.json or a BERT vocab.txt`);
  if (path.endsWith('.json')) return new HfJsonTokenizer(path);
  if (path.endsWith('.txt')) return WordPieceTokenizer.fromVocabFile(path);
  throw new TakError(`cannot tell the tokenizer type of ${basename(path)}: name a tokenizer.json or a vocab.txt`);
}

/** The tokenizer beside an ONNX model: tokenizer.json first, then vocab.txt. */
export function findTokenizerBeside(modelPath: string): string {
  for (const name of ['tokenizer.json', 'vocab.txt']) {
    const candidate = join(dirname(modelPath), name);
    if (existsSync(candidate)) return candidate;
  }
  throw new TakError(`no tokenizer.json or vocab.txt next to ${modelPath}; put one there or pass --tokenizer PATH`);
}
