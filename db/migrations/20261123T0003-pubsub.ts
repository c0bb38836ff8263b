import { sql, type Kysely } from 'kysely';

// Frozen: migrations never import application code.

/**
 * Payloads too large for a NOTIFY (PostgreSQL caps them at 8000 bytes): the notification carries
 * the row's id and every instance reads it. Rows are deleted a few minutes after they are written.
 * `json`, not `jsonb`: it keeps the text as sent, and jsonb refuses \u0000 (output may hold one).
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('pubsub_payloads')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('payload', 'json', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema.createIndex('pubsub_payloads_created_at_idx').on('pubsub_payloads').column('created_at').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('pubsub_payloads').execute();
}
