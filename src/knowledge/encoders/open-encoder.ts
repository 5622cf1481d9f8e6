import { TakError } from '../../util/errors.js';
import type { EncoderSpec, TextEncoder } from './encoder.js';

/**
 * Opens the encoder `spec` names; pth: files hold finished embeddings, not an encoder. Encoders
 * are imported on demand so that every other command (and the trainer) never loads ONNX Runtime's
 * native library or TF.js into the process.
 */
export async function openTextEncoder(spec: EncoderSpec, tokenizerPath?: string): Promise<TextEncoder> {
  switch (spec.kind) {
    case 'default': {
      const { UseLiteEncoder } = await import('./use-lite.js');
      return UseLiteEncoder.open();
    }
    case 'onnx': {
      const { OnnxTextEncoder } = await import('./onnx-encoder.js');
      return OnnxTextEncoder.open(spec.path, tokenizerPath);
    }
    case 'pth':
      throw new TakError(`pth:${spec.path} holds finished embeddings, not an encoder; import it with \`tak-wgpu knowledge embed --encoder pth:${spec.path}\``);
  }
}
