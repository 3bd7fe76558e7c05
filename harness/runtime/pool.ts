/**
 * Runs `worker` over `items` with at most `concurrency` calls in flight. Workers pull the next
 * item as soon as they finish, so one slow request never holds back the others. The first
 * error thrown by a worker stops new work and is rethrown once the calls in flight settle.
 */
export async function runPool<T>(items: readonly T[], concurrency: number, worker: (item: T, index: number) => Promise<void>): Promise<void> {
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
