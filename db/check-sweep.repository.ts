/**
 * The check sweeper's SQL: which checks have reached a deadline, the flips it decided (applied
 * optimistically, many per statement, with their audit events), and when the next deadline is.
 * Both reads go through the partial indexes of migration 20261204T0002, which hold only checks
 * that can still go late (`checks_sweep_late_idx`) or down (`checks_sweep_down_idx`).
 */
import { sql, type Selectable } from 'kysely';
import { toCheck, type Check } from './check.repository';
import type { Db } from './database';
import type { CheckState, ChecksTable } from './schema';

/**
 * Checks past their late or due time at `now` (up to `limit` of each), earliest first. Read
 * without locks: several instances may read the same ones, and `applyFlips` lets one win.
 */
export async function findSweepCandidates(db: Db, now: Date, limit: number): Promise<Check[]> {
  // The rows by primary key (`= any(array(…))`): with `in (…)` the planner may hash-join a
  // sequential scan of every check.
  const { rows } = await sql<Selectable<ChecksTable>>`
    select c.* from checks c where c.id = any(array(
      (select id from checks where state = 'up' and late_at <= ${now} order by late_at limit ${limit})
      union
      (select id from checks where state in ('new', 'up', 'late') and next_due_at <= ${now} order by next_due_at limit ${limit})
    ))`.execute(db);
  return rows.map(toCheck);
}

/** A move the sweeper decided from a check as it read it. */
export interface CheckFlip {
  id: string;
  from: CheckState;
  to: CheckState;
  /** The due time it read: a ping or change since then moved it, and the flip is not applied. */
  readDueAt: Date | null;
  /** The check's late time after the move. */
  lateAt: Date | null;
  /** Its audit event (action, summary, details), or null for a move that is not a flip. */
  event: { action: string; summary: string; details: Record<string, unknown> } | null;
}

export interface AppliedFlip {
  id: string;
  from: CheckState;
  to: CheckState;
  eventId: string | null;
}

/**
 * Applies flips in one statement: each only if the check is still as read (`state = from` and the
 * same due time — the optimistic check that lets several instances sweep one database), with its
 * audit event written by the same statement for exactly the checks that moved. Returns those.
 */
export async function applyFlips(db: Db, flips: readonly CheckFlip[]): Promise<AppliedFlip[]> {
  if (flips.length === 0) return [];
  const col = <T>(pick: (flip: CheckFlip) => T) => flips.map(pick);
  const { rows } = await sql<{ id: string; from_state: CheckState; to_state: CheckState; event_id: string | null }>`
    with input as (
      select * from unnest(
        ${sql.val(col((f) => f.id))}::uuid[],
        ${sql.val(col((f) => f.from))}::text[],
        ${sql.val(col((f) => f.to))}::text[],
        ${sql.val(col((f) => f.readDueAt?.toISOString() ?? null))}::timestamptz[],
        ${sql.val(col((f) => f.lateAt?.toISOString() ?? null))}::timestamptz[],
        ${sql.val(col((f) => f.event?.action ?? null))}::text[],
        ${sql.val(col((f) => f.event?.summary ?? null))}::text[],
        ${sql.val(col((f) => (f.event ? JSON.stringify(f.event.details) : null)))}::text[]
      ) as t(id, from_state, to_state, read_due_at, late_at, action, summary, details)
    ),
    moved as (
      update checks c set state = i.to_state, late_at = i.late_at, updated_at = now()
      from input i
      where c.id = i.id and c.state = i.from_state and c.next_due_at is not distinct from i.read_due_at
      returning c.id, c.name, i.from_state, i.to_state, i.action, i.summary, i.details
    ),
    written as (
      insert into events (action, actor_kind, actor_name, object_type, object_id, object_name, summary, details)
      select m.action, 'system', 'runboard', 'Check', m.id, m.name, m.summary, m.details::jsonb
      from moved m where m.action is not null
      returning id, object_id
    )
    select m.id, m.from_state, m.to_state, w.id as event_id from moved m left join written w on w.object_id = m.id`.execute(db);
  return rows.map((row) => ({ id: row.id, from: row.from_state, to: row.to_state, eventId: row.event_id }));
}

/** The earliest late or due time of a check that can still move; null when none can. */
export async function nextSweepAt(db: Db): Promise<Date | null> {
  const { rows } = await sql<{ at: Date | null }>`
    select least(
      (select min(late_at) from checks where state = 'up' and late_at is not null),
      (select min(next_due_at) from checks where state in ('new', 'up', 'late') and next_due_at is not null)
    ) as at`.execute(db);
  return rows[0]?.at ?? null;
}
