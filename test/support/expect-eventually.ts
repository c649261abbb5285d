/**
 * Polls `probe` until it stops throwing (an `expect` inside it passes) or the
 * timeout elapses, then rethrows the last failure. Poll, don't sleep.
 */
export async function expectEventually<T>(probe: () => T | Promise<T>, timeoutMs = 10_000, intervalMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      return await probe();
    } catch (error) {
      lastError = error;
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  }
  throw lastError instanceof Error ? lastError : new Error(`condition not met within ${timeoutMs} ms`);
}
