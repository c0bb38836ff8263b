/**
 * Schema migrations with Kysely's migrator. Files in db/migrations are named by timestamp and
 * never change once committed; each is listed in MIGRATIONS below (a static list works under
 * every loader — tsx, vitest, Next — where importing files found on disk does not). Kysely
 * takes a lock table, so two processes starting at once migrate one after the other.
 */
import { Migrator, type Migration, type MigrationResultSet } from 'kysely';
import type { Db } from './database';
import * as m20261123T0001 from './migrations/20261123T0001-users-sessions-keys';
import * as m20261123T0002 from './migrations/20261123T0002-domain';
import * as m20261123T0003 from './migrations/20261123T0003-pubsub';
import * as m20261123T0004 from './migrations/20261123T0004-execution';
import * as m20261204T0001 from './migrations/20261204T0001-claims';
import * as m20261204T0002 from './migrations/20261204T0002-check-sweep';
import * as m20261204T0003 from './migrations/20261204T0003-notifications';
import * as m20261204T0004 from './migrations/20261204T0004-agents';
import * as m20261204T1900 from './migrations/20261204T1900-ndscheduler-jobs';
import * as m20261204T1901 from './migrations/20261204T1901-access-keys-reporters';

export const MIGRATIONS: Record<string, Migration> = {
  '20261123T0001-users-sessions-keys': m20261123T0001,
  '20261123T0002-domain': m20261123T0002,
  '20261123T0003-pubsub': m20261123T0003,
  '20261123T0004-execution': m20261123T0004,
  '20261204T0001-claims': m20261204T0001,
  '20261204T0002-check-sweep': m20261204T0002,
  '20261204T0003-notifications': m20261204T0003,
  '20261204T0004-agents': m20261204T0004,
  '20261204T1900-ndscheduler-jobs': m20261204T1900,
  '20261204T1901-access-keys-reporters': m20261204T1901,
};

export function migrator(db: Db): Migrator {
  return new Migrator({ db, provider: { getMigrations: async () => MIGRATIONS } });
}

/** Brings the schema up to date; throws with the failing migration's name. */
export async function migrateToLatest(db: Db): Promise<string[]> {
  const { error, results }: MigrationResultSet = await migrator(db).migrateToLatest();
  const failed = results?.find((r) => r.status === 'Error');
  if (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(`Database migration ${failed?.migrationName ?? ''} failed: ${reason}`, { cause: error });
  }
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}
