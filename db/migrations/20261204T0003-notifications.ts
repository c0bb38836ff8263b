import { sql, type Kysely } from 'kysely';

// Frozen: migrations never import application code.
//
// Alerts and notifications: channels (where alerts go), rules (which events alert), silences
// (maintenance windows and snoozes), the alerter's per-rule state and cursor, and deliveries.
//
// The alerter reads the audit log in commit-safe order. An event's `at` is its transaction's
// start, and ids are random, so neither orders events by commit: a transaction that began first
// may commit last, after a cursor has moved past it. Each event therefore records the id of the
// transaction that wrote it (`txid`, xid8) and a sequence number (`seq`); the alerter reads only
// events of transactions older than every transaction still running
// (`pg_snapshot_xmin(pg_current_snapshot())`), in (txid, seq) order. Those can no longer change,
// so a cursor over them never skips one.

const id = (c: any) => c.primaryKey().defaultTo(sql`gen_random_uuid()`);
const now = (c: any) => c.notNull().defaultTo(sql`now()`);
const oneOf = (column: string, values: string[]) =>
  sql.raw(`${column} in (${values.map((v) => `'${v}'`).join(', ')})`);

const SUBJECT_TYPES = ['script', 'schedule', 'check'];

export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table events add column txid xid8 not null default pg_current_xact_id()`.execute(db);
  await sql`alter table events add column seq bigserial`.execute(db);
  await db.schema.createIndex('events_txid_seq_idx').on('events').columns(['txid', 'seq']).execute();

  await db.schema
    .createTable('notification_channels')
    .addColumn('id', 'uuid', id)
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull().check(oneOf('kind', ['webhook', 'email', 'command'])))
    .addColumn('enabled', 'boolean', (c) => c.notNull().defaultTo(true))
    // What may be shown: never a secret.
    .addColumn('settings', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    // The secrets (webhook URL and header values, SMTP password) as one JSON object, sealed.
    .addColumn('secrets_sealed', 'bytea')
    .addColumn('created_at', 'timestamptz', now)
    .addColumn('updated_at', 'timestamptz', now)
    .execute();
  await db.schema.createIndex('notification_channels_name_key').unique().on('notification_channels').expression(sql`lower(name)`).execute();

  await db.schema
    .createTable('alert_rules')
    .addColumn('id', 'uuid', id)
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('enabled', 'boolean', (c) => c.notNull().defaultTo(true))
    // No subject: a global default that applies to every script and check.
    .addColumn('subject_type', 'text', (c) => c.check(oneOf('subject_type', SUBJECT_TYPES)))
    .addColumn('subject_id', 'uuid')
    .addColumn('on_failure', 'boolean', (c) => c.notNull().defaultTo(true))
    .addColumn('on_recovery', 'boolean', (c) => c.notNull().defaultTo(true))
    .addColumn('after_failures', 'integer', (c) => c.notNull().defaultTo(1).check(sql`after_failures between 1 and 1000`))
    .addColumn('on_late', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('on_slow', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('slow_factor', 'double precision', (c) => c.notNull().defaultTo(2).check(sql`slow_factor >= 1`))
    .addColumn('remind_every_seconds', 'integer', (c) => c.check(sql`remind_every_seconds > 0`))
    .addColumn('created_at', 'timestamptz', now)
    .addColumn('updated_at', 'timestamptz', now)
    .addCheckConstraint('alert_rules_subject_check', sql`(subject_type is null) = (subject_id is null)`)
    .execute();
  await db.schema.createIndex('alert_rules_name_key').unique().on('alert_rules').expression(sql`lower(name)`).execute();

  await db.schema
    .createTable('alert_rule_channels')
    .addColumn('rule_id', 'uuid', (c) => c.notNull().references('alert_rules.id').onDelete('cascade'))
    .addColumn('channel_id', 'uuid', (c) => c.notNull().references('notification_channels.id').onDelete('cascade'))
    .addPrimaryKeyConstraint('alert_rule_channels_pkey', ['rule_id', 'channel_id'])
    .execute();
  await db.schema.createIndex('alert_rule_channels_channel_idx').on('alert_rule_channels').column('channel_id').execute();

  // Maintenance windows (a time range) and snoozes (until a time, per rule or subject).
  await db.schema
    .createTable('silences')
    .addColumn('id', 'uuid', id)
    .addColumn('kind', 'text', (c) => c.notNull().check(oneOf('kind', ['maintenance', 'snooze'])))
    .addColumn('reason', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('starts_at', 'timestamptz', (c) => c.notNull())
    .addColumn('ends_at', 'timestamptz', (c) => c.notNull())
    .addColumn('rule_id', 'uuid', (c) => c.references('alert_rules.id').onDelete('cascade'))
    .addColumn('subject_type', 'text', (c) => c.check(oneOf('subject_type', SUBJECT_TYPES)))
    .addColumn('subject_id', 'uuid')
    .addColumn('created_by', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', now)
    .addColumn('ended_at', 'timestamptz')
    .addCheckConstraint('silences_range_check', sql`ends_at > starts_at`)
    .addCheckConstraint('silences_subject_check', sql`(subject_type is null) = (subject_id is null)`)
    .execute();
  await db.schema.createIndex('silences_ends_idx').on('silences').columns(['ends_at desc', 'id desc']).execute();

  // What the alerter knows of each (rule, subject): consecutive failures, whether it has alerted
  // a failure not yet recovered, and its reminders.
  await db.schema
    .createTable('alert_states')
    .addColumn('rule_id', 'uuid', (c) => c.notNull().references('alert_rules.id').onDelete('cascade'))
    .addColumn('subject_type', 'text', (c) => c.notNull().check(oneOf('subject_type', SUBJECT_TYPES)))
    .addColumn('subject_id', 'uuid', (c) => c.notNull())
    .addColumn('subject_name', 'text', (c) => c.notNull())
    .addColumn('consecutive_failures', 'integer', (c) => c.notNull().defaultTo(0))
    // What it is alerting about until it recovers: null (nothing), 'late' (a check) or 'failure'.
    .addColumn('alerting', 'text', (c) => c.check(oneOf('alerting', ['late', 'failure'])))
    .addColumn('alert_event_id', 'uuid')
    .addColumn('alert_payload', 'jsonb')
    .addColumn('last_notified_at', 'timestamptz')
    .addColumn('reminders_sent', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('updated_at', 'timestamptz', now)
    .addPrimaryKeyConstraint('alert_states_pkey', ['rule_id', 'subject_type', 'subject_id'])
    .execute();
  await db.schema.createIndex('alert_states_alerting_idx').on('alert_states').column('last_notified_at').where(sql.ref('alerting'), 'is not', null).execute();

  // Where the alerter is in the audit log: one row, locked by whichever instance reads next.
  await db.schema
    .createTable('alerter_cursor')
    .addColumn('id', 'boolean', (c) => c.primaryKey().defaultTo(true).check(sql`id`))
    .addColumn('txid', sql`xid8`, (c) => c.notNull())
    .addColumn('seq', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'timestamptz', now)
    .execute();
  // Start after everything already logged: history is not alerted.
  await sql`insert into alerter_cursor (txid, seq) select pg_current_xact_id(), coalesce(max(seq), 0) from events`.execute(db);

  await db.schema
    .createTable('alert_deliveries')
    .addColumn('id', 'uuid', id)
    .addColumn('rule_id', 'uuid', (c) => c.references('alert_rules.id').onDelete('set null'))
    .addColumn('rule_name', 'text')
    .addColumn('channel_id', 'uuid', (c) => c.references('notification_channels.id').onDelete('cascade'))
    .addColumn('channel_name', 'text', (c) => c.notNull())
    .addColumn('event_id', 'uuid')
    // 0 for the alert of an event; 1, 2, … for the reminders that follow it.
    .addColumn('reminder', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('kind', 'text', (c) => c.notNull().check(oneOf('kind', ['failure', 'recovery', 'late', 'slow', 'reminder', 'test'])))
    .addColumn('subject_type', 'text')
    .addColumn('subject_id', 'uuid')
    .addColumn('subject_name', 'text')
    .addColumn('text', 'text', (c) => c.notNull())
    .addColumn('payload', 'jsonb', (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull().defaultTo('pending').check(oneOf('state', ['pending', 'delivered', 'failed', 'silenced'])))
    .addColumn('silenced_by', 'uuid')
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('last_error', 'text')
    .addColumn('next_attempt_at', 'timestamptz', now)
    .addColumn('created_at', 'timestamptz', now)
    // The list order: the deliveries one transaction raises share created_at, not their order.
    .addColumn('seq', 'bigserial', (c) => c.notNull())
    .addColumn('last_attempt_at', 'timestamptz')
    .addColumn('delivered_at', 'timestamptz')
    .addColumn('updated_at', 'timestamptz', now)
    .execute();
  // The guarantee against alerting an event twice, whichever instance evaluates it (one event may
  // raise two kinds for one rule: a recovery and a slow run).
  await db.schema.createIndex('alert_deliveries_once_key').unique().on('alert_deliveries').columns(['rule_id', 'event_id', 'channel_id', 'kind', 'reminder']).execute();
  await db.schema.createIndex('alert_deliveries_seq_idx').on('alert_deliveries').columns(['seq desc', 'id desc']).execute();
  await db.schema
    .createIndex('alert_deliveries_due_idx')
    .on('alert_deliveries')
    .column('next_attempt_at')
    .where(sql.ref('state'), '=', 'pending')
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const table of ['alert_deliveries', 'alerter_cursor', 'alert_states', 'silences', 'alert_rule_channels', 'alert_rules', 'notification_channels']) {
    await db.schema.dropTable(table).execute();
  }
  await sql`alter table events drop column seq, drop column txid`.execute(db);
}
