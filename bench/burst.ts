/**
 * The burst benchmark: 10,000 one-shot schedules all due in the same second. The targets:
 * p99 start lateness (the run's `started_at` − its `scheduled_for`) ≤ 1 s, and every occurrence
 * run exactly once (one run per schedule, none missing). Peers: 10,000 Agenda jobs (tuned) and
 * 10,000 graphile-worker jobs (same concurrency, 100 ms poll) all due at one instant, lateness
 * from that instant to their handler starting.
 *
 * The schedules are made by SQL (rows, then one UPDATE that makes them all due at T, a few
 * seconds ahead); Runboard's scheduler fires them by itself. After the last run has finished the
 * bench waits a little longer, so a late second firing would be counted.
 */
import os from 'node:os';
import { sql, type RawBuilder } from 'kysely';
import { recreateDatabase } from './bench-database';
import { agendaBurst } from './peers/agenda';
import { orFailure } from './peer-failure';
import { graphileBurst } from './peers/graphile-worker';
import { allPass, printResults, type Row } from './results-table';
import { insertScript, startRunboard, type BenchRunboard } from './runboard-in-process';
import { summarize, type Summary } from './samples';

export interface BurstOptions {
  schedules: number;
  /** Seconds after the due instant each variant may take to start everything. */
  capSeconds: number;
  databaseUrl: string;
}

/** One variant's burst: which of `occurrences` started, how late, and how many started twice. */
export interface BurstFigures {
  occurrences: number;
  /** Distinct occurrences that started. */
  started: number;
  /** Starts beyond the first of an occurrence (must be 0). */
  duplicates: number;
  /** Milliseconds from the due instant to each start. */
  lateness: number[];
  capped: boolean;
  /** Why it stopped, when it failed. */
  error?: string;
}

const TARGET_P99_MS = 1_000;
/** Time to make the jobs before they are due; the due instant is on a whole second after it. */
const LEAD_MS = 10_000;
/** After the last run finished: long enough for the scheduler to fire a duplicate, were it to. */
const SETTLE_MS = 3_000;
const POLL_MS = 250;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Makes `count` one-shot schedules of `scriptId` on the local host, all due at one instant. */
async function makeSchedules(rb: BenchRunboard, scriptId: string, count: number): Promise<Date> {
  // Not due yet (next_run_at null) while the rows go in, so the scheduler sees all or none.
  await sql`
    insert into schedules (name, script_id, kind, run_at, next_run_at, enabled)
    select 'bench burst ' || i, ${scriptId}::uuid, 'once', now() + interval '1 day', null, true from generate_series(1, ${count}::int) i
  `.execute(rb.db);
  await sql`insert into schedule_hosts (schedule_id, host_id) select id, ${rb.localHostId}::uuid from schedules`.execute(rb.db);
  const dueAt = new Date(Math.ceil((Date.now() + LEAD_MS) / 1000) * 1000);
  await sql`update schedules set run_at = ${dueAt}, next_run_at = ${dueAt}`.execute(rb.db);
  if (Date.now() > dueAt.getTime() - 500) console.warn(`Making the schedules took longer than ${LEAD_MS} ms: lateness includes part of it.`);
  // What an API change does (through the pubsub): the scheduler looks again now.
  rb.execution.scheduleChanged();
  return dueAt;
}

async function count(rb: BenchRunboard, query: RawBuilder<{ n: number }>): Promise<number> {
  const { rows } = await query.execute(rb.db);
  return rows[0]?.n ?? 0;
}

interface RunboardBurst {
  figures: BurstFigures;
  /** Schedules with no run at all. */
  missing: number;
  /** Schedules with more than one run. */
  repeated: number;
  /** Runs not for the due instant (scheduled_for ≠ T). */
  offInstant: number;
  states: Record<string, number>;
  concurrency: number;
  /** When the last run was queued and claimed, in ms from the due instant (negative: before it). */
  lastQueuedMs: number | null;
  lastClaimedMs: number | null;
}

async function runboardBurst(databaseUrl: string, schedules: number, capMs: number): Promise<RunboardBurst> {
  const rb = await startRunboard(databaseUrl);
  try {
    const scriptId = await insertScript(rb.db, 'bench no-op', 'noop', []);
    const dueAt = await makeSchedules(rb, scriptId, schedules);
    const deadline = dueAt.getTime() + capMs;
    const startedRuns = sql<{ n: number }>`select count(*)::int as n from runs where schedule_id is not null and started_at is not null`;
    const activeRuns = sql<{ n: number }>`select count(*)::int as n from runs where state in ('queued', 'dispatched', 'running')`;
    while (Date.now() < deadline && (await count(rb, startedRuns)) < schedules) await sleep(POLL_MS);
    while (Date.now() < deadline && (await count(rb, activeRuns)) > 0) await sleep(POLL_MS);
    await sleep(SETTLE_MS);

    const lateness = await sql<{ ms: number }>`
      select extract(epoch from started_at - scheduled_for)::float8 * 1000 as ms from runs where schedule_id is not null and started_at is not null
    `.execute(rb.db);
    const perSchedule = await sql<{ missing: number; repeated: number; runs: number }>`
      select count(*) filter (where n = 0)::int as missing, count(*) filter (where n > 1)::int as repeated, coalesce(sum(n), 0)::int as runs
      from (select s.id, count(r.id) as n from schedules s left join runs r on r.schedule_id = s.id group by s.id) per
    `.execute(rb.db);
    const offInstant = await count(rb, sql<{ n: number }>`select count(*)::int as n from runs where schedule_id is not null and scheduled_for is distinct from ${dueAt}`);
    const states = await rb.db.selectFrom('runs').select(['state', sql<number>`count(*)::int`.as('n')]).groupBy('state').execute();
    // Where the time went: when the last run was queued (fired) and claimed, from the due instant.
    const phases = await sql<{ queued: number | null; claimed: number | null }>`
      select extract(epoch from max(created_at) - ${dueAt}::timestamptz)::float8 * 1000 as queued,
             extract(epoch from max(dispatched_at) - ${dueAt}::timestamptz)::float8 * 1000 as claimed
      from runs where schedule_id is not null
    `.execute(rb.db);
    const { missing, repeated, runs } = perSchedule.rows[0] ?? { missing: schedules, repeated: 0, runs: 0 };
    const started = lateness.rows.length;
    return {
      figures: { occurrences: schedules, started: Math.min(started, schedules - missing), duplicates: runs - (schedules - missing), lateness: lateness.rows.map((r) => r.ms), capped: started < schedules },
      missing,
      repeated,
      offInstant,
      states: Object.fromEntries(states.map((s) => [s.state, s.n])),
      concurrency: rb.maxParallelRuns,
      lastQueuedMs: phases.rows[0]?.queued ?? null,
      lastClaimedMs: phases.rows[0]?.claimed ?? null,
    };
  } finally {
    await rb.stop();
  }
}

export async function burstBench(options: BurstOptions): Promise<Record<string, unknown>> {
  const { schedules, databaseUrl } = options;
  const capMs = options.capSeconds * 1000;
  console.log(`Burst benchmark: ${schedules.toLocaleString('en')} occurrences due in the same second per variant, each capped at ${options.capSeconds} s after it, on ${os.cpus().length} cores.`);
  const loadBefore = os.loadavg()[0]!;
  await recreateDatabase(databaseUrl);

  const runboard = await runboardBurst(databaseUrl, schedules, capMs);
  // Peers run after Runboard has stopped, so neither competes with the other for the cores.
  const { concurrency } = runboard;
  const failed = (error: string): BurstFigures => ({ occurrences: schedules, started: 0, duplicates: 0, lateness: [], capped: true, error });
  const graphile = await orFailure('graphile-worker', () => graphileBurst(databaseUrl, { concurrency, pollInterval: 100 }, schedules, LEAD_MS, capMs), failed);
  const agenda = await orFailure('Agenda', () => agendaBurst(databaseUrl, schedules, LEAD_MS, capMs), failed);
  const loadAfter = os.loadavg()[0]!;

  const summaries = { runboard: summarize(runboard.figures.lateness), graphile: summarize(graphile.lateness), agenda: summarize(agenda.lateness) };
  const exactlyOnce = runboard.missing === 0 && runboard.repeated === 0 && runboard.offInstant === 0 && !runboard.figures.capped;
  const onTime = summaries.runboard.p99 !== null && summaries.runboard.p99 <= TARGET_P99_MS && !runboard.figures.capped;
  const row = (variant: string, f: BurstFigures, s: Summary): Omit<Row, 'target' | 'pass'> => ({
    variant,
    cells: [f.started, f.duplicates, s.p50, s.p95, s.p99, s.max],
    ...(f.capped && { note: f.error ? `failed: ${f.error}` : `time cap reached: ${f.started.toLocaleString('en')} of ${f.occurrences.toLocaleString('en')} started` }),
  });
  const rows: Row[] = [
    { ...row('Runboard: start lateness', runboard.figures, summaries.runboard), target: `p99 ≤ ${TARGET_P99_MS} ms`, pass: onTime },
    {
      variant: 'Runboard: runs per schedule',
      cells: [schedules - runboard.missing, runboard.figures.duplicates],
      target: 'exactly 1 each',
      pass: exactlyOnce,
      note: `${runboard.missing} with none, ${runboard.repeated} with more than one, ${runboard.offInstant} for another instant`,
    },
    row(`peer: graphile-worker (concurrency ${concurrency}, 100 ms poll)`, graphile, summaries.graphile),
    row('peer: Agenda, tuned (100 ms poll, concurrency 100)', agenda, summaries.agenda),
  ];
  console.log('\nOccurrences due in the same second: started, started twice, and lateness after the due instant (ms):\n');
  printResults([{ title: 'started', decimals: 0 }, { title: 'twice', decimals: 0 }, { title: 'p50' }, { title: 'p95' }, { title: 'p99' }, { title: 'max' }], rows);
  const fromDue = (ms: number | null) => (ms === null ? '–' : `${Math.abs(Math.round(ms))} ms ${ms < 0 ? 'before' : 'after'} the instant`);
  console.log(`\nRunboard's runs by state: ${JSON.stringify(runboard.states)}. Load average ${loadBefore.toFixed(2)} before, ${loadAfter.toFixed(2)} after.`);
  console.log(`Runboard fired ahead: the last run was queued ${fromDue(runboard.lastQueuedMs)} and claimed ${fromDue(runboard.lastClaimedMs)}.`);

  const figures = (f: BurstFigures, s: Summary) => ({ occurrences: f.occurrences, started: f.started, duplicates: f.duplicates, capped: f.capped, lateness: s, ...(f.error && { error: f.error }) });
  return {
    bench: 'burst',
    schedules,
    cores: os.cpus().length,
    loadAverage: [loadBefore, loadAfter].map((l) => Math.round(l * 100) / 100),
    target: { latenessP99Ms: TARGET_P99_MS, runsPerSchedule: 1 },
    pass: allPass(rows),
    runboard: {
      ...figures(runboard.figures, summaries.runboard),
      missing: runboard.missing,
      repeated: runboard.repeated,
      offInstant: runboard.offInstant,
      states: runboard.states,
      lastQueuedMs: runboard.lastQueuedMs === null ? null : Math.round(runboard.lastQueuedMs),
      lastClaimedMs: runboard.lastClaimedMs === null ? null : Math.round(runboard.lastClaimedMs),
    },
    peers: { graphileWorker: { ...figures(graphile, summaries.graphile), concurrency }, agendaTuned: figures(agenda, summaries.agenda) },
  };
}
