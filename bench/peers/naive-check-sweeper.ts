/**
 * Peer: the sweeper people write first — every second, read every check, decide each one's state
 * in JavaScript (with Runboard's own rule, `stateAt`, so only the mechanics differ), and move the
 * ones that changed one by one, each with its audit event (one statement per check, in autocommit).
 * It is what Runboard's sweeper would be without precomputed deadlines, partial indexes, batching
 * and sleeping until the next deadline.
 */
import pg from 'pg';
import { flipChange } from '../../core/check-flip';
import { stateAt } from '../../core/check-state';
import { toCheck } from '../../db/check.repository';

const EVERY_MS = 1_000;

export interface NaiveSweepResult {
  /** Wall-clock ms (Date.now()) at which each check's flip committed, by check id. */
  flippedAt: Map<string, number>;
  /** Flips that found the check already moved (must be 0: it runs alone). */
  lost: number;
  /** `check.down` events in the database at the end. */
  downEvents: number;
}

/** Sweeps until `expected` checks have flipped or `deadline` (Date.now()) passes. */
export async function naiveSweep(databaseUrl: string, expected: number, deadline: number): Promise<NaiveSweepResult> {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 2 });
  const flippedAt = new Map<string, number>();
  let lost = 0;
  try {
    while (flippedAt.size < expected && Date.now() < deadline) {
      const began = Date.now();
      const { rows } = await pool.query(`select * from checks where state not in ('paused', 'down')`);
      const now = new Date();
      for (const row of rows) {
        const check = toCheck(row);
        const to = stateAt(check, now);
        const change = flipChange(check, check.state, to);
        if (!change) continue;
        const result = await pool.query(
          `with moved as (update checks set state = $2, updated_at = now() where id = $1 and state = $3 returning id, name)
           insert into events (action, actor_kind, actor_name, object_type, object_id, object_name, summary, details)
           select $4, 'system', 'naive', 'Check', id, name, $5, $6::jsonb from moved`,
          [check.id, to, check.state, change.action, change.summary, JSON.stringify(change.details)],
        );
        if (result.rowCount === 1) flippedAt.set(check.id, Date.now());
        else lost++;
      }
      const wait = EVERY_MS - (Date.now() - began);
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    }
    const { rows } = await pool.query<{ n: number }>(`select count(*)::int as n from events where object_type = 'Check' and action = 'check.down'`);
    return { flippedAt, lost, downEvents: rows[0]?.n ?? 0 };
  } finally {
    await pool.end();
  }
}
