/** Groups of hosts, their members and the scripts they may run. */
import { sql, type Selectable } from 'kysely';
import type { Db } from './database';
import { paginateAs, type Page, type PageArgs } from './pagination';
import { toScript, type Script } from './script.repository';
import type { GroupsTable } from './schema';
import { containing } from './like';

export interface Group {
  id: string;
  name: string;
  description: string;
  createdAt: Date;
  updatedAt: Date;
}

export function toGroup(row: Selectable<GroupsTable>): Group {
  return { id: row.id, name: row.name, description: row.description, createdAt: row.created_at, updatedAt: row.updated_at };
}

export async function findGroupsByIds(db: Db, ids: readonly string[]): Promise<Group[]> {
  if (ids.length === 0) return [];
  const rows = await db.selectFrom('groups').selectAll().where('id', 'in', ids).execute();
  return rows.map(toGroup);
}

export async function findGroupById(db: Db, id: string): Promise<Group | undefined> {
  const row = await db.selectFrom('groups').selectAll().where('id', '=', id).executeTakeFirst();
  return row && toGroup(row);
}

/** Groups by name; `search` is case-insensitive text in the name. */
export async function listGroups(db: Db, search: string | undefined, args: PageArgs): Promise<Page<Group>> {
  let query = db.selectFrom('groups').selectAll();
  if (search) query = query.where('name', 'ilike', containing(search));
  return paginateAs(query, args, { expression: 'lower(groups.name)', type: 'text', direction: 'asc', id: 'groups.id' }, toGroup);
}

export interface GroupValues {
  name: string;
  description: string;
}

export async function insertGroup(db: Db, values: GroupValues): Promise<Group> {
  return toGroup(await db.insertInto('groups').values(values).returningAll().executeTakeFirstOrThrow());
}

export async function updateGroupRow(db: Db, id: string, patch: Partial<GroupValues>): Promise<Group | undefined> {
  const row = await db
    .updateTable('groups')
    .set({ ...patch, updated_at: new Date() })
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirst();
  return row && toGroup(row);
}

export async function deleteGroupRow(db: Db, id: string): Promise<void> {
  await db.deleteFrom('groups').where('id', '=', id).execute();
}

// Membership: group_hosts, seen from either side.

/** The groups of each host, by name (for a DataLoader: one list per id, in order). */
export async function listGroupsOfHosts(db: Db, hostIds: readonly string[]): Promise<Group[][]> {
  if (hostIds.length === 0) return [];
  const rows = await db
    .selectFrom('groups')
    .innerJoin('group_hosts', 'group_hosts.group_id', 'groups.id')
    .selectAll('groups')
    .select('group_hosts.host_id')
    .where('group_hosts.host_id', 'in', hostIds)
    .orderBy(sql`lower(groups.name)`)
    .execute();
  return hostIds.map((id) => rows.filter((row) => row.host_id === id).map(toGroup));
}

/** The ids of a group's hosts. */
export async function hostIdsOfGroup(db: Db, groupId: string): Promise<string[]> {
  const rows = await db.selectFrom('group_hosts').select('host_id').where('group_id', '=', groupId).execute();
  return rows.map((row) => row.host_id);
}

/** How many hosts each group has (for a DataLoader). */
export async function countHostsOfGroups(db: Db, groupIds: readonly string[]): Promise<number[]> {
  if (groupIds.length === 0) return [];
  const rows = await db
    .selectFrom('group_hosts')
    .select(['group_id', sql<string>`count(*)`.as('n')])
    .where('group_id', 'in', groupIds)
    .groupBy('group_id')
    .execute();
  const counts = new Map(rows.map((row) => [row.group_id, Number(row.n)]));
  return groupIds.map((id) => counts.get(id) ?? 0);
}

/** Makes `groupIds` the groups of a host. Use inside a transaction. */
export async function replaceGroupsOfHost(db: Db, hostId: string, groupIds: readonly string[]): Promise<void> {
  await db.deleteFrom('group_hosts').where('host_id', '=', hostId).execute();
  if (groupIds.length === 0) return;
  await db.insertInto('group_hosts').values(groupIds.map((groupId) => ({ group_id: groupId, host_id: hostId }))).execute();
}

/** Adds hosts to a group; those already in it stay as they are. */
export async function addHostsToGroup(db: Db, groupId: string, hostIds: readonly string[]): Promise<void> {
  if (hostIds.length === 0) return;
  await db
    .insertInto('group_hosts')
    .values(hostIds.map((hostId) => ({ group_id: groupId, host_id: hostId })))
    .onConflict((oc) => oc.columns(['group_id', 'host_id']).doNothing())
    .execute();
}

export async function removeHostsFromGroup(db: Db, groupId: string, hostIds: readonly string[]): Promise<void> {
  if (hostIds.length === 0) return;
  await db.deleteFrom('group_hosts').where('group_id', '=', groupId).where('host_id', 'in', hostIds).execute();
}

// The scripts a group may run: group_scripts.

/** The scripts of each group, by name (for a DataLoader: one list per id, in order). */
export async function listScriptsOfGroups(db: Db, groupIds: readonly string[]): Promise<Script[][]> {
  if (groupIds.length === 0) return [];
  const rows = await db
    .selectFrom('scripts')
    .innerJoin('group_scripts', 'group_scripts.script_id', 'scripts.id')
    .selectAll('scripts')
    .select('group_scripts.group_id')
    .where('group_scripts.group_id', 'in', groupIds)
    .orderBy(sql`lower(scripts.name)`)
    .execute();
  return groupIds.map((id) => rows.filter((row) => row.group_id === id).map(toScript));
}

/** Makes `scriptIds` the scripts a group may run. Use inside a transaction. */
export async function replaceScriptsOfGroup(db: Db, groupId: string, scriptIds: readonly string[]): Promise<void> {
  await db.deleteFrom('group_scripts').where('group_id', '=', groupId).execute();
  if (scriptIds.length === 0) return;
  await db.insertInto('group_scripts').values(scriptIds.map((scriptId) => ({ group_id: groupId, script_id: scriptId }))).execute();
}

/** What still uses a group, so that deleting it would break something. */
export interface GroupUsage {
  hostCount: number;
  /** Whether new agents that register land in it by default. */
  registrationDefault: boolean;
  registrationRules: number;
  /** Names of the schedules that target it. */
  schedules: string[];
}

export async function groupUsage(db: Db, groupId: string): Promise<GroupUsage> {
  const [[hostCount], options, rules, schedules] = await Promise.all([
    countHostsOfGroups(db, [groupId]),
    db.selectFrom('options').select('register_default_group_id').executeTakeFirst(),
    db.selectFrom('registration_rules').select(sql<string>`count(*)`.as('n')).where('group_id', '=', groupId).executeTakeFirstOrThrow(),
    db
      .selectFrom('schedules')
      .innerJoin('schedule_groups', 'schedule_groups.schedule_id', 'schedules.id')
      .select('schedules.name')
      .where('schedule_groups.group_id', '=', groupId)
      .orderBy(sql`lower(schedules.name)`)
      .execute(),
  ]);
  return {
    hostCount: hostCount ?? 0,
    registrationDefault: options?.register_default_group_id === groupId,
    registrationRules: Number(rules.n),
    schedules: schedules.map((row) => row.name),
  };
}
