import { parentPort, workerData } from 'node:worker_threads';
import type { SamplerCases, SamplerSettings } from './batch-maker.js';
import { BatchMaker } from './batch-maker.js';

/**
 * Worker thread of the patch sampler (sampler.ts): loads and prepares the cases, then answers
 * `{ index }` requests with batches whose arrays are transferred, not copied. Keeping this work
 * off the main thread keeps the thread that owns the GPU device free of long JavaScript runs
 * (architecture.md: lavapipe crashes when the device thread is busy).
 */
const { cases, settings } = workerData as { cases: SamplerCases; settings: SamplerSettings };
const port = parentPort!;

try {
  const maker = BatchMaker.load(cases, settings);
  port.postMessage({ type: 'ready', iterationsPerEpoch: maker.iterationsPerEpoch });
  port.on('message', (message: { index: number }) => {
    try {
      const batch = maker.make(message.index);
      port.postMessage({ type: 'batch', batch }, [batch.image.buffer as ArrayBuffer, batch.label.buffer as ArrayBuffer]);
    } catch (error) {
      port.postMessage({ type: 'error', index: message.index, message: (error as Error).message, takError: (error as Error).name === 'TakError' });
    }
  });
} catch (error) {
  port.postMessage({ type: 'error', index: -1, message: (error as Error).message, takError: (error as Error).name === 'TakError' });
}
