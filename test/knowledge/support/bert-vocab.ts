/**
 * A small BERT vocab in BiomedBERT's layout ([PAD]=0 [UNK]=1 [CLS]=2 [SEP]=3 [MASK]=4) and the
 * equivalent Hugging Face tokenizer.json, so the hand-written WordPiece can be checked against
 * the @huggingface/tokenizers library on the same vocabulary.
 */
export const SPECIAL = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'];

export function vocabText(tokens: string[]): string {
  return `${tokens.join('\n')}\n`;
}

export function tokenizerJson(tokens: string[]): object {
  const id = (t: string): number => tokens.indexOf(t);
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: SPECIAL.map((content) => ({ id: id(content), content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
    normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase: true },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: { type: 'BertProcessing', sep: ['[SEP]', id('[SEP]')], cls: ['[CLS]', id('[CLS]')] },
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: { type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##', max_input_chars_per_word: 100, vocab: Object.fromEntries(tokens.map((t, i) => [t, i])) },
  };
}
