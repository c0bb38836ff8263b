/**
 * Runs over GraphQL: starting (manual, by API key, on a group), cancelling (once, even when two
 * race), reporting runs from outside and correcting them, deleting, the audit trail, the `runs`
 * lists with every filter and cursor, the plans PostgreSQL uses for them, and `runUpdated`.
 */
import { CompiledQuery, sql, type QueryId, type RootOperationNode } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { statementCount } from '../db/database';
import { listRuns, type RunFilter } from '../db/run.repository';
import { encodeGlobalID } from '../graphql/ids';
import { startTestServer, type TestServer } from './support/server';
import { wsClient } from './support/ws';

const FIELDS = `id state active trigger scriptName hostName triggeredBy attempt exitCode summary external
  startedAt finishedAt createdAt durationMs parameters { name value } script { id name } host { id name } schedule { name } check { name }`;
const result = (field: string, data: string) =>
  `${field} { __typename ... on Error { message } ... on ValidationError { fields { path message } } ... on ${field[0]!.toUpperCase()}${field.slice(1).replace(/\(.*/, '')}Success { data ${data} } }`;
const START = `mutation($input: StartRunInput!) { ${result('startRun(input: $input)', `{ ${FIELDS} }`)} }`;
const CANCEL = `mutation($id: ID!) { ${result('cancelRun(id: $id)', `{ ${FIELDS} }`)} }`;
const REPORT = `mutation($input: ReportRunInput!) { ${result('reportRun(input: $input)', `{ ${FIELDS} }`)} }`;
const UPDATE = `mutation($input: UpdateReportedRunInput!) { ${result('updateReportedRun(input: $input)', `{ ${FIELDS} }`)} }`;
const DELETE = `mutation($id: ID!) { ${result('deleteRun(id: $id)', '')} }`;
const RUN = `query($id: ID!) { run(id: $id) { ${FIELDS} } }`;
const EVENTS = `query($id: ID!) { events(filter: { objectId: $id }) { edges { node { action actorName objectType summary details } } } }`;

/** The mutation's payload: `data` of the success type, or the error. */
const payload = (response: { data?: any; errors?: unknown }) => {
  expect(response.errors).toBeUndefined();
  return Object.values(response.data)[0] as any;
};

async function counts(server: TestServer) {
  const runs = await server.app.db.selectFrom('runs').select(sql<string>`count(*)`.as('n')).executeTakeFirstOrThrow();
  const events = await server.app.db.selectFrom('events').select(sql<string>`count(*)`.as('n')).where('action', 'like', 'run.%').executeTakeFirstOrThrow();
  return { runs: Number(runs.n), events: Number(events.n) };
}

describe('starting, cancelling, reporting and deleting runs', () => {
  let server: TestServer;
  let operator: string;
  let viewer: string;
  let operatorKey: string;
  const ids: Record<string, string> = {};

  const gql = (query: string, variables: Record<string, unknown>, cookie = operator) => server.gql(query, variables, { cookie });
  const start = async (input: Record<string, unknown>, cookie = operator) => payload(await gql(START, { input }, cookie));

  beforeAll(async () => {
    server = await startTestServer();
    await server.createUser('op', 'operator');
    await server.createUser('watcher', 'viewer');
    operator = await server.signIn('op', 'op-password-123');
    viewer = await server.signIn('watcher', 'watcher-password-123');
    operatorKey = await server.createKey(operator, 'runs');
    const db = server.app.db;
    const script = (name: string, values: Record<string, unknown> = {}) =>
      db.insertInto('scripts').values({ name, ...values }).returning('id').executeTakeFirstOrThrow();
    ids.backup = (await script('backup', { parameters: JSON.stringify({ target: '/srv', mode: 'full' }) })).id;
    ids.plain = (await script('plain')).id;
    ids.off = (await script('switched-off', { enabled: false })).id;
    const host = (name: string, enabled = true) =>
      db.insertInto('hosts').values({ name, kind: 'agent', enabled }).returning('id').executeTakeFirstOrThrow();
    ids.web1 = (await host('web-1')).id;
    ids.web2 = (await host('web-2')).id;
    ids.web3 = (await host('web-3', false)).id;
    ids.local = (await db.selectFrom('hosts').select('id').where('kind', '=', 'local').executeTakeFirstOrThrow()).id;
    ids.web = (await db.insertInto('groups').values({ name: 'web' }).returning('id').executeTakeFirstOrThrow()).id;
    ids.empty = (await db.insertInto('groups').values({ name: 'empty' }).returning('id').executeTakeFirstOrThrow()).id;
    await db
      .insertInto('group_hosts')
      .values([ids.web1, ids.web2, ids.web3].map((host_id) => ({ group_id: ids.web!, host_id })))
      .execute();
  });
  afterAll(() => server?.close());

  it('queues a run on the local host with the defaults filled in, and audits it', async () => {
    const started = await start({ scriptId: encodeGlobalID('Script', ids.backup!), parameters: [{ name: 'mode', value: 'incremental' }] });
    expect(started.__typename).toBe('StartRunSuccess');
    const [run] = started.data;
    expect(run).toMatchObject({
      state: 'QUEUED',
      active: true,
      trigger: 'MANUAL',
      scriptName: 'backup',
      hostName: 'local',
      triggeredBy: 'op',
      attempt: 1,
      startedAt: null,
      finishedAt: null,
      durationMs: null,
      parameters: [
        { name: 'mode', value: 'incremental' },
        { name: 'target', value: '/srv' },
      ],
      script: { id: encodeGlobalID('Script', ids.backup!), name: 'backup' },
      host: { name: 'local' },
      schedule: null,
    });
    const stored = await server.app.db.selectFrom('runs').select(['triggered_by_user_id', 'state']).where('script_id', '=', ids.backup!).executeTakeFirstOrThrow();
    expect(stored).toMatchObject({ state: 'queued', triggered_by_user_id: expect.any(String) });

    const events = (await gql(EVENTS, { id: run.id }, viewer)).data.events.edges.map((e: any) => e.node);
    expect(events).toEqual([
      {
        action: 'run.started',
        actorName: 'op',
        objectType: 'Run',
        summary: 'Started "backup" on "local"',
        details: { after: expect.objectContaining({ script: 'backup', host: 'local', state: 'queued', trigger: 'manual' }) },
      },
    ]);
    // Viewers read it; they cannot start one.
    expect((await gql(RUN, { id: run.id }, viewer)).data.run.scriptName).toBe('backup');
    const refused = await gql(START, { input: { scriptId: ids.plain } }, viewer);
    expect(refused.status).toBe(403);
    expect(refused.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
  });

  it('marks runs started with an API key as API, and queues one run per enabled host of a group', async () => {
    const byKey = payload(await server.gql(START, { input: { scriptId: ids.plain, hostId: ids.web1 } }, { headers: { authorization: `Bearer ${operatorKey}` } }));
    expect(byKey.data).toMatchObject([{ trigger: 'API', triggeredBy: 'op', host: { name: 'web-1' } }]);

    const group = await start({ scriptId: ids.plain, groupId: encodeGlobalID('Group', ids.web!) });
    expect(group.data.map((run: any) => run.hostName)).toEqual(['web-1', 'web-2']); // web-3 is disabled
    expect(new Set(group.data.map((run: any) => run.id)).size).toBe(2);
  });

  it('refuses bad starts with typed errors and writes nothing', async () => {
    const before = await counts(server);
    const cases: Array<[Record<string, unknown>, string, RegExp | string, string[]?]> = [
      [{ scriptId: ids.backup, parameters: [{ name: 'colour', value: 'red' }] }, 'ValidationError', 'Script "backup" has no parameter "colour": its parameters are "mode", "target".', ['input.parameters.0.name']],
      [{ scriptId: ids.plain, parameters: [{ name: 'x', value: '1' }] }, 'ValidationError', 'Script "plain" has no parameter "x": it takes no parameters.'],
      [
        { scriptId: ids.backup, parameters: [{ name: 'mode', value: 'a' }, { name: 'mode', value: 'b' }] },
        'ValidationError',
        'Parameter "mode" is given twice.',
        ['input.parameters.1.name'],
      ],
      [{ scriptId: ids.backup, parameters: [{ name: 'mode', value: 'a\u0000b' }] }, 'ValidationError', /cannot contain a NUL character/],
      [{ scriptId: ids.backup, parameters: [{ name: 'mode', value: 'x'.repeat(10_001) }] }, 'ValidationError', /at most 10000 characters/],
      [{ scriptId: ids.plain, hostId: ids.web1, groupId: ids.web }, 'ValidationError', 'Give a hostId or a groupId, not both.', ['input.groupId']],
      [{ scriptId: 'backup' }, 'ValidationError', 'input.scriptId: "backup" is not an id. Use the `id` of a Script.'],
      [{ scriptId: encodeGlobalID('Host', ids.web1!) }, 'ValidationError', 'input.scriptId: that id belongs to a Host, not a Script.'],
      [{ scriptId: '00000000-0000-0000-0000-000000000000' }, 'NotFoundError', 'There is no script with id "00000000-0000-0000-0000-000000000000".'],
      [{ scriptId: ids.plain, hostId: '00000000-0000-0000-0000-000000000001' }, 'NotFoundError', 'There is no host with id "00000000-0000-0000-0000-000000000001".'],
      [{ scriptId: ids.plain, groupId: '00000000-0000-0000-0000-000000000002' }, 'NotFoundError', 'There is no group with id "00000000-0000-0000-0000-000000000002".'],
      [{ scriptId: ids.off }, 'ConflictError', 'Script "switched-off" is disabled; enable it to run it.'],
      [{ scriptId: ids.plain, hostId: ids.web3 }, 'ConflictError', 'Host "web-3" is disabled; enable it to run scripts on it.'],
      [{ scriptId: ids.plain, groupId: ids.empty }, 'ConflictError', 'Group "empty" has no enabled hosts to run on.'],
    ];
    for (const [input, type, message, paths] of cases) {
      const outcome = await start(input);
      expect(outcome.__typename, JSON.stringify(input)).toBe(type);
      if (typeof message === 'string') expect(outcome.message).toBe(message);
      else expect(outcome.message).toMatch(message);
      if (paths) expect(outcome.fields.map((f: any) => f.path.join('.'))).toEqual(paths);
    }
    expect(await counts(server)).toEqual(before);
  });

  it('cancels an active run once; a finished run cannot be cancelled', async () => {
    const [run] = (await start({ scriptId: ids.plain })).data;
    const cancelled = payload(await gql(CANCEL, { id: run.id }));
    expect(cancelled.data).toMatchObject({ state: 'CANCELLED', active: false, finishedAt: expect.any(String) });
    const again = payload(await gql(CANCEL, { id: run.id }));
    expect(again).toEqual({
      __typename: 'ConflictError',
      message: 'The run of "plain" on "local" already finished (cancelled); there is nothing to cancel.',
    });
    const events = (await gql(EVENTS, { id: run.id })).data.events.edges.map((e: any) => e.node.action);
    expect(events).toEqual(['run.cancelled', 'run.started']);
    expect(payload(await gql(CANCEL, { id: encodeGlobalID('Run', '00000000-0000-0000-0000-000000000000') }))).toEqual({
      __typename: 'NotFoundError',
      message: 'There is no run with id "00000000-0000-0000-0000-000000000000".',
    });
    expect((await gql(CANCEL, { id: run.id }, viewer)).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
  });

  it('of two concurrent cancels exactly one wins', async () => {
    for (let round = 0; round < 5; round++) {
      const [run] = (await start({ scriptId: ids.plain })).data;
      const outcomes = await Promise.all([gql(CANCEL, { id: run.id }), gql(CANCEL, { id: run.id })]);
      const types = outcomes.map((o) => payload(o).__typename).sort();
      expect(types).toEqual(['CancelRunSuccess', 'ConflictError']);
      const events = (await gql(EVENTS, { id: run.id })).data.events.edges.map((e: any) => e.node.action);
      expect(events).toEqual(['run.cancelled', 'run.started']);
    }
  });

  it('records a run reported from outside, linking known scripts and hosts by name', async () => {
    const known = payload(
      await gql(REPORT, {
        input: {
          scriptName: 'BACKUP',
          hostName: 'web-2',
          state: 'SUCCEEDED',
          exitCode: 0,
          summary: 'Complete (3/3)',
          startedAt: '2026-01-01T10:00:00.000Z',
          finishedAt: '2026-01-01T10:00:02.500Z',
          external: { uuid: 'task-1', status: 'sucess' },
        },
      }),
    );
    expect(known.data).toMatchObject({
      state: 'SUCCEEDED',
      trigger: 'REPORT',
      triggeredBy: 'op',
      scriptName: 'backup',
      script: { name: 'backup' },
      host: { name: 'web-2' },
      exitCode: 0,
      summary: 'Complete (3/3)',
      durationMs: 2500,
      external: { uuid: 'task-1', status: 'sucess' },
      finishedAt: '2026-01-01T10:00:02.500Z',
    });
    const unknown = payload(await gql(REPORT, { input: { scriptName: 'nightly-build', hostName: 'ci-7', state: 'RUNNING' } }));
    expect(unknown.data).toMatchObject({ scriptName: 'nightly-build', script: null, hostName: 'ci-7', host: null, state: 'RUNNING', startedAt: expect.any(String), finishedAt: null });
    expect(unknown.data.durationMs).toBeGreaterThanOrEqual(0);
    // A finished state without a finish time finished now.
    const failed = payload(await gql(REPORT, { input: { scriptId: ids.plain, state: 'FAILED', exitCode: 2 } }));
    expect(failed.data).toMatchObject({ scriptName: 'plain', state: 'FAILED', finishedAt: expect.any(String), startedAt: null, hostName: null });
    const events = (await gql(EVENTS, { id: known.data.id })).data.events.edges.map((e: any) => e.node);
    expect(events).toMatchObject([{ action: 'run.reported', summary: 'Recorded the run of "backup" on "web-2" (succeeded), reported by op' }]);
  });

  it('refuses bad reports with typed errors and writes nothing', async () => {
    const before = await counts(server);
    const cases: Array<[Record<string, unknown>, string, string, string]> = [
      [{ state: 'SUCCEEDED' }, 'ValidationError', 'input.scriptName', 'Give a scriptName or a scriptId.'],
      [{ scriptName: 'a', scriptId: ids.plain, state: 'SUCCEEDED' }, 'ValidationError', 'input.scriptName', 'Give a scriptName or a scriptId, not both.'],
      [{ scriptName: '  ', state: 'SUCCEEDED' }, 'ValidationError', 'input.scriptName', 'The script name cannot be empty.'],
      [{ scriptName: 'x'.repeat(141), state: 'SUCCEEDED' }, 'ValidationError', 'input.scriptName', 'The script name is at most 140 characters.'],
      [{ scriptName: 'a', hostName: 'h\u0000', state: 'SUCCEEDED' }, 'ValidationError', 'input.hostName', 'The host name cannot contain a NUL character.'],
      [{ scriptName: 'a', summary: 'x'.repeat(10_001), state: 'SUCCEEDED' }, 'ValidationError', 'input.summary', 'The summary is at most 10000 characters.'],
      [{ scriptName: 'a', external: [1, 2], state: 'SUCCEEDED' }, 'ValidationError', 'input.external', 'external must be a JSON object, e.g. {"status": "in progress"}.'],
      [{ scriptName: 'a', external: { log: 'a\u0000' }, state: 'SUCCEEDED' }, 'ValidationError', 'input.external', 'external cannot contain a NUL character.'],
      [
        { scriptName: 'a', state: 'RUNNING', finishedAt: '2026-01-01T00:00:00Z' },
        'ValidationError',
        'input.finishedAt',
        'A running run has not finished: leave finishedAt out, or give a finished state.',
      ],
      [
        { scriptName: 'a', state: 'FAILED', startedAt: '2026-01-02T00:00:00Z', finishedAt: '2026-01-01T00:00:00Z' },
        'ValidationError',
        'input.finishedAt',
        'The run cannot finish (2026-01-01T00:00:00.000Z) before it starts (2026-01-02T00:00:00.000Z).',
      ],
      [{ scriptId: '00000000-0000-0000-0000-000000000000', state: 'FAILED' }, 'NotFoundError', '', 'There is no script with id "00000000-0000-0000-0000-000000000000".'],
      [{ scriptName: 'a', checkId: '00000000-0000-0000-0000-000000000000', state: 'FAILED' }, 'NotFoundError', '', 'There is no check with id "00000000-0000-0000-0000-000000000000".'],
    ];
    for (const [input, type, path, message] of cases) {
      const outcome = payload(await gql(REPORT, { input }));
      expect(outcome.__typename, JSON.stringify(input)).toBe(type);
      expect(outcome.message).toBe(message);
      if (path) expect(outcome.fields.map((f: any) => f.path.join('.'))).toEqual([path]);
    }
    expect((await gql(REPORT, { input: { scriptName: 'a', state: 'FAILED' } }, viewer)).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect(await counts(server)).toEqual(before);
  });

  it('updates reported runs only, merging their external fields, and audits the change', async () => {
    const reported = payload(await gql(REPORT, { input: { scriptName: 'virtshell-task', state: 'QUEUED', external: { uuid: 'u-1', status: 'pending', type: 'vm' } } })).data;
    const running = payload(await gql(UPDATE, { input: { id: reported.id, state: 'RUNNING', external: { status: 'in progress' } } })).data;
    expect(running).toMatchObject({ state: 'RUNNING', startedAt: expect.any(String), finishedAt: null, external: { uuid: 'u-1', status: 'in progress', type: 'vm' } });
    const failed = payload(await gql(UPDATE, { input: { id: reported.id, state: 'FAILED', exitCode: 3, summary: 'disk full', external: { status: 'failed' } } })).data;
    expect(failed).toMatchObject({ state: 'FAILED', exitCode: 3, summary: 'disk full', finishedAt: expect.any(String), external: { uuid: 'u-1', status: 'failed', type: 'vm' } });
    // The reporter may retry it: back to running clears the finish; null clears the summary.
    const retried = payload(await gql(UPDATE, { input: { id: reported.id, state: 'RUNNING', summary: null } })).data;
    expect(retried).toMatchObject({ state: 'RUNNING', finishedAt: null, summary: null, exitCode: 3 });

    const events = (await gql(EVENTS, { id: reported.id })).data.events.edges.map((e: any) => e.node);
    expect(events.map((e: any) => e.action)).toEqual(['run.updated', 'run.updated', 'run.updated', 'run.reported']);
    expect(events[2].details).toMatchObject({ before: { state: 'queued' }, after: { state: 'running', external: { status: 'in progress' } } });

    const before = await counts(server);
    const [manual] = (await start({ scriptId: ids.plain })).data;
    const afterStart = await counts(server);
    expect(payload(await gql(UPDATE, { input: { id: manual.id, state: 'SUCCEEDED' } }))).toEqual({
      __typename: 'ConflictError',
      message: 'The run of "plain" on "local" was started by Runboard (manual), not reported; only reported runs can be changed with updateReportedRun.',
    });
    expect(payload(await gql(UPDATE, { input: { id: reported.id, finishedAt: '2026-01-01T00:00:00Z' } }))).toMatchObject({
      __typename: 'ValidationError',
      message: 'A running run has not finished: leave finishedAt out, or give a finished state.',
    });
    expect(payload(await gql(UPDATE, { input: { id: encodeGlobalID('Run', '00000000-0000-0000-0000-000000000000') } })).__typename).toBe('NotFoundError');
    expect(afterStart.runs).toBe(before.runs + 1);
    expect(await counts(server)).toEqual(afterStart);
  });

  it('deletes finished runs (admins only), never active ones', async () => {
    const [active] = (await start({ scriptId: ids.plain })).data;
    expect(payload(await gql(DELETE, { id: active.id }, server.adminCookie))).toEqual({
      __typename: 'ConflictError',
      message: 'The run of "plain" on "local" is queued; cancel it before deleting it.',
    });
    expect((await gql(DELETE, { id: active.id })).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    await gql(CANCEL, { id: active.id });
    await server.app.db.insertInto('run_output').values({ run_id: runUuid(active.id), seq: 1, stream: 'stdout', offset: 0, data: 'x' }).execute();
    const deleted = payload(await gql(DELETE, { id: active.id }, server.adminCookie));
    expect(deleted).toEqual({ __typename: 'DeleteRunSuccess', data: active.id });
    expect((await gql(RUN, { id: active.id })).data.run).toBeNull();
    expect(await server.app.db.selectFrom('run_output').selectAll().where('run_id', '=', runUuid(active.id)).execute()).toEqual([]);
    const events = (await gql(EVENTS, { id: active.id })).data.events.edges.map((e: any) => e.node.action);
    expect(events).toEqual(['run.deleted', 'run.cancelled', 'run.started']);
    expect(payload(await gql(DELETE, { id: active.id }, server.adminCookie)).__typename).toBe('NotFoundError');
  });

  /** The UUID inside a Run's global id. */
  const runUuid = (globalId: string) => Buffer.from(globalId, 'base64').toString().split(':')[1]!;

  it('tells runUpdated subscribers of matching changes only, and of deletions', async () => {
    const key = await server.createKey(viewer, 'runs-ws');
    const client = wsClient(server.url, { apiKey: key });
    const heard: any[] = [];
    client.subscribe(
      {
        query: `subscription($filter: RunUpdatedFilter) { runUpdated(filter: $filter) { id state deleted run { state scriptName } } }`,
        variables: { filter: { scriptId: ids.backup, states: ['CANCELLED', 'QUEUED'] } },
      },
      { next: (r) => heard.push(r.data?.runUpdated ?? r), error: (e) => heard.push({ error: e }), complete: () => undefined },
    );
    await new Promise((r) => setTimeout(r, 300));
    /** Waits until `n` changes were heard (each step waits, so each event resolves the run as it was then). */
    const heardAt = async (n: number) => {
      for (let i = 0; i < 200 && heard.length < n; i++) await new Promise((r) => setTimeout(r, 25));
      return heard[n - 1];
    };
    await start({ scriptId: ids.plain }); // another script: not heard
    const [run] = (await start({ scriptId: ids.backup })).data;
    expect(await heardAt(1)).toEqual({ id: run.id, state: 'QUEUED', deleted: false, run: { state: 'QUEUED', scriptName: 'backup' } });
    await gql(CANCEL, { id: run.id });
    expect(await heardAt(2)).toEqual({ id: run.id, state: 'CANCELLED', deleted: false, run: { state: 'CANCELLED', scriptName: 'backup' } });
    await gql(DELETE, { id: run.id }, server.adminCookie);
    expect(await heardAt(3)).toEqual({ id: run.id, state: 'CANCELLED', deleted: true, run: null });
    const reported = payload(await gql(REPORT, { input: { scriptId: ids.backup, state: 'RUNNING' } })).data; // RUNNING: not heard
    await gql(UPDATE, { input: { id: reported.id, state: 'CANCELLED' } });
    expect(await heardAt(4)).toEqual({ id: reported.id, state: 'CANCELLED', deleted: false, run: { state: 'CANCELLED', scriptName: 'backup' } });
    await new Promise((r) => setTimeout(r, 200));
    await client.dispose();
    expect(heard).toHaveLength(4);
  });
});

describe('listing runs', () => {
  let server: TestServer;
  const ids: Record<string, string> = {};
  /** The fixture, newest first: what every filter is checked against. */
  let all: Array<{ id: string; script_id: string; host_id: string; schedule_id: string | null; check_id: string | null; state: string; trigger: string; script_name: string; created_at: Date }>;
  const BASE = Date.parse('2026-03-01T00:00:00Z');

  beforeAll(async () => {
    server = await startTestServer();
    const db = server.app.db;
    for (const name of ['alpha-sync', 'beta-report', 'gamma']) {
      ids[name] = (await db.insertInto('scripts').values({ name }).returning('id').executeTakeFirstOrThrow()).id;
    }
    for (const name of ['h1', 'h2']) ids[name] = (await db.insertInto('hosts').values({ name, kind: 'agent' }).returning('id').executeTakeFirstOrThrow()).id;
    ids.sched = (await db.insertInto('schedules').values({ name: 'hourly', script_id: ids['alpha-sync']!, kind: 'cron', cron: '0 * * * *' }).returning('id').executeTakeFirstOrThrow()).id;
    ids.check = (await db.insertInto('checks').values({ name: 'cron-check', period_seconds: 60 }).returning('id').executeTakeFirstOrThrow()).id;
    const scripts = ['alpha-sync', 'beta-report', 'gamma'];
    const states = ['succeeded', 'failed', 'running', 'queued', 'cancelled'] as const;
    const triggers = ['manual', 'schedule', 'api', 'report'] as const;
    // 120 runs; pairs share a created_at, so the id breaks ties.
    await db
      .insertInto('runs')
      .values(
        Array.from({ length: 120 }, (_, i) => {
          const script = scripts[i % 3]!;
          return {
            script_id: ids[script]!,
            script_name: script,
            host_id: ids[i % 2 ? 'h1' : 'h2']!,
            host_name: i % 2 ? 'h1' : 'h2',
            schedule_id: i % 4 === 0 ? ids.sched! : null,
            check_id: i % 5 === 0 ? ids.check! : null,
            state: states[i % 5]!,
            trigger: triggers[i % 4]!,
            created_at: new Date(BASE + Math.floor(i / 2) * 60_000),
          };
        }),
      )
      .execute();
    const rows = await db.selectFrom('runs').selectAll().orderBy('created_at', 'desc').orderBy('id', 'desc').execute();
    all = rows as typeof all;
  });
  afterAll(() => server?.close());

  const LIST = `query($first: Int, $after: String, $last: Int, $before: String, $filter: RunFilter) {
    runs(first: $first, after: $after, last: $last, before: $before, filter: $filter) {
      edges { cursor node { id } } pageInfo { hasNextPage hasPreviousPage endCursor startCursor } totalCount
    }
  }`;
  const uuidOf = (globalId: string) => Buffer.from(globalId, 'base64').toString().split(':')[1]!;

  async function listAll(filter: Record<string, unknown> = {}, pageSize = 25): Promise<string[]> {
    const seen: string[] = [];
    let after: string | null = null;
    for (;;) {
      const response: { data?: any; errors?: unknown } = await server.gql(LIST, { first: pageSize, after, filter }, { cookie: server.adminCookie });
      expect(response.errors).toBeUndefined();
      const page: any = response.data.runs;
      seen.push(...page.edges.map((e: any) => uuidOf(e.node.id)));
      if (!page.pageInfo.hasNextPage) return seen;
      after = page.pageInfo.endCursor;
    }
  }

  it('pages through 120 runs newest first with cursors, no repeats, forward and backward', async () => {
    const listed = await listAll({}, 25);
    expect(listed).toHaveLength(120);
    expect(new Set(listed).size).toBe(120);
    expect(listed).toEqual(all.map((r) => r.id));

    const first = (await server.gql(LIST, { first: 30 }, { cookie: server.adminCookie })).data.runs;
    expect(first.totalCount).toBe(120);
    expect(first.pageInfo).toMatchObject({ hasNextPage: true, hasPreviousPage: false });
    const back = (await server.gql(LIST, { last: 10, before: first.edges[20].cursor }, { cookie: server.adminCookie })).data.runs;
    expect(back.edges.map((e: any) => e.node.id)).toEqual(first.edges.slice(10, 20).map((e: any) => e.node.id));
    expect(back.pageInfo.hasPreviousPage).toBe(true);
  });

  it('applies each filter, and several together', async () => {
    const g = (type: string, id: string) => encodeGlobalID(type, id);
    const cases: Array<[Record<string, unknown>, (r: (typeof all)[number]) => boolean]> = [
      [{ states: ['FAILED'] }, (r) => r.state === 'failed'],
      [{ states: ['QUEUED', 'RUNNING'] }, (r) => ['queued', 'running'].includes(r.state)],
      [{ scriptId: g('Script', ids['beta-report']!) }, (r) => r.script_id === ids['beta-report']],
      [{ hostId: ids.h1 }, (r) => r.host_id === ids.h1],
      [{ scheduleId: g('Schedule', ids.sched!) }, (r) => r.schedule_id === ids.sched],
      [{ checkId: g('Check', ids.check!) }, (r) => r.check_id === ids.check],
      [{ triggers: ['REPORT', 'API'] }, (r) => ['report', 'api'].includes(r.trigger)],
      [{ since: new Date(BASE + 30 * 60_000).toISOString() }, (r) => r.created_at.getTime() >= BASE + 30 * 60_000],
      [{ until: new Date(BASE + 10 * 60_000).toISOString() }, (r) => r.created_at.getTime() < BASE + 10 * 60_000],
      [{ search: 'SYNC' }, (r) => r.script_name === 'alpha-sync'],
      [{ search: '%' }, () => false], // a literal percent sign, not a wildcard
      [
        { states: ['SUCCEEDED', 'FAILED'], hostId: ids.h2, triggers: ['MANUAL'], since: new Date(BASE + 5 * 60_000).toISOString(), search: 'a' },
        (r) => ['succeeded', 'failed'].includes(r.state) && r.host_id === ids.h2 && r.trigger === 'manual' && r.created_at.getTime() >= BASE + 5 * 60_000,
      ],
      [{ scriptId: ids['alpha-sync'], scheduleId: ids.sched, states: ['SUCCEEDED'] }, (r) => r.script_id === ids['alpha-sync'] && r.schedule_id === ids.sched && r.state === 'succeeded'],
    ];
    for (const [filter, keep] of cases) {
      const expected = all.filter(keep).map((r) => r.id);
      expect(await listAll(filter, 7), JSON.stringify(filter)).toEqual(expected);
    }
    for (const [filter] of cases.slice(0, 3)) expect((await listAll(filter, 7)).length).toBeGreaterThan(0);
    const bad = await server.gql(LIST, { filter: { hostId: 'nope' } }, { cookie: server.adminCookie });
    expect(bad.errors?.[0]?.message).toBe('filter.hostId: "nope" is not an id. Use the `id` of a Host.');
  });

  it('lists the runs of a script, a host and a schedule', async () => {
    const NESTED = `query($script: ID!, $other: ID!, $host: ID!, $schedule: ID!) {
      script: node(id: $script) { ... on Script { runs(first: 100, filter: { states: [FAILED], scriptId: $other }) { totalCount edges { node { id } } } } }
      host: node(id: $host) { ... on Host { runs(first: 100) { totalCount } } }
      schedule: node(id: $schedule) { ... on Schedule { runs(first: 5) { totalCount edges { node { scriptName } } } } }
    }`;
    const response = await server.gql(
      NESTED,
      { script: encodeGlobalID('Script', ids.gamma!), other: encodeGlobalID('Script', ids['alpha-sync']!), host: encodeGlobalID('Host', ids.h1!), schedule: encodeGlobalID('Schedule', ids.sched!) },
      { cookie: server.adminCookie },
    );
    expect(response.errors).toBeUndefined();
    const gammaFailed = all.filter((r) => r.script_id === ids.gamma && r.state === 'failed').map((r) => r.id);
    expect(response.data.script.runs.edges.map((e: any) => uuidOf(e.node.id))).toEqual(gammaFailed);
    expect(response.data.host.runs.totalCount).toBe(60);
    expect(response.data.schedule.runs.totalCount).toBe(30);
    expect(response.data.schedule.runs.edges.map((e: any) => e.node.scriptName)).toEqual(
      all.filter((r) => r.schedule_id === ids.sched).slice(0, 5).map((r) => r.script_name),
    );
  });

  it('loads the script, host and schedule of a page of runs in batches, not per run', async () => {
    const QUERY = `query($first: Int!) { runs(first: $first) { edges { node { script { name } host { name } schedule { name } check { name } } } } }`;
    const statements = async (first: number) => {
      let least = Number.POSITIVE_INFINITY;
      for (let i = 0; i < 3; i++) {
        const before = statementCount(server.app.db);
        const response = await server.gql(QUERY, { first }, { cookie: server.adminCookie });
        least = Math.min(least, statementCount(server.app.db) - before);
        expect(response.errors).toBeUndefined();
        if (first === 100) {
          expect(response.data.runs.edges.map((e: any) => e.node)).toEqual(
            all.slice(0, 100).map((r) => ({
              script: { name: r.script_name },
              host: { name: r.host_id === ids.h1 ? 'h1' : 'h2' },
              schedule: r.schedule_id ? { name: 'hourly' } : null,
              check: r.check_id ? { name: 'cron-check' } : null,
            })),
          );
        }
      }
      return least;
    };
    expect(await statements(100)).toBe(await statements(10));
  });

  it('reads each filtered page along an index, without sorting (EXPLAIN on 5,000 runs)', async () => {
    const db = server.app.db;
    await sql`
      insert into runs (script_id, script_name, host_id, host_name, schedule_id, check_id, state, trigger, created_at)
      select (array[${ids['alpha-sync']}::uuid, ${ids['beta-report']}::uuid, ${ids.gamma}::uuid])[1 + g % 3], 'bulk',
             (array[${ids.h1}::uuid, ${ids.h2}::uuid])[1 + g % 2], 'h', case when g % 50 = 0 then ${ids.sched}::uuid end,
             case when g % 70 = 0 then ${ids.check}::uuid end,
             (array['succeeded','failed','running','queued','cancelled','lost'])[1 + g % 6], 'manual',
             now() - g * interval '1 second'
      from generate_series(1, 5000) g`.execute(db);
    await sql`analyze runs`.execute(db);
    // The statements listRuns sends, captured on their way out, then explained.
    let captured: { node: RootOperationNode; queryId: QueryId } | undefined;
    const spy = db.withPlugin({
      transformQuery: (args) => {
        captured ??= { node: args.node, queryId: args.queryId };
        return args.node;
      },
      transformResult: async (args) => args.result,
    });
    const plans: Array<[RunFilter, string]> = [
      [{}, 'runs_created_idx'],
      [{ states: ['lost'] }, 'runs_state_created_idx'],
      [{ scriptId: ids.gamma }, 'runs_script_created_idx'],
      [{ hostId: ids.h2 }, 'runs_host_created_idx'],
      [{ scheduleId: ids.sched }, 'runs_schedule_created_idx'],
      [{ checkId: ids.check }, 'runs_check_created_idx'],
      [{ since: new Date(Date.now() - 600_000) }, 'runs_created_idx'],
    ];
    for (const [filter, index] of plans) {
      const first = await listRuns(db, filter, { first: 20 });
      for (const after of [undefined, first.cursors.at(-1)]) {
        captured = undefined;
        await listRuns(spy, filter, { first: 20, after });
        const query = db.getExecutor().compileQuery(captured!.node, captured!.queryId);
        const { rows } = await db.executeQuery<Record<string, string>>(CompiledQuery.raw(`explain ${query.sql}`, [...query.parameters]));
        const plan = rows.map((r) => r['QUERY PLAN']).join('\n');
        const label = `${JSON.stringify(filter)} ${after ? 'page 2' : 'page 1'}\n${plan}`;
        expect(plan, label).toContain(`Index Scan using ${index}`);
        expect(plan, label).not.toMatch(/Sort|Seq Scan/);
      }
    }
  });
});
