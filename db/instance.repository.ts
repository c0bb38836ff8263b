/**
 * Instances: the Runboard processes sharing this database. Each registers at start, beats every
 * few seconds, and says when it stops; one whose beat is overdue is gone, and its runs are
 * resolved by the others (run-queue.repository).
 */
import { sql } from 'kysely';
import type { Db } from './database';

export interface Instance {
  id: string;
  hostname: string;
  pid: number;
  version: string;
  startedAt: Date;
  heartbeatAt: Date;
  stoppedAt: Date | null;
}

export async function registerInstance(db: Db, values: { hostname: string; pid: number; version: string }): Promise<Instance> {
  const row = await db.insertInto('instances').values(values).returningAll().executeTakeFirstOrThrow();
  return {
    id: row.id,
    hostname: row.hostname,
    pid: row.pid,
    version: row.version,
    startedAt: row.started_at,
    heartbeatAt: row.heartbeat_at,
    stoppedAt: row.stopped_at,
  };
}

/** False when the row is gone or marked stopped (another instance gave up on this one). */
export async function beat(db: Db, id: string): Promise<boolean> {
  const result = await db
    .updateTable('instances')
    .set({ heartbeat_at: sql<Date>`now()` })
    .where('id', '=', id)
    .where('stopped_at', 'is', null)
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

export async function markStopped(db: Db, id: string): Promise<void> {
  await db.updateTable('instances').set({ stopped_at: sql<Date>`now()` }).where('id', '=', id).execute();
}

/** Forgets instances that stopped (or went silent) long ago and own no active run. */
export async function deleteOldInstances(db: Db, olderThanSeconds: number): Promise<number> {
  const result = await db
    .deleteFrom('instances')
    .where(sql<boolean>`coalesce(stopped_at, heartbeat_at) < now() - make_interval(secs => ${olderThanSeconds})`)
    .where(({ not, exists, selectFrom }) =>
      not(exists(selectFrom('runs').select('runs.id').whereRef('runs.instance_id', '=', 'instances.id').where('runs.state', 'in', ['dispatched', 'running']))),
    )
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}
