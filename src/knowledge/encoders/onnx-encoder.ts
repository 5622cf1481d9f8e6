import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import ort from 'onnxruntime-node';
import { TakError } from '../../util/errors.js';
import { type TextEncoder, idFromFileName } from './encoder.js';
import { type TextTokenizer, CONTEXT_LENGTH, findTokenizerBeside, openTokenizer, tokenizeBatch } from './tokenizer.js';

/**
 * A text tower exported to ONNX (tools/export_biomedclip_text.py for BiomedCLIP): int64
 * `input_ids` and `attention_mask` [B, L] → float32 [B, d]. [CLS] pooling and BiomedCLIP's
 * 768→640→512 projection live inside the exported graph; the output is used as it comes, not
 * L2-normalised, like TAK's cached tensor (method-spec §5). Runs on the CPU execution provider.
 */
export class OnnxTextEncoder implements TextEncoder {
  readonly id: string;
  readonly spec: string;
  readonly description: string;

  private constructor(
    private readonly session: ort.InferenceSession,
    private readonly tokenizer: TextTokenizer,
    modelPath: string,
    modelSha256: string,
  ) {
    this.id = idFromFileName('onnx', modelPath);
    this.spec = `onnx:${modelPath}`;
    this.description = `ONNX text encoder ${modelPath} (sha256 ${modelSha256.slice(0, 16)}…), tokenizer ${tokenizer.source}, ids padded to ${CONTEXT_LENGTH}`;
  }

  static async open(modelPath: string, tokenizerPath?: string): Promise<OnnxTextEncoder> {
    const path = resolve(modelPath);
    if (!existsSync(path)) throw new TakError(`ONNX model ${path} does not exist; export one with tools/export_biomedclip_text.py`);
    const bytes = readFileSync(path);
    let session: ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(bytes, { executionProviders: ['cpu'] });
    } catch (error) {
      throw new TakError(`ONNX Runtime cannot load ${path}: ${(error as Error).message}`, { cause: error });
    }
    for (const name of ['input_ids', 'attention_mask']) {
      if (!session.inputNames.includes(name)) {
        throw new TakError(`${path} has inputs [${session.inputNames.join(', ')}] but needs "${name}"; export it with tools/export_biomedclip_text.py`);
      }
    }
    const tokenizer = openTokenizer(tokenizerPath ?? findTokenizerBeside(path));
    return new OnnxTextEncoder(session, tokenizer, modelPath, createHash('sha256').update(bytes).digest('hex'));
  }

  /** One text at a time: each row then depends only on its own text, never on batch neighbours. */
  async encode(texts: string[]): Promise<{ data: Float32Array; dim: number }> {
    const rows: Float32Array[] = [];
    for (const text of texts) {
      const { ids, mask } = tokenizeBatch(this.tokenizer, [text]);
      const feeds: Record<string, ort.Tensor> = {
        input_ids: new ort.Tensor('int64', ids, [1, CONTEXT_LENGTH]),
        attention_mask: new ort.Tensor('int64', mask, [1, CONTEXT_LENGTH]),
      };
      if (this.session.inputNames.includes('token_type_ids')) {
        feeds.token_type_ids = new ort.Tensor('int64', new BigInt64Array(CONTEXT_LENGTH), [1, CONTEXT_LENGTH]);
      }
      const output = (await this.session.run(feeds))[this.session.outputNames[0]!]!;
      if (output.type !== 'float32' || output.dims.length !== 2 || output.dims[0] !== 1) {
        throw new TakError(`${this.spec}: first output is ${output.type} [${output.dims.join(', ')}], expected float32 [1, d]; export the projected text embedding as the first output`);
      }
      rows.push(output.data as Float32Array);
    }
    const dim = rows[0]?.length ?? 0;
    const data = new Float32Array(rows.length * dim);
    rows.forEach((row, i) => data.set(row, i * dim));
    return { data, dim };
  }

  async close(): Promise<void> {
    await this.session.release();
  }
}
