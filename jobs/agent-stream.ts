/**
 * One open `agentRuns` stream: the messages for an agent, in order, waiting until the
 * subscription takes them. Ending it (the subscriber left, a newer connection of the same agent
 * replaced it, the host went offline) completes the subscription and tells its owner once.
 */
import type { AgentMessage } from './agent-protocol';

export class MessageStream implements AsyncIterableIterator<AgentMessage> {
  readonly #queue: AgentMessage[] = [];
  #waiting: ((result: IteratorResult<AgentMessage>) => void) | undefined;
  #done = false;
  constructor(readonly onEnd: () => void) {}

  push(message: AgentMessage): void {
    if (this.#done) return;
    const waiting = this.#waiting;
    if (waiting) {
      this.#waiting = undefined;
      waiting({ value: message, done: false });
    } else this.#queue.push(message);
  }

  get ended(): boolean {
    return this.#done;
  }

  next(): Promise<IteratorResult<AgentMessage>> {
    const message = this.#queue.shift();
    if (message) return Promise.resolve({ value: message, done: false });
    if (this.#done) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => (this.#waiting = resolve));
  }

  return(): Promise<IteratorResult<AgentMessage>> {
    this.end();
    return Promise.resolve({ value: undefined, done: true });
  }

  /** Ends the stream (the subscriber left, a newer connection replaced it, or the host went offline). */
  end(): void {
    if (this.#done) return;
    this.#done = true;
    this.#queue.length = 0;
    this.#waiting?.({ value: undefined, done: true });
    this.#waiting = undefined;
    this.onEnd();
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}

