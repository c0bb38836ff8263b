/**
 * Gathers items that arrive close together into one call: the first item schedules a flush on
 * the next turn of the event loop (setImmediate), so an idle system pays no delay and a busy one
 * sends one statement for hundreds of runs. Flushes of one batcher run one at a time, in order.
 */
export class Batcher<T, R> {
  #pending: Array<{ item: T; resolve: (value: R | undefined) => void; reject: (error: unknown) => void }> = [];
  #scheduled = false;
  #running: Promise<void> = Promise.resolve();

  constructor(
    /** Answers one result per item, in order (undefined: nothing for that item). */
    private readonly flush: (items: T[]) => Promise<Array<R | undefined>>,
    private readonly maxBatch = 500,
  ) {}

  add(item: T): Promise<R | undefined> {
    return new Promise((resolve, reject) => {
      this.#pending.push({ item, resolve, reject });
      if (!this.#scheduled) {
        this.#scheduled = true;
        setImmediate(() => this.#drain());
      }
    });
  }

  /**
   * Takes back an item not yet flushed (compared by identity): its promise resolves to undefined.
   * False when it is already on its way.
   */
  withdraw(item: T): boolean {
    const index = this.#pending.findIndex((entry) => entry.item === item);
    if (index === -1) return false;
    const [entry] = this.#pending.splice(index, 1);
    entry!.resolve(undefined);
    return true;
  }

  #drain(): void {
    this.#scheduled = false;
    while (this.#pending.length > 0) {
      const batch = this.#pending.splice(0, this.maxBatch);
      this.#running = this.#running.then(async () => {
        try {
          const results = await this.flush(batch.map((entry) => entry.item));
          batch.forEach((entry, i) => entry.resolve(results[i]));
        } catch (error) {
          for (const entry of batch) entry.reject(error);
        }
      });
    }
  }

  /** Resolves once everything added so far has been flushed. */
  async idle(): Promise<void> {
    while (this.#pending.length > 0 || this.#scheduled) await new Promise((resolve) => setImmediate(resolve));
    await this.#running;
  }
}
