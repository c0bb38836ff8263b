import type { Kysely } from 'kysely';

// Frozen: migrations never import application code.

/**
 * `schedules.owns_script`: true for a schedule made together with a script of its own (an
 * ndscheduler job: its job class and arguments live on that script). Deleting such a job deletes
 * the script with it; a schedule of a script people made themselves never does.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('schedules').addColumn('owns_script', 'boolean', (c) => c.notNull().defaultTo(false)).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('schedules').dropColumn('owns_script').execute();
}
