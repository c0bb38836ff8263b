/**
 * The live-output benchmark's instruments: the line printer (a real process) holds its measured
 * lines until told to go and then prints every one, numbered and timed, at the rate asked; the
 * tally a reader keeps counts what arrived late, missing, twice or out of order; percentiles are
 * nearest-rank. A bench whose instruments miscount reports figures nobody should trust.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { LineTally } from '../bench/line-tally';
import { summarize } from '../bench/samples';

const PRINTER = fileURLToPath(new URL('../bench/line-printer.mjs', import.meta.url));

describe('the line printer', () => {
  it('prints its ready line, waits for the go file, then prints rate × seconds numbered lines over that time', async () => {
    const goFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'bench-printer-')), 'go');
    const child = spawn(process.execPath, [PRINTER, '--rate', '2000', '--seconds', '1', '--go', goFile], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => (output += text));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      await expect.poll(() => output, { timeout: 10_000 }).toMatch(/^0 \d+\.\d{3} ready\n$/);
      // Without the go file it prints nothing more.
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(output.split('\n').filter(Boolean)).toHaveLength(1);

      fs.writeFileSync(goFile, '');
      expect(await exited).toBe(0);
    } finally {
      child.kill();
      fs.rmSync(path.dirname(goFile), { recursive: true, force: true });
    }
    const tally = new LineTally(2000);
    tally.feed(output, Date.now() + 1);
    expect(tally.malformed).toBeUndefined();
    expect(tally.figures()).toEqual({ received: 2000, lost: 0, reordered: 0, duplicated: 0 });
    const times = output.trim().split('\n').slice(1).map((line) => Number(line.split(' ')[1]));
    // Line 2000 is due a whole second after line 1: the rate is kept, not exceeded.
    expect(times[times.length - 1]! - times[0]!).toBeGreaterThanOrEqual(990);
  });
});

describe('a reader’s tally', () => {
  it('joins lines split across chunks and measures each line from the time printed on it', () => {
    const tally = new LineTally(3);
    tally.feed('0 1000.000 ready\n1 1000.0', 1001);
    tally.feed('00\n2 1005.500\n3 10', 1010);
    expect(tally.ready).toBe(true);
    expect(tally.malformed).toMatch(/unterminated/);
    tally.feed('20.000\n', 1030);
    expect(tally.malformed).toBeUndefined();
    expect(tally.figures()).toEqual({ received: 3, lost: 0, reordered: 0, duplicated: 0 });
    expect([...tally.lateness()]).toEqual([10, 4.5, 10]);
  });

  it('counts lines lost, out of order and repeated', () => {
    const tally = new LineTally(5);
    tally.feed('0 1 ready\n1 1\n3 1\n2 1\n3 1\n', 2);
    expect(tally.figures()).toEqual({ received: 3, lost: 2, reordered: 1, duplicated: 1 });
  });

  it('reports a line that is not "<seq> <time>"', () => {
    const tally = new LineTally(2);
    tally.feed('0 1 ready\ngarbage\n1 1\n', 2);
    expect(tally.malformed).toBe('garbage');
    expect(tally.figures().received).toBe(1);
  });
});

describe('percentiles', () => {
  it('are nearest-rank over the samples, whatever their order', () => {
    const samples = Array.from({ length: 100 }, (_, i) => 100 - i);
    expect(summarize(samples)).toEqual({ samples: 100, p50: 50, p95: 95, p99: 99, max: 100 });
    expect(summarize([])).toEqual({ samples: 0, p50: null, p95: null, p99: null, max: null });
  });
});
