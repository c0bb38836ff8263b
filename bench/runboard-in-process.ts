/**
 * Runboard as the start-latency, drain and burst benches run it: the real server in this process
 * (`start()` from server.ts, API only, on the bench's PostgreSQL), with its execution's run
 * events kept so a bench can wait for a given run to start or finish, and the SQL the benches use
 * to make scripts and queue work the way the issue describes.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Db } from '../db/database';
import type { Execution } from '../jobs/execution-service';
import { start, type Runboard } from '../server';
import { capped } from './samples';

export const BENCH_ADMIN = { username: 'bench-admin', password: 'bench-admin-password' };
export const BENCH_SECRET = 'bench-secret-bench-secret-bench-secret-01';

/**
 * When each run started and finished, as this instance's execution reported it, and waiters for
 * them. A run can start before the code that queued it asks (the dispatcher may already be
 * claiming), so events are kept until `forget()`.
 */
export class RunEvents {
  readonly startedAt = new Map<string, number>();
  readonly finishedState = new Map<string, string>();
  finishedCount = 0;
  readonly #waiters = new Map<string, { started?: (at: number) => void; finished?: (state: string) => void }>();
  readonly #unsubscribe: Array<() => void>;

  constructor(execution: Execution) {
    this.#unsubscribe = [
      execution.onRunStarted((runId) => {
        const at = performance.now();
        this.startedAt.set(runId, at);
        this.#waiters.get(runId)?.started?.(at);
      }),
      execution.onRunFinished((runId, state) => {
        this.finishedCount++;
        this.finishedState.set(runId, state);
        this.#waiters.get(runId)?.finished?.(state);
      }),
    ];
  }

  /** When run `runId` started (performance.now() in this process). */
  started(runId: string, cap: AbortSignal): Promise<number> {
    const at = this.startedAt.get(runId);
    if (at !== undefined) return Promise.resolve(at);
    return capped(new Promise<number>((resolve) => this.#waiter(runId).started = resolve), cap, `run ${runId} to start`);
  }

  /** The state run `runId` finished in. */
  finished(runId: string, cap: AbortSignal): Promise<string> {
    const state = this.finishedState.get(runId);
    if (state !== undefined) return Promise.resolve(state);
    return capped(new Promise<string>((resolve) => this.#waiter(runId).finished = resolve), cap, `run ${runId} to finish`);
  }

  forget(runId: string): void {
    this.startedAt.delete(runId);
    this.finishedState.delete(runId);
    this.#waiters.delete(runId);
  }

  close(): void {
    for (const unsubscribe of this.#unsubscribe) unsubscribe();
  }

  #waiter(runId: string) {
    let waiter = this.#waiters.get(runId);
    if (!waiter) this.#waiters.set(runId, (waiter = {}));
    return waiter;
  }
}

export interface BenchRunboard {
  runboard: Runboard;
  execution: Execution;
  db: Db;
  events: RunEvents;
  localHostId: string;
  /** How many runs this instance executes at once (its peers get the same concurrency). */
  maxParallelRuns: number;
  stop(): Promise<void>;
}

/** Starts Runboard on `databaseUrl` (which it migrates) with execution on. */
export async function startRunboard(databaseUrl: string): Promise<BenchRunboard> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'runboard-bench-'));
  let runboard: Runboard;
  try {
    runboard = await start({
      port: 0,
      host: '127.0.0.1',
      console: false,
      logLevel: 'warn',
      databaseUrl,
      dataDir,
      secret: BENCH_SECRET,
      admin: BENCH_ADMIN,
    });
  } catch (error) {
    fs.rmSync(dataDir, { recursive: true, force: true });
    throw new Error(`Runboard did not start on ${new URL(databaseUrl).pathname.slice(1)}: ${(error as Error).message}`, { cause: error });
  }
  const stop = async () => {
    await runboard.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  };
  const execution = runboard.execution;
  if (!execution) {
    await stop();
    throw new Error('Runboard started without execution (RUNBOARD_EXECUTE=false in the environment?); the execution benches need it on.');
  }
  const db = runboard.app.db;
  const local = await db.selectFrom('hosts').select('id').where('kind', '=', 'local').executeTakeFirstOrThrow();
  const events = new RunEvents(execution);
  return {
    runboard,
    execution,
    db,
    events,
    localHostId: local.id,
    maxParallelRuns: runboard.app.config.execution.maxParallelRuns,
    stop: async () => {
      events.close();
      await stop();
    },
  };
}

/** A script row for a built-in job (`noop`, `command`), as the benches use them. */
export async function insertScript(db: Db, name: string, jobClass: 'noop' | 'command', jobArgs: unknown[]): Promise<string> {
  const row = await db
    .insertInto('scripts')
    .values({ name, job_class: jobClass, job_args: JSON.stringify(jobArgs) })
    .returning('id')
    .executeTakeFirstOrThrow();
  return row.id;
}
