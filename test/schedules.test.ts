/**
 * Schedules over the real server: create / read / list / update / delete by admins, pause and
 * resume by operators, every validation message, audit events, next runs, the cron preview,
 * DataLoader-backed relations and the scheduleUpdated subscription. Scripts, hosts and groups
 * are fixtures inserted with SQL (their own mutations are tested in their own files).
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { statementCount } from '../db/database';
import { encodeGlobalID } from '../graphql/ids';
import { startTestServer, type TestServer } from './support/server';
import { wsClient } from './support/ws';

const FIELDS = `id name description kind cron timezone intervalSeconds runAt targetMode targetStrategy staggerSeconds enabled
  missedPolicy missedWindowSeconds overlapPolicy parameters { name value } lastRunAt nextRunAt
  script { name } hosts { name } groups { name } targetHosts { name }`;
const RESULT = (field: string) =>
  `${field}(input: $input) { __typename ... on ${field[0]!.toUpperCase()}${field.slice(1)}Success { data { ${FIELDS} } } ... on Error { message } ... on ValidationError { fields { path message } } }`;
const CREATE = `mutation($input: CreateScheduleInput!) { ${RESULT('createSchedule')} }`;
const UPDATE = `mutation($input: UpdateScheduleInput!) { ${RESULT('updateSchedule')} }`;
const DELETE = `mutation($id: ID!) { deleteSchedule(id: $id) { __typename ... on DeleteScheduleSuccess { data } ... on Error { message } } }`;
const PAUSE = `mutation($id: ID!) { pauseSchedule(id: $id) { __typename ... on PauseScheduleSuccess { data { enabled nextRunAt nextRuns } } ... on Error { message } } }`;
const RESUME = `mutation($id: ID!) { resumeSchedule(id: $id) { __typename ... on ResumeScheduleSuccess { data { enabled nextRunAt nextRuns(count: 2) } } ... on Error { message } } }`;
const NODE = `query($id: ID!) { node(id: $id) { ... on Schedule { ${FIELDS} } } }`;
const EVENTS = `query($id: ID!) { events(filter: { objectId: $id }) { edges { node { action summary actorName details } } } }`;
const PREVIEW = `query($cron: String!, $timezone: String, $count: Int, $from: DateTime) {
  previewSchedule(cron: $cron, timezone: $timezone, count: $count, from: $from) { valid error field timezone occurrences }
}`;

const future = (seconds: number) => new Date(Date.now() + seconds * 1000).toISOString();

describe('schedules', () => {
  let server: TestServer;
  let admin: { cookie: string };
  let operator: { cookie: string };
  let viewer: { cookie: string };
  const scripts: Record<string, string> = {};
  const hosts: Record<string, string> = {};
  const groups: Record<string, string> = {};

  const gql = (query: string, variables: Record<string, unknown>, as = admin) => server.gql(query, variables, as);
  const create = async (input: Record<string, unknown>, as = admin) => (await gql(CREATE, { input }, as)).data?.createSchedule;
  const cronInput = (name: string, extra: Record<string, unknown> = {}) => ({
    name,
    scriptId: scripts.backup,
    when: { kind: 'CRON', cron: '0 9 * * *' },
    ...extra,
  });
  const events = async (id: string) => (await gql(EVENTS, { id })).data.events.edges.map((e: { node: unknown }) => e.node);
  const counts = async () => {
    const db = server.app.db;
    const [s, e] = await Promise.all([
      db.selectFrom('schedules').select(db.fn.countAll<string>().as('n')).executeTakeFirstOrThrow(),
      db.selectFrom('events').select(db.fn.countAll<string>().as('n')).where('action', 'like', 'schedule.%').executeTakeFirstOrThrow(),
    ]);
    return { schedules: Number(s.n), events: Number(e.n) };
  };

  beforeAll(async () => {
    server = await startTestServer();
    admin = { cookie: server.adminCookie };
    await server.createUser('sched-operator', 'operator');
    await server.createUser('sched-viewer', 'viewer');
    operator = { cookie: await server.signIn('sched-operator', 'sched-operator-password-123') };
    viewer = { cookie: await server.signIn('sched-viewer', 'sched-viewer-password-123') };
    const db = server.app.db;
    for (const [name, parameters] of [['backup', { TARGET: 'db', LEVEL: '1' }], ['report', {}]] as const) {
      const row = await db.insertInto('scripts').values({ name, parameters: JSON.stringify(parameters) }).returning('id').executeTakeFirstOrThrow();
      scripts[name] = encodeGlobalID('Script', row.id);
    }
    for (const name of ['web-1', 'web-2', 'db-1']) {
      const row = await db.insertInto('hosts').values({ name, kind: 'agent' }).returning('id').executeTakeFirstOrThrow();
      hosts[name] = row.id;
    }
    for (const [name, members] of [['web', ['web-1', 'web-2']], ['db', ['db-1']]] as const) {
      const row = await db.insertInto('groups').values({ name }).returning('id').executeTakeFirstOrThrow();
      groups[name] = row.id;
      await db.insertInto('group_hosts').values(members.map((m) => ({ group_id: row.id, host_id: hosts[m]! }))).execute();
    }
  });
  afterAll(() => server?.close());

  it('creates a cron schedule on hosts, computes its next run and audits it; operators are refused', async () => {
    const refused = await gql(CREATE, { input: cronInput('refused') }, operator);
    expect(refused.status).toBe(403);
    expect(refused.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');

    const before = Date.now();
    const created = await create(
      cronInput('Nightly backup', {
        description: 'Copies the database.',
        when: { kind: 'CRON', cron: '  0   9 * * 1-5 ', timezone: 'europe/paris' },
        hostIds: [hosts['web-2'], encodeGlobalID('Host', hosts['web-1']!)],
        targetMode: 'ALL',
        staggerSeconds: 30,
        missedPolicy: 'LAST',
        missedWindowSeconds: 600,
        overlapPolicy: 'SKIP',
        parameters: [{ name: 'TARGET', value: 'replica' }],
      }),
    );
    expect(created).toMatchObject({
      __typename: 'CreateScheduleSuccess',
      data: {
        name: 'Nightly backup',
        description: 'Copies the database.',
        kind: 'CRON',
        cron: '0 9 * * 1-5',
        timezone: 'Europe/Paris',
        intervalSeconds: null,
        runAt: null,
        targetMode: 'ALL',
        targetStrategy: 'RANDOM',
        staggerSeconds: 30,
        enabled: true,
        missedPolicy: 'LAST',
        missedWindowSeconds: 600,
        overlapPolicy: 'SKIP',
        parameters: [{ name: 'TARGET', value: 'replica' }],
        lastRunAt: null,
        script: { name: 'backup' },
        hosts: [{ name: 'web-1' }, { name: 'web-2' }],
        groups: [],
        targetHosts: [{ name: 'web-1' }, { name: 'web-2' }],
      },
    });
    const schedule = created.data;
    // The next run is the next weekday 09:00 in Paris, stored in the row too.
    const next = new Date(schedule.nextRunAt);
    expect(next.getTime()).toBeGreaterThan(before);
    expect(next.getTime() - before).toBeLessThanOrEqual(4 * 86_400_000);
    expect(new Intl.DateTimeFormat('en-GB', { timeZone: 'Europe/Paris', hour: '2-digit', minute: '2-digit' }).format(next)).toBe('09:00');
    const row = await server.app.db.selectFrom('schedules').select('next_run_at').where('name', '=', 'Nightly backup').executeTakeFirstOrThrow();
    expect(row.next_run_at?.toISOString()).toBe(schedule.nextRunAt);
    const nextRuns = (await gql(`query($id: ID!) { node(id: $id) { ... on Schedule { nextRuns(count: 3) } } }`, { id: schedule.id }, viewer)).data.node.nextRuns;
    expect(nextRuns).toHaveLength(3);
    expect(nextRuns[0]).toBe(schedule.nextRunAt);

    const [event] = await events(schedule.id);
    expect(event).toMatchObject({ action: 'schedule.created', summary: 'Created schedule "Nightly backup"', actorName: 'admin' });
    expect(event.details.after).toMatchObject({ name: 'Nightly backup', cron: '0 9 * * 1-5', timezone: 'Europe/Paris', targetMode: 'all' });
    expect(event.details.after.hostIds).toHaveLength(2);

    // Viewers read it, by global id or bare UUID.
    const read = await gql(NODE, { id: schedule.id }, viewer);
    expect(read.data.node.name).toBe('Nightly backup');
    const uuid = Buffer.from(schedule.id, 'base64').toString().split(':')[1];
    const byUuid = await gql(`query($id: ID!) { schedule(id: $id) { name } }`, { id: uuid }, viewer);
    expect(byUuid.data.schedule).toEqual({ name: 'Nightly backup' });
  });

  it('runs on the local host when given neither hosts nor groups, and on group members when given groups', async () => {
    const local = await create(cronInput('on-local'));
    expect(local.data).toMatchObject({ hosts: [{ name: 'local' }], groups: [], targetHosts: [{ name: 'local' }] });

    const grouped = await create(cronInput('on-groups', { groupIds: [encodeGlobalID('Group', groups.web!), groups.db], hostIds: [] }));
    expect(grouped.data).toMatchObject({
      hosts: [],
      groups: [{ name: 'db' }, { name: 'web' }],
      targetHosts: [{ name: 'db-1' }, { name: 'web-1' }, { name: 'web-2' }],
    });
  });

  it('creates interval and one-shot schedules with the right next run, and a paused one with none', async () => {
    const before = Date.now();
    const interval = (await create({ name: 'every-10m', scriptId: scripts.report, when: { kind: 'INTERVAL', intervalSeconds: 600 } })).data;
    expect(interval).toMatchObject({ kind: 'INTERVAL', intervalSeconds: 600, cron: null, timezone: 'UTC' });
    const next = new Date(interval.nextRunAt).getTime();
    expect(next).toBeGreaterThanOrEqual(before + 600_000);
    expect(next).toBeLessThanOrEqual(Date.now() + 600_000);
    const runs = (await gql(`query($id: ID!) { node(id: $id) { ... on Schedule { nextRuns(count: 3) } } }`, { id: interval.id })).data.node.nextRuns;
    expect(runs.map((r: string) => new Date(r).getTime() - next)).toEqual([0, 600_000, 1_200_000]);

    const runAt = future(3600);
    const once = (await create({ name: 'one-shot', scriptId: scripts.report, when: { kind: 'ONCE', runAt } })).data;
    expect(once).toMatchObject({ kind: 'ONCE', runAt: new Date(runAt).toISOString(), nextRunAt: new Date(runAt).toISOString() });

    const paused = (await create(cronInput('born-paused', { enabled: false }))).data;
    expect(paused).toMatchObject({ enabled: false, nextRunAt: null });
  });

  it('refuses bad input with one typed error per field, a clear message, and writes nothing', async () => {
    const cases: Array<[Record<string, unknown>, string, RegExp]> = [
      [cronInput(''), 'input.name', /^Give the schedule a name\.$/],
      [cronInput('x'.repeat(141)), 'input.name', /name is at most 140 characters/],
      [cronInput('nul\0name'), 'input.name', /cannot contain a NUL character/],
      [cronInput('long-description', { description: 'x'.repeat(10_001) }), 'input.description', /description is at most 10,000 characters/],
      [cronInput('no-cron', { when: { kind: 'CRON' } }), 'input.when.cron', /A CRON schedule needs a cron expression/],
      [cronInput('bad-cron', { when: { kind: 'CRON', cron: '61 * * * *' } }), 'input.when.cron', /"61 \* \* \* \*" is not a valid cron expression: minute "61": .*0-59/],
      [cronInput('seven', { when: { kind: 'CRON', cron: '0 0 0 * * * *' } }), 'input.when.cron', /write 5 fields .* or 6 with seconds first/],
      [cronInput('hashed', { when: { kind: 'CRON', cron: 'H 9 * * *' } }), 'input.when.cron', /uses H/],
      [cronInput('never', { when: { kind: 'CRON', cron: '0 0 31 2 *' } }), 'input.when.cron', /never falls in the months given/],
      [cronInput('bad-zone', { when: { kind: 'CRON', cron: '0 9 * * *', timezone: 'Mars/Olympus' } }), 'input.when.timezone', /"Mars\/Olympus" is not a timezone/],
      [cronInput('offset-zone', { when: { kind: 'CRON', cron: '0 9 * * *', timezone: '+02:00' } }), 'input.when.timezone', /is not a timezone/],
      [
        cronInput('mixed', { when: { kind: 'INTERVAL', intervalSeconds: 60, cron: '* * * * *', timezone: 'UTC' } }),
        'input.when.cron',
        /^INTERVAL schedules take only intervalSeconds: leave out cron and timezone\.$/,
      ],
      [cronInput('cron-extra', { when: { kind: 'CRON', cron: '* * * * *', runAt: future(60) } }), 'input.when.runAt', /CRON schedules take only cron and timezone: leave out runAt/],
      [cronInput('no-interval', { when: { kind: 'INTERVAL' } }), 'input.when.intervalSeconds', /needs intervalSeconds/],
      [cronInput('zero-interval', { when: { kind: 'INTERVAL', intervalSeconds: 0 } }), 'input.when.intervalSeconds', /from 1 to 31,622,400/],
      [cronInput('no-run-at', { when: { kind: 'ONCE' } }), 'input.when.runAt', /A ONCE schedule needs runAt/],
      [cronInput('past', { when: { kind: 'ONCE', runAt: '2020-01-01T00:00:00Z' } }), 'input.when.runAt', /runAt \(2020-01-01T00:00:00.000Z\) is in the past: give a moment in the future\./],
      [cronInput('both', { hostIds: [hosts['web-1']], groupIds: [groups.web] }), 'input.groupIds', /^Give hosts or groups, not both\.$/],
      [cronInput('stagger-one', { staggerSeconds: 10 }), 'input.staggerSeconds', /staggerSeconds applies only when targetMode is ALL/],
      [cronInput('stagger-big', { targetMode: 'ALL', staggerSeconds: 86_401 }), 'input.staggerSeconds', /from 0 to 86,400/],
      [cronInput('window', { missedWindowSeconds: -1 }), 'input.missedWindowSeconds', /missedWindowSeconds must be a whole number/],
      [cronInput('dup-param', { parameters: [{ name: 'TARGET', value: 'a' }, { name: 'TARGET', value: 'b' }] }), 'input.parameters.1.name', /"TARGET" is given twice/],
      [cronInput('unknown-param', { parameters: [{ name: 'NOPE', value: 'a' }] }), 'input.parameters.0.name', /Script "backup" has no parameter "NOPE": its parameters are "LEVEL", "TARGET"\./],
      [cronInput('long-param', { parameters: [{ name: 'TARGET', value: 'x'.repeat(10_001) }] }), 'input.parameters.0.value', /at most 10,000 characters/],
      [cronInput('bad-host-id', { hostIds: ['web-1'] }), 'input.hostIds', /"web-1" is not an id/],
      [cronInput('wrong-type-id', { scriptId: encodeGlobalID('Host', hosts['web-1']!) }), 'input.scriptId', /belongs to a Host, not a Script/],
    ];
    const before = await counts();
    for (const [input, path, message] of cases) {
      const result = await create(input);
      expect(result?.__typename, `${path}: ${JSON.stringify(result)}`).toBe('ValidationError');
      expect(result.message, path).toMatch(message);
      if (result.fields.length > 0) expect(result.fields.map((f: { path: string[] }) => f.path.join('.'))).toContain(path);
    }
    // Several problems are reported together.
    const many = await create({ name: '', scriptId: scripts.backup, when: { kind: 'INTERVAL', intervalSeconds: -5 }, staggerSeconds: -1 });
    expect(many.fields.map((f: { path: string[] }) => f.path.join('.'))).toEqual(['input.name', 'input.when.intervalSeconds', 'input.staggerSeconds']);
    expect(await counts()).toEqual(before);
  });

  it('names what does not exist, and refuses a duplicate name ignoring case', async () => {
    const before = await counts();
    const noScript = await create(cronInput('orphan', { scriptId: randomUUID() }));
    expect(noScript).toMatchObject({ __typename: 'NotFoundError', message: expect.stringMatching(/^There is no script with id "[0-9a-f-]{36}"\.$/) });
    const [h1, h2, g1] = [randomUUID(), randomUUID(), randomUUID()];
    const noHosts = await create(cronInput('ghost-hosts', { hostIds: [hosts['web-1'], h1, encodeGlobalID('Host', h2)] }));
    expect(noHosts).toEqual({ __typename: 'NotFoundError', message: `These do not exist: hosts "${h1}", "${h2}".` });
    const noGroup = await create(cronInput('ghost-group', { groupIds: [g1] }));
    expect(noGroup).toEqual({ __typename: 'NotFoundError', message: `These do not exist: group "${g1}".` });
    expect(await counts()).toEqual(before);

    expect((await create(cronInput('Unique-Name'))).__typename).toBe('CreateScheduleSuccess');
    const duplicate = await create(cronInput('unique-name'));
    expect(duplicate).toEqual({ __typename: 'ConflictError', message: 'A schedule named "unique-name" already exists.' });
  });

  it('updates only what is given, recomputes the next run, keeps the script, and audits the diff', async () => {
    const schedule = (await create(cronInput('to-update', { hostIds: [hosts['web-1']] }))).data;
    const refused = await gql(UPDATE, { input: { id: schedule.id, name: 'nope' } }, operator);
    expect(refused.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');

    const renamed = (await gql(UPDATE, { input: { id: schedule.id, name: 'updated', scriptId: scripts.backup } })).data.updateSchedule;
    expect(renamed.data).toMatchObject({ name: 'updated', cron: '0 9 * * *', hosts: [{ name: 'web-1' }], nextRunAt: schedule.nextRunAt });

    const retimed = (await gql(UPDATE, { input: { id: schedule.id, when: { kind: 'INTERVAL', intervalSeconds: 60 }, groupIds: [groups.db] } })).data.updateSchedule;
    expect(retimed.data).toMatchObject({ kind: 'INTERVAL', cron: null, intervalSeconds: 60, hosts: [], groups: [{ name: 'db' }] });
    expect(new Date(retimed.data.nextRunAt).getTime() - Date.now()).toBeLessThanOrEqual(60_000);

    const before = await counts();
    const otherScript = (await gql(UPDATE, { input: { id: schedule.id, scriptId: scripts.report, name: 'should-not-stick' } })).data.updateSchedule;
    expect(otherScript).toMatchObject({
      __typename: 'ValidationError',
      message: 'A schedule cannot change its script (as in Otto): create a new schedule for the other script.',
      fields: [{ path: ['input', 'scriptId'] }],
    });
    const missing = (await gql(UPDATE, { input: { id: randomUUID(), name: 'x' } })).data.updateSchedule;
    expect(missing).toMatchObject({ __typename: 'NotFoundError', message: expect.stringMatching(/^There is no schedule with id/) });
    const past = (await gql(UPDATE, { input: { id: schedule.id, when: { kind: 'ONCE', runAt: '2020-01-01T00:00:00Z' } } })).data.updateSchedule;
    expect(past.__typename).toBe('ValidationError');
    const taken = (await gql(UPDATE, { input: { id: schedule.id, name: 'ON-LOCAL' } })).data.updateSchedule;
    expect(taken).toEqual({ __typename: 'ConflictError', message: 'A schedule named "ON-LOCAL" already exists.' });
    expect(await counts()).toEqual(before);
    expect((await gql(NODE, { id: schedule.id })).data.node.name).toBe('updated');

    // Back to the local host when both lists are emptied.
    const local = (await gql(UPDATE, { input: { id: schedule.id, hostIds: [], groupIds: [] } })).data.updateSchedule;
    expect(local.data).toMatchObject({ hosts: [{ name: 'local' }], groups: [] });

    const log = await events(schedule.id);
    expect(log.map((e: { action: string }) => e.action)).toEqual(['schedule.updated', 'schedule.updated', 'schedule.updated', 'schedule.created']);
    const rename = log[2];
    expect(rename.summary).toBe('Changed schedule "updated"');
    expect(rename.details).toEqual({ before: { name: 'to-update' }, after: { name: 'updated' } });
    expect(Object.keys(log[1].details.after).sort()).toEqual(['cron', 'groupIds', 'hostIds', 'intervalSeconds', 'kind', 'nextRunAt']);
  });

  it('lets operators pause and resume, refuses viewers, and audits each flip once', async () => {
    const schedule = (await create(cronInput('pausable'))).data;
    const refused = await gql(PAUSE, { id: schedule.id }, viewer);
    expect(refused.status).toBe(403);
    expect(refused.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');

    const paused = (await gql(PAUSE, { id: schedule.id }, operator)).data.pauseSchedule;
    expect(paused).toEqual({ __typename: 'PauseScheduleSuccess', data: { enabled: false, nextRunAt: null, nextRuns: [] } });
    const again = (await gql(PAUSE, { id: schedule.id }, operator)).data.pauseSchedule;
    expect(again.data.enabled).toBe(false);
    const row = await server.app.db.selectFrom('schedules').select(['enabled', 'next_run_at']).where('name', '=', 'pausable').executeTakeFirstOrThrow();
    expect(row).toEqual({ enabled: false, next_run_at: null });

    const resumed = (await gql(RESUME, { id: Buffer.from(schedule.id, 'base64').toString().split(':')[1] }, operator)).data.resumeSchedule;
    expect(resumed.data.enabled).toBe(true);
    expect(resumed.data.nextRunAt).toBe(resumed.data.nextRuns[0]);
    expect(new Date(resumed.data.nextRunAt).getUTCHours()).toBe(9);

    const log = await events(schedule.id);
    expect(log.map((e: { action: string; actorName: string }) => `${e.action} by ${e.actorName}`)).toEqual([
      'schedule.resumed by sched-operator',
      'schedule.paused by sched-operator',
      'schedule.created by admin',
    ]);
    expect(log[1].details).toEqual({ before: { enabled: true, nextRunAt: schedule.nextRunAt }, after: { enabled: false, nextRunAt: null } });
    expect((await gql(PAUSE, { id: encodeGlobalID('Schedule', randomUUID()) }, operator)).data.pauseSchedule.__typename).toBe('NotFoundError');
  });

  it('deletes, returning the global id, and audits what was deleted', async () => {
    const schedule = (await create(cronInput('doomed'))).data;
    const refused = await gql(DELETE, { id: schedule.id }, operator);
    expect(refused.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect((await gql(DELETE, { id: schedule.id })).data.deleteSchedule).toEqual({ __typename: 'DeleteScheduleSuccess', data: schedule.id });
    expect((await gql(NODE, { id: schedule.id })).data.node).toBeNull();
    const [event] = await events(schedule.id);
    expect(event).toMatchObject({ action: 'schedule.deleted', summary: 'Deleted schedule "doomed"' });
    expect(event.details.before.name).toBe('doomed');
    expect((await gql(DELETE, { id: schedule.id })).data.deleteSchedule.__typename).toBe('NotFoundError');
    expect((await gql(DELETE, { id: 'nonsense' })).data.deleteSchedule.__typename).toBe('ValidationError');
  });

  it('lists by name with search, filters and cursors', async () => {
    for (const name of ['Page-C', 'page-a', 'page-e', 'page-B', 'page-d']) {
      await create({ name, scriptId: scripts.report, when: { kind: 'INTERVAL', intervalSeconds: 60 }, enabled: name !== 'page-d', hostIds: name === 'page-e' ? [hosts['db-1']] : [] });
    }
    const LIST = `query($after: String, $search: String, $filter: ScheduleFilter) {
      schedules(first: 2, after: $after, search: $search, filter: $filter) { totalCount edges { node { name } } pageInfo { hasNextPage endCursor } }
    }`;
    const names: string[] = [];
    let after: string | null = null;
    for (let page = 0; page < 3; page++) {
      const list: any = (await gql(LIST, { after, search: 'PAGE-' }, viewer)).data.schedules;
      expect(list.totalCount).toBe(5);
      names.push(...list.edges.map((e: { node: { name: string } }) => e.node.name));
      expect(list.pageInfo.hasNextPage).toBe(page < 2);
      after = list.pageInfo.endCursor;
    }
    expect(names).toEqual(['page-a', 'page-B', 'Page-C', 'page-d', 'page-e']);

    const paused = (await gql(LIST, { search: 'page-', filter: { enabled: false } }, viewer)).data.schedules;
    expect(paused.edges.map((e: { node: { name: string } }) => e.node.name)).toEqual(['page-d']);
    const byScript = (await gql(LIST, { search: 'page-', filter: { scriptId: scripts.backup } }, viewer)).data.schedules;
    expect(byScript.totalCount).toBe(0);
    // db-1 is named by page-e and reached through the db group by on-groups.
    const byHost = (await gql(`query($h: ID!) { schedules(filter: { hostId: $h }) { edges { node { name } } } }`, { h: hosts['db-1'] }, viewer)).data.schedules;
    expect(byHost.edges.map((e: { node: { name: string } }) => e.node.name)).toEqual(['on-groups', 'page-e']);
    const byGroup = (await gql(`query($g: ID!) { schedules(filter: { groupId: $g }) { edges { node { name } } } }`, { g: groups.web }, viewer)).data.schedules;
    expect(byGroup.edges.map((e: { node: { name: string } }) => e.node.name)).toEqual(['on-groups']);
    const badFilter = await gql(`{ schedules(filter: { hostId: "nope" }) { totalCount } }`, {}, viewer);
    expect(badFilter.errors?.[0]?.message).toMatch(/filter.hostId: "nope" is not an id/);
  });

  it('shows schedules on scripts, hosts and groups, loaded in batches', async () => {
    const QUERY = `query($ids: [ID!]!) { nodes(ids: $ids) {
      ... on Script { name schedules { name } }
      ... on Host { name schedules { name } }
      ... on Group { name schedules { name } }
    } }`;
    const result = await gql(QUERY, { ids: [scripts.backup, encodeGlobalID('Host', hosts['web-2']!), encodeGlobalID('Group', groups.web!)] }, viewer);
    const [script, host, group] = result.data.nodes;
    expect(script.schedules.map((s: { name: string }) => s.name)).toContain('Nightly backup');
    expect(host.schedules.map((s: { name: string }) => s.name)).toEqual(['Nightly backup', 'on-groups']);
    expect(group.schedules.map((s: { name: string }) => s.name)).toEqual(['on-groups']);

    // A page of schedules with their script, hosts, groups and target hosts costs the same for 2 as for 8.
    for (let i = 0; i < 8; i++) {
      await create({ name: `batch-${i}`, scriptId: i % 2 ? scripts.backup : scripts.report, when: { kind: 'INTERVAL', intervalSeconds: 60 }, groupIds: [groups.web] });
    }
    const PAGE = `query($first: Int!) { schedules(first: $first, search: "batch-") { edges { node { name script { name } hosts { name } groups { name } targetHosts { name } } } } }`;
    async function statementsFor(first: number) {
      let least = Number.POSITIVE_INFINITY;
      for (let i = 0; i < 3; i++) {
        const before = statementCount(server.app.db);
        const page = await gql(PAGE, { first }, viewer);
        least = Math.min(least, statementCount(server.app.db) - before);
        expect(page.data.schedules.edges).toHaveLength(first);
        expect(page.data.schedules.edges[0].node.targetHosts).toEqual([{ name: 'web-1' }, { name: 'web-2' }]);
      }
      return least;
    }
    expect(await statementsFor(8)).toBe(await statementsFor(2));
  });

  it('tells scheduleUpdated subscribers of each change', async () => {
    const client = wsClient(server.url, { cookie: viewer.cookie });
    const changes: Array<{ kind: string; scheduleId: string; schedule: { name: string; enabled: boolean } | null }> = [];
    let done: () => void = () => undefined;
    const all = new Promise<void>((resolve) => (done = resolve));
    client.subscribe(
      { query: `subscription { scheduleUpdated { kind scheduleId schedule { name enabled } } }` },
      {
        next: (result) => {
          changes.push((result.data as { scheduleUpdated: (typeof changes)[number] }).scheduleUpdated);
          if (changes.length === 4) done();
        },
        error: (error) => {
          changes.push({ kind: `error ${JSON.stringify(error)}`, scheduleId: '', schedule: null });
          done();
        },
        complete: () => undefined,
      },
    );
    await new Promise((r) => setTimeout(r, 300));
    // Each change waits for the one before to be delivered: subscribers read the schedule as it
    // is when they resolve, so a change resolved after the next one would show the later state.
    const delivered = async (count: number) => {
      for (let i = 0; i < 200 && changes.length < count; i++) await new Promise((r) => setTimeout(r, 10));
    };
    const schedule = (await create(cronInput('live'))).data;
    await delivered(1);
    await gql(PAUSE, { id: schedule.id }, operator);
    await delivered(2);
    await gql(UPDATE, { input: { id: schedule.id, name: 'live-2' } });
    await delivered(3);
    await gql(DELETE, { id: schedule.id });
    await all;
    await client.dispose();
    expect(changes).toEqual([
      { kind: 'CREATED', scheduleId: schedule.id, schedule: { name: 'live', enabled: true } },
      { kind: 'UPDATED', scheduleId: schedule.id, schedule: { name: 'live', enabled: false } },
      { kind: 'UPDATED', scheduleId: schedule.id, schedule: { name: 'live-2', enabled: false } },
      { kind: 'DELETED', scheduleId: schedule.id, schedule: null },
    ]);
  });

  it('nextRuns refuses a count out of range', async () => {
    const schedule = (await create(cronInput('counted'))).data;
    const result = await gql(`query($id: ID!) { node(id: $id) { ... on Schedule { nextRuns(count: 0) } } }`, { id: schedule.id }, viewer);
    expect(result.errors?.[0]).toMatchObject({ message: 'count must be from 1 to 100.', extensions: { code: 'BAD_USER_INPUT' } });
  });
});

describe('previewSchedule', () => {
  let server: TestServer;
  let viewer: { cookie: string };
  beforeAll(async () => {
    server = await startTestServer();
    await server.createUser('preview-viewer', 'viewer');
    viewer = { cookie: await server.signIn('preview-viewer', 'preview-viewer-password-123') };
  });
  afterAll(() => server?.close());

  const preview = async (variables: Record<string, unknown>) => {
    const result = await server.gql(PREVIEW, variables, viewer);
    expect(result.errors).toBeUndefined();
    return result.data.previewSchedule;
  };

  it('follows the March daylight-saving change for 09:00 in Paris', async () => {
    const result = await preview({ cron: '0 9 * * *', timezone: 'Europe/Paris', count: 4, from: '2026-03-27T00:00:00Z' });
    expect(result).toEqual({
      valid: true,
      error: null,
      field: null,
      timezone: 'Europe/Paris',
      // 09:00 CET is 08:00 UTC; from Sunday 29 March, 09:00 CEST is 07:00 UTC.
      occurrences: ['2026-03-27T08:00:00.000Z', '2026-03-28T08:00:00.000Z', '2026-03-29T07:00:00.000Z', '2026-03-30T07:00:00.000Z'],
    });
  });

  it('fires once in the repeated hour of the October change and not twice', async () => {
    const result = await preview({ cron: '30 2 * * *', timezone: 'Europe/Paris', count: 3, from: '2026-10-24T12:00:00Z' });
    expect(result.occurrences).toEqual(['2026-10-25T00:30:00.000Z', '2026-10-26T01:30:00.000Z', '2026-10-27T01:30:00.000Z']);
  });

  it('takes 6-field crons with seconds, defaults to 5 moments in UTC from now, and spells zones canonically', async () => {
    const seconds = await preview({ cron: '*/20 * * * * *', count: 3, from: '2026-01-01T00:00:00Z' });
    expect(seconds).toMatchObject({ valid: true, timezone: 'UTC', occurrences: ['2026-01-01T00:00:20.000Z', '2026-01-01T00:00:40.000Z', '2026-01-01T00:01:00.000Z'] });
    const defaults = await preview({ cron: '@hourly' });
    expect(defaults.occurrences).toHaveLength(5);
    expect(new Date(defaults.occurrences[0]).getTime()).toBeGreaterThan(Date.now() - 1000);
    expect((await preview({ cron: '0 9 * * *', timezone: 'america/new_york', count: 1 })).timezone).toBe('America/New_York');
    expect((await preview({ cron: '0 9 * * *', count: 100 })).occurrences).toHaveLength(100);
  });

  it('answers invalid input with valid: false, the field and a message, never a GraphQL error', async () => {
    expect(await preview({ cron: '0 25 * * *' })).toEqual({
      valid: false,
      field: 'cron',
      error: '"0 25 * * *" is not a valid cron expression: hour "25": Constraint error, got value 25 expected range 0-23.',
      timezone: 'UTC',
      occurrences: [],
    });
    expect(await preview({ cron: '0 9 * *' })).toMatchObject({ valid: false, field: 'cron', error: expect.stringMatching(/write 5 fields/) });
    expect(await preview({ cron: '' })).toMatchObject({ valid: false, field: 'cron' });
    expect(await preview({ cron: '0 9 * * *', timezone: 'Nowhere/Land' })).toMatchObject({
      valid: false,
      field: 'timezone',
      timezone: 'Nowhere/Land',
      error: expect.stringMatching(/^"Nowhere\/Land" is not a timezone/),
    });
    for (const count of [0, 101]) {
      expect(await preview({ cron: '0 9 * * *', count })).toMatchObject({ valid: false, field: 'count', error: 'count must be from 1 to 100.' });
    }
  });

  it('needs a signed-in caller', async () => {
    const result = await server.gql(PREVIEW, { cron: '0 9 * * *' });
    expect(result.status).toBe(401);
  });
});
