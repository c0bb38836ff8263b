import { sql, type Kysely } from 'kysely';

// Frozen: migrations never import application code.

/**
 * What ndscheduler's jobs and executions need:
 * - `schedules.owns_script`: true for a schedule made together with a script of its own (a job:
 *   its job class and arguments live on that script). Deleting such a job deletes the script
 *   with it; a schedule of a script people made themselves never does.
 * - `runs_scheduled_time_idx`: runs by the moment they were due (scheduled_for, or created_at
 *   for a run nobody scheduled), as executions are listed.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('schedules').addColumn('owns_script', 'boolean', (c) => c.notNull().defaultTo(false)).execute();
  await sql`create index runs_scheduled_time_idx on runs ((coalesce(scheduled_for, created_at)) desc)`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop index if exists runs_scheduled_time_idx`.execute(db);
  await db.schema.alterTable('schedules').dropColumn('owns_script').execute();
}
