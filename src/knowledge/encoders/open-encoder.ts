import { TakError } from '../../util/errors.js';
import { type EncoderSpec, type TextEncoder } from './encoder.js';
import { OnnxTextEncoder } from './onnx-encoder.js';
import { UseLiteEncoder } from './use-lite.js';

/** Opens the encoder `spec` names; pth: files hold finished embeddings, not an encoder. */
export async function openTextEncoder(spec: EncoderSpec, tokenizerPath?: string): Promise<TextEncoder> {
  switch (spec.kind) {
    case 'default':
      return UseLiteEncoder.open();
    case 'onnx':
      return OnnxTextEncoder.open(spec.path, tokenizerPath);
    case 'pth':
      throw new TakError(`pth:${spec.path} holds finished embeddings, not an encoder; import it with \`tak-wgpu knowledge embed --encoder pth:${spec.path}\``);
  }
}
