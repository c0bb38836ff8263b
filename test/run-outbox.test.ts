/**
 * The agent's outbox on its own: order across memory and the spill file, batches that keep their
 * number and content until acknowledged, and nothing left on disk afterwards.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { RunOutbox, type OutboxMessage } from '../agent/run-outbox';

const dirs: string[] = [];
const stateDir = () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rb-outbox-'));
  dirs.push(dir);
  return dir;
};
afterEach(() => {
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

const outcome = { state: 'succeeded' as const, exitCode: 0, summary: 'exit code 0', result: null, outputBytes: 0, outputTruncated: false };

describe('run outbox', () => {
  it('spills to disk past its memory budget and delivers everything in order, then removes the file', async () => {
    const dir = stateDir();
    const outbox = new RunOutbox({ runId: 'run-1', stateDir: dir, memoryBytes: 1000, batchBytes: 300 });
    outbox.add({ kind: 'started', pid: 42 });
    for (let i = 1; i <= 500; i++) outbox.add({ kind: 'output', pieces: [{ stream: i % 7 ? 'stdout' : 'stderr', data: `${i}\n` }] });
    outbox.add({ kind: 'finished', outcome });
    expect(outbox.spilled).toBeGreaterThan(0);
    expect(fs.readdirSync(dir)).toHaveLength(1);

    const sent: OutboxMessage[] = [];
    await outbox.flush(async (message) => void sent.push(message));
    expect(sent[0]).toEqual({ kind: 'started', pid: 42 });
    expect(sent.at(-1)).toEqual({ kind: 'finished', outcome });
    const batches = sent.filter((m): m is OutboxMessage & { kind: 'output' } => m.kind === 'output');
    expect(batches.map((b) => b.seq)).toEqual(batches.map((_, i) => i + 1));
    const lines = batches.flatMap((b) => b.pieces.map((p) => p.data)).join('').split('\n').filter(Boolean);
    expect(lines).toEqual(Array.from({ length: 500 }, (_, i) => String(i + 1)));
    expect(outbox.done).toBe(true);
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  it('sends a batch that was not acknowledged again with the same number and content, and merges later output into the next', async () => {
    const outbox = new RunOutbox({ runId: 'run-2', stateDir: stateDir() });
    outbox.add({ kind: 'output', pieces: [{ stream: 'stdout', data: 'a\n' }] });
    let fail = true;
    const sent: OutboxMessage[] = [];
    const deliver = async (message: OutboxMessage) => {
      sent.push(message);
      if (fail) throw new Error('connection dropped');
    };
    await expect(outbox.flush(deliver)).rejects.toThrow('connection dropped');
    // More output while disconnected: it must not join the batch already numbered.
    outbox.add({ kind: 'output', pieces: [{ stream: 'stdout', data: 'b\n' }] });
    outbox.add({ kind: 'output', pieces: [{ stream: 'stdout', data: 'c\n' }] });
    fail = false;
    await outbox.flush(deliver);
    expect(sent).toEqual([
      { kind: 'output', seq: 1, pieces: [{ stream: 'stdout', data: 'a\n' }] },
      { kind: 'output', seq: 1, pieces: [{ stream: 'stdout', data: 'a\n' }] },
      { kind: 'output', seq: 2, pieces: [{ stream: 'stdout', data: 'b\n' }, { stream: 'stdout', data: 'c\n' }] },
    ]);
    expect(outbox.pending).toBe(0);
  });
});
