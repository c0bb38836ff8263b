/** Pings: what a check's script reports, newest first per check. */
import type { Selectable } from 'kysely';
import type { Db } from './database';
import { paginateAs, type Page, type PageArgs, type SortOrder } from './pagination';
import type { PingKind, PingsTable } from './schema';

export interface Ping {
  id: string;
  checkId: string;
  kind: PingKind;
  exitCode: number | null;
  /** The first 100 KiB of what was sent. */
  body: string | null;
  bodyTruncated: boolean;
  /** Pairs a START with its finish. */
  runKey: string | null;
  /** For a finish paired with a START: the time between them. */
  durationMs: number | null;
  /** How it arrived: `graphql`, `http` (the ping URL), a REST dialect. */
  source: string;
  remoteAddr: string | null;
  userAgent: string | null;
  receivedAt: Date;
}

export type NewPing = Omit<Ping, 'id'>;

function toPing(row: Selectable<PingsTable>): Ping {
  return {
    id: row.id,
    checkId: row.check_id,
    kind: row.kind,
    exitCode: row.exit_code,
    body: row.body,
    bodyTruncated: row.body_truncated,
    runKey: row.run_key,
    durationMs: row.duration_ms,
    source: row.source,
    remoteAddr: row.remote_addr,
    userAgent: row.user_agent,
    receivedAt: row.received_at,
  };
}

function pingRow(ping: NewPing) {
  return {
    check_id: ping.checkId,
    kind: ping.kind,
    exit_code: ping.exitCode,
    body: ping.body,
    body_truncated: ping.bodyTruncated,
    run_key: ping.runKey,
    duration_ms: ping.durationMs,
    source: ping.source,
    remote_addr: ping.remoteAddr,
    user_agent: ping.userAgent,
    received_at: ping.receivedAt,
  };
}

export async function insertPing(db: Db, ping: NewPing): Promise<Ping> {
  const row = await db.insertInto('pings').values(pingRow(ping)).returningAll().executeTakeFirstOrThrow();
  return toPing(row);
}

/** Inserts many pings in one statement (their rows are not read back). */
export async function insertPings(db: Db, pings: readonly NewPing[]): Promise<void> {
  if (pings.length === 0) return;
  await db.insertInto('pings').values(pings.map(pingRow)).execute();
}

export async function findPingsByIds(db: Db, ids: readonly string[]): Promise<Ping[]> {
  if (ids.length === 0) return [];
  const rows = await db.selectFrom('pings').selectAll().where('id', 'in', ids).execute();
  return rows.map(toPing);
}

/** When the latest START of `checkId` with `runKey`, at or before `at`, arrived. */
export async function findStartTime(db: Db, checkId: string, runKey: string, at: Date): Promise<Date | undefined> {
  const row = await db
    .selectFrom('pings')
    .select('received_at')
    .where('check_id', '=', checkId)
    .where('kind', '=', 'start')
    .where('run_key', '=', runKey)
    .where('received_at', '<=', at)
    .orderBy('received_at', 'desc')
    .limit(1)
    .executeTakeFirst();
  return row?.received_at;
}

const newestFirst: SortOrder = { expression: 'pings.received_at', type: 'timestamptz', direction: 'desc', id: 'pings.id' };

/** One check's pings, newest first (on pings_check_received_idx). */
export async function listPings(db: Db, checkId: string, kinds: PingKind[] | undefined, args: PageArgs): Promise<Page<Ping>> {
  let query = db.selectFrom('pings').selectAll().where('check_id', '=', checkId);
  if (kinds?.length) query = query.where('kind', 'in', kinds);
  return paginateAs(query, args, newestFirst, toPing);
}
