/**
 * What the scheduler reads and writes when schedules come due: it locks a batch of due schedules
 * (SKIP LOCKED, so instances split the work), records their occurrences (unique on schedule and
 * moment: a second firing anywhere inserts nothing), and moves each schedule to its next moment.
 */
import { sql, type Selectable } from 'kysely';
import type { Db } from './database';
import { toSchedule, type Schedule } from './schedule.repository';
import type { RunsTable, SchedulesTable } from './schema';
import { toRun, type Run } from './run.repository';

export interface DueScheduleRow extends Schedule {
  nextRunAt: Date;
  roundRobinNext: number;
}

/**
 * Locks up to `limit` enabled schedules that are due — by now, or, for `allow` schedules (which
 * fire ahead), by `horizon` — the most overdue first. Needs a transaction.
 */
export async function lockDueSchedules(trx: Db, limit: number, horizon: Date): Promise<DueScheduleRow[]> {
  const rows = await trx
    .selectFrom('schedules')
    .selectAll()
    .where('enabled', '=', true)
    .where('next_run_at', 'is not', null)
    .where(sql<boolean>`(next_run_at <= now() or (overlap_policy = 'allow' and next_run_at <= ${horizon}))`)
    .orderBy('next_run_at')
    .limit(limit)
    .forUpdate()
    .skipLocked()
    .execute();
  return rows.map((row: Selectable<SchedulesTable>) => ({ ...toSchedule(row), nextRunAt: row.next_run_at!, roundRobinNext: row.round_robin_next }));
}

/** When the scheduler must next look: the earliest due moment, `aheadMs` early for `allow` schedules (null: none is due). */
export async function nextDueAt(db: Db, aheadMs: number): Promise<Date | null> {
  const row = await db
    .selectFrom('schedules')
    .select(sql<Date | null>`min(case when overlap_policy = 'allow' then next_run_at - make_interval(secs => ${aheadMs / 1000}) else next_run_at end)`.as('at'))
    .where('enabled', '=', true)
    .where('next_run_at', 'is not', null)
    .executeTakeFirst();
  return (row?.at as Date | null | undefined) ?? null;
}

export interface ActiveRun {
  id: string;
  scheduleId: string | null;
  hostId: string | null;
  state: string;
}

/** The runs still going (queued, dispatched, running) of these schedules. */
export async function activeRunsOfSchedules(db: Db, scheduleIds: readonly string[]): Promise<ActiveRun[]> {
  if (scheduleIds.length === 0) return [];
  const rows = await db
    .selectFrom('runs')
    .select(['id', 'schedule_id', 'host_id', 'state'])
    .where('schedule_id', '=', sql<string>`any(${sql.val([...scheduleIds])}::uuid[])`)
    .where('state', 'in', ['queued', 'dispatched', 'running'])
    .execute();
  return rows.map((row) => ({ id: row.id, scheduleId: row.schedule_id, hostId: row.host_id, state: row.state }));
}

/** How many runs each host has going. */
export async function activeRunCounts(db: Db, hostIds: readonly string[]): Promise<Map<string, number>> {
  if (hostIds.length === 0) return new Map();
  const rows = await db
    .selectFrom('runs')
    .select(['host_id', (eb) => eb.fn.countAll<string>().as('n')])
    .where('host_id', '=', sql<string>`any(${sql.val([...hostIds])}::uuid[])`)
    .where('state', 'in', ['queued', 'dispatched', 'running'])
    .groupBy('host_id')
    .execute();
  return new Map(rows.map((row) => [row.host_id!, Number(row.n)]));
}

export interface Occurrence {
  id: string;
  scheduleId: string;
  scheduledFor: Date;
}

/** Records occurrences; those already recorded (fired elsewhere) are left out of the answer. */
export async function insertOccurrences(db: Db, items: readonly { scheduleId: string; scheduledFor: Date }[]): Promise<Occurrence[]> {
  if (items.length === 0) return [];
  const { rows } = await sql<{ id: string; schedule_id: string; scheduled_for: Date }>`
    insert into schedule_occurrences (schedule_id, scheduled_for)
    select * from unnest(${sql.val(items.map((i) => i.scheduleId))}::uuid[], ${sql.val(items.map((i) => i.scheduledFor.toISOString()))}::timestamptz[])
    on conflict (schedule_id, scheduled_for) do nothing
    returning id, schedule_id, scheduled_for`.execute(db);
  return rows.map((row) => ({ id: row.id, scheduleId: row.schedule_id, scheduledFor: row.scheduled_for }));
}

export interface FiredSchedule {
  id: string;
  next: Date | null;
  /** The latest occurrence fired; null leaves last_run_at as it is. */
  last: Date | null;
  roundRobinNext: number;
}

/** Moves each schedule to its next moment. */
export async function saveFired(db: Db, fired: readonly FiredSchedule[]): Promise<void> {
  if (fired.length === 0) return;
  await sql`
    update schedules s set
      next_run_at = f.next,
      last_run_at = coalesce(f.last, s.last_run_at),
      round_robin_next = f.cursor,
      updated_at = now()
    from unnest(
      ${sql.val(fired.map((f) => f.id))}::uuid[],
      ${sql.val(fired.map((f) => f.next?.toISOString() ?? null))}::timestamptz[],
      ${sql.val(fired.map((f) => f.last?.toISOString() ?? null))}::timestamptz[],
      ${sql.val(fired.map((f) => f.roundRobinNext))}::int[]
    ) as f(id, next, last, cursor)
    where s.id = f.id`.execute(db);
}

/**
 * Runs a schedule queued ahead of their moment, withdrawn because the schedule changed, paused or
 * went: they never started, so they are deleted — not left as noise in the history — with their
 * occurrences, so the moments can fire again if the schedule comes back to them. Answers the
 * deleted runs (the instance holding one must hear of it).
 */
export async function withdrawEarlyRuns(trx: Db, scheduleId: string): Promise<Run[]> {
  const { rows } = await sql<Selectable<RunsTable>>`
    with withdrawn as (
      delete from runs
      where schedule_id = ${scheduleId} and state in ('queued', 'dispatched') and not_before > now()
      returning *
    ), forgotten as (
      delete from schedule_occurrences o
      where o.schedule_id = ${scheduleId} and o.scheduled_for > now()
        and not exists (select 1 from runs r where r.occurrence_id = o.id and r.id not in (select id from withdrawn))
    ), rewound as (
      -- It last fired at its latest moment that has come, not at a withdrawn one.
      update schedules set last_run_at = (
        select max(scheduled_for) from schedule_occurrences where schedule_id = ${scheduleId} and scheduled_for <= now()
      )
      where id = ${scheduleId} and last_run_at > now()
    )
    select * from withdrawn`.execute(trx);
  return rows.map(toRun);
}
