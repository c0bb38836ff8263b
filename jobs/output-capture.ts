/**
 * Output capture: turns what a run prints into ordered, masked, capped pieces for an OutputSink,
 * without letting a fast script or a slow sink grow memory.
 *
 * - Order: pieces are kept in the order they were read; consecutive text of one stream is merged
 *   into one piece, a change of stream starts a new one.
 * - Masking: every secret value becomes MASK before anything leaves this file. A writer holds back
 *   the end of its text while it could still be the start of a secret (a secret split across two
 *   reads or two flushes is still caught), so a held-back stdout tail can reach the sink after
 *   stderr text read later: the only reordering, and only next to a possible secret.
 * - Batching: pending text is written every `flushMs` after its first byte, or at once when
 *   `flushBytes` are pending; one write is in flight at a time, each at most `flushBytes` long.
 * - Backpressure: above 4 × flushBytes pending, attached streams are paused (the child then
 *   blocks on its full pipe) until the sink has caught up to half of that.
 * - Cap: after `capBytes` (UTF-8, after masking) one system marker is written and everything else
 *   is read and dropped, so the run goes on. A sink that fails is treated the same way (the rest
 *   is dropped, `sinkError` says why): a broken database must not block or kill the script.
 */
import { StringDecoder } from 'node:string_decoder';
import type { Readable } from 'node:stream';
import { MASK } from '../core/secrets';
import type { OutputStream } from '../db/run-output.repository';
import type { OutputPiece, OutputSink } from './execution';

const MIB = 1024 * 1024;

export interface CaptureOptions {
  sink: OutputSink;
  /** Values to mask; empty ones are ignored. */
  secrets: readonly string[];
  /** Output kept per run, in UTF-8 bytes after masking (default 16 MiB). */
  capBytes?: number;
  /** Longest wait between the first unflushed byte and its write (default 25 ms, as RUNBOARD_OUTPUT_FLUSH). */
  flushMs?: number;
  /** Pending bytes that trigger a write at once, and the most one write carries (default 64 KiB). */
  flushBytes?: number;
}

/** One stream of text going into a capture (masking state is per writer). */
export interface OutputWriter {
  write(text: string): void;
  /** Releases the held-back tail: nothing more will follow. */
  end(): void;
}

/** "16 MiB", "64 KiB", "1000 bytes". */
export function bytesInWords(n: number): string {
  if (n >= MIB && n % MIB === 0) return `${n / MIB} MiB`;
  if (n >= 1024 && n % 1024 === 0) return `${n / 1024} KiB`;
  return `${n} bytes`;
}

/** The longest prefix of `text` that is at most `maxBytes` in UTF-8, cut between characters. */
export function utf8Prefix(text: string, maxBytes: number): string {
  if (Buffer.byteLength(text) <= maxBytes) return text;
  const bytes = Buffer.from(text);
  let cut = Math.max(0, maxBytes);
  while (cut > 0 && ((bytes[cut] ?? 0) & 0xc0) === 0x80) cut--; // never inside a character
  return bytes.subarray(0, cut).toString();
}

/** Replaces secret values with MASK, holding back a tail that could still begin one. */
export class SecretMasker {
  readonly #secrets: string[];
  readonly #pattern: RegExp | null;
  readonly #firstChars: Set<string>;
  readonly #longest: number;

  constructor(secrets: readonly string[]) {
    // Longest first, so where two secrets start at the same place the whole of the longer goes.
    this.#secrets = [...new Set(secrets.filter((secret) => secret.length > 0))].sort((a, b) => b.length - a.length);
    const escaped = this.#secrets.map((secret) => secret.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
    this.#pattern = escaped.length > 0 ? new RegExp(escaped.join('|'), 'g') : null;
    this.#firstChars = new Set(this.#secrets.map((secret) => secret.charAt(0)));
    this.#longest = this.#secrets[0]?.length ?? 0;
  }

  /** Masks complete text (nothing more follows it). */
  mask(text: string): string {
    return this.#pattern ? text.replace(this.#pattern, MASK) : text;
  }

  /** Masks what is safe to release now; `held` is the tail that might be the start of a secret. */
  split(text: string): { masked: string; held: string } {
    const pattern = this.#pattern;
    if (!pattern) return { masked: text, held: '' };
    const holdFrom = this.#holdFrom(text);
    let masked = '';
    let done = 0;
    pattern.lastIndex = 0;
    // A match starting before holdFrom is complete: a secret cut off by the end of `text` would
    // make its start part of the held tail.
    for (let match = pattern.exec(text); match && match.index < holdFrom; match = pattern.exec(text)) {
      masked += text.slice(done, match.index) + MASK;
      done = match.index + match[0].length;
    }
    const cut = Math.max(done, holdFrom);
    return { masked: masked + text.slice(done, cut), held: text.slice(cut) };
  }

  /** Where the longest suffix of `text` that is a proper prefix of some secret begins. */
  #holdFrom(text: string): number {
    for (let index = Math.max(0, text.length - this.#longest + 1); index < text.length; index++) {
      if (!this.#firstChars.has(text.charAt(index))) continue;
      const tail = text.slice(index);
      if (this.#secrets.some((secret) => secret.length > tail.length && secret.startsWith(tail))) return index;
    }
    return text.length;
  }
}

export class OutputCapture {
  readonly #sink: OutputSink;
  readonly #masker: SecretMasker;
  readonly #capBytes: number;
  readonly #flushMs: number;
  readonly #flushBytes: number;
  readonly #highWater: number;

  #pending: OutputPiece[] = [];
  #pendingBytes = 0;
  /** Bytes let through toward the cap (marker excluded). */
  #acceptedBytes = 0;
  #deliveredBytes = 0;
  #truncated = false;
  #sinkError: unknown = undefined;
  #inFlight = false;
  #flushWanted = false;
  #closing = false;
  #timer: NodeJS.Timeout | null = null;
  readonly #attached = new Set<Readable>();
  #paused = false;
  /** Woken after every write, so waiters re-check their condition. */
  #waiters: Array<() => void> = [];

  constructor(options: CaptureOptions) {
    this.#sink = options.sink;
    this.#masker = new SecretMasker(options.secrets);
    this.#capBytes = options.capBytes ?? 16 * MIB;
    this.#flushMs = options.flushMs ?? 25;
    this.#flushBytes = Math.max(1, options.flushBytes ?? 64 * 1024);
    this.#highWater = 4 * this.#flushBytes;
  }

  /** Bytes handed to the sink, the truncation marker included. */
  get outputBytes(): number {
    return this.#deliveredBytes;
  }

  get truncated(): boolean {
    return this.#truncated;
  }

  /** Why the sink stopped taking output, if it did. */
  get sinkError(): unknown {
    return this.#sinkError;
  }

  /** True while attached streams are paused, waiting for the sink. */
  get paused(): boolean {
    return this.#paused;
  }

  mask(text: string): string {
    return this.#masker.mask(text);
  }

  /** A line from Runboard itself (step headers, why something could not start). */
  system(text: string): void {
    this.#accept('system', this.#masker.mask(text));
  }

  open(stream: OutputStream): OutputWriter {
    let held = '';
    return {
      write: (text) => {
        if (!text || this.#dropping) return;
        const parts = this.#masker.split(held + text);
        held = parts.held;
        this.#accept(stream, parts.masked);
      },
      end: () => {
        this.#accept(stream, this.#masker.mask(held));
        held = '';
      },
    };
  }

  /** Reads a child's pipe to its end; resolves once it has closed and its text is accepted. */
  attach(readable: Readable, stream: OutputStream): Promise<void> {
    const writer = this.open(stream);
    const decoder = new StringDecoder('utf8'); // a character split across two reads stays whole
    this.#attached.add(readable);
    return new Promise((resolve) => {
      let finished = false;
      const finish = () => {
        if (finished) return;
        finished = true;
        writer.write(decoder.end());
        writer.end();
        this.#attached.delete(readable);
        resolve();
      };
      readable.on('data', (chunk: Buffer) => {
        if (this.#dropping) return; // past the cap: read and drop, without decoding
        writer.write(decoder.write(chunk));
        if (this.#pendingBytes > this.#highWater) this.#pause();
      });
      readable.once('end', finish);
      readable.once('close', finish);
      readable.on('error', finish); // a broken pipe ends the stream; the exit status tells the rest
      if (this.#paused) readable.pause();
    });
  }

  /** Resolves when there is room for more (for producers that are not Node streams). */
  async room(): Promise<void> {
    while (this.#pendingBytes > this.#highWater) await this.#nextWrite();
  }

  /** Writes everything pending; resolves when the sink has it all. */
  async finish(): Promise<void> {
    this.#closing = true;
    while (this.#pending.length > 0 || this.#inFlight) {
      if (!this.#inFlight) this.#flush();
      await this.#nextWrite();
    }
  }

  get #dropping(): boolean {
    return this.#truncated || this.#sinkError !== undefined;
  }

  #accept(stream: OutputStream, text: string): void {
    if (!text || this.#dropping) return;
    const room = this.#capBytes - this.#acceptedBytes;
    let bytes = Buffer.byteLength(text);
    if (bytes > room) {
      text = utf8Prefix(text, room);
      bytes = Buffer.byteLength(text);
      if (text) this.#append(stream, text, bytes);
      this.#acceptedBytes += bytes;
      this.#truncated = true;
      const marker = `\n[Runboard: output truncated at ${bytesInWords(this.#capBytes)}; the rest of this run's output is dropped]\n`;
      this.#append('system', marker, Buffer.byteLength(marker));
      this.#resume(); // from now on everything is dropped: let the script run at full speed
      return;
    }
    this.#acceptedBytes += bytes;
    this.#append(stream, text, bytes);
  }

  #append(stream: OutputStream, text: string, bytes: number): void {
    const last = this.#pending.at(-1);
    if (last && last.stream === stream) last.data += text;
    else this.#pending.push({ stream, data: text });
    this.#pendingBytes += bytes;
    if (this.#pendingBytes >= this.#flushBytes || this.#closing) this.#flush();
    else this.#timer ??= setTimeout(() => this.#flush(), this.#flushMs);
  }

  #flush(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    if (this.#inFlight) {
      this.#flushWanted = true;
      return;
    }
    if (this.#pending.length === 0) return;
    this.#flushWanted = false;
    this.#inFlight = true;
    void this.#deliver(this.#take());
  }

  /** Takes at most flushBytes off the front of the pending pieces. */
  #take(): { pieces: OutputPiece[]; bytes: number } {
    const pieces: OutputPiece[] = [];
    let bytes = 0;
    while (this.#pending.length > 0 && bytes < this.#flushBytes) {
      const piece = this.#pending[0]!;
      const size = Buffer.byteLength(piece.data);
      if (bytes + size <= this.#flushBytes) {
        pieces.push(piece);
        this.#pending.shift();
        bytes += size;
        continue;
      }
      let head = utf8Prefix(piece.data, this.#flushBytes - bytes);
      if (!head && pieces.length > 0) break;
      if (!head) head = String.fromCodePoint(piece.data.codePointAt(0)!); // a character wider than the room
      pieces.push({ stream: piece.stream, data: head });
      piece.data = piece.data.slice(head.length);
      bytes += Buffer.byteLength(head);
      break;
    }
    this.#pendingBytes -= bytes;
    return { pieces, bytes };
  }

  async #deliver(batch: { pieces: OutputPiece[]; bytes: number }): Promise<void> {
    try {
      await this.#sink.write(batch.pieces);
      this.#deliveredBytes += batch.bytes;
    } catch (error) {
      this.#sinkError = error;
      this.#pending = [];
      this.#pendingBytes = 0;
    }
    this.#inFlight = false;
    if (this.#pending.length > 0) {
      if (this.#flushWanted || this.#closing || this.#pendingBytes >= this.#flushBytes) this.#flush();
      else this.#timer ??= setTimeout(() => this.#flush(), this.#flushMs);
    }
    if (this.#pendingBytes <= this.#highWater / 2) this.#resume();
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }

  #nextWrite(): Promise<void> {
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  #pause(): void {
    if (this.#paused) return;
    this.#paused = true;
    for (const readable of this.#attached) readable.pause();
  }

  #resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    for (const readable of this.#attached) readable.resume();
  }
}
