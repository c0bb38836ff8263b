/**
 * The drain benchmark: 10,000 no-op runs already queued, then execution is woken; how many runs
 * a second it finishes (the target: ≥ 2,000 runs/s). Peers on the same database:
 * graphile-worker with 10,000 jobs added in bulk and the same concurrency (the issue aims at
 * Runboard ≥ 0.5 × its rate), and tuned Agenda with 10,000 jobs inserted by SQL.
 *
 * Runboard is timed from the moment its queue holds every run (the bulk INSERT has returned) and
 * `wake()` is called to its last `onRunFinished`; every run must then have succeeded.
 */
import os from 'node:os';
import { sql } from 'kysely';
import { recreateDatabase } from './bench-database';
import { agendaDrain } from './peers/agenda';
import { orFailure } from './peer-failure';
import { graphileDrain } from './peers/graphile-worker';
import { printResults, type Row } from './results-table';
import { insertScript, startRunboard } from './runboard-in-process';
import { round } from './samples';

export interface DrainOptions {
  runs: number;
  /** Seconds each variant may take; one that does not finish reports what it reached. */
  capSeconds: number;
  databaseUrl: string;
}

/** One variant's drain: how many of `jobs` completed in `seconds`. */
export interface DrainFigures {
  jobs: number;
  completed: number;
  seconds: number;
  perSecond: number;
  capped: boolean;
  /** Why it stopped, when it failed. */
  error?: string;
}

const TARGET_PER_SECOND = 2_000;
const TARGET_RATIO = 0.5;

async function runboardDrain(databaseUrl: string, runs: number, capMs: number): Promise<{ figures: DrainFigures; concurrency: number; states: Record<string, number> }> {
  const rb = await startRunboard(databaseUrl);
  try {
    const scriptId = await insertScript(rb.db, 'bench no-op', 'noop', []);
    const local = await rb.db.selectFrom('hosts').select('name').where('id', '=', rb.localHostId).executeTakeFirstOrThrow();
    let allDone: () => void = () => undefined;
    const done = new Promise<void>((resolve) => (allDone = resolve));
    const unsubscribe = rb.execution.onRunFinished(() => {
      if (rb.events.finishedCount >= runs) allDone();
    });
    await sql`
      insert into runs (script_id, script_name, host_id, host_name, trigger)
      select ${scriptId}::uuid, 'bench no-op', ${rb.localHostId}::uuid, ${local.name}, 'manual' from generate_series(1, ${runs}::int)
    `.execute(rb.db);
    const began = performance.now();
    rb.execution.wake();
    await Promise.race([done, new Promise((resolve) => setTimeout(resolve, capMs).unref())]);
    const seconds = (performance.now() - began) / 1000;
    unsubscribe();
    const completed = Math.min(runs, rb.events.finishedCount);
    const states = await rb.db.selectFrom('runs').select(['state', sql<number>`count(*)::int`.as('n')]).groupBy('state').execute();
    return {
      figures: { jobs: runs, completed, seconds, perSecond: completed / seconds, capped: completed < runs },
      concurrency: rb.maxParallelRuns,
      states: Object.fromEntries(states.map((s) => [s.state, s.n])),
    };
  } finally {
    await rb.stop();
  }
}

const rounded = (f: DrainFigures) => ({ ...f, seconds: round(f.seconds), perSecond: Math.round(f.perSecond) });

export async function drainBench(options: DrainOptions): Promise<Record<string, unknown>> {
  const { runs, databaseUrl } = options;
  const capMs = options.capSeconds * 1000;
  console.log(`Drain benchmark: ${runs.toLocaleString('en')} queued no-op runs per variant, each capped at ${options.capSeconds} s, on ${os.cpus().length} cores.`);
  const loadBefore = os.loadavg()[0]!;
  await recreateDatabase(databaseUrl);

  const runboard = await runboardDrain(databaseUrl, runs, capMs);
  const { concurrency } = runboard;
  const succeeded = runboard.states.succeeded ?? 0;
  // Peers run after Runboard has stopped, so neither competes with the other for the cores.
  const failed = (error: string): DrainFigures => ({ jobs: runs, completed: 0, seconds: 0, perSecond: 0, capped: true, error });
  const graphile = await orFailure('graphile-worker', () => graphileDrain(databaseUrl, { concurrency }, runs, capMs), failed);
  const agenda = await orFailure('Agenda', () => agendaDrain(databaseUrl, runs, capMs), failed);
  const loadAfter = os.loadavg()[0]!;

  const ratio = graphile.perSecond > 0 ? runboard.figures.perSecond / graphile.perSecond : null;
  const meetsRate = !runboard.figures.capped && succeeded === runs && runboard.figures.perSecond >= TARGET_PER_SECOND;
  const meetsRatio = ratio !== null && ratio >= TARGET_RATIO;
  const row = (variant: string, f: DrainFigures, extra: Partial<Row> = {}): Row => ({
    variant,
    cells: [f.completed, f.jobs, round(f.seconds), Math.round(f.perSecond)],
    ...(f.capped && { note: f.error ? `failed: ${f.error}` : `time cap reached: ${f.completed.toLocaleString('en')} of ${f.jobs.toLocaleString('en')} done` }),
    ...extra,
  });
  console.log('\nQueued runs drained (no-op jobs):\n');
  printResults([{ title: 'done', decimals: 0 }, { title: 'queued', decimals: 0 }, { title: 'seconds' }, { title: 'runs/s', decimals: 0 }], [
    row(`Runboard (${concurrency} runs at once)`, runboard.figures, {
      target: `≥ ${TARGET_PER_SECOND.toLocaleString('en')} runs/s`,
      pass: meetsRate,
      ...(succeeded !== runs && { note: `only ${succeeded} succeeded: ${JSON.stringify(runboard.states)}` }),
    }),
    row(`peer: graphile-worker (concurrency ${concurrency}, addJobs in bulk)`, graphile),
    row('peer: Agenda, tuned (100 ms poll, concurrency 100), jobs by SQL', agenda),
  ]);
  console.log(
    `\nRunboard / graphile-worker: ${ratio === null ? '–' : ratio.toFixed(2)} (aim ≥ ${TARGET_RATIO}): ${meetsRatio ? 'pass' : 'FAIL'}.` +
      `\nLoad average ${loadBefore.toFixed(2)} before, ${loadAfter.toFixed(2)} after (other processes competing for the cores slow every variant).`,
  );

  return {
    bench: 'drain',
    runs,
    cores: os.cpus().length,
    loadAverage: [loadBefore, loadAfter].map((l) => Math.round(l * 100) / 100),
    target: { perSecond: TARGET_PER_SECOND, ratioToGraphileWorker: TARGET_RATIO },
    pass: meetsRate && meetsRatio,
    runboard: { ...rounded(runboard.figures), concurrency, states: runboard.states },
    ratioToGraphileWorker: ratio === null ? null : round(ratio),
    peers: { graphileWorker: { ...rounded(graphile), concurrency }, agendaTuned: rounded(agenda) },
  };
}
