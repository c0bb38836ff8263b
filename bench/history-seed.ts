/**
 * Seeds the history benchmark's database with SQL alone (the hosts, scripts and schedules
 * services are not needed, and going through them would cost hours for a million runs):
 * 20 hosts, 200 scripts in 10 groups, 100 schedules and N runs, each table filled by
 * `INSERT … SELECT … FROM generate_series(…)`, which builds the rows inside PostgreSQL and is
 * the fastest way short of COPY (no rows cross the wire). Runs go in chunks so progress shows.
 */
import { sql } from 'kysely';
import type { Db } from '../db/database';

/** Rows per INSERT of runs: big enough to be fast, small enough to show progress. */
const RUN_CHUNK = 100_000;

async function seedConfiguration(db: Db): Promise<void> {
  // The migration made the 'local' host; 19 agents join it.
  await sql`
    insert into hosts (name, kind, description, address, hostname, os, agent_version, online, last_seen_at)
    select 'host-' || lpad(g::text, 2, '0'), 'agent', 'Bench agent ' || g, '10.0.0.' || g, 'host-' || g || '.bench',
           'linux', '1.0.0', g % 7 <> 0, now()
    from generate_series(1, 19) g`.execute(db);
  await sql`
    insert into scripts (name, description, executable, body, timeout_seconds)
    select 'script-' || lpad(g::text, 3, '0'), 'Bench script ' || g, '/bin/sh', 'echo run ' || g, 300
    from generate_series(1, 200) g`.execute(db);
  await sql`insert into groups (name, description) select 'group-' || g, 'Bench group ' || g from generate_series(1, 10) g`.execute(db);
  // Every script in one group, every host in one or two.
  await sql`
    insert into group_scripts (group_id, script_id)
    select g.id, s.id from scripts s join groups g on g.name = 'group-' || (1 + abs(hashtext(s.name)) % 10)`.execute(db);
  await sql`
    insert into group_hosts (group_id, host_id)
    select distinct g.id, h.id from hosts h
    join groups g on g.name in ('group-' || (1 + abs(hashtext(h.name)) % 10), 'group-' || (1 + abs(hashtext(h.name || 'x')) % 10))`.execute(db);
  // The first 100 scripts each have a schedule, every five minutes.
  await sql`
    insert into schedules (name, description, script_id, kind, cron, timezone)
    select 'schedule-' || substr(s.name, 8), 'Runs ' || s.name || ' every five minutes', s.id, 'cron', '0 */5 * * * *', 'UTC'
    from scripts s where s.name <= 'script-100'`.execute(db);
}

/**
 * Runs `from`..`to` (1-based numbers). Distribution: 80 % from a schedule (its script, a random
 * host), the rest manual or by API; 90 % succeeded, 6 % failed, 1 % each timed out, cancelled and
 * lost, 0.9 % skipped, 0.05 % each running and queued (those in the last ten minutes); finished
 * runs created over the last 90 days.
 */
async function seedRunChunk(db: Db, from: number, to: number): Promise<void> {
  await sql`
    with h as (select array_agg(id order by name) ids, array_agg(name order by name) names from hosts),
         s as (select array_agg(id order by name) ids, array_agg(name order by name) names from scripts),
         sc as (select array_agg(sc.id order by sc.name) ids, array_agg(sc.name order by sc.name) names,
                       array_agg(s.id order by sc.name) script_ids, array_agg(s.name order by sc.name) script_names
                from schedules sc join scripts s on s.id = sc.script_id),
         r as materialized (
           select g, random() scheduled, random() state, 1 + floor(random() * 20)::int hi,
                  1 + floor(random() * 200)::int si, 1 + floor(random() * 100)::int ci,
                  random() age, random() duration
           from generate_series(${from}::int, ${to}::int) g),
         v as (
           select r.*, h.ids[r.hi] host_id, h.names[r.hi] host_name,
                  case when r.scheduled < 0.8 then sc.ids[r.ci] end schedule_id,
                  case when r.scheduled < 0.8 then sc.names[r.ci] end schedule_name,
                  case when r.scheduled < 0.8 then sc.script_ids[r.ci] else s.ids[r.si] end script_id,
                  case when r.scheduled < 0.8 then sc.script_names[r.ci] else s.names[r.si] end script_name,
                  case when r.state < 0.90 then 'succeeded' when r.state < 0.96 then 'failed'
                       when r.state < 0.97 then 'timed_out' when r.state < 0.98 then 'cancelled'
                       when r.state < 0.99 then 'lost' when r.state < 0.999 then 'skipped'
                       when r.state < 0.9995 then 'running' else 'queued' end run_state
           from r, h, s, sc),
         t as (
           select v.*,
                  now() - case when run_state in ('running', 'queued') then v.age * interval '10 minutes'
                               else v.age * interval '90 days' end created
           from v)
    insert into runs (script_id, script_name, host_id, host_name, schedule_id, attempt, state, trigger, triggered_by,
                      exit_code, summary, pid, output_bytes, scheduled_for, created_at, started_at, finished_at, updated_at)
    select script_id, script_name, host_id, host_name, schedule_id, 1, run_state,
           case when schedule_id is not null then 'schedule' when g % 2 = 0 then 'manual' else 'api' end,
           coalesce(schedule_name, case when g % 2 = 0 then 'admin' else 'deploy-bot' end),
           case run_state when 'succeeded' then 0 when 'failed' then 1 + g % 3 when 'timed_out' then 137
                          when 'cancelled' then 143 end,
           case run_state when 'failed' then 'exited with status ' || (1 + g % 3) end,
           case when run_state not in ('queued', 'skipped') then 1000 + g % 60000 end,
           case when run_state in ('queued', 'skipped') then 0 else (duration * 20000)::bigint end,
           case when schedule_id is not null then date_trunc('minute', created) end,
           created,
           case when run_state not in ('queued', 'skipped') then created + interval '1 second' end,
           case when run_state not in ('queued', 'running', 'skipped') then created + interval '1 second' + duration * interval '5 minutes' end,
           created + interval '1 second' + duration * interval '5 minutes'
    from t`.execute(db);
}

export async function countRuns(db: Db): Promise<number> {
  const { rows } = await sql<{ n: string }>`select count(*) n from runs`.execute(db);
  return Number(rows[0]?.n ?? 0);
}

/**
 * Fills a freshly migrated database, then ANALYZE so the planner knows the new sizes. The runs'
 * secondary indexes and foreign keys are dropped for the load and put back from their own
 * definitions afterwards: one sorted build per index and one join per key are much faster than
 * maintaining them row by row, and the keys are still checked when they are added back.
 */
export interface SeedTimings {
  /** Seconds spent inserting the runs, rebuilding their indexes, adding back their keys, analyzing. */
  insert: number;
  indexes: number;
  keys: number;
  analyze: number;
}

export async function seedHistory(db: Db, runs: number, progress: (done: number) => void): Promise<SeedTimings> {
  let mark = performance.now();
  const lap = () => {
    const seconds = Math.round((performance.now() - mark) / 100) / 10;
    mark = performance.now();
    return seconds;
  };
  await seedConfiguration(db);
  const timings = await db.connection().execute(async (conn) => {
    await sql`set maintenance_work_mem = '256MB'`.execute(conn);
    const { rows: indexes } = await sql<{ name: string; definition: string }>`
      select indexname as name, indexdef as definition from pg_indexes
      where schemaname = current_schema() and tablename = 'runs' and indexname <> 'runs_pkey'`.execute(conn);
    const { rows: keys } = await sql<{ name: string; definition: string }>`
      select conname as name, pg_get_constraintdef(oid) as definition from pg_constraint
      where conrelid = 'runs'::regclass and contype = 'f'`.execute(conn);
    for (const index of indexes) await sql`drop index ${sql.id(index.name)}`.execute(conn);
    for (const key of keys) await sql`alter table runs drop constraint ${sql.id(key.name)}`.execute(conn);
    for (let from = 1; from <= runs; from += RUN_CHUNK) {
      const to = Math.min(runs, from + RUN_CHUNK - 1);
      await seedRunChunk(conn, from, to);
      progress(to);
    }
    const insert = lap();
    for (const index of indexes) await sql.raw(index.definition).execute(conn);
    const rebuilt = lap();
    for (const key of keys) await sql`alter table runs add constraint ${sql.id(key.name)} ${sql.raw(key.definition)}`.execute(conn);
    return { insert, indexes: rebuilt, keys: lap() };
  });
  await sql`analyze`.execute(db);
  return { ...timings, analyze: lap() };
}
