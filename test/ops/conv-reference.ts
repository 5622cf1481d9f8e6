/**
 * Float64 CPU references for the convolution family: one loop nest gives the forward output and,
 * given an output gradient, the input, weight and bias gradients (the analytic VJP, summed in the
 * same index space, independent of how the GPU kernels split the work).
 */

export type T3 = [number, number, number];

export interface ConvSpec {
  x: Float32Array;
  xShape: number[]; // [N, Cin, D, H, W]
  w: Float32Array;
  wShape: number[]; // conv: [Cout, Cin, k..]; transposed: [Cin, Cout, k..]
  bias?: Float32Array | null;
  stride: T3;
  padBefore: T3;
  padAfter: T3;
  dilation: T3;
  outputPadding?: T3;
  transposed?: boolean;
}

export interface ConvResult {
  y: Float64Array;
  yShape: number[];
  dx?: Float64Array;
  dw?: Float64Array;
  db?: Float64Array;
}

/** Visits every (output, input, weight) triple that contributes to the convolution. */
function visit(s: ConvSpec, yShape: number[], f: (yi: number, xi: number, wi: number) => void): void {
  const [n, cin, ...inSize] = s.xShape as [number, number, number, number, number];
  const k = s.wShape.slice(2) as T3;
  const cout = s.transposed ? s.wShape[1]! : s.wShape[0]!;
  const out = yShape.slice(2) as T3;
  const taps = k[0] * k[1] * k[2];
  for (let b = 0; b < n; b++) {
    for (let ci = 0; ci < cin; ci++) {
      for (let co = 0; co < cout; co++) {
        for (let t = 0; t < taps; t++) {
          const tap = [Math.floor(t / (k[1] * k[2])), Math.floor(t / k[2]) % k[1], t % k[2]];
          const wi = s.transposed ? (ci * cout + co) * taps + t : (co * cin + ci) * taps + t;
          // Conv: y[o] += w·x[o·s − p + t·d]. Transposed: y[i·s − p + t·d] += w·x[i].
          const small = s.transposed ? inSize : out;
          for (let a = 0; a < small[0]!; a++) {
            for (let bb = 0; bb < small[1]!; bb++) {
              for (let c = 0; c < small[2]!; c++) {
                const o = [a, bb, c];
                const pos = o.map((v, ax) => v * s.stride[ax]! - s.padBefore[ax]! + tap[ax]! * s.dilation[ax]!);
                const big = s.transposed ? out : inSize;
                if (pos.some((v, ax) => v < 0 || v >= big[ax]!)) continue;
                const smallIndex = ((a * small[1]! + bb) * small[2]! + c);
                const bigIndex = (pos[0]! * big[1]! + pos[1]!) * big[2]! + pos[2]!;
                const yi = (b * cout + co) * (out[0] * out[1] * out[2]) + (s.transposed ? bigIndex : smallIndex);
                const xi = (b * cin + ci) * (inSize[0]! * inSize[1]! * inSize[2]!) + (s.transposed ? smallIndex : bigIndex);
                f(yi, xi, wi);
              }
            }
          }
        }
      }
    }
  }
}

export function convOutShape(s: ConvSpec): number[] {
  const k = s.wShape.slice(2);
  const inSize = s.xShape.slice(2);
  const out = inSize.map((i, a) =>
    s.transposed
      ? (i - 1) * s.stride[a]! - s.padBefore[a]! - s.padAfter[a]! + s.dilation[a]! * (k[a]! - 1) + 1 + (s.outputPadding?.[a] ?? 0)
      : Math.floor((i + s.padBefore[a]! + s.padAfter[a]! - s.dilation[a]! * (k[a]! - 1) - 1) / s.stride[a]!) + 1,
  );
  return [s.xShape[0]!, s.transposed ? s.wShape[1]! : s.wShape[0]!, ...out];
}

/** y = conv(x, w) + bias (optionally ReLU); with `gy`, the gradients of Σ gy·y. */
export function convReference(s: ConvSpec, gy?: Float32Array, relu = false): ConvResult {
  const yShape = convOutShape(s);
  const y = new Float64Array(yShape.reduce((p, d) => p * d, 1));
  visit(s, yShape, (yi, xi, wi) => (y[yi] += s.w[wi]! * s.x[xi]!));
  const cout = yShape[1]!;
  const vox = y.length / (yShape[0]! * cout);
  if (s.bias) for (let i = 0; i < y.length; i++) y[i] += s.bias[Math.floor(i / vox) % cout]!;
  if (relu) for (let i = 0; i < y.length; i++) y[i] = Math.max(0, y[i]!);
  if (!gy) return { y, yShape };
  const g = Float64Array.from(gy, (v, i) => (relu && !(y[i]! > 0) ? 0 : v));
  const dx = new Float64Array(s.x.length);
  const dw = new Float64Array(s.w.length);
  visit(s, yShape, (yi, xi, wi) => {
    dx[xi] += s.w[wi]! * g[yi]!;
    dw[wi] += s.x[xi]! * g[yi]!;
  });
  const db = new Float64Array(cout);
  for (let i = 0; i < g.length; i++) db[Math.floor(i / vox) % cout] += g[i]!;
  return { y, yShape, dx, dw, db };
}
