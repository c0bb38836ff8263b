/**
 * Agenda (v6, PostgreSQL backend) on the app's own pool, its table from our migration
 * (`ensureSchema: false`). Agenda runs Runboard's housekeeping — jobs that must run somewhere,
 * once per interval, whichever instance locks them: resolving runs of instances that stopped
 * answering, and forgetting old instances. Runs and schedule firings do not go through Agenda:
 * its one-job-per-round-trip locking measured ~270 jobs/s and a p99 start latency of ~200 ms here
 * (README, "Why runs do not go through Agenda"), so they use the run queue's batched claim.
 */
import { Agenda } from 'agenda';
import { PostgresBackend } from '@agendajs/postgres-backend';
import type pg from 'pg';
import type { Logger } from 'pino';

const HOUSEKEEPING_LOCK_MS = 2_000;

export interface Housekeeping {
  name: string;
  /** Milliseconds between runs. */
  everyMs: number;
  work: () => Promise<void>;
}

export async function startAgenda(options: { pool: pg.Pool; log: Logger; jobs: Housekeeping[] }): Promise<Agenda> {
  // No LISTEN/NOTIFY: housekeeping is periodic, polling finds it, and Agenda's listening client
  // has no error handler (a PostgreSQL restart would crash the process with it).
  const backend = new PostgresBackend({ pool: options.pool, ensureSchema: false, disableNotifications: true });
  const shortest = Math.min(...options.jobs.map((job) => job.everyMs));
  const agenda = new Agenda({
    backend,
    name: 'runboard',
    // Agenda arms a timer (not cleared by stop()) for a job due within this window, which keeps
    // the process alive that long after shutdown: keep it short.
    processEvery: Math.max(250, Math.min(1_000, Math.floor(shortest / 2))),
  });
  agenda.on('error', (error: unknown) => options.log.error({ err: error }, 'Agenda failed; housekeeping resumes on its next pass'));
  for (const job of options.jobs) {
    // A short lock: a lock left by a killed instance expires in moments (housekeeping is
    // idempotent, so an overlap is harmless), and Agenda's lock-check timer, which runs
    // lockLifetime / 2 after each job and is not cleared by stop(), does not hold shutdown back.
    agenda.define(
      job.name,
      async () => {
        await job.work();
      },
      { lockLifetime: HOUSEKEEPING_LOCK_MS },
    );
  }
  await agenda.start();
  for (const job of options.jobs) await agenda.every(job.everyMs, job.name);
  return agenda;
}
