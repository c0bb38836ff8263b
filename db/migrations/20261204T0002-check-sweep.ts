import { sql, type Kysely } from 'kysely';

// Frozen: migrations never import application code.

/**
 * What the check sweeper reads: for each check, the moment it goes late (`late_at`, its expected
 * time) beside the moment it goes down (`next_due_at`, expected + grace), each behind a partial
 * index holding only the checks that can still make that move, so a sweep finds what is due with
 * one index range scan per move however many checks are down or paused.
 *
 * `late_at` is set only while a check is up and not in a run (only then can it go late); the
 * backfill applies that rule to the rows already there. The plain index on `next_due_at` goes:
 * nothing else reads it.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('checks').addColumn('late_at', 'timestamptz').execute();
  await sql`
    update checks set late_at = next_due_at - grace_seconds * interval '1 second'
    where state = 'up' and last_start_at is null and next_due_at is not null
  `.execute(db);
  await sql`create index checks_sweep_late_idx on checks (late_at) where state = 'up' and late_at is not null`.execute(db);
  await sql`create index checks_sweep_down_idx on checks (next_due_at) where state in ('new', 'up', 'late') and next_due_at is not null`.execute(db);
  // Superseded by checks_sweep_down_idx, and one index fewer for every ping to update.
  await sql`drop index checks_next_due_idx`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`create index checks_next_due_idx on checks (next_due_at) where next_due_at is not null`.execute(db);
  await sql`drop index if exists checks_sweep_down_idx`.execute(db);
  await sql`drop index if exists checks_sweep_late_idx`.execute(db);
  await db.schema.alterTable('checks').dropColumn('late_at').execute();
}
