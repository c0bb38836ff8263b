/**
 * Runs: executions of scripts, and runs reported from outside. Lists are newest first on
 * (created_at desc, id desc), each filter backed by an index of the same order. A run moves
 * between states only through `transitionRun`, one conditional UPDATE.
 */
import { sql, type Selectable } from 'kysely';
import type { Db } from './database';
import { toHost, type Host } from './host.repository';
import { paginateAs, type Page, type PageArgs } from './pagination';
import { toScript, type Script } from './script.repository';
import type { RunState, RunTrigger, RunsTable } from './schema';
import { containing } from './like';

export interface Run {
  id: string;
  scriptId: string | null;
  /** The script's name when the run was made (kept if the script is deleted). */
  scriptName: string;
  hostId: string | null;
  hostName: string | null;
  scheduleId: string | null;
  occurrenceId: string | null;
  checkId: string | null;
  retryOf: string | null;
  attempt: number;
  state: RunState;
  trigger: RunTrigger;
  triggeredByUserId: string | null;
  /** Who or what asked for it: a username, a schedule name, a webhook. */
  triggeredBy: string | null;
  parameters: Record<string, string>;
  exitCode: number | null;
  summary: string | null;
  pid: number | null;
  outputBytes: number;
  outputTruncated: boolean;
  external: Record<string, unknown>;
  scheduledFor: Date | null;
  createdAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
  updatedAt: Date;
  /** The Runboard instance executing it (while dispatched or running, and after). */
  instanceId: string | null;
  /** It waits, queued, until then (a retry's delay, a stagger). */
  notBefore: Date | null;
  /** What a built-in job returned (noop: its arguments; command: its return code; http: the response). */
  result: unknown;
  /** The outside tool that reported it (`virtshell`); null for Runboard's own runs and generic reports. */
  reporter: string | null;
}

export function toRun(row: Selectable<RunsTable>): Run {
  return {
    id: row.id,
    scriptId: row.script_id,
    scriptName: row.script_name,
    hostId: row.host_id,
    hostName: row.host_name,
    scheduleId: row.schedule_id,
    occurrenceId: row.occurrence_id,
    checkId: row.check_id,
    retryOf: row.retry_of,
    attempt: row.attempt,
    state: row.state,
    trigger: row.trigger,
    triggeredByUserId: row.triggered_by_user_id,
    triggeredBy: row.triggered_by,
    parameters: row.parameters,
    exitCode: row.exit_code,
    summary: row.summary,
    pid: row.pid,
    outputBytes: Number(row.output_bytes),
    outputTruncated: row.output_truncated,
    external: row.external,
    scheduledFor: row.scheduled_for,
    createdAt: row.created_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    updatedAt: row.updated_at,
    instanceId: row.instance_id,
    notBefore: row.not_before,
    result: row.result ?? null,
    reporter: row.reporter,
  };
}

export async function findRunsByIds(db: Db, ids: readonly string[]): Promise<Run[]> {
  if (ids.length === 0) return [];
  const rows = await db.selectFrom('runs').selectAll().where('id', 'in', ids).execute();
  return rows.map(toRun);
}

export async function findRunById(db: Db, id: string): Promise<Run | undefined> {
  const row = await db.selectFrom('runs').selectAll().where('id', '=', id).executeTakeFirst();
  return row && toRun(row);
}

/** A run, locked until the transaction ends (a change computed from what it holds now). */
export async function lockRun(trx: Db, id: string): Promise<Run | undefined> {
  const row = await trx.selectFrom('runs').selectAll().where('id', '=', id).forUpdate().executeTakeFirst();
  return row && toRun(row);
}

export interface NewRun {
  scriptId: string | null;
  scriptName: string;
  hostId: string | null;
  hostName: string | null;
  scheduleId?: string | null;
  occurrenceId?: string | null;
  checkId?: string | null;
  retryOf?: string | null;
  attempt?: number;
  /** Default queued. */
  state?: RunState;
  trigger: RunTrigger;
  triggeredByUserId: string | null;
  triggeredBy: string | null;
  parameters?: Record<string, string>;
  exitCode?: number | null;
  summary?: string | null;
  external?: Record<string, unknown>;
  scheduledFor?: Date | null;
  notBefore?: Date | null;
  startedAt?: Date | null;
  finishedAt?: Date | null;
  reporter?: string | null;
}

/** Rows per INSERT: PostgreSQL takes at most 65,535 parameters a statement (22 a run). */
const RUNS_PER_INSERT = 2_000;

/** Inserts runs, in statements of RUNS_PER_INSERT, all or none (in one transaction when there are several). */
export async function insertRuns(db: Db, runs: NewRun[]): Promise<Run[]> {
  if (runs.length === 0) return [];
  if (runs.length > RUNS_PER_INSERT) {
    const insertAll = async (trx: Db) => {
      const inserted: Run[] = [];
      for (let i = 0; i < runs.length; i += RUNS_PER_INSERT) inserted.push(...(await insertRunRows(trx, runs.slice(i, i + RUNS_PER_INSERT))));
      return inserted;
    };
    return db.isTransaction ? insertAll(db) : db.transaction().execute(insertAll);
  }
  return insertRunRows(db, runs);
}

async function insertRunRows(db: Db, runs: NewRun[]): Promise<Run[]> {
  const rows = await db
    .insertInto('runs')
    .values(
      runs.map((run) => ({
        script_id: run.scriptId,
        script_name: run.scriptName,
        host_id: run.hostId,
        host_name: run.hostName,
        schedule_id: run.scheduleId ?? null,
        occurrence_id: run.occurrenceId ?? null,
        check_id: run.checkId ?? null,
        retry_of: run.retryOf ?? null,
        attempt: run.attempt ?? 1,
        state: run.state ?? 'queued',
        trigger: run.trigger,
        triggered_by_user_id: run.triggeredByUserId,
        triggered_by: run.triggeredBy,
        parameters: JSON.stringify(run.parameters ?? {}),
        exit_code: run.exitCode ?? null,
        summary: run.summary ?? null,
        external: JSON.stringify(run.external ?? {}),
        scheduled_for: run.scheduledFor ?? null,
        not_before: run.notBefore ?? null,
        started_at: run.startedAt ?? null,
        finished_at: run.finishedAt ?? null,
        reporter: run.reporter ?? null,
      })),
    )
    .returningAll()
    .execute();
  return rows.map(toRun);
}

/** A moment to store: a given one, none (null), or the database's clock unless one is set ('now'). */
export type Stamp = Date | null | 'now';

/** What a transition changes besides the state; fields left out stay as they are. */
export interface RunPatch {
  exitCode?: number | null;
  summary?: string | null;
  pid?: number | null;
  startedAt?: Stamp;
  finishedAt?: Stamp;
  /** Merged into `external` at the top level (a key given replaces that key). */
  external?: Record<string, unknown>;
}

function stamp(column: 'started_at' | 'finished_at', value: Stamp) {
  return value === 'now' ? sql<Date>`coalesce(${sql.ref(column)}, now())` : value;
}

/**
 * Moves run `id` to `to` if, and only if, it is in one of the `expected` states, in one
 * statement: of two callers racing, exactly one gets the run back; the other gets undefined.
 */
export async function transitionRun(
  db: Db,
  id: string,
  expected: readonly RunState[],
  to: RunState,
  patch: RunPatch = {},
): Promise<Run | undefined> {
  if (expected.length === 0) return undefined;
  const row = await db
    .updateTable('runs')
    .set({
      state: to,
      updated_at: sql<Date>`now()`,
      ...(patch.exitCode !== undefined && { exit_code: patch.exitCode }),
      ...(patch.summary !== undefined && { summary: patch.summary }),
      ...(patch.pid !== undefined && { pid: patch.pid }),
      ...(patch.startedAt !== undefined && { started_at: stamp('started_at', patch.startedAt) }),
      ...(patch.finishedAt !== undefined && { finished_at: stamp('finished_at', patch.finishedAt) }),
      ...(patch.external !== undefined && { external: sql<string>`external || ${JSON.stringify(patch.external)}::jsonb` }),
    })
    .where('id', '=', id)
    .where('state', '=', sql<RunState>`any(${sql.val([...expected])}::text[])`)
    .returningAll()
    .executeTakeFirst();
  return row && toRun(row);
}

/** Deletes run `id` (and its output) unless it is in one of the `keep` states. */
export async function deleteRunUnless(db: Db, id: string, keep: readonly RunState[]): Promise<Run | undefined> {
  const row = await db
    .deleteFrom('runs')
    .where('id', '=', id)
    .where(sql<boolean>`not (state = any(${sql.val([...keep])}::text[]))`)
    .returningAll()
    .executeTakeFirst();
  return row && toRun(row);
}

export interface RunFilter {
  /** Any of these states. */
  states?: RunState[];
  scriptId?: string;
  hostId?: string;
  scheduleId?: string;
  checkId?: string;
  /** Any of these triggers. */
  triggers?: RunTrigger[];
  /** Created at or after this moment. */
  since?: Date;
  /** Created before this moment. */
  until?: Date;
  /** Scheduled for (or, when not scheduled, created) at or after this moment. */
  scheduledSince?: Date;
  /** Scheduled for (or, when not scheduled, created) before this moment. */
  scheduledUntil?: Date;
  /** Case-insensitive text in the script name. */
  search?: string;
  /** Reported by this outside tool. */
  reporter?: string;
  /** The reporter's own status string (`external.status`), exactly. */
  reportedStatus?: string;
}

/**
 * A page of runs, newest first. Each id filter and a single state lead an index on
 * (x, created_at desc, id desc), so the page is read in order without sorting; the other
 * conditions filter rows along the way.
 */
export async function listRuns(db: Db, filter: RunFilter, args: PageArgs): Promise<Page<Run>> {
  let query = db.selectFrom('runs').selectAll();
  if (filter.states?.length) {
    query = filter.states.length === 1 ? query.where('state', '=', filter.states[0]!) : query.where('state', 'in', filter.states);
  }
  if (filter.scriptId) query = query.where('script_id', '=', filter.scriptId);
  if (filter.hostId) query = query.where('host_id', '=', filter.hostId);
  if (filter.scheduleId) query = query.where('schedule_id', '=', filter.scheduleId);
  if (filter.checkId) query = query.where('check_id', '=', filter.checkId);
  if (filter.triggers?.length) query = query.where('trigger', 'in', filter.triggers);
  if (filter.since) query = query.where('created_at', '>=', filter.since);
  if (filter.until) query = query.where('created_at', '<', filter.until);
  // The same expression as the index runs_scheduled_time_idx.
  if (filter.scheduledSince) query = query.where(sql<Date>`coalesce(scheduled_for, created_at)`, '>=', filter.scheduledSince);
  if (filter.scheduledUntil) query = query.where(sql<Date>`coalesce(scheduled_for, created_at)`, '<', filter.scheduledUntil);
  if (filter.search) query = query.where('script_name', 'ilike', containing(filter.search));
  if (filter.reporter) query = query.where('reporter', '=', filter.reporter);
  // The same expression as the index runs_reporter_status_created_idx.
  if (filter.reportedStatus !== undefined) query = query.where(sql<string>`external->>'status'`, '=', filter.reportedStatus);
  return paginateAs(query, args, { expression: 'runs.created_at', type: 'timestamptz', direction: 'desc', id: 'runs.id' }, toRun);
}

// Where runs go: the lookups starting and reporting a run need from hosts, groups and scripts.

/** The server's own host (there is exactly one). */
export async function findLocalHost(db: Db): Promise<Host | undefined> {
  const row = await db.selectFrom('hosts').selectAll().where('kind', '=', 'local').executeTakeFirst();
  return row && toHost(row);
}

export async function findHostByName(db: Db, name: string): Promise<Host | undefined> {
  const row = await db.selectFrom('hosts').selectAll().where(sql`lower(name)`, '=', name.toLowerCase()).executeTakeFirst();
  return row && toHost(row);
}

/** A group's hosts, by name. */
export async function findGroupHosts(db: Db, groupId: string): Promise<Host[]> {
  const rows = await db
    .selectFrom('group_hosts')
    .innerJoin('hosts', 'hosts.id', 'group_hosts.host_id')
    .selectAll('hosts')
    .where('group_hosts.group_id', '=', groupId)
    .orderBy(sql`lower(hosts.name)`)
    .execute();
  return rows.map(toHost);
}

export async function findScriptByName(db: Db, name: string): Promise<Script | undefined> {
  const row = await db.selectFrom('scripts').selectAll().where(sql`lower(name)`, '=', name.toLowerCase()).executeTakeFirst();
  return row && toScript(row);
}
