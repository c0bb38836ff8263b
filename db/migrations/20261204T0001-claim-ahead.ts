import { sql, type Kysely } from 'kysely';

// Frozen: migrations never import application code.

/**
 * Claiming runs ahead of their moment, on its own path. Runs a schedule fired ahead (queued with
 * `not_before` a few seconds away) are claimed by the moment they are due, not in queue order:
 * an index on that moment, and a claim that needs no advisory lock and counts no busy runs —
 * runs claimed ahead are of scripts without limits, so there is nothing to count, and SKIP LOCKED
 * splits them between instances. With the general claim, 10,000 runs due in one second took
 * 3–5 s to claim (every statement sorted the whole queue and counted every claimed run).
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
    language sql
    as $$
      with chosen as (
        select r.id from runs r
        join scripts s on s.id = r.script_id
        left join schedules sc on sc.id = r.schedule_id
        where r.state = 'queued'
          and r.not_before is not null
          and r.not_before > now()
          and r.not_before <= now() + p_ahead_ms * interval '1 millisecond'
          and r.host_id = any(p_hosts)
          and s.max_concurrent is null and s.max_concurrent_per_host is null
          and sc.overlap_policy is distinct from 'queue'
        order by r.not_before, r.queue_position
        limit p_limit
        for update of r skip locked
      )
      update runs set state = 'dispatched', instance_id = p_instance, dispatched_at = now(), updated_at = now()
      from chosen
      where runs.id = chosen.id
      returning runs.*
    $$`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop function runboard_claim_runs_ahead(uuid[], uuid, int, int)`.execute(db);
  await db.schema.dropIndex('runs_queued_ahead_idx').execute();
}
