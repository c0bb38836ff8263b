/**
 * The run queue's two claims, on a real database, called directly (execution off, so nothing
 * else claims): the claim of runs due now, and the claim ahead of runs a schedule fired a few
 * seconds before their moment — which takes only those, earliest first, never a run a limit must
 * judge at its start, and splits them between instances that claim at once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../db/database';
import { claimRuns, claimRunsAhead } from '../db/run-queue.repository';
import { insertRuns, type NewRun } from '../db/run.repository';
import { startTestServer, type TestServer } from './support/server';

const AHEAD_MS = 5_000;

describe('the run queue', () => {
  let server: TestServer;
  let db: Db;
  let local: { id: string; name: string };
  let other: { id: string; name: string };
  const instances: string[] = [];
  const scripts = { free: '', limited: '', perHost: '' };
  let queueSchedule = '';
  let allowSchedule = '';

  beforeAll(async () => {
    server = await startTestServer();
    db = server.app.db;
    local = await db.selectFrom('hosts').select(['id', 'name']).where('kind', '=', 'local').executeTakeFirstOrThrow();
    other = await db.insertInto('hosts').values({ name: 'elsewhere', kind: 'agent' }).returning(['id', 'name']).executeTakeFirstOrThrow();
    for (const name of ['one', 'two']) {
      const row = await db.insertInto('instances').values({ hostname: `queue-test-${name}`, pid: 1, version: 'test' }).returning('id').executeTakeFirstOrThrow();
      instances.push(row.id);
    }
    const script = async (name: string, limits: { max_concurrent?: number; max_concurrent_per_host?: number } = {}) =>
      (await db.insertInto('scripts').values({ name, job_class: 'noop', ...limits }).returning('id').executeTakeFirstOrThrow()).id;
    scripts.free = await script('queue-free');
    scripts.limited = await script('queue-limited', { max_concurrent: 5 });
    scripts.perHost = await script('queue-per-host', { max_concurrent_per_host: 5 });
    const schedule = async (name: string, policy: 'queue' | 'allow') =>
      (
        await db
          .insertInto('schedules')
          .values({ name, script_id: scripts.free, kind: 'once', run_at: new Date(Date.now() + 86_400_000), overlap_policy: policy })
          .returning('id')
          .executeTakeFirstOrThrow()
      ).id;
    queueSchedule = await schedule('queue-one-at-a-time', 'queue');
    allowSchedule = await schedule('queue-allow', 'allow');
  });

  afterAll(async () => {
    await server?.close();
  });

  /** Queues runs of `scriptId` (on the local host unless told), each at `notBefore` ms from now (null: now). */
  async function queue(count: number, offsetsMs: Array<number | null>, changes: Partial<NewRun> = {}): Promise<string[]> {
    const now = Date.now();
    const runs: NewRun[] = Array.from({ length: count }, (_, i) => {
      const offset = offsetsMs[i % offsetsMs.length]!;
      return {
        scriptId: scripts.free,
        scriptName: 'queue-free',
        hostId: local.id,
        hostName: local.name,
        trigger: 'manual',
        triggeredByUserId: null,
        triggeredBy: null,
        notBefore: offset === null ? null : new Date(now + offset),
        ...changes,
      };
    });
    return (await insertRuns(db, runs)).map((run) => run.id);
  }

  /** Sets every run still queued aside (cancelled), so each test starts on an empty queue. */
  async function clearQueue() {
    await db.updateTable('runs').set({ state: 'cancelled', finished_at: new Date() }).where('state', 'in', ['queued', 'dispatched']).execute();
  }

  it('claims ahead only runs due within the window, earliest moment first', async () => {
    await clearQueue();
    // Queued in an order unlike their moments: the claim follows the moments.
    const [late, soon, sooner] = await queue(3, [4_000, 2_000, 1_000]);
    const [dueNow] = await queue(1, [null]);
    const [past] = await queue(1, [-1_000]);
    const [beyond] = await queue(1, [60_000]);

    const claimed = await claimRunsAhead(db, { hostIds: [local.id], instanceId: instances[0]!, limit: 100, aheadMs: AHEAD_MS });
    expect(claimed.map((run) => run.id)).toEqual([sooner, soon, late]);
    for (const run of claimed) {
      expect(run.state).toBe('dispatched');
      expect(run.instanceId).toBe(instances[0]);
    }
    // Due now or overdue: the ordinary claim's, in queue order. Beyond the window: nobody's yet.
    const now = await claimRuns(db, { hostIds: [local.id], instanceId: instances[0]!, limit: 100 });
    expect(now.map((run) => run.id)).toEqual([dueNow, past]);
    const left = await db.selectFrom('runs').select(['id', 'state']).where('state', '=', 'queued').execute();
    expect(left).toEqual([{ id: beyond, state: 'queued' }]);
  });

  it('never claims ahead a run a limit must judge at its start, nor one for another host', async () => {
    await clearQueue();
    const held = [
      ...(await queue(1, [1_000], { scriptId: scripts.limited, scriptName: 'queue-limited' })),
      ...(await queue(1, [1_000], { scriptId: scripts.perHost, scriptName: 'queue-per-host' })),
      ...(await queue(1, [1_000], { scheduleId: queueSchedule })),
      ...(await queue(1, [1_000], { hostId: other.id, hostName: other.name })),
    ];
    const [free] = await queue(1, [1_000], { scheduleId: allowSchedule });

    const claimed = await claimRunsAhead(db, { hostIds: [local.id], instanceId: instances[0]!, limit: 100, aheadMs: AHEAD_MS });
    expect(claimed.map((run) => run.id)).toEqual([free]);
    const stillQueued = await db.selectFrom('runs').select('id').where('state', '=', 'queued').execute();
    expect(stillQueued.map((row) => row.id).sort()).toEqual([...held].sort());
  });

  it('splits runs due soon between instances claiming at once: each run to exactly one', async () => {
    await clearQueue();
    const ids = await queue(3_000, [1_000, 1_500, 2_000, 2_500, 3_000]);
    const claimAll = async (instanceId: string) => {
      const mine: string[] = [];
      for (;;) {
        const claimed = await claimRunsAhead(db, { hostIds: [local.id], instanceId, limit: 200, aheadMs: AHEAD_MS });
        if (claimed.length === 0) return mine;
        mine.push(...claimed.map((run) => run.id));
      }
    };
    const [first, second] = await Promise.all([claimAll(instances[0]!), claimAll(instances[1]!)]);
    expect(first.length + second.length).toBe(ids.length);
    expect(new Set([...first, ...second])).toEqual(new Set(ids));
    const owners = await db.selectFrom('runs').select(['id', 'instance_id']).where('id', 'in', ids).execute();
    const mine = new Set(first);
    for (const row of owners) expect(row.instance_id).toBe(mine.has(row.id) ? instances[0] : instances[1]);
  });
});
