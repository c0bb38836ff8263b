/**
 * What the alerter reads and keeps: its cursor in the audit log, the events past it (with the
 * facts of their runs), the per-(rule, subject) state, and how long a script usually takes.
 *
 * Terms: the cursor is a (txid, seq) position. Only events of transactions older than every
 * transaction still running are read (`pg_snapshot_xmin`), in (txid, seq) order, so no event can
 * later appear behind the cursor (migration 20261204T0003 explains why `at` cannot do this).
 */
import { sql, type Selectable } from 'kysely';
import type { Db } from './database';
import type { AlertStatesTable, SubjectType } from './notification-tables';
import type { RunState } from './schema';

/** The actions the alerter acts on. */
export const ALERTING_ACTIONS = ['run.finished', 'check.late', 'check.down', 'check.up'] as const;

export interface AlertableEvent {
  id: string;
  at: Date;
  action: string;
  objectType: string | null;
  objectId: string | null;
  objectName: string | null;
  summary: string;
  details: Record<string, unknown>;
  txid: string;
  seq: string;
  /** For run events: the run as it is now (null when it has been deleted). */
  run: {
    state: RunState;
    scriptId: string | null;
    scheduleId: string | null;
    hostName: string | null;
    exitCode: number | null;
    durationSeconds: number | null;
  } | null;
}

export interface Cursor {
  txid: string;
  seq: string;
}

/**
 * Locks the cursor for this transaction, or returns undefined when another instance holds it
 * (it is reading the same events right now: this one has nothing to do).
 */
export async function lockCursor(trx: Db): Promise<Cursor | undefined> {
  const row = await trx.selectFrom('alerter_cursor').select(['txid', 'seq']).forUpdate().skipLocked().executeTakeFirst();
  return row && { txid: String(row.txid), seq: String(row.seq) };
}

/**
 * Up to `limit` alertable events past the cursor, in order, and where the cursor may move once
 * they are handled: past the last one when the batch is full, else up to the oldest transaction
 * still running (nothing before it can appear any more).
 */
export async function readEventsAfter(trx: Db, cursor: Cursor, limit: number): Promise<{ events: AlertableEvent[]; next: Cursor }> {
  const xmin = await horizon(trx);
  const { rows } = await sql<{
    id: string;
    at: Date;
    action: string;
    object_type: string | null;
    object_id: string | null;
    object_name: string | null;
    summary: string;
    details: Record<string, unknown>;
    txid: string;
    seq: string;
    run_state: RunState | null;
    script_id: string | null;
    schedule_id: string | null;
    host_name: string | null;
    exit_code: number | null;
    duration_seconds: number | null;
  }>`
    select e.id, e.at, e.action, e.object_type, e.object_id, e.object_name, e.summary, e.details,
           e.txid::text as txid, e.seq::text as seq,
           r.state as run_state, r.script_id, r.schedule_id, r.host_name, r.exit_code,
           extract(epoch from (r.finished_at - r.started_at))::float8 as duration_seconds
    from events e
    left join runs r on e.object_type = 'Run' and r.id = e.object_id
    where (e.txid, e.seq) > (${cursor.txid}::xid8, ${cursor.seq}::bigint)
      and e.txid < ${xmin}::xid8
      and e.action in (${sql.join(ALERTING_ACTIONS.map((a) => sql.lit(a)))})
    order by e.txid, e.seq
    limit ${limit}`.execute(trx);
  const events = rows.map(
    (row): AlertableEvent => ({
      id: row.id,
      at: row.at,
      action: row.action,
      objectType: row.object_type,
      objectId: row.object_id,
      objectName: row.object_name,
      summary: row.summary,
      details: row.details,
      txid: row.txid,
      seq: row.seq,
      run: row.run_state
        ? {
            state: row.run_state,
            scriptId: row.script_id,
            scheduleId: row.schedule_id,
            hostName: row.host_name,
            exitCode: row.exit_code,
            durationSeconds: row.duration_seconds,
          }
        : null,
    }),
  );
  const last = events.at(-1);
  // A full batch may have more behind it in the same transactions: resume right after the last.
  const next = events.length === limit && last ? { txid: last.txid, seq: last.seq } : { txid: xmin, seq: '0' };
  // Never move backwards (xmin can be below the cursor when a batch ended in a newer transaction).
  return { events, next: isAfter(next, cursor) ? next : cursor };
}

/**
 * The oldest transaction still running: every event of an older one is committed (or never will
 * be), so nothing can appear before it any more.
 */
export async function horizon(trx: Db): Promise<string> {
  const { rows } = await sql<{ xmin: string }>`select pg_snapshot_xmin(pg_current_snapshot())::text as xmin`.execute(trx);
  return rows[0]!.xmin;
}

/** Whether `next` is past `cursor`. */
export function isAfter(next: Cursor, cursor: Cursor): boolean {
  const [a, b] = [BigInt(next.txid), BigInt(cursor.txid)];
  return a > b || (a === b && BigInt(next.seq) > BigInt(cursor.seq));
}

export async function saveCursor(trx: Db, cursor: Cursor): Promise<void> {
  await sql`update alerter_cursor set txid = ${cursor.txid}::xid8, seq = ${cursor.seq}::bigint, updated_at = now()`.execute(trx);
}

export interface AlertState {
  ruleId: string;
  subjectType: SubjectType;
  subjectId: string;
  subjectName: string;
  consecutiveFailures: number;
  alerting: 'late' | 'failure' | null;
  alertEventId: string | null;
  /** The payload of the alert reminders repeat. */
  alertPayload: Record<string, unknown> | null;
  lastNotifiedAt: Date | null;
  remindersSent: number;
}

function toState(row: Selectable<AlertStatesTable>): AlertState {
  return {
    ruleId: row.rule_id,
    subjectType: row.subject_type,
    subjectId: row.subject_id,
    subjectName: row.subject_name,
    consecutiveFailures: row.consecutive_failures,
    alerting: row.alerting,
    alertEventId: row.alert_event_id,
    alertPayload: row.alert_payload,
    lastNotifiedAt: row.last_notified_at,
    remindersSent: row.reminders_sent,
  };
}

export const stateKey = (s: Pick<AlertState, 'ruleId' | 'subjectType' | 'subjectId'>) => `${s.ruleId}/${s.subjectType}/${s.subjectId}`;

/** The states of these (rule, subject) pairs, locked for this transaction. */
export async function findStates(trx: Db, keys: readonly Pick<AlertState, 'ruleId' | 'subjectType' | 'subjectId'>[]): Promise<AlertState[]> {
  if (keys.length === 0) return [];
  const rows = await trx
    .selectFrom('alert_states')
    .selectAll()
    .where((eb) => eb.or(keys.map((k) => eb.and([eb('rule_id', '=', k.ruleId), eb('subject_type', '=', k.subjectType), eb('subject_id', '=', k.subjectId)]))))
    // Locked: a reminder being sent for one of them (another transaction) finishes first, and
    // is then read as it left it instead of being overwritten.
    .forUpdate()
    .execute();
  return rows.map(toState);
}

export async function saveStates(trx: Db, states: readonly AlertState[]): Promise<void> {
  if (states.length === 0) return;
  await trx
    .insertInto('alert_states')
    .values(
      states.map((s) => ({
        rule_id: s.ruleId,
        subject_type: s.subjectType,
        subject_id: s.subjectId,
        subject_name: s.subjectName,
        consecutive_failures: s.consecutiveFailures,
        alerting: s.alerting,
        alert_event_id: s.alertEventId,
        alert_payload: s.alertPayload === null ? null : JSON.stringify(s.alertPayload),
        last_notified_at: s.lastNotifiedAt,
        reminders_sent: s.remindersSent,
        updated_at: new Date(),
      })),
    )
    .onConflict((oc) =>
      oc.columns(['rule_id', 'subject_type', 'subject_id']).doUpdateSet((eb) => ({
        subject_name: eb.ref('excluded.subject_name'),
        consecutive_failures: eb.ref('excluded.consecutive_failures'),
        alerting: eb.ref('excluded.alerting'),
        alert_event_id: eb.ref('excluded.alert_event_id'),
        alert_payload: eb.ref('excluded.alert_payload'),
        last_notified_at: eb.ref('excluded.last_notified_at'),
        reminders_sent: eb.ref('excluded.reminders_sent'),
        updated_at: eb.ref('excluded.updated_at'),
      })),
    )
    .execute();
}

/**
 * States still alerting whose rule reminds and whose last notice is older than its interval,
 * locked (other instances skip them) for this transaction.
 */
export async function lockStatesDueForReminder(trx: Db, limit: number): Promise<AlertState[]> {
  const { rows } = await sql<Selectable<AlertStatesTable>>`
    select s.* from alert_states s
    join alert_rules r on r.id = s.rule_id
    where s.alerting is not null and r.enabled and r.remind_every_seconds is not null
      and s.last_notified_at <= now() - r.remind_every_seconds * interval '1 second'
    order by s.last_notified_at
    limit ${limit}
    for update of s skip locked`.execute(trx);
  return rows.map(toState);
}

/** The minimum of recent successful runs needed before "slower than usual" means anything. */
export const MIN_DURATION_SAMPLES = 5;
/** How many recent successful runs the usual duration is taken from. */
export const DURATION_SAMPLES = 50;

/**
 * The 95th percentile of the durations (seconds) of a script's latest successful runs, the run
 * being judged left out; null with fewer than MIN_DURATION_SAMPLES.
 */
export async function recentDurationP95(db: Db, scriptId: string, excludeRunId: string): Promise<number | null> {
  const { rows } = await sql<{ p95: number | null; n: string }>`
    select percentile_cont(0.95) within group (order by d)::float8 as p95, count(*)::text as n
    from (
      select extract(epoch from (finished_at - started_at)) as d
      from runs
      where script_id = ${scriptId} and state = 'succeeded' and id <> ${excludeRunId}
        and started_at is not null and finished_at is not null
      order by created_at desc, id desc
      limit ${DURATION_SAMPLES}
    ) recent`.execute(db);
  const row = rows[0];
  return row && Number(row.n) >= MIN_DURATION_SAMPLES ? row.p95 : null;
}

const SUBJECT_TABLES = { script: 'scripts', schedule: 'schedules', check: 'checks' } as const;

/** Whether the script, schedule or check a rule or silence names exists. */
export async function subjectExists(db: Db, type: SubjectType, id: string): Promise<boolean> {
  return (await db.selectFrom(SUBJECT_TABLES[type]).select('id').where('id', '=', id).executeTakeFirst()) !== undefined;
}

/** Names of the subjects alerts are about, by type. */
export async function subjectNames(db: Db, subjects: readonly { type: SubjectType; id: string }[]): Promise<Map<string, string>> {
  const names = new Map<string, string>();
  const of = (type: SubjectType) => [...new Set(subjects.filter((s) => s.type === type).map((s) => s.id))];
  const scripts = of('script');
  const schedules = of('schedule');
  const checks = of('check');
  if (scripts.length) for (const r of await db.selectFrom('scripts').select(['id', 'name']).where('id', 'in', scripts).execute()) names.set(`script/${r.id}`, r.name);
  if (schedules.length) {
    const rows = await db.selectFrom('schedules').innerJoin('scripts', 'scripts.id', 'schedules.script_id').select(['schedules.id', 'schedules.name', 'scripts.name as script']).where('schedules.id', 'in', schedules).execute();
    for (const r of rows) names.set(`schedule/${r.id}`, r.name || r.script);
  }
  if (checks.length) for (const r of await db.selectFrom('checks').select(['id', 'name']).where('id', 'in', checks).execute()) names.set(`check/${r.id}`, r.name);
  return names;
}
