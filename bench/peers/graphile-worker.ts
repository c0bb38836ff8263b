/**
 * Peer: graphile-worker 0.17 (0.18 needs Node 22), the PostgreSQL job queue the style guide holds
 * up, on the bench's database in its own schema: start latency (`addJob()` → the task starts),
 * draining a queue of jobs added in bulk (`addJobs`), and a burst of jobs all due at one instant.
 *
 * It runs with `concurrency` jobs at once (the caller passes Runboard's, so the two are
 * comparable) and its default LISTEN/NOTIFY wake-up; jobs due in the future are found by polling,
 * every `pollInterval` ms (default 2000; the burst passes 100, like tuned Agenda). Its pool gets
 * a connection per job plus two, as its documentation advises, unless the server has fewer free
 * (tests running beside the bench use connections too): then what is free, and a note says so.
 */
import { Logger, makeWorkerUtils, run, runMigrations, type Job, type Runner, type RunnerOptions } from 'graphile-worker';
import type { BurstFigures } from '../burst';
import type { DrainFigures } from '../drain';
import { capped, sampleSerially, wallClockMs, type SerialRun, type SerialSamples } from '../samples';

const TASK = 'bench_noop';
/** Its log is a line per job; the bench prints its own figures. */
const silent = new Logger(() => () => undefined);

interface NoopPayload {
  sample?: number;
}

export interface GraphileOptions {
  concurrency: number;
  pollInterval?: number;
}

/** Connections kept free for everyone else on the server. */
const SPARE_CONNECTIONS = 15;

/** concurrency + 2 connections, or as many as the server has free (at least 4). */
async function poolSize(databaseUrl: string, concurrency: number): Promise<number> {
  const wanted = concurrency + 2;
  const utils = await makeWorkerUtils({ connectionString: databaseUrl, logger: silent });
  try {
    const { rows } = await utils.withPgClient((client) =>
      client.query<{ free: number }>(`select current_setting('max_connections')::int - (select count(*) from pg_stat_activity)::int as free`),
    );
    const free = (rows[0]?.free ?? wanted) - SPARE_CONNECTIONS;
    if (free >= wanted) return wanted;
    const size = Math.max(4, free);
    console.log(`  graphile-worker gets a pool of ${size} connections, not ${wanted}: the server has only ${free + SPARE_CONNECTIONS} free.`);
    return size;
  } finally {
    await utils.release();
  }
}

function runnerOptions(databaseUrl: string, options: GraphileOptions & { maxPoolSize: number }, onStart: (job: Job, payload: NoopPayload) => void): RunnerOptions {
  return {
    connectionString: databaseUrl,
    concurrency: options.concurrency,
    maxPoolSize: options.maxPoolSize,
    pollInterval: options.pollInterval ?? 2000,
    noHandleSignals: true,
    logger: silent,
    taskList: {
      [TASK]: async (payload, helpers) => onStart(helpers.job, (payload ?? {}) as NoopPayload),
    },
  };
}

/** Creates graphile-worker's schema and empties its queue, so each measurement starts clean. */
async function prepare(databaseUrl: string): Promise<void> {
  try {
    await runMigrations({ connectionString: databaseUrl, logger: silent });
  } catch (error) {
    throw new Error(`graphile-worker could not migrate its schema on ${new URL(databaseUrl).host}: ${(error as Error).message}`, { cause: error });
  }
  const utils = await makeWorkerUtils({ connectionString: databaseUrl, logger: silent });
  try {
    await utils.withPgClient((client) => client.query('delete from graphile_worker._private_jobs'));
  } finally {
    await utils.release();
  }
}

async function startRunner(databaseUrl: string, options: GraphileOptions, onStart: (job: Job, payload: NoopPayload) => void): Promise<Runner> {
  const maxPoolSize = await poolSize(databaseUrl, options.concurrency);
  const runner = await run(runnerOptions(databaseUrl, { ...options, maxPoolSize }, onStart));
  // A fatal error ends the runner's promise; say so rather than leave the bench waiting.
  runner.promise.catch((error: unknown) => console.error(`graphile-worker stopped: ${(error as Error).message}`));
  return runner;
}

/** Adds `count` jobs due at `runAt` (now when omitted) with one bulk `addJobs` per 1,000. */
async function addJobs(databaseUrl: string, count: number, runAt?: Date): Promise<void> {
  const utils = await makeWorkerUtils({ connectionString: databaseUrl, logger: silent });
  try {
    for (let added = 0; added < count; added += 1000) {
      const batch = Array.from({ length: Math.min(1000, count - added) }, () => ({ identifier: TASK, payload: {}, ...(runAt && { runAt }) }));
      await utils.addJobs(batch);
    }
  } finally {
    await utils.release();
  }
}

/** Serial samples of `addJob()` → task start, each on an idle worker, under the run's time cap. */
export async function graphileStartLatency(databaseUrl: string, options: GraphileOptions, run: SerialRun): Promise<SerialSamples> {
  await prepare(databaseUrl);
  const started = new Map<number, (at: number) => void>();
  const completed = new Map<number, () => void>();
  const runner = await startRunner(databaseUrl, options, (_job, payload) => {
    if (payload.sample !== undefined) started.get(payload.sample)?.(performance.now());
  });
  runner.events.on('job:complete', ({ job }) => {
    const sample = (job.payload as NoopPayload | null)?.sample;
    if (sample !== undefined) completed.get(sample)?.();
  });
  try {
    let next = 0;
    return await sampleSerially(run, async (cap) => {
      const sample = next++;
      const startedAt = new Promise<number>((resolve) => started.set(sample, resolve));
      const finished = new Promise<void>((resolve) => completed.set(sample, resolve));
      const began = performance.now();
      await runner.addJob(TASK, { sample });
      const latency = (await capped(startedAt, cap, `graphile-worker job ${sample} to start`)) - began;
      await capped(finished, cap, `graphile-worker job ${sample} to complete`);
      started.delete(sample);
      completed.delete(sample);
      return latency;
    });
  } finally {
    await runner.stop();
  }
}

/** graphile-worker running `jobs` jobs added beforehand, until all completed or `capMs` passed. */
export async function graphileDrain(databaseUrl: string, options: GraphileOptions, jobs: number, capMs: number): Promise<DrainFigures> {
  await prepare(databaseUrl);
  await addJobs(databaseUrl, jobs);
  let completed = 0;
  let allDone: () => void = () => undefined;
  const done = new Promise<void>((resolve) => (allDone = resolve));
  const began = performance.now();
  const runner = await startRunner(databaseUrl, options, () => undefined);
  runner.events.on('job:complete', () => {
    if (++completed === jobs) allDone();
  });
  try {
    await Promise.race([done, new Promise((resolve) => setTimeout(resolve, capMs).unref())]);
    const seconds = (performance.now() - began) / 1000;
    return { jobs, completed, seconds, perSecond: completed / seconds, capped: completed < jobs };
  } finally {
    await runner.stop();
  }
}

/**
 * graphile-worker with `jobs` jobs all due at `leadMs` from now: lateness is when each task
 * started minus that instant. Waits until all started or `capMs` after the instant.
 */
export async function graphileBurst(databaseUrl: string, options: GraphileOptions, jobs: number, leadMs: number, capMs: number): Promise<BurstFigures> {
  await prepare(databaseUrl);
  const lateness: number[] = [];
  const seen = new Set<string>();
  let starts = 0;
  let dueAt = Number.POSITIVE_INFINITY;
  let allStarted: () => void = () => undefined;
  const done = new Promise<void>((resolve) => (allStarted = resolve));
  const runner = await startRunner(databaseUrl, options, (job) => {
    starts++;
    if (seen.has(job.id)) return;
    seen.add(job.id);
    lateness.push(wallClockMs() - dueAt);
    if (seen.size === jobs) allStarted();
  });
  try {
    dueAt = Date.now() + leadMs;
    await addJobs(databaseUrl, jobs, new Date(dueAt));
    const waitMs = Math.max(0, dueAt - Date.now()) + capMs;
    await Promise.race([done, new Promise((resolve) => setTimeout(resolve, waitMs).unref())]);
    return { occurrences: jobs, started: seen.size, duplicates: starts - seen.size, lateness, capped: seen.size < jobs };
  } finally {
    await runner.stop();
  }
}
