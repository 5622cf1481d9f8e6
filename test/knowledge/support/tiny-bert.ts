import pkg from 'onnx-proto';

const { onnx } = pkg;

/**
 * A tiny BERT-like text tower built with onnx-proto (data-and-text §4): int64 input_ids and
 * attention_mask [B, L] → token embedding + position embedding → [CLS] vector and the
 * attention-masked mean over tokens → concat → MatMul → Tanh → MatMul → text_embeds [B, d].
 * The masked mean makes the output depend on the mask, the [CLS] term on token order.
 */
export interface TinyBertWeights {
  vocab: number;
  length: number;
  hidden: number;
  projection: number;
  dim: number;
  tokenEmbedding: Float32Array; // [vocab, hidden]
  positionEmbedding: Float32Array; // [length, hidden]
  w1: Float32Array; // [2·hidden, projection]
  w2: Float32Array; // [projection, dim]
}

/** Deterministic pseudo-random weights (a fixed LCG), small enough to keep tanh unsaturated. */
export function tinyBertWeights(vocab: number, length: number, hidden = 8, projection = 6, dim = 5): TinyBertWeights {
  let state = 12345;
  const next = (): number => {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    return state / 2 ** 31 - 0.5;
  };
  const fill = (n: number): Float32Array => Float32Array.from({ length: n }, next);
  return {
    vocab, length, hidden, projection, dim,
    tokenEmbedding: fill(vocab * hidden),
    positionEmbedding: fill(length * hidden),
    w1: fill(2 * hidden * projection),
    w2: fill(projection * dim),
  };
}

const FLOAT = onnx.TensorProto.DataType.FLOAT;
const INT64 = onnx.TensorProto.DataType.INT64;

const valueInfo = (name: string, type: number, dims: (number | string)[]) => ({
  name,
  type: { tensorType: { elemType: type, shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) } } },
});
const floatInit = (name: string, dims: number[], a: Float32Array) => ({ name, dims, dataType: FLOAT, rawData: new Uint8Array(a.buffer, a.byteOffset, a.byteLength) });
const int64Init = (name: string, dims: number[], values: number[]) => {
  const a = BigInt64Array.from(values.map(BigInt));
  return { name, dims, dataType: INT64, rawData: new Uint8Array(a.buffer) };
};
const node = (opType: string, input: string[], output: string[], attribute: object[] = []) => ({ opType, input, output, attribute });
const intAttr = (name: string, i: number) => ({ name, type: onnx.AttributeProto.AttributeType.INT, i });

export function tinyBertOnnx(w: TinyBertWeights): Uint8Array {
  const model = onnx.ModelProto.create({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 17 }],
    graph: {
      name: 'tiny_bert',
      node: [
        node('Gather', ['E', 'input_ids'], ['tok']),
        node('Add', ['tok', 'P'], ['x']),
        node('Cast', ['attention_mask'], ['mf'], [intAttr('to', FLOAT)]),
        node('Unsqueeze', ['mf', 'axis2'], ['m3']),
        node('Mul', ['x', 'm3'], ['xm']),
        node('ReduceSum', ['xm', 'axis1'], ['sum'], [intAttr('keepdims', 0)]),
        node('ReduceSum', ['mf', 'axis1'], ['count'], [intAttr('keepdims', 1)]),
        node('Div', ['sum', 'count'], ['mean']),
        node('Gather', ['x', 'zero'], ['cls'], [intAttr('axis', 1)]),
        node('Concat', ['cls', 'mean'], ['feat'], [intAttr('axis', 1)]),
        node('MatMul', ['feat', 'W1'], ['h']),
        node('Tanh', ['h'], ['ht']),
        node('MatMul', ['ht', 'W2'], ['text_embeds']),
      ],
      initializer: [
        floatInit('E', [w.vocab, w.hidden], w.tokenEmbedding),
        floatInit('P', [w.length, w.hidden], w.positionEmbedding),
        floatInit('W1', [2 * w.hidden, w.projection], w.w1),
        floatInit('W2', [w.projection, w.dim], w.w2),
        int64Init('axis1', [1], [1]),
        int64Init('axis2', [1], [2]),
        int64Init('zero', [], [0]),
      ],
      input: [valueInfo('input_ids', INT64, ['B', w.length]), valueInfo('attention_mask', INT64, ['B', w.length])],
      output: [valueInfo('text_embeds', FLOAT, ['B', w.dim])],
    },
  });
  return onnx.ModelProto.encode(model).finish();
}

/** The same network in float64 JavaScript over the real (unpadded) token ids. */
export function tinyBertReference(w: TinyBertWeights, ids: number[]): number[] {
  const x = ids.map((id, t) => Array.from({ length: w.hidden }, (_, k) => w.tokenEmbedding[id * w.hidden + k]! + w.positionEmbedding[t * w.hidden + k]!));
  const mean = Array.from({ length: w.hidden }, (_, k) => x.reduce((s, row) => s + row[k]!, 0) / ids.length);
  const feat = [...x[0]!, ...mean];
  const h = Array.from({ length: w.projection }, (_, p) => Math.tanh(feat.reduce((s, f, i) => s + f * w.w1[i * w.projection + p]!, 0)));
  return Array.from({ length: w.dim }, (_, d) => h.reduce((s, v, p) => s + v * w.w2[p * w.dim + d]!, 0));
}
