/**
 * A run's output: appending (seq, byte offsets, concurrent appends, closed once the run has
 * finished), reading it back from any offset, and the `runOutput` subscription, which replays
 * stored chunks and then follows live ones with no gap and no duplicate, even when chunks arrive
 * while the replay is being read, and ends once the run has finished.
 */
import type { Client } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConflictError, NotFoundError } from '../core/errors';
import { appendOutput, type RunDeps } from '../core/run.service';
import { statesBefore } from '../core/run-state';
import { moveRuns } from '../db/run-queue.repository';
import type { RunState } from '../db/schema';
import type { OutputChunk } from '../db/run-output.repository';
import { encodeGlobalID } from '../graphql/ids';
import { followOutput, runNotifier } from '../graphql/run-output';
import { startTestServer, type TestServer } from './support/server';
import { wsClient } from './support/ws';

const OUTPUT = `query($id: ID!, $from: Int, $limit: Int) {
  run(id: $id) { outputBytes output(fromOffset: $from, limit: $limit) { seq stream offset bytes data createdAt } }
}`;
const FOLLOW = `subscription($runId: ID!, $from: Int) { runOutput(runId: $runId, fromOffset: $from) { seq stream offset bytes data } }`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
  for (const began = Date.now(); !check(); await sleep(10)) {
    if (Date.now() - began > timeoutMs) throw new Error(`timed out waiting for ${what}`);
  }
}

/** Chunks numbered 1…count, each starting where the one before ended. */
function expectWhole(chunks: Array<{ seq: number; offset: number; data: string }>, count: number, firstSeq = 1): void {
  expect(chunks.map((c) => c.seq)).toEqual(Array.from({ length: count }, (_, i) => firstSeq + i));
  for (let i = 1; i < chunks.length; i++) {
    expect(chunks[i]!.offset).toBe(chunks[i - 1]!.offset + Buffer.byteLength(chunks[i - 1]!.data));
  }
}

describe('run output', () => {
  let server: TestServer;
  let deps: RunDeps;
  let client: Client;

  beforeAll(async () => {
    server = await startTestServer();
    deps = { db: server.app.db, notify: runNotifier(server.app.pubsub) };
    await server.createUser('reader', 'viewer');
    const key = await server.createKey(await server.signIn('reader', 'reader-password-123'), 'output');
    client = wsClient(server.url, { apiKey: key });
  });
  afterAll(async () => {
    await client?.dispose();
    await server?.close();
  });

  /** Moves a run the way the dispatcher does (a conditional move, then subscribers told); undefined when it may not. */
  async function moveRun(id: string, to: RunState, exitCode?: number) {
    const { runs } = await moveRuns(server.app.db, [{ id, to, from: statesBefore(to), exitCode }]);
    for (const run of runs) deps.notify.runUpdated(run);
    return runs[0];
  }

  /** A running run (queued → dispatched → running, the way the executor moves it). */
  async function runningRun(name = 'job'): Promise<string> {
    const row = await server.app.db.insertInto('runs').values({ script_name: name, host_name: 'local', trigger: 'manual' }).returning('id').executeTakeFirstOrThrow();
    await moveRun(row.id, 'dispatched');
    expect(await moveRun(row.id, 'running')).toMatchObject({ state: 'running', startedAt: expect.any(Date) });
    return row.id;
  }

  const lines = (from: number, count: number) => Array.from({ length: count }, (_, i) => ({ stream: 'stdout' as const, data: `line ${from + i} ✓\n` }));

  /** Subscribes to runOutput and collects what arrives until the server ends it. */
  function follow(runId: string, fromOffset?: number) {
    const chunks: any[] = [];
    let errors: unknown;
    let ended = false;
    const done = new Promise<void>((resolve) => {
      client.subscribe(
        { query: FOLLOW, variables: { runId: encodeGlobalID('Run', runId), from: fromOffset } },
        {
          next: (result) => (result.errors ? (errors = result.errors) : chunks.push(result.data!.runOutput)),
          error: (error) => {
            errors = error;
            resolve();
          },
          complete: () => {
            ended = true;
            resolve();
          },
        },
      );
    });
    return { chunks, done, errors: () => errors, ended: () => ended };
  }

  it('numbers chunks, places them by UTF-8 byte offset, and counts the bytes on the run', async () => {
    const id = await runningRun();
    const first = await appendOutput(deps, id, [
      { stream: 'stdout', data: 'héllo\n' },
      { stream: 'stdout', data: '' },
      { stream: 'stderr', data: 'warn\u0000ing\n' },
    ]);
    const second = await appendOutput(deps, id, [{ stream: 'system', data: 'done' }]);
    expect([...first, ...second].map(({ seq, stream, offset, data }) => ({ seq, stream, offset, data }))).toEqual([
      { seq: 1, stream: 'stdout', offset: 0, data: 'héllo\n' }, // 7 bytes: é is two
      { seq: 2, stream: 'stderr', offset: 7, data: 'warn\uFFFDing\n' }, // NUL cannot be stored; 11 bytes
      { seq: 3, stream: 'system', offset: 18, data: 'done' },
    ]);

    const read = async (variables: Record<string, unknown>) => {
      const response = await server.gql(OUTPUT, { id: encodeGlobalID('Run', id), ...variables }, { cookie: server.adminCookie });
      expect(response.errors).toBeUndefined();
      return response.data.run;
    };
    const all = await read({});
    expect(all.outputBytes).toBe(22);
    expect(all.output).toMatchObject([
      { seq: 1, stream: 'STDOUT', offset: 0, bytes: 7, data: 'héllo\n', createdAt: expect.any(String) },
      { seq: 2, stream: 'STDERR', offset: 7, bytes: 11 },
      { seq: 3, stream: 'SYSTEM', offset: 18, bytes: 4, data: 'done' },
    ]);
    expect((await read({ from: 7 })).output.map((c: any) => c.seq)).toEqual([2, 3]);
    expect((await read({ from: 8 })).output.map((c: any) => c.seq)).toEqual([2, 3]); // the chunk holding byte 8, whole
    expect((await read({ from: 22 })).output).toEqual([]);
    expect((await read({ limit: 2 })).output.map((c: any) => c.seq)).toEqual([1, 2]);
    const bad = await server.gql(OUTPUT, { id, from: -1 }, { cookie: server.adminCookie });
    expect(bad.errors?.[0]).toMatchObject({ message: 'fromOffset is a byte offset: 0 or more.', extensions: { code: 'BAD_USER_INPUT' } });
    const tooMany = await server.gql(OUTPUT, { id, limit: 0 }, { cookie: server.adminCookie });
    expect(tooMany.errors?.[0]?.message).toBe('limit must be between 1 and 5000.');
  });

  it('gives concurrent appends to one run distinct, contiguous places', async () => {
    const id = await runningRun();
    await Promise.all(Array.from({ length: 20 }, (_, i) => appendOutput(deps, id, lines(i * 2, 2))));
    const stored = await server.app.db.selectFrom('run_output').selectAll().where('run_id', '=', id).orderBy('seq').execute();
    const chunks = stored.map((row) => ({ seq: row.seq, offset: Number(row.offset), data: row.data }));
    expectWhole(chunks, 40);
    const run = await server.app.db.selectFrom('runs').select('output_bytes').where('id', '=', id).executeTakeFirstOrThrow();
    expect(Number(run.output_bytes)).toBe(chunks.reduce((sum, c) => sum + Buffer.byteLength(c.data), 0));
  });

  it('closes the output of a finished run, and knows no missing run', async () => {
    const id = await runningRun('closing');
    await appendOutput(deps, id, lines(0, 1));
    await moveRun(id, 'succeeded', 0);
    await expect(appendOutput(deps, id, lines(1, 1))).rejects.toThrow(
      new ConflictError('The run of "closing" on "local" has finished (succeeded); its output is closed.'),
    );
    await expect(appendOutput(deps, '00000000-0000-0000-0000-000000000000', lines(0, 1))).rejects.toThrow(NotFoundError);
    const stored = await server.app.db.selectFrom('run_output').select('seq').where('run_id', '=', id).execute();
    expect(stored).toEqual([{ seq: 1 }]);
    // A move that is not allowed from where the run is does nothing.
    expect(await moveRun(id, 'running')).toBeUndefined();
  });

  it('replays stored output, follows live output, and ends after the last chunk once the run finishes', async () => {
    const id = await runningRun();
    await appendOutput(deps, id, lines(0, 3));
    const followed = follow(id);
    await until('the replay', () => followed.chunks.length === 3);
    await appendOutput(deps, id, lines(3, 1));
    await appendOutput(deps, id, lines(4, 1));
    await until('live chunks', () => followed.chunks.length === 5);
    expect(followed.ended()).toBe(false);
    await appendOutput(deps, id, lines(5, 2));
    await moveRun(id, 'failed', 1);
    await followed.done;
    expect(followed.errors()).toBeUndefined();
    expect(followed.ended()).toBe(true);
    expectWhole(followed.chunks, 7);
    expect(followed.chunks.map((c) => c.data).join('')).toBe(lines(0, 7).map((l) => l.data).join(''));
  });

  it('replays from the middle, and ends at once for a finished run', async () => {
    const id = await runningRun();
    const stored = await appendOutput(deps, id, lines(0, 6));
    await moveRun(id, 'succeeded');
    const third = stored[2]!;
    const followed = follow(id, third.offset + 1);
    await followed.done;
    expect(followed.ended()).toBe(true);
    expect(followed.chunks.map((c) => c.seq)).toEqual([3, 4, 5, 6]);
    expect(followed.chunks[0]).toMatchObject({ offset: third.offset, data: third.data });
  });

  it('loses and repeats nothing when chunks arrive while the replay is being read (over graphql-ws)', async () => {
    const id = await runningRun();
    for (let i = 0; i < 10; i++) await appendOutput(deps, id, lines(i * 200, 200));
    const followed = follow(id);
    // The replay reads 2,000 chunks a page at a time; append as soon as the first one arrives.
    await until('the first replayed chunk', () => followed.chunks.length > 0);
    const replayedWhenAppending = followed.chunks.length;
    for (let i = 0; i < 100; i++) await appendOutput(deps, id, lines(2000 + i, 1));
    await moveRun(id, 'succeeded');
    await followed.done;
    expect(replayedWhenAppending).toBeLessThan(2000);
    expect(followed.ended()).toBe(true);
    expectWhole(followed.chunks, 2100);
  });

  it('loses and repeats nothing when appends race the replay, round after round (in-process)', async () => {
    for (let round = 0; round < 10; round++) {
      const id = await runningRun();
      await appendOutput(deps, id, lines(0, 50));
      const follower = followOutput(server.app, id, 0);
      const received: OutputChunk[] = [];
      // next() starts the follower: it subscribes, then starts reading storage; appends race it.
      const first = follower.next();
      const appending = (async () => {
        for (let i = 0; i < 20; i++) await appendOutput(deps, id, lines(50 + i, round % 2 ? 1 : 2));
        await moveRun(id, 'succeeded');
      })();
      for (let next = await first; !next.done; next = await follower.next()) received.push(next.value as OutputChunk);
      await appending;
      expectWhole(received, 50 + 20 * (round % 2 ? 1 : 2));
    }
  });

  it('listens before it reads storage: a chunk stored just after the replay read still arrives, with the run still running', async () => {
    const id = await runningRun();
    await appendOutput(deps, id, lines(0, 3));
    // The follower's database answers its first read of output only after one more chunk was
    // appended behind its back and its event delivered: that chunk is not in the replay, so it
    // can only arrive live, to a listener already in place.
    const witness = server.app.pubsub.subscribe(`runOutput:${id}`);
    const delivered = (async () => {
      for await (const chunk of witness) if (chunk.seq === 4) return chunk;
    })();
    let injected = false;
    const db = server.app.db.withPlugin({
      transformQuery: (args) => args.node,
      transformResult: async (args) => {
        const rows = args.result.rows as Array<Record<string, unknown>>;
        if (!injected && rows[0] && 'seq' in rows[0] && 'stream' in rows[0]) {
          injected = true;
          await appendOutput(deps, id, lines(3, 1));
          await delivered;
          await witness.return();
        }
        return args.result;
      },
    });
    const follower = followOutput({ ...server.app, db }, id, 0);
    const received: OutputChunk[] = [];
    const reading = (async () => {
      for await (const chunk of follower) received.push(chunk as OutputChunk);
    })();
    await until('the chunk appended during the replay', () => received.length === 4, 5000);
    expect(injected).toBe(true);
    expectWhole(received, 4);
    await moveRun(id, 'succeeded');
    await reading;
    expect(received).toHaveLength(4);
  });

  it('refuses to follow a run that does not exist, or from a negative offset', async () => {
    const missing = follow('00000000-0000-0000-0000-000000000000');
    await missing.done;
    expect(missing.errors()).toMatchObject([{ message: 'There is no run with id "00000000-0000-0000-0000-000000000000".', extensions: { code: 'NOT_FOUND' } }]);
    const id = await runningRun();
    const negative = follow(id, -5);
    await negative.done;
    expect(negative.errors()).toMatchObject([{ message: 'fromOffset is a byte offset: 0 or more.' }]);
  });
});
