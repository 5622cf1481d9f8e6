import { readFileSync } from 'node:fs';
import { TakError } from '../../util/errors.js';
import type { TextTokenizer } from './tokenizer.js';

/**
 * BERT's uncased tokenizer from a vocab.txt, as BiomedBERT's BertTokenizer (do_lower_case=true)
 * runs it: clean the text, space out CJK characters, lower-case and strip accents, split on white
 * space and punctuation, then greedy longest-match WordPiece with "##" continuations. Special ids
 * come from the vocab (BiomedBERT has [PAD]=0 [UNK]=1 [CLS]=2 [SEP]=3, not bert-base's 101/102).
 */
export class WordPieceTokenizer implements TextTokenizer {
  readonly padId: number;
  readonly unkId: number;
  readonly clsId: number;
  readonly sepId: number;
  /** HF's max_input_chars_per_word: longer words become [UNK]. */
  private static readonly MAX_WORD_CHARS = 100;

  constructor(private readonly vocab: Map<string, number>, readonly source: string) {
    const special = (token: string): number => {
      const id = vocab.get(token);
      if (id === undefined) throw new TakError(`${source} has no ${token} token; is it a BERT vocab.txt?`);
      return id;
    };
    this.padId = special('[PAD]');
    this.unkId = special('[UNK]');
    this.clsId = special('[CLS]');
    this.sepId = special('[SEP]');
  }

  static fromVocabFile(path: string): WordPieceTokenizer {
    const lines = readFileSync(path, 'utf8').split('\n');
    if (lines.at(-1) === '') lines.pop();
    // One token per line; the line number is the id (HF load_vocab strips only the newline).
    return new WordPieceTokenizer(new Map(lines.map((token, id) => [token.replace(/\r$/, ''), id])), path);
  }

  encode(text: string): number[] {
    const ids = [this.clsId];
    for (const word of basicTokens(text)) ids.push(...this.wordPiece(word));
    ids.push(this.sepId);
    return ids;
  }

  /** The pieces of one word, or [UNK] when some part of it is not in the vocab. */
  private wordPiece(word: string): number[] {
    const chars = [...word];
    if (chars.length > WordPieceTokenizer.MAX_WORD_CHARS) return [this.unkId];
    const pieces: number[] = [];
    for (let start = 0; start < chars.length; ) {
      let end = chars.length;
      let found: number | undefined;
      for (; end > start; end--) {
        const piece = (start > 0 ? '##' : '') + chars.slice(start, end).join('');
        found = this.vocab.get(piece);
        if (found !== undefined) break;
      }
      if (found === undefined) return [this.unkId];
      pieces.push(found);
      start = end;
    }
    return pieces;
  }
}

const isWhitespace = (ch: string): boolean => /^[\s]$/u.test(ch) || /\p{Zs}/u.test(ch);
const isControl = (ch: string): boolean => !'\t\n\r'.includes(ch) && /\p{C}/u.test(ch);
/** BERT counts all non-alphanumeric ASCII as punctuation, plus Unicode P* categories. */
const isPunctuation = (ch: string): boolean => {
  const cp = ch.codePointAt(0)!;
  return (cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) || (cp >= 123 && cp <= 126) || /\p{P}/u.test(ch);
};
const isCjk = (cp: number): boolean =>
  (cp >= 0x4e00 && cp <= 0x9fff) || (cp >= 0x3400 && cp <= 0x4dbf) || (cp >= 0x20000 && cp <= 0x2a6df) ||
  (cp >= 0x2a700 && cp <= 0x2b73f) || (cp >= 0x2b740 && cp <= 0x2b81f) || (cp >= 0x2b820 && cp <= 0x2ceaf) ||
  (cp >= 0xf900 && cp <= 0xfaff) || (cp >= 0x2f800 && cp <= 0x2fa1f);

/** BERT's BasicTokenizer with do_lower_case=true (transformers' tokenization_bert.py). */
export function basicTokens(text: string): string[] {
  let cleaned = '';
  for (const ch of text) {
    const cp = ch.codePointAt(0)!;
    if (cp === 0 || cp === 0xfffd || isControl(ch)) continue;
    if (isCjk(cp)) cleaned += ` ${ch} `;
    else cleaned += isWhitespace(ch) ? ' ' : ch;
  }
  const tokens: string[] = [];
  for (const word of cleaned.normalize('NFC').split(' ').filter(Boolean)) {
    const stripped = word.toLowerCase().normalize('NFD').replace(/\p{Mn}/gu, '');
    let current = '';
    for (const ch of stripped) {
      if (isPunctuation(ch)) {
        if (current) tokens.push(current);
        tokens.push(ch);
        current = '';
      } else current += ch;
    }
    if (current) tokens.push(current);
  }
  return tokens;
}
