import { sql, type Kysely } from 'kysely';

// Frozen: migrations never import application code.
//
// The domain: hosts, groups, scripts and their attachments, environment variables, schedules and
// their occurrences, runs and their output, checks and their pings, the audit log and the
// server's options. Every id is a UUID; `checks.number` is the integer Scripto shows.

const id = (c: any) => c.primaryKey().defaultTo(sql`gen_random_uuid()`);
const now = (c: any) => c.notNull().defaultTo(sql`now()`);
const oneOf = (column: string, values: string[]) =>
  sql.raw(`${column} in (${values.map((v) => `'${v}'`).join(', ')})`);

export async function up(db: Kysely<any>): Promise<void> {
  // Hosts: the server itself (kind 'local', one row, created here) and agents.
  await db.schema
    .createTable('hosts')
    .addColumn('id', 'uuid', id)
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull().defaultTo('agent').check(oneOf('kind', ['local', 'agent'])))
    .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('address', 'text')
    .addColumn('port', 'integer', (c) => c.check(sql`port between 1 and 65535`))
    .addColumn('enabled', 'boolean', (c) => c.notNull().defaultTo(true))
    .addColumn('agent_key_prefix', 'text', (c) => c.unique())
    .addColumn('agent_key_hash', 'bytea')
    .addColumn('agent_key_created_at', 'timestamptz')
    .addColumn('hostname', 'text')
    .addColumn('os', 'text')
    .addColumn('agent_version', 'text')
    .addColumn('online', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('last_seen_at', 'timestamptz')
    .addColumn('created_at', 'timestamptz', now)
    .addColumn('updated_at', 'timestamptz', now)
    .execute();
  await db.schema.createIndex('hosts_name_key').unique().on('hosts').expression(sql`lower(name)`).execute();
  await db.schema
    .createIndex('hosts_address_key')
    .unique()
    .on('hosts')
    .expression(sql`lower(address)`)
    .where(sql.ref('address'), 'is not', null)
    .execute();
  await db.schema
    .createIndex('hosts_one_local_key')
    .unique()
    .on('hosts')
    .column('kind')
    .where(sql.ref('kind'), '=', 'local')
    .execute();
  await sql`insert into hosts (name, kind, description, online) values ('local', 'local', 'The machine Runboard itself runs on.', true)`.execute(db);

  await db.schema
    .createTable('groups')
    .addColumn('id', 'uuid', id)
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('created_at', 'timestamptz', now)
    .addColumn('updated_at', 'timestamptz', now)
    .execute();
  await db.schema.createIndex('groups_name_key').unique().on('groups').expression(sql`lower(name)`).execute();

  await db.schema
    .createTable('group_hosts')
    .addColumn('group_id', 'uuid', (c) => c.notNull().references('groups.id').onDelete('cascade'))
    .addColumn('host_id', 'uuid', (c) => c.notNull().references('hosts.id').onDelete('cascade'))
    .addColumn('created_at', 'timestamptz', now)
    .addPrimaryKeyConstraint('group_hosts_pkey', ['group_id', 'host_id'])
    .execute();
  await db.schema.createIndex('group_hosts_host_idx').on('group_hosts').column('host_id').execute();

  // Scripts: an executable with a body, or ordered steps; policies for running them.
  await db.schema
    .createTable('scripts')
    .addColumn('id', 'uuid', id)
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('enabled', 'boolean', (c) => c.notNull().defaultTo(true))
    .addColumn('executable', 'text', (c) => c.notNull().defaultTo('/bin/sh'))
    .addColumn('body', 'text', (c) => c.notNull().defaultTo(''))
    // [{ name, executable, args[], body }]: when non-empty, run in order instead of the body.
    .addColumn('steps', 'jsonb', (c) => c.notNull().defaultTo(sql`'[]'::jsonb`))
    .addColumn('stop_on_first_failure', 'boolean', (c) => c.notNull().defaultTo(true))
    .addColumn('working_dir', 'text')
    .addColumn('run_as_uid', 'integer', (c) => c.check(sql`run_as_uid >= 0`))
    .addColumn('run_as_gid', 'integer', (c) => c.check(sql`run_as_gid >= 0`))
    .addColumn('timeout_seconds', 'integer', (c) => c.check(sql`timeout_seconds > 0`))
    .addColumn('max_concurrent', 'integer', (c) => c.check(sql`max_concurrent > 0`))
    .addColumn('max_concurrent_per_host', 'integer', (c) => c.check(sql`max_concurrent_per_host > 0`))
    .addColumn('retry_count', 'integer', (c) => c.notNull().defaultTo(0).check(sql`retry_count between 0 and 100`))
    .addColumn('retry_delay_seconds', 'integer', (c) => c.notNull().defaultTo(0).check(sql`retry_delay_seconds >= 0`))
    .addColumn('retry_backoff', 'real', (c) => c.notNull().defaultTo(1).check(sql`retry_backoff >= 1`))
    // Parameters a run may set, with defaults: { name: default }.
    .addColumn('parameters', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    // Otto's AfterExecution: what to do once the script has run.
    .addColumn('after_execution', 'text')
    // A built-in runner instead of a command (ndscheduler's job classes), with its arguments.
    .addColumn('job_class', 'text')
    .addColumn('job_args', 'jsonb', (c) => c.notNull().defaultTo(sql`'[]'::jsonb`))
    // Sloth CI: the webhook path that triggers it, its validator, the config file it came from.
    .addColumn('listen_point', 'text')
    .addColumn('webhook_provider', 'jsonb')
    .addColumn('config_file', 'text')
    .addColumn('config_source', 'text')
    .addColumn('created_at', 'timestamptz', now)
    .addColumn('updated_at', 'timestamptz', now)
    .execute();
  await db.schema.createIndex('scripts_name_key').unique().on('scripts').expression(sql`lower(name)`).execute();
  await db.schema
    .createIndex('scripts_listen_point_key')
    .unique()
    .on('scripts')
    .column('listen_point')
    .where(sql.ref('listen_point'), 'is not', null)
    .execute();

  await db.schema
    .createTable('group_scripts')
    .addColumn('group_id', 'uuid', (c) => c.notNull().references('groups.id').onDelete('cascade'))
    .addColumn('script_id', 'uuid', (c) => c.notNull().references('scripts.id').onDelete('cascade'))
    .addColumn('created_at', 'timestamptz', now)
    .addPrimaryKeyConstraint('group_scripts_pkey', ['group_id', 'script_id'])
    .execute();
  await db.schema.createIndex('group_scripts_script_idx').on('group_scripts').column('script_id').execute();

  // Attachments: files placed on the host before a script runs; bytes kept here.
  await db.schema
    .createTable('attachments')
    .addColumn('id', 'uuid', id)
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('path', 'text', (c) => c.notNull())
    .addColumn('mime_type', 'text', (c) => c.notNull().defaultTo('application/octet-stream'))
    .addColumn('mode', 'integer', (c) => c.notNull().defaultTo(420).check(sql`mode between 0 and 4095`))
    .addColumn('uid', 'integer', (c) => c.check(sql`uid >= 0`))
    .addColumn('gid', 'integer', (c) => c.check(sql`gid >= 0`))
    .addColumn('size', 'integer', (c) => c.notNull())
    .addColumn('sha256', 'bytea', (c) => c.notNull())
    .addColumn('content', 'bytea', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', now)
    .addColumn('updated_at', 'timestamptz', now)
    .execute();
  await db.schema.createIndex('attachments_name_idx').on('attachments').expression(sql`lower(name), id`).execute();

  await db.schema
    .createTable('script_attachments')
    .addColumn('script_id', 'uuid', (c) => c.notNull().references('scripts.id').onDelete('cascade'))
    .addColumn('attachment_id', 'uuid', (c) => c.notNull().references('attachments.id').onDelete('cascade'))
    .addColumn('position', 'integer', (c) => c.notNull().defaultTo(0))
    .addPrimaryKeyConstraint('script_attachments_pkey', ['script_id', 'attachment_id'])
    .execute();
  await db.schema.createIndex('script_attachments_attachment_idx').on('script_attachments').column('attachment_id').execute();

  // Environment variables: global (no owner), or owned by exactly one script, group or host.
  // A secret's value is only in value_encrypted (AES-256-GCM under RUNBOARD_SECRET).
  await db.schema
    .createTable('env_vars')
    .addColumn('id', 'uuid', id)
    .addColumn('script_id', 'uuid', (c) => c.references('scripts.id').onDelete('cascade'))
    .addColumn('group_id', 'uuid', (c) => c.references('groups.id').onDelete('cascade'))
    .addColumn('host_id', 'uuid', (c) => c.references('hosts.id').onDelete('cascade'))
    .addColumn('key', 'text', (c) => c.notNull())
    .addColumn('value', 'text')
    .addColumn('secret', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('value_encrypted', 'bytea')
    .addColumn('position', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', 'timestamptz', now)
    .addColumn('updated_at', 'timestamptz', now)
    .addCheckConstraint('env_vars_one_owner', sql`num_nonnulls(script_id, group_id, host_id) <= 1`)
    .addCheckConstraint(
      'env_vars_value_kind',
      sql`(secret and value is null and value_encrypted is not null) or (not secret and value is not null and value_encrypted is null)`,
    )
    .execute();
  await db.schema
    .createIndex('env_vars_owner_key')
    .unique()
    .on('env_vars')
    .expression(sql`coalesce(script_id, group_id, host_id, '00000000-0000-0000-0000-000000000000'::uuid), key`)
    .execute();
  await db.schema.createIndex('env_vars_script_idx').on('env_vars').column('script_id').where(sql.ref('script_id'), 'is not', null).execute();
  await db.schema.createIndex('env_vars_group_idx').on('env_vars').column('group_id').where(sql.ref('group_id'), 'is not', null).execute();
  await db.schema.createIndex('env_vars_host_idx').on('env_vars').column('host_id').where(sql.ref('host_id'), 'is not', null).execute();

  // Schedules: when (cron / interval / once) and where (hosts or groups; one or all).
  await db.schema
    .createTable('schedules')
    .addColumn('id', 'uuid', id)
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('script_id', 'uuid', (c) => c.notNull().references('scripts.id').onDelete('cascade'))
    .addColumn('kind', 'text', (c) => c.notNull().check(oneOf('kind', ['cron', 'interval', 'once'])))
    .addColumn('cron', 'text')
    .addColumn('timezone', 'text', (c) => c.notNull().defaultTo('UTC'))
    .addColumn('interval_seconds', 'integer', (c) => c.check(sql`interval_seconds > 0`))
    .addColumn('run_at', 'timestamptz')
    .addColumn('target_mode', 'text', (c) => c.notNull().defaultTo('one').check(oneOf('target_mode', ['one', 'all'])))
    .addColumn('target_strategy', 'text', (c) =>
      c.notNull().defaultTo('random').check(oneOf('target_strategy', ['random', 'round_robin', 'least_busy'])),
    )
    .addColumn('stagger_seconds', 'integer', (c) => c.notNull().defaultTo(0).check(sql`stagger_seconds >= 0`))
    .addColumn('enabled', 'boolean', (c) => c.notNull().defaultTo(true))
    .addColumn('missed_policy', 'text', (c) => c.notNull().defaultTo('none').check(oneOf('missed_policy', ['none', 'last', 'all'])))
    .addColumn('missed_window_seconds', 'integer', (c) => c.notNull().defaultTo(3600).check(sql`missed_window_seconds >= 0`))
    .addColumn('overlap_policy', 'text', (c) =>
      c.notNull().defaultTo('allow').check(oneOf('overlap_policy', ['allow', 'skip', 'queue', 'cancel_previous'])),
    )
    .addColumn('parameters', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('last_run_at', 'timestamptz')
    .addColumn('next_run_at', 'timestamptz')
    .addColumn('created_at', 'timestamptz', now)
    .addColumn('updated_at', 'timestamptz', now)
    .addCheckConstraint(
      'schedules_when',
      sql`(kind = 'cron' and cron is not null) or (kind = 'interval' and interval_seconds is not null) or (kind = 'once' and run_at is not null)`,
    )
    .execute();
  await db.schema.createIndex('schedules_name_key').unique().on('schedules').expression(sql`lower(name)`).execute();
  await db.schema.createIndex('schedules_script_idx').on('schedules').column('script_id').execute();

  await db.schema
    .createTable('schedule_hosts')
    .addColumn('schedule_id', 'uuid', (c) => c.notNull().references('schedules.id').onDelete('cascade'))
    .addColumn('host_id', 'uuid', (c) => c.notNull().references('hosts.id').onDelete('restrict'))
    .addPrimaryKeyConstraint('schedule_hosts_pkey', ['schedule_id', 'host_id'])
    .execute();
  await db.schema.createIndex('schedule_hosts_host_idx').on('schedule_hosts').column('host_id').execute();
  await db.schema
    .createTable('schedule_groups')
    .addColumn('schedule_id', 'uuid', (c) => c.notNull().references('schedules.id').onDelete('cascade'))
    .addColumn('group_id', 'uuid', (c) => c.notNull().references('groups.id').onDelete('restrict'))
    .addPrimaryKeyConstraint('schedule_groups_pkey', ['schedule_id', 'group_id'])
    .execute();
  await db.schema.createIndex('schedule_groups_group_idx').on('schedule_groups').column('group_id').execute();

  // One row per firing of a schedule: a second firing of the same moment anywhere is a no-op.
  await db.schema
    .createTable('schedule_occurrences')
    .addColumn('id', 'uuid', id)
    .addColumn('schedule_id', 'uuid', (c) => c.notNull().references('schedules.id').onDelete('cascade'))
    .addColumn('scheduled_for', 'timestamptz', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', now)
    .addUniqueConstraint('schedule_occurrences_key', ['schedule_id', 'scheduled_for'])
    .execute();

  // Checks: scripts that run elsewhere and report in (pings).
  await db.schema
    .createTable('checks')
    .addColumn('id', 'uuid', id)
    .addColumn('number', 'serial', (c) => c.notNull().unique())
    .addColumn('ping_key', 'uuid', (c) => c.notNull().unique().defaultTo(sql`gen_random_uuid()`))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('server', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('kind', 'text', (c) => c.notNull().defaultTo('period').check(oneOf('kind', ['period', 'cron'])))
    .addColumn('period_seconds', 'integer', (c) => c.check(sql`period_seconds > 0`))
    .addColumn('cron', 'text')
    .addColumn('timezone', 'text', (c) => c.notNull().defaultTo('UTC'))
    .addColumn('grace_seconds', 'integer', (c) => c.notNull().defaultTo(3600).check(sql`grace_seconds >= 0`))
    .addColumn('state', 'text', (c) =>
      c.notNull().defaultTo('new').check(oneOf('state', ['new', 'up', 'late', 'down', 'paused'])),
    )
    .addColumn('last_ping_at', 'timestamptz')
    .addColumn('last_ping_kind', 'text')
    .addColumn('last_success', 'boolean')
    .addColumn('last_start_at', 'timestamptz')
    .addColumn('last_duration_ms', 'integer')
    .addColumn('next_due_at', 'timestamptz')
    .addColumn('created_at', 'timestamptz', now)
    .addColumn('updated_at', 'timestamptz', now)
    .addCheckConstraint(
      'checks_expected',
      sql`(kind = 'period' and period_seconds is not null) or (kind = 'cron' and cron is not null)`,
    )
    .execute();
  await db.schema.createIndex('checks_name_server_key').unique().on('checks').expression(sql`lower(name), lower(server)`).execute();
  await db.schema.createIndex('checks_next_due_idx').on('checks').column('next_due_at').where(sql.ref('next_due_at'), 'is not', null).execute();

  await db.schema
    .createTable('pings')
    .addColumn('id', 'uuid', id)
    .addColumn('check_id', 'uuid', (c) => c.notNull().references('checks.id').onDelete('cascade'))
    .addColumn('kind', 'text', (c) => c.notNull().check(oneOf('kind', ['success', 'fail', 'start', 'log', 'exit'])))
    .addColumn('exit_code', 'integer')
    .addColumn('body', 'text')
    .addColumn('body_truncated', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('run_key', 'text')
    .addColumn('duration_ms', 'integer')
    .addColumn('source', 'text', (c) => c.notNull().defaultTo('graphql'))
    .addColumn('remote_addr', 'text')
    .addColumn('user_agent', 'text')
    .addColumn('received_at', 'timestamptz', now)
    .execute();
  await db.schema.createIndex('pings_check_received_idx').on('pings').columns(['check_id', 'received_at desc', 'id desc']).execute();

  // Runs: one execution of a script on one host, or one reported from outside.
  await db.schema
    .createTable('runs')
    .addColumn('id', 'uuid', id)
    .addColumn('script_id', 'uuid', (c) => c.references('scripts.id').onDelete('set null'))
    .addColumn('script_name', 'text', (c) => c.notNull())
    .addColumn('host_id', 'uuid', (c) => c.references('hosts.id').onDelete('set null'))
    .addColumn('host_name', 'text')
    .addColumn('schedule_id', 'uuid', (c) => c.references('schedules.id').onDelete('set null'))
    .addColumn('occurrence_id', 'uuid', (c) => c.references('schedule_occurrences.id').onDelete('set null'))
    .addColumn('check_id', 'uuid', (c) => c.references('checks.id').onDelete('set null'))
    .addColumn('retry_of', 'uuid', (c) => c.references('runs.id').onDelete('set null'))
    .addColumn('attempt', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('state', 'text', (c) =>
      c
        .notNull()
        .defaultTo('queued')
        .check(
          oneOf('state', ['queued', 'dispatched', 'running', 'succeeded', 'failed', 'timed_out', 'cancelled', 'lost', 'skipped']),
        ),
    )
    .addColumn('trigger', 'text', (c) =>
      c.notNull().check(oneOf('trigger', ['schedule', 'manual', 'api', 'webhook', 'report', 'retry'])),
    )
    .addColumn('triggered_by_user_id', 'uuid', (c) => c.references('users.id').onDelete('set null'))
    .addColumn('triggered_by', 'text')
    .addColumn('parameters', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('exit_code', 'integer')
    .addColumn('summary', 'text')
    .addColumn('pid', 'integer')
    .addColumn('output_bytes', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('output_truncated', 'boolean', (c) => c.notNull().defaultTo(false))
    // What a reporting dialect sent that has no column of its own (VirtShell's task fields, a
    // job runner's result): kept and echoed back.
    .addColumn('external', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('scheduled_for', 'timestamptz')
    .addColumn('created_at', 'timestamptz', now)
    .addColumn('started_at', 'timestamptz')
    .addColumn('finished_at', 'timestamptz')
    .addColumn('updated_at', 'timestamptz', now)
    .execute();
  // Newest first, on their own and by each filter.
  await db.schema.createIndex('runs_created_idx').on('runs').columns(['created_at desc', 'id desc']).execute();
  await db.schema.createIndex('runs_state_created_idx').on('runs').columns(['state', 'created_at desc', 'id desc']).execute();
  await db.schema.createIndex('runs_script_created_idx').on('runs').columns(['script_id', 'created_at desc', 'id desc']).execute();
  await db.schema.createIndex('runs_host_created_idx').on('runs').columns(['host_id', 'created_at desc', 'id desc']).execute();
  await db.schema.createIndex('runs_schedule_created_idx').on('runs').columns(['schedule_id', 'created_at desc', 'id desc']).execute();
  await db.schema.createIndex('runs_check_created_idx').on('runs').columns(['check_id', 'created_at desc', 'id desc']).where(sql.ref('check_id'), 'is not', null).execute();
  await db.schema.createIndex('runs_occurrence_idx').on('runs').column('occurrence_id').where(sql.ref('occurrence_id'), 'is not', null).execute();
  await db.schema
    .createIndex('runs_active_idx')
    .on('runs')
    .columns(['state', 'script_id', 'host_id'])
    .where(sql<boolean>`state in ('queued', 'dispatched', 'running')`)
    .execute();

  // Output: ordered chunks per run. `offset` is where the chunk starts in the run's output
  // (in bytes of UTF-8), so a reader can resume from any chunk boundary.
  await db.schema
    .createTable('run_output')
    .addColumn('run_id', 'uuid', (c) => c.notNull().references('runs.id').onDelete('cascade'))
    .addColumn('seq', 'integer', (c) => c.notNull())
    .addColumn('stream', 'text', (c) => c.notNull().check(oneOf('stream', ['stdout', 'stderr', 'system'])))
    .addColumn('offset', 'bigint', (c) => c.notNull())
    .addColumn('data', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', now)
    .addPrimaryKeyConstraint('run_output_pkey', ['run_id', 'seq'])
    .execute();

  // The audit log.
  await db.schema
    .createTable('events')
    .addColumn('id', 'uuid', id)
    .addColumn('at', 'timestamptz', now)
    .addColumn('action', 'text', (c) => c.notNull())
    .addColumn('actor_kind', 'text', (c) => c.notNull().check(oneOf('actor_kind', ['user', 'api_key', 'host', 'system', 'anonymous'])))
    .addColumn('actor_id', 'uuid')
    .addColumn('actor_name', 'text', (c) => c.notNull())
    .addColumn('object_type', 'text')
    .addColumn('object_id', 'uuid')
    .addColumn('object_name', 'text')
    .addColumn('summary', 'text', (c) => c.notNull())
    .addColumn('details', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('ip', 'text')
    .execute();
  await db.schema.createIndex('events_at_idx').on('events').columns(['at desc', 'id desc']).execute();
  await db.schema.createIndex('events_object_idx').on('events').columns(['object_id', 'at desc']).where(sql.ref('object_id'), 'is not', null).execute();
  await db.schema.createIndex('events_action_idx').on('events').columns(['action', 'at desc']).execute();

  // Server options: one row.
  await db.schema
    .createTable('options')
    .addColumn('id', 'boolean', (c) => c.primaryKey().defaultTo(true).check(sql`id`))
    .addColumn('server_url', 'text')
    .addColumn('force_ip_version', 'integer', (c) => c.check(sql`force_ip_version in (4, 6)`))
    .addColumn('network_timeout_seconds', 'integer', (c) => c.notNull().defaultTo(30).check(sql`network_timeout_seconds > 0`))
    .addColumn('heartbeat_seconds', 'integer', (c) => c.notNull().defaultTo(30).check(sql`heartbeat_seconds > 0`))
    .addColumn('host_offline_after_seconds', 'integer', (c) => c.notNull().defaultTo(60).check(sql`host_offline_after_seconds > 0`))
    .addColumn('register_enabled', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('register_psk_encrypted', 'bytea')
    .addColumn('register_default_group_id', 'uuid', (c) => c.references('groups.id').onDelete('restrict'))
    .addColumn('include_psk_env', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('anonymous_checkin_networks', sql`text[]`, (c) => c.notNull().defaultTo(sql`'{}'::text[]`))
    .addColumn('updated_at', 'timestamptz', now)
    .execute();
  await sql`insert into options (id) values (true)`.execute(db);

  await db.schema
    .createTable('registration_rules')
    .addColumn('id', 'uuid', id)
    .addColumn('position', 'integer', (c) => c.notNull())
    .addColumn('property', 'text', (c) => c.notNull().check(oneOf('property', ['uname', 'hostname'])))
    .addColumn('pattern', 'text', (c) => c.notNull())
    .addColumn('group_id', 'uuid', (c) => c.notNull().references('groups.id').onDelete('restrict'))
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const table of [
    'registration_rules',
    'options',
    'events',
    'run_output',
    'runs',
    'pings',
    'checks',
    'schedule_occurrences',
    'schedule_groups',
    'schedule_hosts',
    'schedules',
    'env_vars',
    'script_attachments',
    'attachments',
    'group_scripts',
    'scripts',
    'group_hosts',
    'groups',
    'hosts',
  ]) {
    await db.schema.dropTable(table).execute();
  }
}
