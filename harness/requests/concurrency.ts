/**
 * Runs `worker` over `items` with at most `concurrency` calls in flight. Workers pull the next
 * item as soon as they finish, so one slow request never holds back the others. The first
 * error thrown by a worker stops new work and is rethrown once the calls in flight settle.
 */
export async function runPool<T>(
  items: readonly T[],
  concurrency: number,
  worker: (item: T, index: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | undefined;
  const lane = async (): Promise<void> => {
    while (failure === undefined) {
      const index = next++;
      if (index >= items.length) return;
      try {
        await worker(items[index]!, index);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  const lanes = Array.from({ length: Math.max(1, Math.min(concurrency, items.length)) }, lane);
  await Promise.all(lanes);
  if (failure !== undefined) throw failure.error;
}

/**
 * runPool over a stream: items are pulled one at a time as lanes free up, so a source of any size
 * (a records file read line by line) is never held whole. Indexes follow the source's order. The
 * source is closed (return()) when the pool ends, early or not.
 */
export async function runPoolStream<T>(
  items: Iterable<T> | AsyncIterable<T>,
  concurrency: number,
  worker: (item: T, index: number) => Promise<void>,
): Promise<void> {
  const iterator: Iterator<T> | AsyncIterator<T> = Symbol.asyncIterator in items ? items[Symbol.asyncIterator]() : items[Symbol.iterator]();
  let nextIndex = 0;
  let exhausted = false;
  let failure: { error: unknown } | undefined;
  // Pulls are chained, so each index goes to the item the source gave at that position.
  let pulling: Promise<unknown> = Promise.resolve();
  const pull = (): Promise<{ item: T; index: number } | null> => {
    const result = pulling.then(async () => {
      if (exhausted || failure !== undefined) return null;
      const step = await iterator.next();
      if (step.done) {
        exhausted = true;
        return null;
      }
      return { item: step.value, index: nextIndex++ };
    });
    pulling = result.catch(() => undefined);
    return result;
  };
  const lane = async (): Promise<void> => {
    while (failure === undefined) {
      let next: { item: T; index: number } | null;
      try {
        next = await pull();
      } catch (error) {
        failure ??= { error };
        return;
      }
      if (next === null) return;
      try {
        await worker(next.item, next.index);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.max(1, concurrency) }, lane));
  } finally {
    if (!exhausted) await iterator.return?.();
  }
  if (failure !== undefined) throw failure.error;
}
