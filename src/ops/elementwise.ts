import { engine } from '../gpu/engine.js';
import { grid } from '../gpu/grid.js';
import { Tensor, numel, type DType } from '../tensor/tensor.js';
import { splitOuter } from './chunks.js';
import { full, randn, rand } from '../tensor/create.js';
import { TakError, show } from '../util/errors.js';
import { broadcastShapes, collapseBroadcast, contiguousStrides } from './broadcast.js';
import { defineOp, type GradcheckCase } from './registry.js';
import { sumTo } from './reduce.js';

/** Op ids of kernels/elementwise.wgsl (its `switch OP`). */
const OP = {
  copy: 0, neg: 1, exp: 2, log: 3, sqrt: 4, abs: 5, relu: 6, sigmoid: 7, tanh: 8, leakyRelu: 9,
  powScalar: 10, clamp: 11, sign: 12, affine: 13, reciprocal: 14, square: 15, step: 16, leakySlope: 17,
  add: 32, sub: 33, mul: 34, div: 35, maximum: 36, minimum: 37, pow: 38,
  eq: 39, ne: 40, lt: 41, le: 42, gt: 43, ge: 44, axpby: 45,
  where: 64, addMul: 65,
} as const;

const WG = 64;
const PER = 4;

/**
 * A flat [n] iteration as [n / m, m] (m the largest power of two dividing n, ≤ 65536 and a quarter
 * of a binding) so that it can be split into runs of rows over the binding limit.
 */
function splittable(n: number, strides: number[][]): [number[], number[][]] {
  const most = Math.min(65536, engine().maxBindingBytes / 16); // rows of at most a quarter binding
  let m = 1;
  while (m * 2 <= most && n % (m * 2) === 0) m *= 2;
  if (m < 64) throw new TakError(`Elementwise op over ${n} elements exceeds the binding limit and cannot be split (${n} has no factor of 64); use a smaller patch or batch`);
  return [[n / m, m], strides.map(([s]) => [s! * m, s!])];
}

/** Records one elementwise dispatch over broadcast inputs (1 to 3 of them). */
export function elementwise(op: number, inputs: Tensor[], alpha = 0, beta = 0): Tensor {
  const dtype = inputs[0]!.dtype;
  for (const t of inputs) {
    t.live();
    if (t.dtype !== dtype) {
      throw new TakError(`Elementwise op on tensors of different dtypes: ${inputs.map((x) => `${x.dtype}${show([...x.shape])}`).join(', ')}; cast one with cast()`);
    }
  }
  const outShape = broadcastShapes(...inputs.map((t) => t.shape));
  const out = Tensor.empty(outShape, dtype);
  if (out.size === 0) return out;
  let { dims, strides } = collapseBroadcast(outShape, inputs.map((t) => t.shape));
  if (dims.length > 8) throw new TakError(`Elementwise ops support up to 8 broadcast dims after merging; got ${show(dims)}`);
  const e = engine();
  const split = [...inputs, out].some((t) => t.binding.size > e.maxBindingBytes);
  if (split && dims.length === 1) [dims, strides] = splittable(dims[0]!, strides);
  const rank = dims.length;
  const last = dims[rank - 1]!;
  // Rows geometry when every row starts on a vec4 boundary; otherwise the output is one long row.
  const byRows = rank === 1 || last % 4 === 0;
  if (split && !byRows) throw new TakError(`Elementwise op over ${show(dims)} (innermost dim not a multiple of 4) exceeds the binding limit; use a smaller patch or batch`);
  const contiguous = contiguousStrides(dims);
  const modes = [0, 1, 2].map((i) => {
    const s = strides[i];
    if (!s) return 0;
    if (byRows) return s[rank - 1] === 1 ? 0 : s[rank - 1] === 0 ? 1 : 2;
    return s.every((v, d) => v === contiguous[d]) ? 0 : s.every((v) => v === 0) ? 1 : 2;
  });
  const rowsPerOuter = byRows ? numel(dims.slice(1, -1)) : 1;
  const rowLength = byRows ? last : out.size;
  const kernel = e.kernel({
    file: 'elementwise',
    types: { T: dtype },
    constants: { OP: op, MODE_A: modes[0]!, MODE_B: modes[1]!, MODE_C: modes[2]!, WG, PER },
  });
  const [a, b = a, c = a] = inputs as [Tensor, Tensor?, Tensor?];
  const operands = [a, b, c].map((t, i) => ({ tensor: t, offset: 0, strides: strides[i] ?? strides[0]! }));
  // Split (rows geometry, rank ≥ 2 by now) only over the binding limit: the common path stays one dispatch.
  const runs = split ? splitOuter('elementwise op', dims, [...operands, { tensor: out, offset: 0, strides: contiguous, exact: true }]) : [null];
  for (const run of runs) {
    // A run's rows: `count` indices of the outermost dim; inputs are bound from `origin` on.
    const rows = run ? run.count * rowsPerOuter : byRows ? out.size / last : 1;
    const origin = (i: number) => (run && i < inputs.length ? run.start * operands[i]!.strides[0]! - run.offsets[i]! : 0);
    const [rowsY, rowsZ] = grid(rows);
    e.dispatch(
      kernel,
      run ? { a: run.bindings[0]!, b: run.bindings[1]!, c: run.bindings[2]!, y: run.bindings[3]! } : { a: a.binding, b: b.binding, c: c.binding, y: out.binding },
      {
        last: rowLength, rows, rank, rows_y: rowsY, alpha, beta, dims,
        row0: run ? run.start * rowsPerOuter : 0, origin_a: origin(0), origin_b: origin(1), origin_c: origin(2),
        stride_a: strides[0]!, stride_b: strides[1] ?? [0], stride_c: strides[2] ?? [0],
      },
      [Math.ceil(rowLength / 4 / (WG * PER)), rowsY, rowsZ],
    );
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Gradient-check inputs: small odd shapes, values kept away from kinks and singularities. Drawn
// from the global generator, which `tak-wgpu gradcheck --seed` seeds before each case.

const shapeA = [3, 5];
const away = (shape: number[]) => () => {
  const x = randn(shape, 0, 1);
  const sign = elementwise(OP.sign, [x]);
  const y = elementwise(OP.addMul, [x, sign, full([], 0.2)]); // |y| > 0.2
  x.dispose();
  sign.dispose();
  return y;
};
const positive = (shape: number[]) => () => rand(shape, 0.5, 2);
const unaryCase = (label: string, input: () => Tensor, rest: Partial<GradcheckCase> = {}): GradcheckCase => ({ label, inputs: () => [input()], ...rest });

// ---------------------------------------------------------------------------------------------
// Unary ops.

function unary(name: string, op: number, vjp: (x: Tensor, out: Tensor, g: Tensor) => Tensor, cases: GradcheckCase[], alpha = 0, beta = 0) {
  return defineOp<(x: Tensor) => Tensor>({
    name,
    family: 'elementwise',
    forward: (x: Tensor) => {
      const out = elementwise(op, [x], alpha, beta);
      const saved = Tensor.view(out, out.shape);
      return { out, inputs: [x], saved: [saved], vjp: (g) => [vjp(x, saved, g)] };
    },
    gradcheck: cases,
  });
}

export const neg = unary('neg', OP.neg, (_x, _o, g) => elementwise(OP.neg, [g]), [unaryCase('3x5', () => randn(shapeA, 0, 1))]);
export const exp = unary('exp', OP.exp, (_x, o, g) => mul(g, o), [unaryCase('3x5', () => randn(shapeA, 0, 1))]);
export const log = unary('log', OP.log, (x, _o, g) => div(g, x), [unaryCase('3x5 positive', positive(shapeA))]);
export const sqrt = unary('sqrt', OP.sqrt, (_x, o, g) => scaleDiv(g, o, 0.5), [unaryCase('3x5 positive', positive(shapeA))]);
export const abs = unary('abs', OP.abs, (x, _o, g) => mul(g, elementwise(OP.sign, [x])), [unaryCase('3x5 away from 0', away(shapeA))]);
export const relu = unary('relu', OP.relu, (x, _o, g) => mul(g, elementwise(OP.step, [x])), [unaryCase('3x5 away from 0', away(shapeA))]);
export const sigmoid = unary(
  'sigmoid', OP.sigmoid,
  (_x, o, g) => mul(g, elementwise(OP.sub, [o, elementwise(OP.square, [o])])),
  [unaryCase('3x5', () => randn(shapeA, 0, 2))],
);
export const tanh = unary(
  'tanh', OP.tanh,
  (_x, o, g) => mul(g, elementwise(OP.affine, [elementwise(OP.square, [o])], -1, 1)),
  [unaryCase('3x5', () => randn(shapeA, 0, 1))],
);
export const reciprocal = unary(
  'reciprocal', OP.reciprocal,
  (_x, o, g) => elementwise(OP.affine, [mul(g, elementwise(OP.square, [o]))], -1, 0),
  [unaryCase('3x5 away from 0', away(shapeA))],
);
export const square = unary('square', OP.square, (x, _o, g) => elementwise(OP.affine, [mul(g, x)], 2, 0), [unaryCase('3x5', () => randn(shapeA, 0, 1))]);

function scaleDiv(g: Tensor, o: Tensor, scale: number): Tensor {
  return elementwise(OP.affine, [div(g, o)], scale, 0);
}

export const leakyRelu: (x: Tensor, slope?: number) => Tensor = defineOp({
  name: 'leaky_relu',
  family: 'elementwise',
  forward: (x: Tensor, slope = 0.01) => ({
    out: elementwise(OP.leakyRelu, [x], slope),
    inputs: [x],
    vjp: (g) => [mul(g, elementwise(OP.leakySlope, [x], slope))],
  }),
  gradcheck: [{ label: '3x5 slope 0.2', inputs: () => [away(shapeA)()], fn: (x) => leakyRelu(x, 0.2) }],
});

export const powScalar: (x: Tensor, exponent: number) => Tensor = defineOp({
  name: 'pow_scalar',
  family: 'elementwise',
  forward: (x: Tensor, exponent: number) => ({
    out: elementwise(OP.powScalar, [x], exponent),
    inputs: [x],
    vjp: (g) => [mul(g, elementwise(OP.affine, [elementwise(OP.powScalar, [x], exponent - 1)], exponent, 0))],
  }),
  gradcheck: [{ label: '3x5 ^1.7', inputs: () => [positive(shapeA)()], fn: (x) => powScalar(x, 1.7) }],
});

export const clamp: (x: Tensor, lo: number, hi: number) => Tensor = defineOp({
  name: 'clamp',
  family: 'elementwise',
  forward: (x: Tensor, lo: number, hi: number) => {
    const out = elementwise(OP.clamp, [x], lo, hi);
    const saved = Tensor.view(out, out.shape);
    // Gradient flows where clamping left the value unchanged.
    return { out, inputs: [x], saved: [saved], vjp: (g) => [mul(g, elementwise(OP.eq, [saved, x]))] };
  },
  gradcheck: [{ label: '3x5 [-0.5, 0.7]', inputs: () => [away(shapeA)()], fn: (x) => clamp(x, -0.5, 0.7) }],
});

/** alpha·x + beta. */
export const affine: (x: Tensor, alpha: number, beta?: number) => Tensor = defineOp({
  name: 'affine',
  family: 'elementwise',
  forward: (x: Tensor, alpha: number, beta = 0) => ({
    out: elementwise(OP.affine, [x], alpha, beta),
    inputs: [x],
    vjp: (g) => [elementwise(OP.affine, [g], alpha, 0)],
  }),
  gradcheck: [{ label: '3x5 2.5x-1', inputs: () => [randn(shapeA, 0, 1)], fn: (x) => affine(x, 2.5, -1) }],
});

export function sign(x: Tensor): Tensor {
  return elementwise(OP.sign, [x]);
}

/** Elementwise copy (a new tensor with the same contents, no graph). */
export function copy(x: Tensor): Tensor {
  return elementwise(OP.copy, [x]);
}

// ---------------------------------------------------------------------------------------------
// Binary ops with broadcasting. The VJP of a broadcast input sums over the broadcast axes.

const pairCases = (make = (s: number[]) => randn(s, 0, 1)): GradcheckCase[] => [
  { label: '3x5 . 3x5', inputs: () => [make([3, 5]), make([3, 5])] },
  { label: '2x3x4 . 3x1 (broadcast)', inputs: () => [make([2, 3, 4]), make([3, 1])] },
  { label: '4 . 3x4 (broadcast)', inputs: () => [make([4]), make([3, 4])] },
];

type ScalarOr = Tensor | number;

function binary(name: string, op: number, vjp: (a: Tensor, b: Tensor, g: Tensor) => [Tensor | null, Tensor | null], cases: GradcheckCase[]) {
  return defineOp<(a: Tensor, b: Tensor) => Tensor>({
    name,
    family: 'elementwise',
    forward: (a: Tensor, b: Tensor) => ({
      out: elementwise(op, [a, b]),
      inputs: [a, b],
      vjp: (g) => {
        const [ga, gb] = vjp(a, b, g);
        return [ga && sumTo(ga, a.shape), gb && sumTo(gb, b.shape)];
      },
    }),
    gradcheck: cases,
  });
}

const addT = binary('add', OP.add, (_a, _b, g) => [g, g], pairCases());
const subT = binary('sub', OP.sub, (_a, _b, g) => [g, elementwise(OP.neg, [g])], pairCases());
const mulT = binary('mul', OP.mul, (a, b, g) => [elementwise(OP.mul, [g, b]), elementwise(OP.mul, [g, a])], pairCases());
const divT = binary(
  'div', OP.div,
  (a, b, g) => {
    const gOverB = elementwise(OP.div, [g, b]);
    return [gOverB, elementwise(OP.neg, [elementwise(OP.mul, [gOverB, elementwise(OP.div, [a, b])])])];
  },
  pairCases((s) => positive(s)()),
);
export const maximum = binary(
  'maximum', OP.maximum,
  (a, b, g) => [elementwise(OP.mul, [g, elementwise(OP.ge, [a, b])]), elementwise(OP.mul, [g, elementwise(OP.lt, [a, b])])],
  pairCases(),
);
export const minimum = binary(
  'minimum', OP.minimum,
  (a, b, g) => [elementwise(OP.mul, [g, elementwise(OP.le, [a, b])]), elementwise(OP.mul, [g, elementwise(OP.gt, [a, b])])],
  pairCases(),
);
export const pow = binary(
  'pow', OP.pow,
  (a, b, g) => {
    const out = elementwise(OP.pow, [a, b]);
    const ga = elementwise(OP.mul, [g, elementwise(OP.mul, [b, elementwise(OP.div, [out, a])])]);
    const gb = elementwise(OP.mul, [g, elementwise(OP.mul, [out, elementwise(OP.log, [a])])]);
    return [ga, gb];
  },
  pairCases((s) => positive(s)()),
);

function scalarTensor(value: number, like: Tensor): Tensor {
  return full([], value, like.dtype);
}

/** a + b (b may be a number). */
export function add(a: Tensor, b: ScalarOr): Tensor {
  return typeof b === 'number' ? affine(a, 1, b) : addT(a, b);
}
export function sub(a: Tensor, b: ScalarOr): Tensor {
  return typeof b === 'number' ? affine(a, 1, -b) : subT(a, b);
}
export function mul(a: Tensor, b: ScalarOr): Tensor {
  return typeof b === 'number' ? affine(a, b, 0) : mulT(a, b);
}
export function div(a: Tensor, b: ScalarOr): Tensor {
  return typeof b === 'number' ? affine(a, 1 / b, 0) : divT(a, b);
}

function comparison(op: number) {
  return (a: Tensor, b: ScalarOr): Tensor => {
    if (typeof b !== 'number') return elementwise(op, [a, b]);
    const s = scalarTensor(b, a);
    const out = elementwise(op, [a, s]);
    s.dispose();
    return out;
  };
}

/** Comparisons return 1/0 in the inputs' dtype and carry no gradient. */
export const eq = comparison(OP.eq);
export const ne = comparison(OP.ne);
export const lt = comparison(OP.lt);
export const le = comparison(OP.le);
export const gt = comparison(OP.gt);
export const ge = comparison(OP.ge);

/** where(cond, a, b): a where cond ≠ 0, else b; broadcasts all three. */
export const where: (cond: Tensor, a: Tensor, b: Tensor) => Tensor = defineOp({
  name: 'where',
  family: 'elementwise',
  forward: (cond: Tensor, a: Tensor, b: Tensor) => {
    const c = cond.dtype === a.dtype ? cond : cast(cond, a.dtype);
    const out = elementwise(OP.where, [c, a, b]);
    if (c !== cond) c.dispose();
    return {
      out,
      inputs: [cond, a, b],
      vjp: (g) => {
        const zero = scalarTensor(0, g);
        return [null, sumTo(elementwise(OP.where, [cond, g, zero]), a.shape), sumTo(elementwise(OP.where, [cond, zero, g]), b.shape)];
      },
    };
  },
  gradcheck: [
    {
      label: 'cond 3x5, a 3x5, b 5 (broadcast)',
      inputs: () => [gt(randn([3, 5], 0, 1), 0), randn([3, 5], 0, 1), randn([5], 0, 1)],
      wrt: [1, 2],
    },
  ],
});

/** Converts element type (f32 → i32 truncates toward zero, like WGSL and C). No gradient. */
export function cast(x: Tensor, dtype: DType): Tensor {
  x.live();
  if (x.dtype === dtype) return copy(x);
  const out = Tensor.empty(x.shape, dtype);
  if (out.size === 0) return out;
  const e = engine();
  const kernel = e.kernel({ file: 'cast', types: { TI: x.dtype, TO: dtype }, constants: { WG } });
  e.dispatch(kernel, { x: x.binding, y: out.binding }, { n: out.size }, grid(Math.ceil(out.size / 4 / WG)));
  return out;
}

/** Re-exported op ids for kernels-level tests. */
export const ELEMENTWISE_OPS = OP;
