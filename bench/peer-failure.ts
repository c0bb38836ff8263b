/**
 * A peer that fails (its pool refused by a busy server, a library bug) must not take Runboard's
 * figures down with it: its row says what went wrong and the bench goes on.
 */

/** `measure()`, or `failed(message)` when it throws; the failure is printed as it happens. */
export async function orFailure<T>(peer: string, measure: () => Promise<T>, failed: (message: string) => T): Promise<T> {
  try {
    return await measure();
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    console.error(`  ${peer} failed: ${message}`);
    return failed(message);
  }
}
