/** Output capture on its own: masking, order, batching, the cap and backpressure, with an in-memory sink. */
import { PassThrough, Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { MASK } from '../core/secrets';
import type { OutputPiece } from '../jobs/execution';
import { OutputCapture, SecretMasker } from '../jobs/output-capture';

function memorySink(delayMs = 0) {
  const writes: { at: number; pieces: OutputPiece[] }[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  let delivered = 0;
  return {
    writes,
    get maxInFlight() {
      return maxInFlight;
    },
    get delivered() {
      return delivered;
    },
    text: () => writes.flatMap((write) => write.pieces.map((piece) => piece.data)).join(''),
    sink: {
      async write(pieces: OutputPiece[]) {
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        writes.push({ at: Date.now(), pieces: pieces.map((piece) => ({ ...piece })) });
        if (delayMs > 0) await sleep(delayMs);
        delivered += pieces.reduce((sum, piece) => sum + Buffer.byteLength(piece.data), 0);
        inFlight--;
      },
    },
  };
}

/** A deterministic pseudo-random sequence, so a failure can be replayed. */
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    return state / 2 ** 31;
  };
}

describe('SecretMasker', () => {
  const secrets = ['hunter2', 'hunter2-long', 'a.b*c', ''];

  it('masks every secret however the text is cut into pieces', () => {
    const text = 'x hunter2 y hunter2-long z a.b*c hunter hunte a.bxc ' + 'hunter2'.repeat(3) + ' end hunt';
    const expected = text.replaceAll('hunter2-long', MASK).replaceAll('hunter2', MASK).replaceAll('a.b*c', MASK);
    const masker = new SecretMasker(secrets);
    expect(masker.mask(text)).toBe(expected);
    const next = random(7);
    for (let round = 0; round < 300; round++) {
      let held = '';
      let out = '';
      for (let start = 0; start < text.length; ) {
        const end = Math.min(text.length, start + 1 + Math.floor(next() * 9));
        const parts = masker.split(held + text.slice(start, end));
        out += parts.masked;
        held = parts.held;
        start = end;
      }
      expect(out + masker.mask(held)).toBe(expected);
    }
  });

  it('holds back only a tail that could begin a secret', () => {
    const masker = new SecretMasker(secrets);
    expect(masker.split('abc hun')).toEqual({ masked: 'abc ', held: 'hun' });
    expect(masker.split('abc xyz')).toEqual({ masked: 'abc xyz', held: '' });
    // "hunter2" is complete, but "hunter2-long" might still follow.
    expect(masker.split('say hunter2')).toEqual({ masked: 'say ', held: 'hunter2' });
    expect(new SecretMasker(['']).split('anything')).toEqual({ masked: 'anything', held: '' });
  });
});

describe('OutputCapture', () => {
  it('keeps the order of streams, merging consecutive text of one stream', async () => {
    const sink = memorySink();
    const capture = new OutputCapture({ sink: sink.sink, secrets: [], flushMs: 10_000 });
    const out = capture.open('stdout');
    const err = capture.open('stderr');
    out.write('a');
    out.write('b');
    err.write('c');
    out.write('d');
    capture.system('e');
    await capture.finish();
    expect(sink.writes.flatMap((write) => write.pieces)).toEqual([
      { stream: 'stdout', data: 'ab' },
      { stream: 'stderr', data: 'c' },
      { stream: 'stdout', data: 'd' },
      { stream: 'system', data: 'e' },
    ]);
  });

  it('flushes on a timer after the first unflushed byte', async () => {
    const sink = memorySink();
    const capture = new OutputCapture({ sink: sink.sink, secrets: [], flushMs: 20 });
    capture.open('stdout').write('tick');
    expect(sink.writes).toHaveLength(0);
    await sleep(1000);
    expect(sink.text()).toBe('tick'); // written without finish()
    await capture.finish();
  });

  it('flushes at once by size, one write at a time, each at most flushBytes', async () => {
    const sink = memorySink(5);
    const capture = new OutputCapture({ sink: sink.sink, secrets: [], flushMs: 60_000, flushBytes: 1024 });
    const out = capture.open('stdout');
    for (let i = 0; i < 10; i++) out.write('€'.repeat(300)); // 900 bytes each: characters straddle write limits
    await sleep(500);
    expect(sink.writes.length).toBeGreaterThanOrEqual(8); // the 60 s timer never fired
    await capture.finish();
    expect(sink.maxInFlight).toBe(1);
    for (const write of sink.writes) expect(write.pieces.reduce((sum, piece) => sum + Buffer.byteLength(piece.data), 0)).toBeLessThanOrEqual(1024);
    expect(sink.text()).toBe('€'.repeat(3000));
    expect(capture.outputBytes).toBe(9000);
  });

  it('masks a secret split across two flushes', async () => {
    const sink = memorySink();
    const capture = new OutputCapture({ sink: sink.sink, secrets: ['topsecret'], flushMs: 10 });
    const out = capture.open('stdout');
    out.write('the key is tops');
    await sleep(300);
    expect(sink.text()).toBe('the key is '); // the possible start of the secret waits
    out.write('ecret, and tops');
    out.end();
    await capture.finish();
    expect(sink.text()).toBe(`the key is ${MASK}, and tops`);
  });

  it('keeps output up to the cap, then one marker, then drops the rest', async () => {
    const sink = memorySink();
    const capture = new OutputCapture({ sink: sink.sink, secrets: [], capBytes: 10, flushMs: 10 });
    const out = capture.open('stdout');
    out.write('123456789€'); // the € would straddle the cap: it is not cut in half
    out.write('more');
    capture.system('also dropped');
    await capture.finish();
    const marker = "\n[Runboard: output truncated at 10 bytes; the rest of this run's output is dropped]\n";
    expect(sink.writes.flatMap((write) => write.pieces)).toEqual([
      { stream: 'stdout', data: '123456789' },
      { stream: 'system', data: marker },
    ]);
    expect(capture.truncated).toBe(true);
    expect(capture.outputBytes).toBe(9 + Buffer.byteLength(marker));
  });

  it('decodes UTF-8 split across reads of a stream', async () => {
    const sink = memorySink();
    const capture = new OutputCapture({ sink: sink.sink, secrets: [], flushMs: 5 });
    const pipe = new PassThrough();
    const done = capture.attach(pipe, 'stdout');
    const euro = Buffer.from('€');
    pipe.write(euro.subarray(0, 2));
    await sleep(100);
    pipe.end(euro.subarray(2));
    await done;
    await capture.finish();
    expect(sink.text()).toBe('€');
  });

  it('pauses a fast stream while the sink is behind, so memory stays bounded', async () => {
    const sink = memorySink(2);
    const flushBytes = 16 * 1024;
    const capture = new OutputCapture({ sink: sink.sink, secrets: [], flushBytes });
    let produced = 0;
    let worstBacklog = 0;
    const total = 8 * 1024 * 1024;
    const source = new Readable({
      read() {
        worstBacklog = Math.max(worstBacklog, produced - sink.delivered);
        if (produced >= total) return void this.push(null);
        produced += 16 * 1024;
        this.push(Buffer.alloc(16 * 1024, 'q'));
      },
    });
    await capture.attach(source, 'stdout');
    await capture.finish();
    expect(sink.delivered).toBe(total);
    // Without pausing, the source would run 8 MiB ahead of a sink this slow.
    expect(worstBacklog).toBeLessThan(16 * flushBytes);
  });

  it('drops the rest and says why when the sink fails, without blocking', async () => {
    let calls = 0;
    const capture = new OutputCapture({
      sink: {
        async write() {
          calls++;
          throw new Error('database is down');
        },
      },
      secrets: [],
      flushBytes: 4,
    });
    const out = capture.open('stdout');
    out.write('12345678');
    await sleep(50);
    out.write('later');
    await capture.finish();
    expect(calls).toBe(1);
    expect((capture.sinkError as Error).message).toBe('database is down');
    expect(capture.outputBytes).toBe(0);
  });
});
