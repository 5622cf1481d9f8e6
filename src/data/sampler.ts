import type { Worker } from 'node:worker_threads';
import { TakError } from '../util/errors.js';
import { startWorker } from '../util/worker.js';
import type { Batch, SamplerCases, SamplerSettings } from './batch-maker.js';
import { BatchMaker } from './batch-maker.js';

/**
 * Training batches as an endless async iterable:
 *
 *   const sampler = await PatchSampler.open(cases, { patch: 96, labeledPerBatch: 2, unlabeledPerBatch: 2, seed: 1337 });
 *   for await (const batch of sampler) { upload(batch.image, batch.label); if (done) break; }
 *
 * Batches are numbered globally; batch k is fully determined by (seed, k) (sampler-plan.ts,
 * batch-maker.ts), so `startBatch` resumes a run exactly. With `worker` (default) the cases are
 * loaded and crops cut in a worker thread that keeps `prefetch` batches in flight ahead of the
 * consumer; breaking out of the loop or calling close() stops it.
 */
export interface SamplerOptions extends SamplerSettings {
  /** batches requested ahead of the consumer (default 2) */
  prefetch?: number;
  /** first batch number (to resume; default 0) */
  startBatch?: number;
  /** produce batches in a worker thread (default true) */
  worker?: boolean;
}

type Producer = { make(index: number): Promise<Batch>; close(): Promise<void> };

export class PatchSampler implements AsyncIterable<Batch> {
  private nextIndex: number;
  private readonly ahead = new Map<number, Promise<Batch>>();

  private constructor(
    private readonly producer: Producer,
    readonly iterationsPerEpoch: number,
    private readonly prefetch: number,
    startBatch: number,
  ) {
    this.nextIndex = startBatch;
  }

  static async open(cases: SamplerCases, options: SamplerOptions): Promise<PatchSampler> {
    const settings: SamplerSettings = { patch: options.patch, labeledPerBatch: options.labeledPerBatch, unlabeledPerBatch: options.unlabeledPerBatch, seed: options.seed };
    const prefetch = Math.max(1, options.prefetch ?? 2);
    const start = options.startBatch ?? 0;
    if (options.worker === false) {
      const maker = BatchMaker.load(cases, settings);
      return new PatchSampler({ make: async (i) => maker.make(i), close: async () => {} }, maker.iterationsPerEpoch, prefetch, start);
    }
    const { producer, iterationsPerEpoch } = await workerProducer(cases, settings);
    return new PatchSampler(producer, iterationsPerEpoch, prefetch, start);
  }

  /** The next batch; keeps up to `prefetch` later batches in production. */
  async next(): Promise<Batch> {
    for (let k = this.nextIndex; k < this.nextIndex + this.prefetch + 1; k++) if (!this.ahead.has(k)) this.ahead.set(k, this.producer.make(k));
    const index = this.nextIndex++;
    const batch = this.ahead.get(index)!;
    this.ahead.delete(index);
    return batch;
  }

  async close(): Promise<void> {
    // Batches still in production are abandoned; keep their rejections from going unhandled.
    for (const pending of this.ahead.values()) pending.catch(() => {});
    this.ahead.clear();
    await this.producer.close();
  }

  [Symbol.asyncIterator](): AsyncIterator<Batch> {
    return {
      next: async () => ({ value: await this.next(), done: false }),
      return: async () => {
        await this.close();
        return { value: undefined, done: true };
      },
    };
  }
}

type WorkerMessage =
  | { type: 'ready'; iterationsPerEpoch: number }
  | { type: 'batch'; batch: Batch }
  | { type: 'error'; index: number; message: string; takError: boolean };

function workerProducer(cases: SamplerCases, settings: SamplerSettings): Promise<{ producer: Producer; iterationsPerEpoch: number }> {
  const worker: Worker = startWorker(new URL('./sampler-worker.js', import.meta.url), { cases, settings });
  const waiting = new Map<number, { resolve: (b: Batch) => void; reject: (e: Error) => void }>();
  const failAll = (error: Error): void => {
    for (const w of waiting.values()) w.reject(error);
    waiting.clear();
  };
  const asError = (m: { message: string; takError: boolean }): Error => (m.takError ? new TakError(m.message) : new Error(`sampler worker: ${m.message}`));
  return new Promise((resolveOpen, rejectOpen) => {
    let ready = false;
    worker.on('message', (m: WorkerMessage) => {
      if (m.type === 'ready') {
        ready = true;
        worker.unref(); // an idle sampler must not keep the process alive (requests re-ref it)
        resolveOpen({
          iterationsPerEpoch: m.iterationsPerEpoch,
          producer: {
            make: (index) =>
              new Promise<Batch>((resolve, reject) => {
                waiting.set(index, { resolve, reject });
                worker.ref();
                worker.postMessage({ index });
              }),
            close: async () => {
              failAll(new TakError('the sampler was closed'));
              await worker.terminate();
            },
          },
        });
      } else if (m.type === 'batch') {
        waiting.get(m.batch.index)?.resolve(m.batch);
        waiting.delete(m.batch.index);
      } else if (!ready) {
        rejectOpen(asError(m));
        void worker.terminate();
      } else {
        waiting.get(m.index)?.reject(asError(m));
        waiting.delete(m.index);
      }
      if (ready && waiting.size === 0) worker.unref();
    });
    worker.on('error', (error) => (ready ? failAll(error) : rejectOpen(error)));
    worker.on('exit', (code) => {
      const error = new Error(`sampler worker exited with code ${code}`);
      if (!ready) rejectOpen(error);
      else failAll(error);
    });
  });
}
