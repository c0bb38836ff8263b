import { sql, type Kysely } from 'kysely';

// Frozen: migrations never import application code.

/**
 * Access keys (VirtShell's signed requests) and the tool that reported a run.
 *
 * - `access_keys`: a public key id and a secret that signs requests (HMAC-SHA1). The server must
 *   compute the same HMAC, so the secret is kept sealed (AES-256-GCM under RUNBOARD_SECRET), not
 *   hashed. Revoked keys stay, like API keys, so the audit log can name them.
 * - `runs.reporter`: which outside tool reported a run (`virtshell`), null for Runboard's own
 *   runs; each tool lists its runs newest first, and VirtShell filters them by their own status
 *   string (`external->>'status'`), both read in index order.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('access_keys')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('user_id', 'uuid', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('key_id', 'text', (c) => c.notNull().unique())
    .addColumn('secret_sealed', 'bytea', (c) => c.notNull())
    .addColumn('role_ceiling', 'text', (c) => c.notNull().check(sql`role_ceiling in ('admin', 'operator', 'viewer')`))
    .addColumn('revoked_at', 'timestamptz')
    .addColumn('last_used_at', 'timestamptz')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema.createIndex('access_keys_user_id_idx').on('access_keys').column('user_id').execute();
  await db.schema
    .createIndex('access_keys_user_name_key')
    .unique()
    .on('access_keys')
    .columns(['user_id', 'name'])
    .where(sql.ref('revoked_at'), 'is', null)
    .execute();

  await db.schema.alterTable('runs').addColumn('reporter', 'text').execute();
  await sql`create index runs_reporter_created_idx on runs (reporter, created_at desc, id desc) where reporter is not null`.execute(db);
  await sql`create index runs_reporter_status_created_idx on runs (reporter, (external->>'status'), created_at desc, id desc) where reporter is not null`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('runs').dropColumn('reporter').execute();
  await db.schema.dropTable('access_keys').execute();
}
