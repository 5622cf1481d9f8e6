import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { TakError, show } from '../util/errors.js';
import { writeEmbeddingCache } from './cache.js';
import { type DatasetId, datasetClasses } from './datasets.js';
import { type EncoderSpec, idFromFileName } from './encoders/encoder.js';
import { openTextEncoder } from './encoders/open-encoder.js';
import { loadKnowledge } from './knowledge-file.js';
import { type PromptVariant, promptRows } from './prompts.js';
import { readTorchTensor } from './torch-tensor.js';

export interface EmbedRequest {
  dataset: DatasetId;
  encoder: EncoderSpec;
  prompt: PromptVariant;
  /** tokenizer.json or vocab.txt for onnx: encoders; default: the one beside the model. */
  tokenizer?: string;
  knowledgePath?: string;
  /** Cache folder; default knowledge/embeddings. */
  outDir?: string;
}

export interface EmbedResult {
  paths: { data: string; meta: string };
  encoderDescription: string;
  count: number;
  dim: number;
}

/**
 * Imports a torch.save'd [2C, d] tensor as it is, bytes untouched, so TAK-Semi's AMOS file lands
 * in the cache bitwise (method-spec §5). Its texts are unknown, so its rows carry no text hashes.
 */
function importTorchEmbeddings(request: EmbedRequest, path: string): EmbedResult {
  const tensor = readTorchTensor(path);
  const classes = datasetClasses(request.dataset).length;
  if (tensor.shape.length !== 2 || tensor.shape[0] !== 2 * classes) {
    throw new TakError(`${path} holds a tensor of shape ${show(tensor.shape)}; ${request.dataset} needs [${2 * classes}, d]: rows 0..${classes - 1} and ${classes}..${2 * classes - 1} for the two prompt halves (docs/knowledge.md)`);
  }
  const [count, dim] = tensor.shape as [number, number];
  const encoder = {
    id: idFromFileName('pth', path),
    spec: `pth:${path}`,
    description: `[${count}, ${dim}] float32 tensor imported from ${path}; its texts and encoder are not recorded in the file`,
  };
  const paths = writeEmbeddingCache(
    {
      dataset: request.dataset,
      prompt: request.prompt,
      encoder,
      texts: null,
      importedFrom: { file: path, sha256: createHash('sha256').update(readFileSync(path)).digest('hex') },
      bytes: tensor.bytes,
      count,
      dim,
    },
    request.outDir,
  );
  return { paths, encoderDescription: encoder.description, count, dim };
}

/** Encodes the knowledge texts of `request.prompt`, or imports a pth tensor, into the cache. */
export async function embedKnowledge(request: EmbedRequest): Promise<EmbedResult> {
  if (request.encoder.kind === 'pth') return importTorchEmbeddings(request, request.encoder.path);
  const texts = promptRows(loadKnowledge(request.dataset, request.knowledgePath), request.prompt);
  const encoder = await openTextEncoder(request.encoder, request.tokenizer);
  try {
    const { data, dim } = await encoder.encode(texts.map((row) => row.text));
    const paths = writeEmbeddingCache(
      {
        dataset: request.dataset,
        prompt: request.prompt,
        encoder: { id: encoder.id, spec: encoder.spec, description: encoder.description },
        texts,
        bytes: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
        count: texts.length,
        dim,
      },
      request.outDir,
    );
    return { paths, encoderDescription: encoder.description, count: texts.length, dim };
  } finally {
    await encoder.close();
  }
}
