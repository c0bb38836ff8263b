/**
 * Several Runboard instances on one PostgreSQL: together they fire every schedule occurrence
 * exactly once and share the runs; an instance killed with `kill -9` has its running run resolved
 * (lost, then retried on another instance); an instance stopping gracefully hands its running run
 * over the same way. Needs a real PostgreSQL: skipped on the embedded database.
 */
import fs from 'node:fs';
import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import type { Db } from '../db/database';
import type { RunState } from '../db/schema';
import { spawnServer, type ServerProcess } from './support/process';
import {
  ADMIN_PASSWORD,
  createTestDatabase,
  executing,
  needsSharedDatabase,
  sessionCookieFrom,
  startTestServer,
  TEST_SECRET,
  type TestDatabase,
  type TestServer,
} from './support/server';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `check` until it answers a value, or fails naming `what` (a hard bound on every wait). */
async function until<T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs: number): Promise<T> {
  const began = Date.now();
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() - began > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

/** `promise`, or a failure naming what did not happen in time. */
async function within<T>(promise: Promise<T>, timeoutMs: number, what: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what()}`)), timeoutMs);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Whatever a test starts, stopped after it even when an assertion failed (in reverse order). */
let cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  const errors: unknown[] = [];
  for (const cleanup of cleanups.reverse()) {
    try {
      await cleanup();
    } catch (error) {
      errors.push(error);
    }
  }
  cleanups = [];
  if (errors.length > 0) throw new AggregateError(errors, 'cleaning up after the test failed');
});

async function sharedDatabase(): Promise<TestDatabase> {
  const database = await createTestDatabase();
  cleanups.push(() => database.drop());
  return database;
}

async function server(overrides: Parameters<typeof startTestServer>[0], database: TestDatabase): Promise<TestServer> {
  const started = await startTestServer(overrides, database);
  cleanups.push(() => started.stop());
  return started;
}

const CREATE_SCHEDULE = `mutation($input: CreateScheduleInput!) {
  createSchedule(input: $input) { __typename ... on CreateScheduleSuccess { data { id } } ... on Error { message } } }`;
const START_RUN = `mutation($input: StartRunInput!) {
  startRun(input: $input) { __typename ... on StartRunSuccess { data { id } } ... on Error { message } } }`;

/** A GraphQL request to any Runboard over HTTP (the child process has no TestServer around it). */
async function gqlAt(url: string, query: string, variables: Record<string, unknown>, cookie?: string) {
  const response = await fetch(`${url}/api/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json, application/json', ...(cookie && { cookie }) },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await response.json()) as { data?: any; errors?: unknown };
  return { headers: response.headers, data: body.data, errors: body.errors };
}

async function signInAt(url: string): Promise<string> {
  const result = await gqlAt(url, `mutation($input: SignInInput!) { signIn(input: $input) { __typename } }`, {
    input: { username: 'admin', password: ADMIN_PASSWORD },
  });
  const cookie = sessionCookieFrom(result.headers);
  if (!cookie) throw new Error(`could not sign in to ${url}: ${JSON.stringify(result.data ?? result.errors)}`);
  return cookie;
}

/**
 * A script that is slow the first time only: attempt 1 sleeps 30 s (long enough to be caught
 * running), the retry echoes and succeeds. One retry, no delay.
 */
async function slowFirstAttemptScript(db: Db): Promise<string> {
  const script = await db
    .insertInto('scripts')
    .values({
      name: 'slow-first-attempt',
      executable: '/bin/sh',
      body: 'echo started; [ "$RUNBOARD_ATTEMPT" = 1 ] && sleep 30; echo done',
      retry_count: 1,
      retry_delay_seconds: 0,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return script.id;
}

interface RunRow {
  id: string;
  state: RunState;
  summary: string | null;
  instance_id: string | null;
  pid: number | null;
  attempt: number;
  trigger: string;
  retry_of: string | null;
  started_at: Date | null;
}

const runsOf = (db: Db, scriptId: string): Promise<RunRow[]> =>
  db
    .selectFrom('runs')
    .select(['id', 'state', 'summary', 'instance_id', 'pid', 'attempt', 'trigger', 'retry_of', 'started_at'])
    .where('script_id', '=', scriptId)
    .orderBy('attempt')
    .execute();

/**
 * The live (not zombie) processes of a process group. Zombies are left out: a killed script's
 * children are re-parented to PID 1, which may take its time to reap them.
 */
function livingMembers(pgid: number): string[] {
  const members: string[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    // "pid (comm) state ppid pgrp …": comm may hold spaces and parentheses, so split after the last ')'.
    const close = stat.lastIndexOf(')');
    const [state, , pgrp] = stat.slice(close + 2).split(' ');
    if (Number(pgrp) === pgid && state !== 'Z') members.push(`${entry} ${stat.slice(stat.indexOf('(') + 1, close)}`);
  }
  return members;
}

/** Kills what a run left behind: its whole process group (its pid is the group's id). */
function killGroupOf(pid: number | null | undefined): void {
  if (!pid) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

describe('three instances on one database', () => {
  const SCHEDULES = 60;
  const WINDOW_SECONDS = 5; // 60 × 5 = 300 occurrences asserted

  it('fire 300 occurrences with no duplicate and no miss, and share the runs', { timeout: 120_000 }, async (context) => {
    if (needsSharedDatabase()) return context.skip();
    const database = await sharedDatabase();
    // Ten runs at a time each: the instance that fires a second's 60 runs cannot take them all,
    // so the others must hear of them (NOTIFY) and claim the rest. Uncapped, whichever instance
    // fires a second may well run all of it, and the split would be luck.
    const settings = executing({ maxParallelRuns: 10 });
    const servers = [await server(settings, database), await server(settings, database), await server(settings, database)];
    // Reads the database after the three have stopped: an instance with execution off.
    const observer = await server({}, database);
    const db = observer.app.db;

    const noop = await db.insertInto('scripts').values({ name: 'noop', job_class: 'noop', job_args: '[]' }).returning('id').executeTakeFirstOrThrow();
    // Created through all three instances, a few at a time.
    for (let i = 0; i < SCHEDULES; i += 10) {
      const created = await Promise.all(
        Array.from({ length: 10 }, (_, j) =>
          servers[(i + j) % servers.length]!.gql(
            CREATE_SCHEDULE,
            { input: { name: `every-second-${i + j}`, scriptId: noop.id, when: { kind: 'CRON', cron: '* * * * * *' } } },
            { cookie: servers[(i + j) % servers.length]!.adminCookie },
          ),
        ),
      );
      for (const result of created) {
        if (!result.data?.createSchedule.data?.id) throw new Error(`createSchedule failed: ${JSON.stringify(result.data ?? result.errors)}`);
      }
    }
    const allCreated = Date.now();
    const first = Math.floor(allCreated / 1000) * 1000 + 1000;
    const last = first + (WINDOW_SECONDS - 1) * 1000;

    // Let them fire until the window's last second has run everywhere (and has fully passed).
    const rows = await sql<{ id: string }>`select id from schedules`.execute(db);
    const scheduleUuids = rows.rows.map((row) => row.id);
    expect(scheduleUuids).toHaveLength(SCHEDULES);
    await until(
      `the runs of ${new Date(last).toISOString()} to finish`,
      async () => {
        if (Date.now() < last + 1_000) return false;
        const { rows: done } = await sql<{ n: number }>`
          select count(*)::int as n from runs
          where scheduled_for = ${new Date(last)} and state in ('succeeded', 'failed', 'timed_out', 'cancelled', 'lost', 'skipped')`.execute(db);
        return done[0]!.n >= SCHEDULES;
      },
      30_000,
    );
    const stoppedAt = Date.now();
    await Promise.all(servers.map((s) => s.stop()));
    expect(last + 1000, 'the window ends with the last full second before the first stop').toBeLessThanOrEqual(stoppedAt);

    // No miss: every schedule has exactly one occurrence per second of the window.
    const { rows: occurrences } = await sql<{ id: string; schedule_id: string; at: Date }>`
      select id, schedule_id, scheduled_for as at from schedule_occurrences
      where scheduled_for between ${new Date(first)} and ${new Date(last)}`.execute(db);
    const seen = occurrences.map((o) => `${o.schedule_id} @ ${o.at.toISOString()}`).sort();
    const expected = scheduleUuids.flatMap((id) => Array.from({ length: WINDOW_SECONDS }, (_, k) => `${id} @ ${new Date(first + k * 1000).toISOString()}`)).sort();
    const missing = expected.filter((key) => !seen.includes(key));
    const missingPerSecond = new Map<string, number>();
    for (const key of missing) missingPerSecond.set(key.split(' @ ')[1]!, (missingPerSecond.get(key.split(' @ ')[1]!) ?? 0) + 1);
    expect(seen, `missed occurrences per second (of ${SCHEDULES}): ${[...missingPerSecond].map(([at, n]) => `${at}: ${n}`).join(', ')}`).toEqual(expected);

    // Each occurrence has exactly one run, and each run ran exactly once and succeeded.
    const { rows: perOccurrence } = await sql<{ occurrence: string; runs: number; succeeded: number; started: number; running_events: number; finished_events: number }>`
      select o.id as occurrence,
             count(r.id)::int as runs,
             count(r.id) filter (where r.state = 'succeeded')::int as succeeded,
             count(r.started_at)::int as started,
             coalesce(sum((select count(*) from events e where e.object_id = r.id and e.action = 'run.running')), 0)::int as running_events,
             coalesce(sum((select count(*) from events e where e.object_id = r.id and e.action = 'run.finished')), 0)::int as finished_events
      from schedule_occurrences o left join runs r on r.occurrence_id = o.id
      where o.scheduled_for between ${new Date(first)} and ${new Date(last)}
      group by o.id`.execute(db);
    expect(perOccurrence).toHaveLength(SCHEDULES * WINDOW_SECONDS);
    const wrong = perOccurrence.filter((o) => o.runs !== 1 || o.succeeded !== 1 || o.started !== 1 || o.running_events !== 1 || o.finished_events !== 1);
    expect(wrong, 'occurrences without exactly one run that ran once and succeeded').toEqual([]);

    // Nothing anywhere fired twice (inside the window or out of it).
    const { rows: twice } = await sql<{ n: number }>`
      select count(*)::int as n from (select occurrence_id from runs where occurrence_id is not null group by occurrence_id having count(*) > 1) d`.execute(db);
    expect(twice[0]!.n).toBe(0);

    // More than one instance executed them.
    const { rows: split } = await sql<{ instance_id: string; runs: number }>`
      select r.instance_id, count(*)::int as runs from runs r join schedule_occurrences o on o.id = r.occurrence_id
      where o.scheduled_for between ${new Date(first)} and ${new Date(last)}
      group by r.instance_id order by runs desc`.execute(db);
    const names = new Map(servers.map((s, i) => [s.execution!.instanceId, `instance ${'ABC'[i]}`]));
    console.log(`[instances] ${SCHEDULES * WINDOW_SECONDS} runs executed by: ${split.map((s) => `${names.get(s.instance_id) ?? s.instance_id}: ${s.runs}`).join(', ')}`);
    expect(split.every((s) => names.has(s.instance_id))).toBe(true);
    expect(split.length).toBeGreaterThan(1);
  });
});

describe('an instance that dies', () => {
  /** Housekeeping is an Agenda job: whichever instance holds its lock is the one that runs it. */
  const RECOVERY_LOCKED = sql<{ n: number }>`
    select count(*)::int as n from agenda_jobs where name = 'runboard: recover runs of silent instances' and locked_at is not null`;

  /**
   * Instance A, a real process, runs a 30-second script; instance B (in-process) joins; A is
   * killed with SIGKILL. `whileHoldingRecovery`: A is killed while it holds the lock of the
   * housekeeping job that resolves silent instances (B joins just after), the worst moment.
   */
  async function killInstanceRunningAJob(whileHoldingRecovery: boolean): Promise<void> {
    const database = await sharedDatabase();
    // A first: it creates the admin on this fresh database.
    const child: ServerProcess = spawnServer({
      DATABASE_URL: database.url,
      RUNBOARD_DATA_DIR: database.dataDir,
      RUNBOARD_SECRET: TEST_SECRET,
      RUNBOARD_ADMIN_USERNAME: 'admin',
      RUNBOARD_ADMIN_PASSWORD: ADMIN_PASSWORD,
      RUNBOARD_INSTANCE_TIMEOUT: '2s',
      RUNBOARD_LOG_LEVEL: 'warn',
    });
    cleanups.push(async () => {
      if (child.child.exitCode === null && child.child.signalCode === null) child.child.kill('SIGKILL');
      await within(child.exited, 10_000, () => 'instance A to exit');
    });
    const url = await within(child.ready, 60_000, () => `instance A to start; its output:\n${child.output()}`);

    // Reading the database needs a pool: an instance with execution off (it never claims a run).
    const observer = await server({}, database);
    const db = observer.app.db;
    const scriptId = await slowFirstAttemptScript(db);
    let leftBehind: number | null = null;
    cleanups.push(() => killGroupOf(leftBehind));

    const started = await gqlAt(url, START_RUN, { input: { scriptId } }, await signInAt(url));
    expect(started.data?.startRun.__typename, JSON.stringify(started)).toBe('StartRunSuccess');
    const instanceA = await until(
      "instance A's registration",
      async () => (await db.selectFrom('instances').select('id').where('pid', '=', child.child.pid!).executeTakeFirst())?.id,
      10_000,
    );
    const first = await until(
      'the run to be running on instance A',
      async () => (await runsOf(db, scriptId)).find((run) => run.state === 'running' && run.instance_id === instanceA && run.pid),
      15_000,
    );
    leftBehind = first.pid;

    let b: TestServer | undefined;
    if (whileHoldingRecovery) {
      // A holds Agenda's lock on the recovery job when it dies (only A runs Agenda yet). A's own
      // lock is held for moments only, so the test takes it in A's name rather than wait for it.
      await sql`update agenda_jobs set locked_at = now(), last_modified_by = 'instance A' where name = 'runboard: recover runs of silent instances'`.execute(db);
      expect((await RECOVERY_LOCKED.execute(db)).rows[0]!.n).toBe(1);
    } else {
      b = await server(executing({ instanceTimeoutMs: 2_000 }), database);
    }
    const killedAt = Date.now();
    child.child.kill('SIGKILL');
    b ??= await server(executing({ instanceTimeoutMs: 2_000 }), database);
    await within(child.exited, 10_000, () => 'instance A to exit after kill -9');

    const lost = await until(
      'the run to be resolved as lost',
      async () => (await runsOf(db, scriptId)).find((run) => run.id === first.id && run.state !== 'running'),
      15_000,
    ).catch(async (error: unknown) => {
      const { rows } = await sql`select name, locked_at, next_run_at, last_run_at, now() as now from agenda_jobs`.execute(db);
      throw new Error(`${error instanceof Error ? error.message : String(error)}; Agenda's jobs: ${JSON.stringify(rows)}`, { cause: error });
    });
    console.log(`[instances] kill -9${whileHoldingRecovery ? ' (holding the recovery job)' : ''}: the run was resolved ${Date.now() - killedAt} ms after the kill: ${lost.summary}`);
    expect(lost.state).toBe('lost');
    expect(lost.summary).toContain('stopped answering');
    // Its end is audited like any other (alerting reads it), once, however many instances recover.
    const finished = await db.selectFrom('events').select(['summary', 'details']).where('object_id', '=', first.id).where('action', '=', 'run.finished').execute();
    expect(finished).toEqual([{ summary: expect.stringContaining('was lost (lost: the Runboard instance running it stopped answering)'), details: expect.objectContaining({ state: 'lost' }) }]);

    const retry = await until(
      'the retry to finish',
      async () => (await runsOf(db, scriptId)).find((run) => run.retry_of === first.id && ['succeeded', 'failed', 'lost', 'timed_out'].includes(run.state)),
      15_000,
    );
    expect(retry).toMatchObject({ attempt: 2, trigger: 'retry', state: 'succeeded', instance_id: b.execution!.instanceId });
    expect(await runsOf(db, scriptId)).toHaveLength(2);

    // The dead instance's script runs in a process group of its own, so kill -9 of the server
    // does not take it along; the instance that resolved the run as lost, being on the same
    // machine, killed it (jobs/orphans.ts) — else the script would run twice at once.
    await until('the process group of the lost run to be killed by the recovering instance', async () => livingMembers(first.pid!).length === 0, 5_000).finally(() =>
      killGroupOf(first.pid),
    );
  }

  it('kill -9 of the instance running a job: the run is lost, and its retry runs and succeeds on another instance', { timeout: 120_000 }, async (context) => {
    if (needsSharedDatabase()) return context.skip();
    await killInstanceRunningAJob(false);
  });

  it('the same when the killed instance held the lock of the recovery job: still resolved within 15 s', { timeout: 120_000 }, async (context) => {
    if (needsSharedDatabase()) return context.skip();
    await killInstanceRunningAJob(true);
  });
});

describe('an instance that stops gracefully', () => {
  it('hands its running run over: it ends lost ("Runboard stopped while it ran") and is retried on another instance', { timeout: 90_000 }, async (context) => {
    if (needsSharedDatabase()) return context.skip();
    const database = await sharedDatabase();
    const a = await server(executing({ shutdownGraceMs: 200, killGraceMs: 1_000 }), database);
    const db = a.app.db;
    const scriptId = await slowFirstAttemptScript(db);
    let pid: number | null = null;
    cleanups.push(() => killGroupOf(pid));

    const started = await a.gql(START_RUN, { input: { scriptId } }, { cookie: a.adminCookie });
    expect(started.data?.startRun.__typename, JSON.stringify(started)).toBe('StartRunSuccess');
    const first = await until(
      'the run to be running on instance A',
      async () => (await runsOf(db, scriptId)).find((run) => run.state === 'running' && run.instance_id === a.execution!.instanceId && run.pid),
      15_000,
    );
    pid = first.pid;

    // B starts only now, so it cannot have claimed the run first; it reads the database after A is gone.
    const b = await server(executing({ instanceTimeoutMs: 2_000 }), database);
    const stopBegan = Date.now();
    await a.stop();
    console.log(`[instances] graceful stop took ${Date.now() - stopBegan} ms`);
    // The stop killed the script's whole process group.
    expect(livingMembers(first.pid!)).toEqual([]);

    const [lost] = (await runsOf(b.app.db, scriptId)).filter((run) => run.id === first.id);
    expect(lost).toMatchObject({ state: 'lost', summary: expect.stringContaining('Runboard stopped while it ran') });
    const retry = await until(
      'the retry to finish',
      async () => (await runsOf(b.app.db, scriptId)).find((run) => run.retry_of === first.id && ['succeeded', 'failed', 'lost', 'timed_out'].includes(run.state)),
      15_000,
    );
    expect(retry).toMatchObject({ attempt: 2, trigger: 'retry', state: 'succeeded', instance_id: b.execution!.instanceId });
  });
});
