// Runs tasks with at most `jobs` at a time. After a failure no new task starts; the running ones
// are waited for (they clean up after themselves), then the first failure is thrown.
export async function inPool<T>(items: T[], jobs: number, task: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: { err: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (failure === undefined && next < items.length) {
      const i = next++;
      try {
        await task(items[i]!, i);
      } catch (err) {
        failure ??= { err };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(jobs, items.length)) }, worker));
  if (failure !== undefined) throw failure.err;
}
