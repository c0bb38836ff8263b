/**
 * Peer: raw Agenda 6 with its PostgreSQL backend, on the bench's database, measured the way the
 * issue compares it with Runboard: start latency (`agenda.now()` → the handler starts), draining
 * a queue of jobs, and a burst of jobs all due at the same instant.
 *
 * Two settings: Agenda's defaults (poll every 5 s, concurrency 5 per job type, 20 in all; its
 * LISTEN/NOTIFY channel still wakes it for `now()`), and tuned as the issue asks (poll every
 * 100 ms, high concurrency, no lock limit). Jobs are inserted with SQL where the figure is about
 * running them, not creating them.
 *
 * Agenda 6.2.6 leaves a timer behind for every job it ran (its lock check sleeps lockLifetime / 2,
 * 5 minutes by default, and is not cancelled when the job ends, nor by stop()), so a process
 * that ran Agenda jobs cannot exit by itself for minutes: run.ts exits once the figures are out.
 */
import { PostgresBackend } from '@agendajs/postgres-backend';
import { Agenda, type Job, type JobWithId } from 'agenda';
import pg from 'pg';
import type { BurstFigures } from '../burst';
import type { DrainFigures } from '../drain';
import { capped, sampleSerially, wallClockMs, type SerialRun, type SerialSamples } from '../samples';

export type AgendaSettings = 'default' | 'tuned';

const JOB = 'bench-noop';
/** Not Agenda's default name: Runboard's own Agenda keeps its jobs in the same database. */
const TABLE = 'bench_agenda_jobs';
/** "High concurrency" for the tuned settings: as many jobs at once as a worker pool would run. */
const TUNED_CONCURRENCY = 100;

interface NoopData {
  sample?: number;
}

/** Starts an Agenda on `databaseUrl` whose one job type calls `onStart` as its handler begins. */
async function openAgenda(databaseUrl: string, settings: AgendaSettings, onStart: (job: Job<NoopData>) => void): Promise<Agenda> {
  const agenda = new Agenda({
    backend: new PostgresBackend({ connectionString: databaseUrl, tableName: TABLE, channelName: TABLE }),
    ...(settings === 'tuned' && {
      processEvery: 100,
      maxConcurrency: TUNED_CONCURRENCY,
      defaultConcurrency: TUNED_CONCURRENCY,
      lockLimit: 0,
      defaultLockLimit: 0,
    }),
  });
  agenda.on('error', (error) => console.error(`Agenda reported an error: ${error.message}`));
  agenda.define<NoopData>(JOB, async (job) => onStart(job));
  try {
    await agenda.ready;
  } catch (error) {
    throw new Error(`Agenda could not connect to ${new URL(databaseUrl).host}: ${(error as Error).message}`, { cause: error });
  }
  // Each measurement starts from an empty table: jobs of an earlier one must not be run again.
  await agenda.cancelAll();
  return agenda;
}

/** Inserts `count` jobs due at `runAt` in one statement, as a bulk enqueue would. */
async function insertJobs(databaseUrl: string, count: number, runAt: Date): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query(
      `insert into ${TABLE} (name, next_run_at, type, data) select $1, $2, 'normal', '{}'::jsonb from generate_series(1, $3::int)`,
      [JOB, runAt, count],
    );
  } finally {
    await client.end();
  }
}

/**
 * Serial samples of `agenda.now()` → handler start, each on an idle Agenda (the previous
 * job has completed), under the run's time cap.
 */
export async function agendaStartLatency(databaseUrl: string, settings: AgendaSettings, run: SerialRun): Promise<SerialSamples> {
  const started = new Map<number, (at: number) => void>();
  const agenda = await openAgenda(databaseUrl, settings, (job) => {
    const sample = job.attrs.data?.sample;
    if (sample !== undefined) started.get(sample)?.(performance.now());
  });
  try {
    await agenda.start();
    let next = 0;
    return await sampleSerially(run, async (cap) => {
      const sample = next++;
      const startedAt = new Promise<number>((resolve) => started.set(sample, resolve));
      const completed = new Promise<void>((resolve) => {
        const listener = (job: JobWithId) => {
          if ((job.attrs.data as NoopData | undefined)?.sample !== sample) return;
          agenda.off(`complete:${JOB}`, listener);
          resolve();
        };
        agenda.on(`complete:${JOB}`, listener);
      });
      const began = performance.now();
      await agenda.now<NoopData>(JOB, { sample });
      const latency = (await capped(startedAt, cap, `Agenda job ${sample} to start`)) - began;
      await capped(completed, cap, `Agenda job ${sample} to complete`);
      started.delete(sample);
      return latency;
    });
  } finally {
    await agenda.stop();
  }
}

/** Agenda (tuned) running `jobs` jobs queued beforehand, until all completed or `capMs` passed. */
export async function agendaDrain(databaseUrl: string, jobs: number, capMs: number): Promise<DrainFigures> {
  let completed = 0;
  let allDone: () => void = () => undefined;
  const done = new Promise<void>((resolve) => (allDone = resolve));
  const agenda = await openAgenda(databaseUrl, 'tuned', () => undefined);
  agenda.on(`complete:${JOB}`, () => {
    if (++completed === jobs) allDone();
  });
  try {
    await insertJobs(databaseUrl, jobs, new Date());
    const began = performance.now();
    await agenda.start();
    await Promise.race([done, new Promise((resolve) => setTimeout(resolve, capMs).unref())]);
    const seconds = (performance.now() - began) / 1000;
    return { jobs, completed, seconds, perSecond: completed / seconds, capped: completed < jobs };
  } finally {
    await agenda.stop();
  }
}

/**
 * Agenda (tuned) with `jobs` jobs all due at `leadMs` from now: each job's lateness is when its
 * handler started minus that instant. Waits until all started or `capMs` after the instant.
 */
export async function agendaBurst(databaseUrl: string, jobs: number, leadMs: number, capMs: number): Promise<BurstFigures> {
  const lateness: number[] = [];
  const seen = new Set<string>();
  let starts = 0;
  let dueAt = Number.POSITIVE_INFINITY;
  let allStarted: () => void = () => undefined;
  const done = new Promise<void>((resolve) => (allStarted = resolve));
  const agenda = await openAgenda(databaseUrl, 'tuned', (job) => {
    starts++;
    const id = String(job.attrs._id);
    if (seen.has(id)) return;
    seen.add(id);
    lateness.push(wallClockMs() - dueAt);
    if (seen.size === jobs) allStarted();
  });
  try {
    dueAt = Date.now() + leadMs;
    await insertJobs(databaseUrl, jobs, new Date(dueAt));
    await agenda.start();
    const waitMs = Math.max(0, dueAt - Date.now()) + capMs;
    await Promise.race([done, new Promise((resolve) => setTimeout(resolve, waitMs).unref())]);
    return { occurrences: jobs, started: seen.size, duplicates: starts - seen.size, lateness, capped: seen.size < jobs };
  } finally {
    await agenda.stop();
  }
}
