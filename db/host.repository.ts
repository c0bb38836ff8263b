/** Hosts: the server itself (`local`) and the machines agents run on. */
import { sql, type Selectable } from 'kysely';
import type { Db } from './database';
import { paginateAs, type Page, type PageArgs, type SortOrder } from './pagination';
import type { HostsTable } from './schema';
import { containing } from './like';

export interface Host {
  id: string;
  name: string;
  kind: 'local' | 'agent';
  description: string;
  address: string | null;
  port: number | null;
  enabled: boolean;
  /** The public part of the agent key (`rbh_<prefix>_…`); null when none was issued. */
  agentKeyPrefix: string | null;
  agentKeyCreatedAt: Date | null;
  hostname: string | null;
  os: string | null;
  agentVersion: string | null;
  online: boolean;
  lastSeenAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

export function toHost(row: Selectable<HostsTable>): Host {
  return {
    id: row.id,
    name: row.name,
    kind: row.kind,
    description: row.description,
    address: row.address,
    port: row.port,
    enabled: row.enabled,
    agentKeyPrefix: row.agent_key_prefix,
    agentKeyCreatedAt: row.agent_key_created_at,
    hostname: row.hostname,
    os: row.os,
    agentVersion: row.agent_version,
    online: row.online,
    lastSeenAt: row.last_seen_at,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

export async function findHostsByIds(db: Db, ids: readonly string[]): Promise<Host[]> {
  if (ids.length === 0) return [];
  const rows = await db.selectFrom('hosts').selectAll().where('id', 'in', ids).execute();
  return rows.map(toHost);
}

export async function findHostById(db: Db, id: string): Promise<Host | undefined> {
  const row = await db.selectFrom('hosts').selectAll().where('id', '=', id).executeTakeFirst();
  return row && toHost(row);
}

export interface HostFilter {
  /** Case-insensitive text in the name. */
  search?: string;
  online?: boolean;
  enabled?: boolean;
  kind?: Host['kind'];
}

const byName: SortOrder = { expression: 'lower(hosts.name)', type: 'text', direction: 'asc', id: 'hosts.id' };

/** Hosts by name. */
export async function listHosts(db: Db, filter: HostFilter, args: PageArgs): Promise<Page<Host>> {
  let query = db.selectFrom('hosts').selectAll();
  if (filter.search) query = query.where('name', 'ilike', containing(filter.search));
  if (filter.online !== undefined) query = query.where('online', '=', filter.online);
  if (filter.enabled !== undefined) query = query.where('enabled', '=', filter.enabled);
  if (filter.kind) query = query.where('kind', '=', filter.kind);
  return paginateAs(query, args, byName, toHost);
}

/** The hosts in one group, by name. */
export async function listHostsInGroup(db: Db, groupId: string, search: string | undefined, args: PageArgs): Promise<Page<Host>> {
  let query = db
    .selectFrom('hosts')
    .innerJoin('group_hosts', 'group_hosts.host_id', 'hosts.id')
    .selectAll('hosts')
    .where('group_hosts.group_id', '=', groupId);
  if (search) query = query.where('hosts.name', 'ilike', containing(search));
  return paginateAs(query, args, byName, toHost);
}

export interface HostValues {
  name: string;
  description: string;
  address: string | null;
  port: number | null;
  enabled: boolean;
}

/** Inserts an agent host (the local one is created by the migration). */
export async function insertHost(db: Db, values: HostValues): Promise<Host> {
  const row = await db.insertInto('hosts').values({ ...values, kind: 'agent' }).returningAll().executeTakeFirstOrThrow();
  return toHost(row);
}

export async function updateHostRow(db: Db, id: string, patch: Partial<HostValues>): Promise<Host | undefined> {
  const row = await db
    .updateTable('hosts')
    .set({ ...patch, updated_at: new Date() })
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirst();
  return row && toHost(row);
}

export async function deleteHostRow(db: Db, id: string): Promise<void> {
  await db.deleteFrom('hosts').where('id', '=', id).execute();
}

/** Sets (or with null, removes) a host's agent key. */
export async function setHostKey(db: Db, id: string, key: { prefix: string; hash: Buffer } | null): Promise<Host | undefined> {
  const now = new Date();
  const row = await db
    .updateTable('hosts')
    .set({
      agent_key_prefix: key?.prefix ?? null,
      agent_key_hash: key?.hash ?? null,
      agent_key_created_at: key ? now : null,
      updated_at: now,
    })
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirst();
  return row && toHost(row);
}

export async function findHostByKeyPrefix(db: Db, prefix: string): Promise<{ host: Host; keyHash: Buffer } | undefined> {
  const row = await db.selectFrom('hosts').selectAll().where('agent_key_prefix', '=', prefix).executeTakeFirst();
  return row?.agent_key_hash ? { host: toHost(row), keyHash: row.agent_key_hash } : undefined;
}

/** Names of the schedules that target a host directly, by name. */
export async function schedulesTargetingHost(db: Db, hostId: string): Promise<string[]> {
  const rows = await db
    .selectFrom('schedules')
    .innerJoin('schedule_hosts', 'schedule_hosts.schedule_id', 'schedules.id')
    .select('schedules.name')
    .where('schedule_hosts.host_id', '=', hostId)
    .orderBy(sql`lower(schedules.name)`)
    .execute();
  return rows.map((row) => row.name);
}

// An agent's connection. These change what the host reports and whether it is online, never its
// settings, so `updated_at` stays.

/** An agent said hello: the host is online, with what the agent reported. */
export async function markHostConnected(db: Db, id: string, agent: { hostname: string; os: string; agentVersion: string }): Promise<Host | undefined> {
  const row = await db
    .updateTable('hosts')
    .set({ online: true, last_seen_at: sql<Date>`now()`, hostname: agent.hostname, os: agent.os, agent_version: agent.agentVersion })
    .where('id', '=', id)
    .where('kind', '=', 'agent')
    .returningAll()
    .executeTakeFirst();
  return row && toHost(row);
}

/** The agent was heard from (a heartbeat): it is online, seen now. */
export async function markHostSeen(db: Db, id: string): Promise<Host | undefined> {
  const row = await db
    .updateTable('hosts')
    .set({ online: true, last_seen_at: sql<Date>`now()` })
    .where('id', '=', id)
    .where('kind', '=', 'agent')
    .returningAll()
    .executeTakeFirst();
  return row && toHost(row);
}

/** Marks an agent host offline; undefined when it already was (or is gone). */
export async function markHostOffline(db: Db, id: string): Promise<Host | undefined> {
  const row = await db
    .updateTable('hosts')
    .set({ online: false })
    .where('id', '=', id)
    .where('kind', '=', 'agent')
    .where('online', '=', true)
    .returningAll()
    .executeTakeFirst();
  return row && toHost(row);
}

/**
 * Agent hosts marked online but not heard from for `silentSeconds` (their agent, or the instance
 * holding its connection, went away): marked offline and returned.
 */
export async function markSilentHostsOffline(db: Db, silentSeconds: number): Promise<Host[]> {
  const rows = await db
    .updateTable('hosts')
    .set({ online: false })
    .where('kind', '=', 'agent')
    .where('online', '=', true)
    .where((eb) => eb.or([eb('last_seen_at', 'is', null), eb('last_seen_at', '<', sql<Date>`now() - make_interval(secs => ${silentSeconds})`)]))
    .returningAll()
    .execute();
  return rows.map(toHost);
}

/** How many runs each host has dispatched or running (hosts with none are absent). */
export async function runningRunCounts(db: Db, hostIds: readonly string[]): Promise<Map<string, number>> {
  if (hostIds.length === 0) return new Map();
  const rows = await db
    .selectFrom('runs')
    .select(['host_id', (eb) => eb.fn.countAll<string>().as('n')])
    .where('state', 'in', ['dispatched', 'running'])
    .where('host_id', '=', sql<string>`any(${sql.val([...hostIds])}::uuid[])`)
    .groupBy('host_id')
    .execute();
  return new Map(rows.map((row) => [row.host_id!, Number(row.n)]));
}
