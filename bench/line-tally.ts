/**
 * What one reader of the line printer's output saw (bench/line-printer.mjs): each line's lateness
 * (when the reader got it − when it was printed), and whether every line came, once, in order.
 * Text arrives in chunks that may split a line; the tail waits for the next chunk.
 */

export interface TallyFigures {
  /** Lines 1 … expected that arrived (line 0, `ready`, is not counted). */
  received: number;
  lost: number;
  /** Lines that came after a later one, or twice. */
  reordered: number;
  duplicated: number;
}

export class LineTally {
  readonly #seen: Uint8Array;
  readonly #lateness: Float64Array;
  #received = 0;
  #highest = -1;
  #reordered = 0;
  #duplicated = 0;
  #tail = '';
  #ready = false;
  #malformed: string | undefined;

  /** `expected`: the number of measured lines (rate × seconds). */
  constructor(readonly expected: number) {
    this.#seen = new Uint8Array(expected + 1);
    this.#lateness = new Float64Array(expected);
  }

  /** Whether line 0 has arrived: this reader is listening. */
  get ready(): boolean {
    return this.#ready;
  }

  /** Takes a chunk of output that reached the reader at `receivedAt` (ms since the epoch). */
  feed(text: string, receivedAt: number): void {
    const lines = (this.#tail + text).split('\n');
    this.#tail = lines.pop() ?? '';
    for (const line of lines) this.#line(line, receivedAt);
  }

  #line(line: string, receivedAt: number): void {
    const space = line.indexOf(' ');
    const seq = Number(line.slice(0, space));
    const printedAt = Number.parseFloat(line.slice(space + 1));
    if (space < 1 || !Number.isInteger(seq) || seq < 0 || seq > this.expected || Number.isNaN(printedAt)) {
      this.#malformed ??= line.slice(0, 80);
      return;
    }
    if (this.#seen[seq]) {
      this.#duplicated++;
      return;
    }
    this.#seen[seq] = 1;
    if (seq < this.#highest) this.#reordered++;
    this.#highest = Math.max(this.#highest, seq);
    if (seq === 0) {
      this.#ready = true;
      return;
    }
    this.#lateness[this.#received++] = receivedAt - printedAt;
  }

  /** The first line that was not `<seq> <time>`, if any (output mangled on the way). */
  get malformed(): string | undefined {
    return this.#malformed ?? (this.#tail ? `unterminated: ${this.#tail.slice(0, 80)}` : undefined);
  }

  figures(): TallyFigures {
    return { received: this.#received, lost: this.expected - this.#received, reordered: this.#reordered, duplicated: this.#duplicated };
  }

  /** Every received line's lateness in ms. */
  lateness(): Float64Array {
    return this.#lateness.subarray(0, this.#received);
  }
}
