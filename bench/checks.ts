/**
 * The checks benchmark: 10,000 checks whose scripts all fall silent in the same second. The
 * issue's target: p99 of (flip time − deadline) ≤ 1 s for the sweeper, every check flipped exactly
 * once. The flip time is when `checkUpdated` reaches a subscriber in the sweeping instance (after
 * the flip committed); the deadline is the check's due time. The checks have no grace period, so
 * each makes one flip (up → down) at its due time.
 *
 * Peer, on the same database in the same run (after Runboard has stopped): the naive sweeper
 * (bench/peers/naive-check-sweeper.ts) — read every check each second, decide in JavaScript,
 * update one by one — on the same checks made due again. Its flip time is when its update
 * committed.
 */
import os from 'node:os';
import { sql } from 'kysely';
import { recreateDatabase } from './bench-database';
import { orFailure } from './peer-failure';
import { naiveSweep } from './peers/naive-check-sweeper';
import { allPass, printResults, type Row } from './results-table';
import { startRunboard, type BenchRunboard } from './runboard-in-process';
import { summarize, type Summary } from './samples';

export interface ChecksOptions {
  checks: number;
  /** Seconds after the deadlines each variant may take to flip everything. */
  capSeconds: number;
  databaseUrl: string;
}

const TARGET_P99_MS = 1_000;
/** Time to make the checks before they are due; the deadlines spread over the whole second after it. */
const LEAD_MS = 5_000;
/** After the last flip: long enough for a second flip of a check, were one to happen. */
const SETTLE_MS = 2_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface SweepFigures {
  checks: number;
  flipped: number;
  /** ms from each check's deadline to its flip. */
  lateness: number[];
  capped: boolean;
  /** Flip events beyond one per check (must be 0). */
  extraEvents: number;
  /** From the first deadline to the last flip, ms. */
  spanMs: number | null;
  error?: string;
}

/**
 * Makes (or, with `reset`, makes again) `count` up checks with no grace, due over one second a few
 * seconds ahead; returns each check's deadline (epoch ms) and the first of them.
 */
async function makeDue(db: BenchRunboard['db'], count: number, reset: boolean): Promise<{ deadlines: Map<string, number>; first: number }> {
  if (!reset) {
    await sql`
      insert into checks (name, kind, period_seconds, grace_seconds, state)
      select 'bench check ' || i, 'period', 3600, 0, 'up' from generate_series(1, ${count}::int) i`.execute(db);
  }
  await sql`delete from events where object_type = 'Check'`.execute(db);
  const first = Math.ceil((Date.now() + LEAD_MS) / 1000) * 1000;
  // One statement: the sweeper sees all of them due, or none. Deadlines spread over the second.
  const { rows } = await sql<{ id: string; due: Date }>`
    update checks c set state = 'up', last_ping_at = d.due - interval '1 hour', last_success = true, last_ping_kind = 'success',
      next_due_at = d.due, late_at = d.due, updated_at = now()
    from (select id, ${new Date(first).toISOString()}::timestamptz + ((row_number() over (order by id)) % 1000) * interval '1 millisecond' as due from checks) d
    where c.id = d.id
    returning c.id, c.next_due_at as due`.execute(db);
  if (Date.now() > first - 500) console.warn(`Making the checks took longer than ${LEAD_MS} ms: lateness includes part of it.`);
  return { deadlines: new Map(rows.map((r) => [r.id, r.due.getTime()])), first };
}

/** Flip events beyond one per check. */
async function extraEvents(db: BenchRunboard['db'], count: number): Promise<number> {
  const { rows } = await sql<{ n: number }>`select count(*)::int as n from events where object_type = 'Check' and action = 'check.down'`.execute(db);
  return (rows[0]?.n ?? 0) - count;
}

function figures(deadlines: Map<string, number>, flippedAt: Map<string, number>, first: number, capped: boolean, extra: number): SweepFigures {
  const lateness = [...flippedAt].map(([id, at]) => at - deadlines.get(id)!);
  const last = Math.max(...flippedAt.values());
  return { checks: deadlines.size, flipped: flippedAt.size, lateness, capped, extraEvents: extra, spanMs: flippedAt.size ? last - first : null };
}

async function runboardSweep(databaseUrl: string, count: number, capMs: number): Promise<SweepFigures> {
  const rb = await startRunboard(databaseUrl);
  const flippedAt = new Map<string, number>();
  // The sweeper's own instance hears its flips without a database round trip.
  const iterator = rb.runboard.app.pubsub.subscribe('checkUpdated')[Symbol.asyncIterator]();
  let listening = true;
  const listen = (async () => {
    while (listening) {
      const next = await iterator.next();
      if (next.done) return;
      if (next.value.kind === 'STATE_CHANGED' && !flippedAt.has(next.value.id)) flippedAt.set(next.value.id, Date.now());
    }
  })();
  try {
    const { deadlines, first } = await makeDue(rb.db, count, false);
    // What an API change does (through the pubsub): the sweeper looks at its deadlines again.
    rb.execution.checkChanged();
    const cap = first + 1_000 + capMs;
    while (flippedAt.size < count && Date.now() < cap) await sleep(100);
    await sleep(SETTLE_MS);
    return figures(deadlines, flippedAt, first, flippedAt.size < count, await extraEvents(rb.db, count));
  } finally {
    listening = false;
    await iterator.return?.();
    await listen.catch(() => undefined);
    await rb.stop();
  }
}

async function naiveRun(databaseUrl: string, count: number, capMs: number): Promise<SweepFigures> {
  // Runboard makes the checks due again (its database code), stopped before the peer starts.
  const rb = await startRunboard(databaseUrl);
  let made: { deadlines: Map<string, number>; first: number };
  try {
    await rb.execution.stop(); // its sweeper must not take the peer's flips
    made = await makeDue(rb.db, count, true);
  } finally {
    await rb.stop();
  }
  const { deadlines, first } = made;
  const result = await naiveSweep(databaseUrl, count, first + 1_000 + capMs);
  await sleep(SETTLE_MS);
  return figures(deadlines, result.flippedAt, first, result.flippedAt.size < count, result.downEvents - count);
}

export async function checksBench(options: ChecksOptions): Promise<Record<string, unknown>> {
  const { checks, databaseUrl } = options;
  const capMs = options.capSeconds * 1000;
  console.log(`Checks benchmark: ${checks.toLocaleString('en')} checks due within the same second per variant, each capped at ${options.capSeconds} s after it, on ${os.cpus().length} cores.`);
  const loadBefore = os.loadavg()[0]!;
  await recreateDatabase(databaseUrl);
  const runboard = await runboardSweep(databaseUrl, checks, capMs);
  const failed = (error: string): SweepFigures => ({ checks, flipped: 0, lateness: [], capped: true, extraEvents: 0, spanMs: null, error });
  const naive = await orFailure('naive sweeper', () => naiveRun(databaseUrl, checks, capMs), failed);
  const loadAfter = os.loadavg()[0]!;

  const summaries = { runboard: summarize(runboard.lateness), naive: summarize(naive.lateness) };
  const exactlyOnce = runboard.flipped === checks && runboard.extraEvents === 0;
  const onTime = summaries.runboard.p99 !== null && summaries.runboard.p99 <= TARGET_P99_MS && !runboard.capped;
  const cells = (f: SweepFigures, s: Summary) => [f.flipped, f.extraEvents, s.p50, s.p95, s.p99, s.max, f.spanMs];
  const note = (f: SweepFigures) =>
    f.error ? `failed: ${f.error}` : f.capped ? `time cap reached: ${f.flipped.toLocaleString('en')} of ${f.checks.toLocaleString('en')} flipped` : undefined;
  const rows: Row[] = [
    { variant: 'Runboard: sweeper', cells: cells(runboard, summaries.runboard), target: `p99 ≤ ${TARGET_P99_MS} ms, once each`, pass: onTime && exactlyOnce, note: note(runboard) },
    { variant: 'peer: naive (read all each second, update one by one)', cells: cells(naive, summaries.naive), note: note(naive) },
  ];
  console.log('\nChecks flipped (up → down), extra flip events, lateness after each deadline (ms), and first deadline → last flip (ms):\n');
  printResults([{ title: 'flipped', decimals: 0 }, { title: 'extra', decimals: 0 }, { title: 'p50' }, { title: 'p95' }, { title: 'p99' }, { title: 'max' }, { title: 'span', decimals: 0 }], rows);
  console.log(`\nLoad average ${loadBefore.toFixed(2)} before, ${loadAfter.toFixed(2)} after.`);

  const json = (f: SweepFigures, s: Summary) => ({ flipped: f.flipped, extraEvents: f.extraEvents, capped: f.capped, lateness: s, spanMs: f.spanMs, ...(f.error && { error: f.error }) });
  return {
    bench: 'checks',
    checks,
    cores: os.cpus().length,
    loadAverage: [loadBefore, loadAfter].map((l) => Math.round(l * 100) / 100),
    target: { latenessP99Ms: TARGET_P99_MS, flipsPerCheck: 1 },
    pass: allPass(rows),
    runboard: json(runboard, summaries.runboard),
    peers: { naive: json(naive, summaries.naive) },
  };
}
