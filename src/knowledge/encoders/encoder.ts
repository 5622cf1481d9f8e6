import { TakError, show } from '../../util/errors.js';

/** Texts → Float32 [n, dim], row-major. */
export interface TextEncoder {
  /** Names the cache files: knowledge/embeddings/<dataset>.<id>.<prompt>.f32. */
  readonly id: string;
  /** What `--encoder` recreates it (recorded in the cache so a stale cache says how to rebuild). */
  readonly spec: string;
  /** One line for the command output and the cache's metadata: what it is. */
  readonly description: string;
  encode(texts: string[]): Promise<{ data: Float32Array; dim: number }>;
  close(): Promise<void>;
}

export type EncoderSpec =
  | { kind: 'default' }
  | { kind: 'onnx'; path: string }
  | { kind: 'pth'; path: string };

/** Parses `--encoder default | onnx:MODEL.onnx | pth:FILE.pth`. */
export function parseEncoderSpec(value: string): EncoderSpec {
  if (value === 'default') return { kind: 'default' };
  const match = /^(onnx|pth):(.+)$/.exec(value);
  if (!match) throw new TakError(`unknown encoder ${show(value)}: use default, onnx:MODEL.onnx or pth:EMBEDDINGS.pth`);
  return { kind: match[1] as 'onnx' | 'pth', path: match[2]! };
}

/** A file name stem usable inside a cache name: letters, digits, _ and - only. */
export function idFromFileName(prefix: string, path: string): string {
  const stem = (path.split(/[\\/]/).pop() ?? path).replace(/\.[^.]+$/, '');
  return `${prefix}-${stem.replace(/[^A-Za-z0-9_-]+/g, '_')}`;
}
