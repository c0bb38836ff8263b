import { sql, type Kysely } from 'kysely';

// Frozen: migrations never import application code.

/**
 * The run queue's claims, made fast where the benchmarks showed them slow.
 *
 * - Claiming ahead gets its own function and index. Runs a schedule fired ahead (queued with
 *   `not_before` a few seconds away) are claimed by their moment, not in queue order, with SKIP
 *   LOCKED instead of the advisory lock and without counting busy runs: runs claimed ahead are of
 *   scripts without limits, so there is nothing to count. Through the general claim, 10,000 runs
 *   due in one second took 3–5 s to claim (each statement scanned the queue by position and
 *   counted every claimed run) and started up to 5 s late.
 * - The general claim updates the runs it chose by their ids (`= any(array(…))`, an index scan on
 *   the primary key, whatever the statistics say). Its plan is made once per connection
 *   (force_generic_plan), often while the table is still empty or unanalyzed; the join it had
 *   then became a nested loop over the whole queue for each claimed run — 140 ms a claim with
 *   10,000 runs queued, a fifth of the drain's speed. Its ahead branch (`p_ahead_ms`) is gone:
 *   the parameter stays, unused, so the signature is the one migration 0004 made and drops.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createIndex('runs_queued_ahead_idx')
    .on('runs')
    .columns(['not_before', 'queue_position'])
    .where(sql<boolean>`state = 'queued' and not_before is not null`)
    .execute();
  await sql`
    create function runboard_claim_runs_ahead(p_hosts uuid[], p_instance uuid, p_limit int, p_ahead_ms int)
    returns setof runs
    language plpgsql
    set plan_cache_mode = force_generic_plan
    set enable_seqscan = off
    as $$
    begin
      return query
      with chosen as (
        select r.id from runs r
        join scripts s on s.id = r.script_id
        left join schedules sc on sc.id = r.schedule_id
        where r.state = 'queued'
          and r.not_before is not null
          and r.not_before > now()
          and r.not_before <= now() + p_ahead_ms * interval '1 millisecond'
          and coalesce(r.host_id = any(p_hosts), false)
          and s.max_concurrent is null and s.max_concurrent_per_host is null
          and sc.overlap_policy is distinct from 'queue'
        order by r.not_before, r.queue_position
        limit p_limit
        for update of r skip locked
      )
      update runs set state = 'dispatched', instance_id = p_instance, dispatched_at = now(), updated_at = now()
      where runs.id = any(array(select id from chosen))
      returning runs.*;
    end;
    $$`.execute(db);
  await sql`
    create or replace function runboard_claim_runs(p_hosts uuid[], p_instance uuid, p_limit int, p_ahead_ms int default 0)
    returns setof runs
    language plpgsql
    set plan_cache_mode = force_generic_plan
    set enable_seqscan = off
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
          and coalesce(r.host_id = any(p_hosts), false)
          and (r.not_before is null or r.not_before <= now())
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
      update runs set state = 'dispatched', instance_id = p_instance, dispatched_at = now(), updated_at = now()
      where runs.id = any(array(select id from chosen)) and coalesce(runs.state, '') = 'queued'
      returning runs.*;
    end;
    $$`.execute(db);
}

/** Leaves runboard_claim_runs as this migration made it: the body it replaced claimed the same runs. */
export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop function runboard_claim_runs_ahead(uuid[], uuid, int, int)`.execute(db);
  await db.schema.dropIndex('runs_queued_ahead_idx').execute();
}
