import { sql, type Kysely } from 'kysely';

// Frozen: migrations never import application code.

/**
 * Execution: Agenda's job table (Agenda runs with `ensureSchema: false`, so its table is ours
 * and versioned here; the SQL is @agendajs/postgres-backend 3.0.6's own, copied), the instances
 * that share the database, and what the dispatcher needs on runs and schedules.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create table agenda_jobs (
      id uuid primary key default gen_random_uuid(),
      name varchar(255) not null,
      priority integer not null default 0,
      next_run_at timestamptz,
      type varchar(10) not null default 'normal' check (type in ('normal', 'single')),
      locked_at timestamptz,
      last_finished_at timestamptz,
      failed_at timestamptz,
      fail_count integer default null,
      fail_reason text,
      repeat_timezone varchar(100),
      last_run_at timestamptz,
      repeat_interval varchar(255),
      data jsonb default '{}'::jsonb,
      repeat_at varchar(255),
      disabled boolean default false,
      progress real,
      fork boolean default false,
      last_modified_by varchar(255),
      debounce_started_at timestamptz,
      start_date timestamptz,
      end_date timestamptz,
      skip_days jsonb,
      created_at timestamptz default now(),
      updated_at timestamptz default now()
    )`.execute(db);
  await sql`create index agenda_jobs_find_and_lock_idx on agenda_jobs (name, next_run_at, priority desc, locked_at, disabled) where disabled = false`.execute(db);
  await sql`create unique index agenda_jobs_single_job_idx on agenda_jobs (name) where type = 'single'`.execute(db);
  await sql`create index agenda_jobs_locked_at_idx on agenda_jobs (locked_at) where locked_at is not null`.execute(db);
  await sql`create index agenda_jobs_next_run_at_idx on agenda_jobs (next_run_at) where next_run_at is not null`.execute(db);
  await sql`
    create function update_agenda_jobs_updated_at() returns trigger as $$
    begin
      new.updated_at = now();
      return new;
    end;
    $$ language plpgsql`.execute(db);
  await sql`
    create trigger agenda_jobs_updated_at_trigger before update on agenda_jobs
    for each row execute function update_agenda_jobs_updated_at()`.execute(db);

  // Instances: each running Runboard process, with a heartbeat. Runs owned by an instance whose
  // heartbeat stopped are resolved by the others.
  await db.schema
    .createTable('instances')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('hostname', 'text', (c) => c.notNull())
    .addColumn('pid', 'integer', (c) => c.notNull())
    .addColumn('version', 'text', (c) => c.notNull())
    .addColumn('started_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('heartbeat_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('stopped_at', 'timestamptz')
    .execute();

  // Runs: the instance executing it, the earliest moment it may start (retry delays, staggers),
  // its queue position (ids are random, and many runs share a created_at), and a built-in job's result.
  await db.schema
    .alterTable('runs')
    .addColumn('instance_id', 'uuid', (c) => c.references('instances.id').onDelete('set null'))
    .addColumn('not_before', 'timestamptz')
    .addColumn('queue_position', 'bigint', (c) => c.generatedByDefaultAsIdentity().notNull())
    .addColumn('result', 'jsonb')
    .addColumn('dispatched_at', 'timestamptz')
    .execute();
  await db.schema
    .createIndex('runs_queue_idx')
    .on('runs')
    .columns(['queue_position'])
    .where(sql<boolean>`state = 'queued'`)
    .execute();
  await db.schema
    .createIndex('runs_instance_idx')
    .on('runs')
    .columns(['instance_id'])
    .where(sql<boolean>`state in ('dispatched', 'running')`)
    .execute();

  // The claim: queued → dispatched for one instance, in queue order, within every limit (a
  // script's max concurrent runs, overall and per host; a schedule whose overlap policy is
  // \`queue\` runs one at a time per host). A transaction-level advisory lock serializes claims
  // across instances, so two never both take the last free slot of a limited script; each
  // statement after it sees what the previous claim committed. A function so that it is one
  // round trip and its plan is made once per connection (planning the query alone took ~5 ms).
  await sql`
    create function runboard_claim_runs(p_hosts uuid[], p_instance uuid, p_limit int, p_ahead_ms int default 0)
    returns setof runs
    language plpgsql
    set plan_cache_mode = force_generic_plan
    as $$
    begin
      perform pg_advisory_xact_lock(7361424001);
      return query
      with busy as (
        select script_id, host_id, schedule_id from runs where state in ('dispatched', 'running')
      ),
      script_busy as (select script_id, count(*)::int as n from busy where script_id is not null group by script_id),
      script_host_busy as (select script_id, host_id, count(*)::int as n from busy where script_id is not null group by script_id, host_id),
      schedule_host_busy as (select schedule_id, host_id, count(*)::int as n from busy where schedule_id is not null group by schedule_id, host_id),
      candidates as (
        select r.id, r.queue_position, r.script_id, r.host_id, r.schedule_id,
               s.max_concurrent, s.max_concurrent_per_host,
               coalesce(sc.overlap_policy = 'queue', false) as one_at_a_time,
               coalesce(sb.n, 0) as script_n, coalesce(shb.n, 0) as script_host_n, coalesce(schb.n, 0) as schedule_host_n
        from runs r
        left join scripts s on s.id = r.script_id
        left join schedules sc on sc.id = r.schedule_id
        left join script_busy sb on sb.script_id = r.script_id
        left join script_host_busy shb on shb.script_id = r.script_id and shb.host_id = r.host_id
        left join schedule_host_busy schb on schb.schedule_id = r.schedule_id and schb.host_id = r.host_id
        where r.state = 'queued'
          and r.host_id = any(p_hosts)
          and (case when p_ahead_ms > 0
                 -- Ahead: runs whose moment is near, of scripts without limits (a limit must be
                 -- judged when the run starts, not before).
                 then r.not_before > now() and r.not_before <= now() + p_ahead_ms * interval '1 millisecond'
                      and s.max_concurrent is null and s.max_concurrent_per_host is null
                      and sc.overlap_policy is distinct from 'queue'
                 else r.not_before is null or r.not_before <= now() end)
          and (s.max_concurrent is null or coalesce(sb.n, 0) < s.max_concurrent)
          and (s.max_concurrent_per_host is null or coalesce(shb.n, 0) < s.max_concurrent_per_host)
          and (sc.overlap_policy is distinct from 'queue' or coalesce(schb.n, 0) = 0)
        order by r.queue_position
        limit p_limit * 4
      ),
      ranked as (
        select c.*,
          row_number() over (partition by c.script_id order by c.queue_position) as script_rank,
          row_number() over (partition by c.script_id, c.host_id order by c.queue_position) as script_host_rank,
          row_number() over (partition by c.schedule_id, c.host_id order by c.queue_position) as schedule_host_rank
        from candidates c
      ),
      chosen as (
        select id from ranked
        where (max_concurrent is null or script_n + script_rank <= max_concurrent)
          and (max_concurrent_per_host is null or script_host_n + script_host_rank <= max_concurrent_per_host)
          and (not one_at_a_time or schedule_id is null or schedule_host_n + schedule_host_rank <= 1)
        order by queue_position
        limit p_limit
      )
      , claimed as (
        update runs set state = 'dispatched', instance_id = p_instance, dispatched_at = now(), updated_at = now()
        from chosen
        where runs.id = chosen.id and runs.state = 'queued'
        returning runs.*
      )
      select * from claimed;
    end;
    $$`.execute(db);

  // What the executor needs for a batch of claimed runs (db/execution-input.repository.ts), as
  // one JSON value: a function so its plan is made once per connection (planning it took ~1.6 ms,
  // more than running it).
  await sql`
    create function runboard_execution_input(p_scripts uuid[], p_hosts uuid[])
    returns table (script_rows json, group_rows json, attachment_rows json, var_rows json, url text)
    language plpgsql stable
    set plan_cache_mode = force_generic_plan
    as $$
    begin
      return query
    select
      (select coalesce(json_agg(s), '[]') from scripts s where s.id = any(p_scripts)) as scripts,
      (select coalesce(json_agg(json_build_object('host_id', gh.host_id, 'group_id', g.id) order by lower(g.name)), '[]')
         from group_hosts gh join groups g on g.id = gh.group_id where gh.host_id = any(p_hosts)) as groups,
      (select coalesce(json_agg(json_build_object('script_id', sa.script_id, 'path', a.path, 'mode', a.mode, 'uid', a.uid, 'gid', a.gid,
                'content', encode(a.content, 'base64')) order by sa.position), '[]')
         from script_attachments sa join attachments a on a.id = sa.attachment_id where sa.script_id = any(p_scripts)) as attachments,
      (select coalesce(json_agg(json_build_object('key', e.key, 'value', e.value, 'sealed', encode(e.value_encrypted, 'base64'),
                'script_id', e.script_id, 'group_id', e.group_id, 'host_id', e.host_id) order by e.position), '[]')
         from env_vars e
         where num_nonnulls(e.script_id, e.group_id, e.host_id) = 0
            or e.script_id = any(p_scripts)
            or e.host_id = any(p_hosts)
            or e.group_id in (select group_id from group_hosts where host_id = any(p_hosts))) as vars,
      (select o.server_url from options o limit 1) as server_url;
    end;
    $$`.execute(db);

  // Schedules: where round-robin targeting continues, and the index the scheduler polls.
  await db.schema
    .alterTable('schedules')
    .addColumn('round_robin_next', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  await db.schema
    .createIndex('schedules_due_idx')
    .on('schedules')
    .column('next_run_at')
    .where(sql<boolean>`enabled and next_run_at is not null`)
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop function runboard_claim_runs(uuid[], uuid, int, int)`.execute(db);
  await sql`drop function runboard_execution_input(uuid[], uuid[])`.execute(db);
  await db.schema.dropIndex('schedules_due_idx').execute();
  await db.schema.alterTable('schedules').dropColumn('round_robin_next').execute();
  await db.schema.dropIndex('runs_instance_idx').execute();
  await db.schema.dropIndex('runs_queue_idx').execute();
  await db.schema
    .alterTable('runs')
    .dropColumn('instance_id')
    .dropColumn('not_before')
    .dropColumn('queue_position')
    .dropColumn('result')
    .dropColumn('dispatched_at')
    .execute();
  await db.schema.dropTable('instances').execute();
  await db.schema.dropTable('agenda_jobs').execute();
  await sql`drop function update_agenda_jobs_updated_at()`.execute(db);
}
