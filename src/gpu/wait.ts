/**
 * Awaiting a Dawn promise (mapAsync, onSubmittedWorkDone) without spinning a CPU core.
 *
 * dawn.node settles those promises from a setImmediate loop that calls ProcessEvents for as long
 * as one is pending, so a plain `await` keeps the thread that owns the device busy on a whole core
 * until the GPU finishes. On a CPU adapter (lavapipe) that core is taken from the driver's own
 * worker threads, which do the actual work: in a cpu-preset iteration on 2 vCPUs the main thread
 * burned 6.2 s of CPU in 7.6 s of wall time. `settle` instead blocks the thread in Atomics.wait
 * (no CPU) for up to `napMs` on every event-loop turn until the promise settles, so Dawn's tick
 * still runs about a thousand times a second while the driver gets the core.
 */
const nap = new Int32Array(new SharedArrayBuffer(4));

export async function settle<T>(promise: Promise<T>, napMs: number): Promise<T> {
  let done = false;
  promise.then(
    () => (done = true),
    () => (done = true),
  );
  while (!done) {
    await new Promise((resolve) => setImmediate(resolve));
    if (!done) Atomics.wait(nap, 0, 0, napMs);
  }
  return promise;
}
