/** Checks: scripts that run elsewhere and report in with pings. */
import { sql, type Selectable } from 'kysely';
import type { Db } from './database';
import { paginateAs, type Page, type PageArgs, type SortOrder } from './pagination';
import type { CheckState, ChecksTable, PingKind } from './schema';
import { containing } from './like';

export interface Check {
  id: string;
  /** A small integer (Scripto's id). */
  number: number;
  /** The secret part of the ping URL. */
  pingKey: string;
  name: string;
  server: string;
  description: string;
  kind: 'period' | 'cron';
  periodSeconds: number | null;
  cron: string | null;
  timezone: string;
  graceSeconds: number;
  state: CheckState;
  lastPingAt: Date | null;
  lastPingKind: PingKind | null;
  lastSuccess: boolean | null;
  lastStartAt: Date | null;
  lastDurationMs: number | null;
  nextDueAt: Date | null;
  /** When it goes late (its expected time), while it is up and not in a run; what the sweeper reads. */
  lateAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

export function toCheck(row: Selectable<ChecksTable>): Check {
  return {
    id: row.id,
    number: row.number,
    pingKey: row.ping_key,
    name: row.name,
    server: row.server,
    description: row.description,
    kind: row.kind,
    periodSeconds: row.period_seconds,
    cron: row.cron,
    timezone: row.timezone,
    graceSeconds: row.grace_seconds,
    state: row.state,
    lastPingAt: row.last_ping_at,
    lastPingKind: row.last_ping_kind,
    lastSuccess: row.last_success,
    lastStartAt: row.last_start_at,
    lastDurationMs: row.last_duration_ms,
    nextDueAt: row.next_due_at,
    lateAt: row.late_at,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

export async function findChecksByIds(db: Db, ids: readonly string[]): Promise<Check[]> {
  if (ids.length === 0) return [];
  const rows = await db.selectFrom('checks').selectAll().where('id', 'in', ids).execute();
  return rows.map(toCheck);
}

export async function findCheckById(db: Db, id: string): Promise<Check | undefined> {
  const row = await db.selectFrom('checks').selectAll().where('id', '=', id).executeTakeFirst();
  return row && toCheck(row);
}

/** A check by its Scripto number. */
export async function findCheckByNumber(db: Db, number: number): Promise<Check | undefined> {
  const row = await db.selectFrom('checks').selectAll().where('number', '=', number).executeTakeFirst();
  return row && toCheck(row);
}

/**
 * Reads a check and locks it until the transaction ends, so pings and changes to one check are
 * applied one after another. By id or by ping key. Call it inside a transaction.
 */
export async function lockCheck(trx: Db, by: { id: string } | { pingKey: string } | { number: number }): Promise<Check | undefined> {
  let query = trx.selectFrom('checks').selectAll().forUpdate();
  query = 'id' in by ? query.where('id', '=', by.id) : 'number' in by ? query.where('number', '=', by.number) : query.where('ping_key', '=', by.pingKey);
  const row = await query.executeTakeFirst();
  return row && toCheck(row);
}

export interface CheckFilter {
  /** Case-insensitive text in the name. */
  search?: string;
  states?: CheckState[];
  /** The server, matched exactly but case-insensitively. */
  server?: string;
}

export type CheckOrder = 'name' | 'number';

const ORDERS: Record<CheckOrder, SortOrder> = {
  name: { expression: 'lower(checks.name)', type: 'text', direction: 'asc', id: 'checks.id' },
  number: { expression: 'checks.number', type: 'integer', direction: 'asc', id: 'checks.id' },
};

/** Checks by name (or by number, the order Scripto lists them in). */
export async function listChecks(db: Db, filter: CheckFilter, args: PageArgs, order: CheckOrder = 'name'): Promise<Page<Check>> {
  let query = db.selectFrom('checks').selectAll();
  if (filter.search) query = query.where('name', 'ilike', containing(filter.search));
  if (filter.states?.length) query = query.where('state', 'in', filter.states);
  if (filter.server !== undefined) query = query.where(sql`lower(server)`, '=', filter.server.toLowerCase());
  return paginateAs(query, args, ORDERS[order], toCheck);
}

/** What an admin sets on a check. */
export type CheckConfig = Pick<Check, 'name' | 'server' | 'description' | 'kind' | 'periodSeconds' | 'cron' | 'timezone' | 'graceSeconds'>;

/** The fields of a check that pings, pausing and time change. */
export type CheckStatusValues = Pick<Check, 'state' | 'lastPingAt' | 'lastPingKind' | 'lastSuccess' | 'lastStartAt' | 'lastDurationMs' | 'nextDueAt' | 'lateAt'>;

function configColumns(config: Partial<CheckConfig>) {
  return {
    name: config.name,
    server: config.server,
    description: config.description,
    kind: config.kind,
    period_seconds: config.periodSeconds,
    cron: config.cron,
    timezone: config.timezone,
    grace_seconds: config.graceSeconds,
  };
}

function statusColumns(status: Partial<CheckStatusValues>) {
  return {
    state: status.state,
    last_ping_at: status.lastPingAt,
    last_ping_kind: status.lastPingKind,
    last_success: status.lastSuccess,
    last_start_at: status.lastStartAt,
    last_duration_ms: status.lastDurationMs,
    next_due_at: status.nextDueAt,
    late_at: status.lateAt,
  };
}

export async function insertCheck(db: Db, config: CheckConfig): Promise<Check> {
  const { name, server, description, kind, periodSeconds, cron, timezone, graceSeconds } = config;
  const row = await db
    .insertInto('checks')
    .values({ name, server, description, kind, period_seconds: periodSeconds, cron, timezone, grace_seconds: graceSeconds })
    .returningAll()
    .executeTakeFirstOrThrow();
  return toCheck(row);
}

/** Changes a check's configuration and/or status (undefined fields stay as they are). */
export async function updateCheckRow(
  db: Db,
  id: string,
  patch: Partial<CheckConfig> & Partial<CheckStatusValues>,
): Promise<Check | undefined> {
  const row = await db
    .updateTable('checks')
    .set({ ...configColumns(patch), ...statusColumns(patch), updated_at: new Date() })
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirst();
  return row && toCheck(row);
}

/** Locks the checks with these numbers, in number order (so two batches never deadlock). */
export async function lockChecksByNumbers(trx: Db, numbers: readonly number[]): Promise<Check[]> {
  if (numbers.length === 0) return [];
  const rows = await trx.selectFrom('checks').selectAll().where('number', 'in', numbers).orderBy('number').forUpdate().execute();
  return rows.map(toCheck);
}

/** Sets the status of many checks in one statement. */
export async function updateCheckStatuses(trx: Db, updates: ReadonlyArray<{ id: string } & CheckStatusValues>): Promise<void> {
  if (updates.length === 0) return;
  const column = <T,>(pick: (u: { id: string } & CheckStatusValues) => T) => updates.map(pick);
  await sql`
    update checks c set state = u.state, last_ping_at = u.last_ping_at, last_ping_kind = u.last_ping_kind,
      last_success = u.last_success, last_start_at = u.last_start_at, last_duration_ms = u.last_duration_ms,
      next_due_at = u.next_due_at, late_at = u.late_at, updated_at = now()
    from unnest(${column((u) => u.id)}::uuid[], ${column((u) => u.state)}::text[], ${column((u) => u.lastPingAt)}::timestamptz[],
      ${column((u) => u.lastPingKind)}::text[], ${column((u) => u.lastSuccess)}::boolean[], ${column((u) => u.lastStartAt)}::timestamptz[],
      ${column((u) => u.lastDurationMs)}::integer[], ${column((u) => u.nextDueAt)}::timestamptz[], ${column((u) => u.lateAt)}::timestamptz[])
      as u(id, state, last_ping_at, last_ping_kind, last_success, last_start_at, last_duration_ms, next_due_at, late_at)
    where c.id = u.id`.execute(trx);
}

/** Gives a check a new ping key: URLs with the old one stop working. */
export async function rotateCheckPingKey(db: Db, id: string): Promise<Check | undefined> {
  const row = await db
    .updateTable('checks')
    .set({ ping_key: sql<string>`gen_random_uuid()`, updated_at: new Date() })
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirst();
  return row && toCheck(row);
}

/** Deletes a check; its pings go with it, its runs stay (unlinked). */
export async function deleteCheckRow(db: Db, id: string): Promise<boolean> {
  const result = await db.deleteFrom('checks').where('id', '=', id).executeTakeFirst();
  return result.numDeletedRows > 0n;
}
