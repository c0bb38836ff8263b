/**
 * Schedules firing, end to end: the real server executing runs (`executing()`) on a real
 * database. Cron with seconds, interval, one-shot; pause, resume and edits; each missed-run policy
 * after simulated downtime; each overlap policy with a script that outlasts its cadence; and a
 * second firing of one occurrence starting nothing.
 *
 * Everything is observed by polling the database with generous bounds, never by sleeping a tight
 * amount: other test files load the same two cores. Each test stops its schedule (pause, cancel
 * what is still going) so the next one starts on a quiet server.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunState } from '../db/schema';
import { encodeGlobalID } from '../graphql/ids';
import { LOOKAHEAD_MS } from '../jobs/scheduler';
import { executing, startTestServer, type TestServer } from './support/server';

const CREATE = `mutation($input: CreateScheduleInput!) { createSchedule(input: $input) {
  __typename ... on CreateScheduleSuccess { data { id nextRunAt } } ... on Error { message } } }`;
const UPDATE = `mutation($input: UpdateScheduleInput!) { updateSchedule(input: $input) {
  __typename ... on UpdateScheduleSuccess { data { nextRunAt } } ... on Error { message } } }`;
const PAUSE = `mutation($id: ID!) { pauseSchedule(id: $id) { __typename ... on Error { message } } }`;
const RESUME = `mutation($id: ID!) { resumeSchedule(id: $id) { __typename ... on ResumeScheduleSuccess { data { nextRunAt } } ... on Error { message } } }`;
const CANCEL = `mutation($id: ID!) { cancelRun(id: $id) { __typename } }`;

const ACTIVE: RunState[] = ['queued', 'dispatched', 'running'];
const OVERLAP_SKIPPED = 'skipped: the previous run is still going (overlap policy: skip)';
const OVERLAP_CANCELLED = 'cancelled: a newer occurrence started (overlap policy: cancel previous)';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const ms = (at: Date | null) => at?.getTime() ?? Number.NaN;

/** Whether any process of the group `pgid` is alive (signal 0 checks without signalling). */
function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw error;
  }
}

/** Polls `probe` until it answers something truthy; fails saying what never happened. */
async function waitFor<T>(what: string, probe: () => Promise<T | false | undefined | null>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`Gave up after ${timeoutMs / 1000} s waiting for ${what}.`);
    await sleep(100);
  }
}

describe('schedules firing', () => {
  let server: TestServer;
  const scripts = { noop: '', sleeper: '', long: '' };
  let created = 0;

  const gql = async (query: string, variables: Record<string, unknown>) => {
    const result = await server.gql(query, variables, { cookie: server.adminCookie });
    if (result.errors) throw new Error(`GraphQL refused: ${JSON.stringify(result.errors)}`);
    return result.data;
  };

  /** Creates a schedule over GraphQL; answers its UUID and the next run it was saved with. */
  async function schedule(script: keyof typeof scripts, when: Record<string, unknown>, settings: Record<string, unknown> = {}) {
    const name = `firing-${++created}`;
    const input = { name, scriptId: encodeGlobalID('Script', scripts[script]), when, ...settings };
    const answer = (await gql(CREATE, { input })).createSchedule;
    if (answer.__typename !== 'CreateScheduleSuccess') throw new Error(`createSchedule ${name} failed: ${JSON.stringify(answer)}`);
    return { id: answer.data.id as string, uuid: Buffer.from(answer.data.id, 'base64').toString().split(':')[1]!, name, nextRunAt: new Date(answer.data.nextRunAt) };
  }

  const runsOf = (scheduleId: string) =>
    server.app.db
      .selectFrom('runs')
      .select(['id', 'state', 'trigger', 'triggered_by', 'scheduled_for', 'occurrence_id', 'summary', 'pid', 'created_at', 'started_at', 'finished_at'])
      .where('schedule_id', '=', scheduleId)
      .orderBy('scheduled_for')
      .orderBy('queue_position')
      .execute();
  type RunRow = Awaited<ReturnType<typeof runsOf>>[number];

  const scheduleRow = (id: string) =>
    server.app.db.selectFrom('schedules').select(['enabled', 'next_run_at', 'last_run_at']).where('id', '=', id).executeTakeFirstOrThrow();

  const pause = async (id: string) => expect((await gql(PAUSE, { id })).pauseSchedule.__typename).toBe('PauseScheduleSuccess');

  /**
   * Pauses a schedule and waits until none of its runs is going: no-op runs end by themselves in a
   * moment; with `cancel`, whatever is still going (sleeping scripts, a queue) is cancelled first.
   */
  /** Runs that have started: runs are queued up to a few seconds ahead of their moment. */
  async function started(scheduleId: string): Promise<RunRow[]> {
    return (await runsOf(scheduleId)).filter((r) => r.started_at !== null);
  }

  async function stop(s: { id: string; uuid: string }, cancel = false) {
    await pause(s.id);
    if (cancel) for (const run of (await runsOf(s.uuid)).filter((r) => ACTIVE.includes(r.state))) await gql(CANCEL, { id: run.id });
    await waitFor('the schedule’s runs to end', async () => (await runsOf(s.uuid)).every((r) => !ACTIVE.includes(r.state)));
  }

  /** The pairs of executed runs whose [start, finish] overlap. */
  function overlaps(runs: RunRow[]): Array<[RunRow, RunRow]> {
    const executed = runs.filter((r) => r.started_at).sort((a, b) => ms(a.started_at) - ms(b.started_at));
    const pairs: Array<[RunRow, RunRow]> = [];
    executed.forEach((a, i) => {
      for (const b of executed.slice(i + 1)) if (ms(b.started_at) < ms(a.finished_at ?? new Date(8.64e15))) pairs.push([a, b]);
    });
    return pairs;
  }

  beforeAll(async () => {
    server = await startTestServer(executing());
    const db = server.app.db;
    const script = async (values: { name: string; job_class?: string; executable?: string; body?: string }) =>
      (await db.insertInto('scripts').values(values).returning('id').executeTakeFirstOrThrow()).id;
    scripts.noop = await script({ name: 'firing-noop', job_class: 'noop' });
    scripts.sleeper = await script({ name: 'firing-sleep', executable: '/bin/sh', body: 'sleep 2' });
    // Outlasts any test: its processes end only when they are killed.
    scripts.long = await script({ name: 'firing-long', executable: '/bin/sh', body: 'sleep 30' });
  });
  afterAll(() => server?.close());

  it('fires a cron with seconds every second: trigger schedule, whole seconds, one occurrence per run', { timeout: 60_000 }, async () => {
    const s = await schedule('noop', { kind: 'CRON', cron: '*/1 * * * * *' });
    await waitFor('four succeeded runs', async () => (await runsOf(s.uuid)).filter((r) => r.state === 'succeeded').length >= 4);
    await stop(s);

    const runs = await runsOf(s.uuid);
    for (const run of runs) {
      expect(run).toMatchObject({ state: 'succeeded', trigger: 'schedule', triggered_by: s.name });
      expect(ms(run.scheduled_for) % 1000, `${run.scheduled_for?.toISOString()} is a whole second`).toBe(0);
    }
    const moments = runs.map((r) => ms(r.scheduled_for));
    expect(moments.slice(1).map((at, i) => at - moments[i]!), 'one run per second, none skipped, none twice').toEqual(moments.slice(1).map(() => 1000));

    const occurrences = await server.app.db.selectFrom('schedule_occurrences').select(['id', 'scheduled_for']).where('schedule_id', '=', s.uuid).execute();
    expect(occurrences).toHaveLength(runs.length);
    const byId = new Map(occurrences.map((o) => [o.id, ms(o.scheduled_for)]));
    for (const run of runs) expect(byId.get(run.occurrence_id!), 'the run’s occurrence is its moment').toBe(ms(run.scheduled_for));
    expect(new Set(runs.map((r) => r.occurrence_id)).size).toBe(runs.length);

    const row = await scheduleRow(s.uuid);
    expect(row).toMatchObject({ enabled: false, next_run_at: null, last_run_at: runs.at(-1)!.scheduled_for });
  });

  it('fires an interval on its own rhythm, from one interval after saving', { timeout: 60_000 }, async () => {
    const s = await schedule('noop', { kind: 'INTERVAL', intervalSeconds: 1 });
    await waitFor('three runs', async () => (await started(s.uuid)).length >= 3);
    await stop(s);
    const moments = (await runsOf(s.uuid)).map((r) => ms(r.scheduled_for));
    // Not whole seconds: the first moment is the one saved, each next one a second later.
    expect(moments.map((at) => at - s.nextRunAt.getTime())).toEqual(moments.map((_, i) => i * 1000));
  });

  it('fires a one-shot once, at its moment, and then never again', { timeout: 60_000 }, async () => {
    const runAt = new Date(Math.ceil(Date.now() / 1000) * 1000 + 2_000);
    const s = await schedule('noop', { kind: 'ONCE', runAt: runAt.toISOString() });
    expect(s.nextRunAt).toEqual(runAt);
    await waitFor('the one-shot to fire and be done', async () => (await scheduleRow(s.uuid)).next_run_at === null && (await runsOf(s.uuid)).length > 0);
    await sleep(2_500);
    const runs = await runsOf(s.uuid);
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatchObject({ trigger: 'schedule', scheduled_for: runAt });
    expect(await scheduleRow(s.uuid)).toEqual({ enabled: true, next_run_at: null, last_run_at: runAt });
  });

  it('stops firing while paused, and resumes from now without catching up the paused time', { timeout: 60_000 }, async () => {
    // Policy ALL with a long window: were the paused seconds "missed", resuming would fire them.
    const s = await schedule('noop', { kind: 'CRON', cron: '*/1 * * * * *' }, { missedPolicy: 'ALL', missedWindowSeconds: 3600 });
    await waitFor('two runs', async () => (await started(s.uuid)).length >= 2);
    await pause(s.id);
    const atPause = (await runsOf(s.uuid)).length;
    await sleep(3_000);
    expect(await runsOf(s.uuid), 'no run while paused').toHaveLength(atPause);
    expect((await scheduleRow(s.uuid)).next_run_at).toBeNull();

    const resumedAt = Date.now();
    const resumed = (await gql(RESUME, { id: s.id })).resumeSchedule;
    expect(new Date(resumed.data.nextRunAt).getTime()).toBeGreaterThan(resumedAt);
    await waitFor('two runs after resuming', async () => (await started(s.uuid)).length >= atPause + 2);
    await stop(s);

    const runs = await runsOf(s.uuid);
    const before = runs.slice(0, atPause).map((r) => ms(r.scheduled_for));
    const after = runs.slice(atPause).map((r) => ms(r.scheduled_for));
    expect(Math.max(...before)).toBeLessThan(resumedAt - 2_000);
    for (const at of after) expect(at, 'no run for a paused second').toBeGreaterThanOrEqual(resumedAt);
  });

  it('reschedules when its cron is edited: the new cadence starts, the old one stops', { timeout: 60_000 }, async () => {
    const s = await schedule('noop', { kind: 'CRON', cron: '*/1 * * * * *' });
    await waitFor('two runs', async () => (await started(s.uuid)).length >= 2);
    const updated = (await gql(UPDATE, { input: { id: s.id, when: { kind: 'CRON', cron: '*/3 * * * * *' } } })).updateSchedule;
    const editedAt = Date.now();
    const next = new Date(updated.data.nextRunAt).getTime();
    expect(next % 3_000, 'the next run is on the new cadence').toBe(0);
    await waitFor('two runs on the new cadence', async () => (await started(s.uuid)).filter((r) => ms(r.scheduled_for) >= next).length >= 2);
    await stop(s);

    const later = (await runsOf(s.uuid)).map((r) => ms(r.scheduled_for)).filter((at) => at >= editedAt);
    expect(later[0]).toBe(next);
    for (const at of later) expect(new Date(at).getUTCSeconds() % 3, `${new Date(at).toISOString()} is on the new cadence`).toBe(0);
    expect(later.slice(1).map((at, i) => at - later[i]!)).toEqual(later.slice(1).map(() => 3_000));
  });

  describe('missed runs after downtime', () => {
    // A schedule every minute at second S, chosen 20 s ahead of now: its latest moment was 40 s
    // ago (missed, not on time) and its next is 20 s ahead (so nothing fires on time meanwhile).
    // Downtime is simulated by moving next_run_at (and last_run_at) 5 minutes further back: six
    // moments are then due, all missed, the latest 40 s old and the oldest 5 min 40 s old.
    async function afterDowntime(settings: Record<string, unknown>) {
      const now = Date.now();
      const second = Math.floor(now / 1000) * 1000;
      const latest = second - 40_000;
      const cron = `${new Date(second + 20_000).getUTCSeconds()} * * * * *`;
      const s = await schedule('noop', { kind: 'CRON', cron }, settings);
      expect(s.nextRunAt.getTime()).toBe(latest + 60_000);
      await server.app.db
        .updateTable('schedules')
        .set({ next_run_at: new Date(latest - 5 * 60_000), last_run_at: new Date(latest - 6 * 60_000) })
        .where('id', '=', s.uuid)
        .execute();
      server.execution!.scheduleChanged();
      await waitFor('the scheduler to reach the schedule', async () => ms((await scheduleRow(s.uuid)).next_run_at) > latest);
      const row = await scheduleRow(s.uuid);
      await stop(s);
      // A run for the moment 20 s ahead would be on time, not a catch-up: leave it out.
      const caughtUp = (await runsOf(s.uuid)).filter((r) => ms(r.scheduled_for) <= latest);
      for (const run of caughtUp) expect(run.trigger).toBe('schedule');
      expect(new Set(caughtUp.map((r) => r.occurrence_id)).size).toBe(caughtUp.length);
      expect(ms(row.next_run_at), 'next due at the first moment after the downtime').toBe(latest + 60_000);
      return { moments: caughtUp.map((r) => ms(r.scheduled_for) - latest), row, latest };
    }

    it('none: no catch-up run', { timeout: 60_000 }, async () => {
      const { moments } = await afterDowntime({ missedPolicy: 'NONE' });
      expect(moments).toEqual([]);
    });

    it('last: one run, for the latest missed moment; none when even that is outside the window', { timeout: 60_000 }, async () => {
      const last = await afterDowntime({ missedPolicy: 'LAST', missedWindowSeconds: 3600 });
      expect(last.moments).toEqual([0]);
      expect(ms(last.row.last_run_at)).toBe(last.latest);
      expect((await afterDowntime({ missedPolicy: 'LAST', missedWindowSeconds: 30 })).moments).toEqual([]);
    });

    it('all: one run per missed minute within missedWindowSeconds, or every one with no window', { timeout: 60_000 }, async () => {
      // 200 s back reaches the moments 40, 100 and 160 s old, not the one 220 s old.
      expect((await afterDowntime({ missedPolicy: 'ALL', missedWindowSeconds: 200 })).moments).toEqual([-120_000, -60_000, 0]);
      expect((await afterDowntime({ missedPolicy: 'ALL', missedWindowSeconds: 0 })).moments).toEqual([-300_000, -240_000, -180_000, -120_000, -60_000, 0]);
    });
  });

  describe('overlap policies (a 2-second script every second)', () => {
    /** The most runs of the schedule seen in each state at one poll, while waiting for `done`. */
    async function watch(scheduleId: string, what: string, done: (runs: RunRow[]) => boolean) {
      const most = { running: 0, queued: 0 };
      await waitFor(what, async () => {
        const runs = await runsOf(scheduleId);
        const count = (state: RunState) => runs.filter((r) => r.state === state).length;
        most.running = Math.max(most.running, count('running'));
        most.queued = Math.max(most.queued, count('running') > 0 ? count('queued') : 0);
        return done(runs);
      });
      return most;
    }
    const count = (runs: RunRow[], state: RunState) => runs.filter((r) => r.state === state).length;

    it('skip: a firing while a run is going is a skipped run with a summary; never two running', { timeout: 60_000 }, async () => {
      const s = await schedule('sleeper', { kind: 'CRON', cron: '*/1 * * * * *' }, { overlapPolicy: 'SKIP' });
      const most = await watch(s.uuid, 'two finished runs and two skipped', (runs) => count(runs, 'succeeded') >= 2 && count(runs, 'skipped') >= 2);
      await stop(s, true);
      const runs = await runsOf(s.uuid);
      expect(most.running).toBe(1);
      for (const run of runs.filter((r) => r.state === 'skipped')) {
        expect(run).toMatchObject({ summary: OVERLAP_SKIPPED, trigger: 'schedule', started_at: null });
        expect(run.finished_at).not.toBeNull();
      }
      expect(overlaps(runs), 'no two runs overlap').toEqual([]);
    });

    it('queue: firings wait queued, then run one at a time in the order they fired', { timeout: 60_000 }, async () => {
      const s = await schedule('sleeper', { kind: 'CRON', cron: '*/1 * * * * *' }, { overlapPolicy: 'QUEUE' });
      const most = await watch(s.uuid, 'three finished runs', (runs) => count(runs, 'succeeded') >= 3);
      await stop(s, true);
      const runs = await runsOf(s.uuid);
      expect(most.running).toBe(1);
      expect(most.queued, 'runs waited queued behind a running one').toBeGreaterThanOrEqual(1);
      expect(runs.filter((r) => r.state === 'skipped')).toEqual([]);
      const started = runs.filter((r) => r.started_at).sort((a, b) => ms(a.started_at) - ms(b.started_at));
      expect(started.map((r) => r.scheduled_for), 'started in the order they fired').toEqual(started.map((r) => r.scheduled_for).sort((a, b) => ms(a) - ms(b)));
      expect(overlaps(runs), 'no two runs overlap').toEqual([]);
    });

    it('cancel_previous: the next firing cancels the run still going, and its processes end', { timeout: 60_000 }, async () => {
      // A script that would sleep 30 s: its processes end within the test only if they are killed.
      const s = await schedule('long', { kind: 'CRON', cron: '*/1 * * * * *' }, { overlapPolicy: 'CANCEL_PREVIOUS' });
      const seenAlive = new Set<number>();
      await watch(s.uuid, 'two runs cancelled while running', (runs) => {
        for (const run of runs) if (run.state === 'running' && run.pid && groupAlive(run.pid)) seenAlive.add(run.pid);
        return runs.filter((r) => r.summary === OVERLAP_CANCELLED && r.pid && seenAlive.has(r.pid)).length >= 2;
      });
      const runs = await runsOf(s.uuid);
      const cancelled = runs.filter((r) => r.summary === OVERLAP_CANCELLED);
      for (const run of cancelled) {
        expect(run.state, 'the killed process does not turn it into failed').toBe('cancelled');
        expect(runs.some((r) => ms(r.scheduled_for) > ms(run.scheduled_for)), 'a newer occurrence replaced it').toBe(true);
      }
      // The process groups (the shell and its sleep) seen alive before their run was cancelled are gone.
      const killed = cancelled.flatMap((r) => (r.pid && seenAlive.has(r.pid) ? [r.pid] : []));
      expect(killed.length).toBeGreaterThanOrEqual(2);
      for (const pid of killed) await waitFor(`process group ${pid} to end`, async () => !groupAlive(pid), 15_000);
      await stop(s, true);
    });

    it('allow: firings start alongside the run still going', { timeout: 60_000 }, async () => {
      const s = await schedule('sleeper', { kind: 'CRON', cron: '*/1 * * * * *' }, { overlapPolicy: 'ALLOW' });
      const most = await watch(s.uuid, 'two runs running at once', (runs) => count(runs, 'running') >= 2);
      await stop(s, true);
      const runs = await runsOf(s.uuid);
      expect(most.running).toBeGreaterThanOrEqual(2);
      expect(runs.filter((r) => r.state === 'skipped' || r.summary === OVERLAP_CANCELLED)).toEqual([]);
      expect(overlaps(runs).length).toBeGreaterThanOrEqual(1);
    });
  });

  it('a second firing of one occurrence is a no-op: an occurrence already recorded starts no run', { timeout: 60_000 }, async () => {
    const s = await schedule('noop', { kind: 'CRON', cron: '*/1 * * * * *' });
    await waitFor('the first run', async () => (await started(s.uuid)).length >= 1);
    // Record a moment beyond the scheduler's lookahead, as if another instance had fired it.
    const moment = new Date(Math.ceil(Date.now() / 1000) * 1000 + LOOKAHEAD_MS + 2_000);
    const recorded = await server.app.db
      .insertInto('schedule_occurrences')
      .values({ schedule_id: s.uuid, scheduled_for: moment })
      .returning('id')
      .executeTakeFirstOrThrow();
    // Succeeded, not just queued: runs are queued ahead of their moment, and pausing withdraws those.
    await waitFor('runs past the recorded moment', async () =>
      (await runsOf(s.uuid)).some((r) => r.state === 'succeeded' && ms(r.scheduled_for) >= moment.getTime() + 2_000),
    );
    await stop(s);

    const runs = await runsOf(s.uuid);
    expect(runs.filter((r) => ms(r.scheduled_for) === moment.getTime() || r.occurrence_id === recorded.id)).toEqual([]);
    expect(runs.some((r) => ms(r.scheduled_for) < moment.getTime())).toBe(true);
    expect(runs.some((r) => ms(r.scheduled_for) > moment.getTime())).toBe(true);
    const atMoment = await server.app.db.selectFrom('schedule_occurrences').select('id').where('schedule_id', '=', s.uuid).where('scheduled_for', '=', moment).execute();
    expect(atMoment).toEqual([{ id: recorded.id }]);
  });
});
