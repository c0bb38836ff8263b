/**
 * One run's outbox on the agent: what the server must hear about the run — that it started, its
 * output, how it ended — kept in order until the server acknowledges it, across disconnections.
 *
 * - The executor's output is accepted at once (the script never waits for the network); it is
 *   kept in memory up to `memoryBytes` and spilled to a file in the state directory beyond that,
 *   so a long disconnection costs disk, not memory, and loses nothing.
 * - Output leaves as numbered batches (seq 1, 2, 3…). A batch gets its number when it is first
 *   sent and keeps it, with the same content, until acknowledged: a batch resent after a dropped
 *   connection is one the server already has or the next it expects, and it stores each number
 *   once.
 * - One message is in flight at a time, so the order on the server is the order here.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { ExecutionOutcome, OutputPiece } from '../jobs/execution';

export type OutboxEntry = { kind: 'started'; pid: number | null } | { kind: 'output'; pieces: OutputPiece[] } | { kind: 'finished'; outcome: ExecutionOutcome };

/** What is sent: output carries its batch number. */
export type OutboxMessage = { kind: 'started'; pid: number | null } | { kind: 'output'; seq: number; pieces: OutputPiece[] } | { kind: 'finished'; outcome: ExecutionOutcome };

/** Sends one message; resolves once the server acknowledged it, rejects when it did not. */
export type Deliver = (message: OutboxMessage) => Promise<void>;

export interface OutboxOptions {
  runId: string;
  /** Where a spill file may go (created when needed, removed when the outbox is done). */
  stateDir: string;
  /** Output kept in memory before spilling (default 4 MiB). */
  memoryBytes?: number;
  /** Largest batch of output sent at once (default 256 KiB). */
  batchBytes?: number;
}

const DEFAULT_MEMORY_BYTES = 4 * 1024 * 1024;
const DEFAULT_BATCH_BYTES = 256 * 1024;
/** Pieces per batch at most (the server takes 1000). */
const BATCH_PIECES = 500;

const sizeOf = (entry: OutboxEntry) => (entry.kind === 'output' ? entry.pieces.reduce((n, p) => n + p.data.length, 0) : 64);

export class RunOutbox {
  readonly runId: string;
  readonly #memoryBytes: number;
  readonly #batchBytes: number;
  readonly #spillPath: string;
  /** In memory, oldest first. Everything in the spill file comes after these. */
  #memory: OutboxEntry[] = [];
  #memoryUsed = 0;
  #spilled = 0;
  #spillReadAt = 0;
  #inFlight: OutboxMessage | undefined;
  #nextSeq = 1;
  #finished = false;

  constructor(options: OutboxOptions) {
    this.runId = options.runId;
    this.#memoryBytes = options.memoryBytes ?? DEFAULT_MEMORY_BYTES;
    this.#batchBytes = options.batchBytes ?? DEFAULT_BATCH_BYTES;
    this.#spillPath = path.join(options.stateDir, `${options.runId.replace(/[^A-Za-z0-9-]/g, '')}.spill.jsonl`);
  }

  /** Entries not yet acknowledged, in flight included. */
  get pending(): number {
    return this.#memory.length + this.#spilled + (this.#inFlight ? 1 : 0);
  }

  /** Whether the outcome was acknowledged: nothing more to send. */
  get done(): boolean {
    return this.#finished && this.pending === 0;
  }

  /** Entries currently spilled to disk (for tests and logs). */
  get spilled(): number {
    return this.#spilled;
  }

  add(entry: OutboxEntry): void {
    if (entry.kind === 'output' && entry.pieces.length === 0) return;
    if (entry.kind === 'finished') this.#finished = true;
    const size = sizeOf(entry);
    // Once anything is on disk, later entries follow it there, so the order holds.
    if (this.#spilled > 0 || this.#memoryUsed + size > this.#memoryBytes) {
      fs.mkdirSync(path.dirname(this.#spillPath), { recursive: true, mode: 0o700 });
      fs.appendFileSync(this.#spillPath, `${JSON.stringify(entry)}\n`, { mode: 0o600 });
      this.#spilled++;
      return;
    }
    this.#memory.push(entry);
    this.#memoryUsed += size;
  }

  /** Moves spilled entries back into memory, in order, while there is room. */
  #unspill(): void {
    if (this.#spilled === 0 || this.#memory.length > 0) return;
    const room = () => this.#spilled > 0 && this.#memoryUsed < this.#memoryBytes / 2;
    const fd = fs.openSync(this.#spillPath, 'r');
    try {
      let carry = Buffer.alloc(0);
      let position = this.#spillReadAt;
      const block = Buffer.alloc(1024 * 1024);
      while (room()) {
        const read = fs.readSync(fd, block, 0, block.length, position);
        if (read === 0) throw new Error(`The spill file ${this.#spillPath} ended early: it holds fewer entries than were written.`);
        position += read;
        let data = Buffer.concat([carry, block.subarray(0, read)]);
        // Whole lines only: a line cut by the block end waits in `carry` for the rest.
        for (let newline = data.indexOf(0x0a); newline !== -1 && room(); newline = data.indexOf(0x0a)) {
          this.#take(data.subarray(0, newline).toString('utf8'));
          this.#spillReadAt += newline + 1;
          data = data.subarray(newline + 1);
        }
        carry = data;
      }
    } finally {
      fs.closeSync(fd);
    }
    if (this.#spilled === 0) this.#removeSpill();
  }

  #take(line: string): void {
    const entry = JSON.parse(line) as OutboxEntry;
    this.#memory.push(entry);
    this.#memoryUsed += sizeOf(entry);
    this.#spilled--;
  }

  #removeSpill(): void {
    fs.rmSync(this.#spillPath, { force: true });
    this.#spillReadAt = 0;
  }

  /** The next message to send: the one in flight again, or a new one from the head. */
  #next(): OutboxMessage | undefined {
    if (this.#inFlight) return this.#inFlight;
    this.#unspill();
    const head = this.#memory[0];
    if (!head) return undefined;
    if (head.kind !== 'output') {
      this.#shift();
      this.#inFlight = head;
      return head;
    }
    // Consecutive output joins into one batch (up to its limits).
    const pieces: OutputPiece[] = [];
    let bytes = 0;
    while (this.#memory[0]?.kind === 'output' && pieces.length < BATCH_PIECES && bytes < this.#batchBytes) {
      const entry = this.#shift() as OutboxEntry & { kind: 'output' };
      pieces.push(...entry.pieces);
      bytes += sizeOf(entry);
      if (this.#memory.length === 0) this.#unspill();
    }
    this.#inFlight = { kind: 'output', seq: this.#nextSeq++, pieces };
    return this.#inFlight;
  }

  #shift(): OutboxEntry {
    const entry = this.#memory.shift()!;
    this.#memoryUsed -= sizeOf(entry);
    return entry;
  }

  /**
   * Sends everything in order, one message at a time, until the outbox is empty or a delivery
   * fails (rejects with that error; call again after reconnecting to resume where it stopped).
   */
  async flush(deliver: Deliver): Promise<void> {
    for (let message = this.#next(); message; message = this.#next()) {
      await deliver(message);
      this.#inFlight = undefined;
    }
  }

  /** Forgets everything (the server no longer knows the run). */
  discard(): void {
    this.#memory = [];
    this.#memoryUsed = 0;
    this.#spilled = 0;
    this.#inFlight = undefined;
    this.#finished = true;
    this.#removeSpill();
  }
}
