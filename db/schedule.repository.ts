/**
 * Schedules: when and where a script runs. A schedule names its targets directly
 * (`schedule_hosts` or `schedule_groups`); the hosts it actually runs on are those plus the
 * members of its groups.
 */
import { sql, type Selectable } from 'kysely';
import type { Db } from './database';
import { toGroup, type Group } from './group.repository';
import { toHost, type Host } from './host.repository';
import { paginateAs, type Page, type PageArgs } from './pagination';
import type { MissedPolicy, OverlapPolicy, ScheduleKind, SchedulesTable, TargetMode, TargetStrategy } from './schema';
import { containing } from './like';

export interface Schedule {
  id: string;
  name: string;
  description: string;
  scriptId: string;
  kind: ScheduleKind;
  cron: string | null;
  timezone: string;
  intervalSeconds: number | null;
  runAt: Date | null;
  targetMode: TargetMode;
  targetStrategy: TargetStrategy;
  staggerSeconds: number;
  enabled: boolean;
  missedPolicy: MissedPolicy;
  missedWindowSeconds: number;
  overlapPolicy: OverlapPolicy;
  parameters: Record<string, string>;
  /** Made together with a script of its own (an ndscheduler job): deleting the job deletes the script. */
  ownsScript: boolean;
  lastRunAt: Date | null;
  nextRunAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

export function toSchedule(row: Selectable<SchedulesTable>): Schedule {
  return {
    id: row.id,
    name: row.name,
    description: row.description,
    scriptId: row.script_id,
    kind: row.kind,
    cron: row.cron,
    timezone: row.timezone,
    intervalSeconds: row.interval_seconds,
    runAt: row.run_at,
    targetMode: row.target_mode,
    targetStrategy: row.target_strategy,
    staggerSeconds: row.stagger_seconds,
    enabled: row.enabled,
    missedPolicy: row.missed_policy,
    missedWindowSeconds: row.missed_window_seconds,
    overlapPolicy: row.overlap_policy,
    parameters: row.parameters,
    ownsScript: row.owns_script,
    lastRunAt: row.last_run_at,
    nextRunAt: row.next_run_at,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

/** The settings a service writes; ids, run times kept by the scheduler and timestamps are not among them. */
export type ScheduleValues = Omit<Schedule, 'id' | 'lastRunAt' | 'createdAt' | 'updatedAt'>;

function toRow(values: Partial<ScheduleValues>) {
  return {
    name: values.name,
    description: values.description,
    script_id: values.scriptId,
    kind: values.kind,
    cron: values.cron,
    timezone: values.timezone,
    interval_seconds: values.intervalSeconds,
    run_at: values.runAt,
    target_mode: values.targetMode,
    target_strategy: values.targetStrategy,
    stagger_seconds: values.staggerSeconds,
    enabled: values.enabled,
    missed_policy: values.missedPolicy,
    missed_window_seconds: values.missedWindowSeconds,
    overlap_policy: values.overlapPolicy,
    parameters: values.parameters === undefined ? undefined : JSON.stringify(values.parameters),
    owns_script: values.ownsScript,
    next_run_at: values.nextRunAt,
  };
}

export async function findSchedulesByIds(db: Db, ids: readonly string[]): Promise<Schedule[]> {
  if (ids.length === 0) return [];
  const rows = await db.selectFrom('schedules').selectAll().where('id', 'in', ids).execute();
  return rows.map(toSchedule);
}

export async function findScheduleById(db: Db, id: string): Promise<Schedule | undefined> {
  const row = await db.selectFrom('schedules').selectAll().where('id', '=', id).executeTakeFirst();
  return row && toSchedule(row);
}

/** Reads a schedule and locks it until the transaction ends, so two edits do not interleave. */
export async function lockSchedule(trx: Db, id: string): Promise<Schedule | undefined> {
  const row = await trx.selectFrom('schedules').selectAll().where('id', '=', id).forUpdate().executeTakeFirst();
  return row && toSchedule(row);
}

export async function insertSchedule(db: Db, values: ScheduleValues): Promise<Schedule> {
  const row = await db
    .insertInto('schedules')
    .values({
      ...toRow(values),
      name: values.name,
      script_id: values.scriptId,
      kind: values.kind,
      cron: values.cron,
      interval_seconds: values.intervalSeconds,
      stagger_seconds: values.staggerSeconds,
      missed_window_seconds: values.missedWindowSeconds,
      parameters: JSON.stringify(values.parameters),
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  return toSchedule(row);
}

export async function updateSchedule(db: Db, id: string, values: Partial<ScheduleValues>): Promise<Schedule | undefined> {
  const row = await db
    .updateTable('schedules')
    .set({ ...toRow(values), updated_at: sql`now()` })
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirst();
  return row && toSchedule(row);
}

export async function deleteSchedule(db: Db, id: string): Promise<boolean> {
  const result = await db.deleteFrom('schedules').where('id', '=', id).executeTakeFirst();
  return result.numDeletedRows > 0n;
}

/** The hosts and groups a schedule names, each sorted by id (stable for audit diffs). */
export async function findScheduleTargetIds(db: Db, id: string): Promise<{ hostIds: string[]; groupIds: string[] }> {
  const [hosts, groups] = await Promise.all([
    db.selectFrom('schedule_hosts').select('host_id').where('schedule_id', '=', id).orderBy('host_id').execute(),
    db.selectFrom('schedule_groups').select('group_id').where('schedule_id', '=', id).orderBy('group_id').execute(),
  ]);
  return { hostIds: hosts.map((r) => r.host_id), groupIds: groups.map((r) => r.group_id) };
}

/** Replaces the hosts and groups a schedule names. */
export async function setScheduleTargets(db: Db, id: string, hostIds: readonly string[], groupIds: readonly string[]): Promise<void> {
  await db.deleteFrom('schedule_hosts').where('schedule_id', '=', id).execute();
  await db.deleteFrom('schedule_groups').where('schedule_id', '=', id).execute();
  if (hostIds.length > 0) await db.insertInto('schedule_hosts').values(hostIds.map((host_id) => ({ schedule_id: id, host_id }))).execute();
  if (groupIds.length > 0) await db.insertInto('schedule_groups').values(groupIds.map((group_id) => ({ schedule_id: id, group_id }))).execute();
}

/** The id of the server's own host, where a schedule without targets runs. */
export async function findLocalHostId(db: Db): Promise<string> {
  const row = await db.selectFrom('hosts').select('id').where('kind', '=', 'local').executeTakeFirstOrThrow();
  return row.id;
}

/** Which of `ids` name no row of `table` (hosts, groups or scripts). */
export async function findMissingIds(db: Db, table: 'hosts' | 'groups', ids: readonly string[]): Promise<string[]> {
  if (ids.length === 0) return [];
  const found = await db.selectFrom(table).select('id').where('id', 'in', ids).execute();
  const present = new Set(found.map((r) => r.id));
  return ids.filter((id) => !present.has(id));
}

export interface ScheduleFilter {
  /** Case-insensitive text in the name. */
  search?: string;
  scriptId?: string;
  /** Schedules that run on this host: named directly or through one of its groups. */
  hostId?: string;
  /** Schedules that name this group. */
  groupId?: string;
  enabled?: boolean;
}

export async function listSchedules(db: Db, filter: ScheduleFilter, args: PageArgs): Promise<Page<Schedule>> {
  let query = db.selectFrom('schedules').selectAll();
  if (filter.search) query = query.where('name', 'ilike', containing(filter.search));
  if (filter.scriptId) query = query.where('script_id', '=', filter.scriptId);
  if (filter.enabled !== undefined) query = query.where('enabled', '=', filter.enabled);
  if (filter.groupId) {
    const groupId = filter.groupId;
    query = query.where(({ exists, selectFrom }) =>
      exists(selectFrom('schedule_groups as sg').select('sg.group_id').whereRef('sg.schedule_id', '=', 'schedules.id').where('sg.group_id', '=', groupId)),
    );
  }
  if (filter.hostId) {
    const hostId = filter.hostId;
    query = query.where(({ or, exists, selectFrom }) =>
      or([
        exists(selectFrom('schedule_hosts as sh').select('sh.host_id').whereRef('sh.schedule_id', '=', 'schedules.id').where('sh.host_id', '=', hostId)),
        exists(
          selectFrom('schedule_groups as sg')
            .innerJoin('group_hosts as gh', 'gh.group_id', 'sg.group_id')
            .select('gh.host_id')
            .whereRef('sg.schedule_id', '=', 'schedules.id')
            .where('gh.host_id', '=', hostId),
        ),
      ]),
    );
  }
  return paginateAs(query, args, { expression: 'lower(schedules.name)', type: 'text', direction: 'asc', id: 'schedules.id' }, toSchedule);
}

/** Groups `rows` by `key` into one list per id of `ids`, in the order of `ids` (for DataLoader). */
function byKey<R, T>(ids: readonly string[], rows: R[], key: (row: R) => string, value: (row: R) => T): T[][] {
  const groups = new Map<string, T[]>(ids.map((id) => [id, []]));
  for (const row of rows) groups.get(key(row))?.push(value(row));
  return ids.map((id) => groups.get(id)!);
}

/** The hosts each schedule names directly, by name. */
export async function listHostsOfSchedules(db: Db, scheduleIds: readonly string[]): Promise<Host[][]> {
  if (scheduleIds.length === 0) return [];
  const rows = await db
    .selectFrom('schedule_hosts as sh')
    .innerJoin('hosts', 'hosts.id', 'sh.host_id')
    .selectAll('hosts')
    .select('sh.schedule_id')
    .where('sh.schedule_id', 'in', scheduleIds)
    .orderBy(sql`lower(hosts.name)`)
    .execute();
  return byKey(scheduleIds, rows, (r) => r.schedule_id, toHost);
}

/** The hosts each schedule runs on: those it names plus the members of its groups, by name. */
export async function listTargetHostsOfSchedules(db: Db, scheduleIds: readonly string[]): Promise<Host[][]> {
  if (scheduleIds.length === 0) return [];
  const targets = db
    .selectFrom('schedule_hosts')
    .select(['schedule_id', 'host_id'])
    .where('schedule_id', 'in', scheduleIds)
    .union(
      db
        .selectFrom('schedule_groups as sg')
        .innerJoin('group_hosts as gh', 'gh.group_id', 'sg.group_id')
        .select(['sg.schedule_id', 'gh.host_id'])
        .where('sg.schedule_id', 'in', scheduleIds),
    );
  const rows = await db
    .selectFrom(targets.as('t'))
    .innerJoin('hosts', 'hosts.id', 't.host_id')
    .selectAll('hosts')
    .select('t.schedule_id')
    .orderBy(sql`lower(hosts.name)`)
    .execute();
  return byKey(scheduleIds, rows, (r) => r.schedule_id, toHost);
}

/** The groups each schedule names, by name. */
export async function listGroupsOfSchedules(db: Db, scheduleIds: readonly string[]): Promise<Group[][]> {
  if (scheduleIds.length === 0) return [];
  const rows = await db
    .selectFrom('schedule_groups as sg')
    .innerJoin('groups', 'groups.id', 'sg.group_id')
    .selectAll('groups')
    .select('sg.schedule_id')
    .where('sg.schedule_id', 'in', scheduleIds)
    .orderBy(sql`lower(groups.name)`)
    .execute();
  return byKey(scheduleIds, rows, (r) => r.schedule_id, toGroup);
}

/** The schedules of each script, by name. */
export async function listSchedulesOfScripts(db: Db, scriptIds: readonly string[]): Promise<Schedule[][]> {
  if (scriptIds.length === 0) return [];
  const rows = await db.selectFrom('schedules').selectAll().where('script_id', 'in', scriptIds).orderBy(sql`lower(name)`).execute();
  return byKey(scriptIds, rows, (r) => r.script_id, toSchedule);
}

/** The schedules that run on each host (named directly or through a group), by name. */
export async function listSchedulesOfHosts(db: Db, hostIds: readonly string[]): Promise<Schedule[][]> {
  if (hostIds.length === 0) return [];
  const targets = db
    .selectFrom('schedule_hosts')
    .select(['schedule_id', 'host_id'])
    .where('host_id', 'in', hostIds)
    .union(
      db
        .selectFrom('schedule_groups as sg')
        .innerJoin('group_hosts as gh', 'gh.group_id', 'sg.group_id')
        .select(['sg.schedule_id', 'gh.host_id'])
        .where('gh.host_id', 'in', hostIds),
    );
  const rows = await db
    .selectFrom(targets.as('t'))
    .innerJoin('schedules', 'schedules.id', 't.schedule_id')
    .selectAll('schedules')
    .select('t.host_id')
    .orderBy(sql`lower(schedules.name)`)
    .execute();
  return byKey(hostIds, rows, (r) => r.host_id, toSchedule);
}

/** The schedules that name each group, by name. */
export async function listSchedulesOfGroups(db: Db, groupIds: readonly string[]): Promise<Schedule[][]> {
  if (groupIds.length === 0) return [];
  const rows = await db
    .selectFrom('schedule_groups as sg')
    .innerJoin('schedules', 'schedules.id', 'sg.schedule_id')
    .selectAll('schedules')
    .select('sg.group_id')
    .where('sg.group_id', 'in', groupIds)
    .orderBy(sql`lower(schedules.name)`)
    .execute();
  return byKey(groupIds, rows, (r) => r.group_id, toSchedule);
}
