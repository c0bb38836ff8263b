import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { statementCount } from '../db/database';
import { gid } from './rules/core.rules';
import { startTestServer, type TestServer } from './support/server';
import { wsClient } from './support/ws';

const FIELDS = `id number name server description kind periodSeconds cron timezone graceSeconds state lastPingAt lastPingKind
  lastSuccess lastStartAt lastDurationMs nextDueAt createdAt updatedAt`;
const ERRORS = `... on Error { message } ... on ValidationError { fields { path message } }`;
const CREATE = `mutation($input: CreateCheckInput!) { createCheck(input: $input) { __typename ... on CreateCheckSuccess { data { ${FIELDS} pingKey pingPath } } ${ERRORS} } }`;
const UPDATE = `mutation($input: UpdateCheckInput!) { updateCheck(input: $input) { __typename ... on UpdateCheckSuccess { data { ${FIELDS} } } ${ERRORS} } }`;
const DELETE = `mutation($id: ID!) { deleteCheck(id: $id) { __typename ... on DeleteCheckSuccess { data } ${ERRORS} } }`;
const PAUSE = `mutation($id: ID!) { pauseCheck(id: $id) { __typename ... on PauseCheckSuccess { data { state nextDueAt lastSuccess } } ${ERRORS} } }`;
const RESUME = `mutation($id: ID!) { resumeCheck(id: $id) { __typename ... on ResumeCheckSuccess { data { state nextDueAt } } ${ERRORS} } }`;
const ROTATE = `mutation($id: ID!) { rotatePingKey(id: $id) { __typename ... on RotatePingKeySuccess { data { pingKey pingPath } } ${ERRORS} } }`;
const PING = `mutation($input: RecordPingInput!) { recordPing(input: $input) { __typename
  ... on RecordPingSuccess { data { id kind exitCode body bodyTruncated runKey durationMs source receivedAt check { ${FIELDS} } } } ${ERRORS} } }`;
const CHECK = `query($id: ID, $number: Int) { check(id: $id, number: $number) { ${FIELDS} pingKey pingPath } }`;
const EVENTS = `query($id: ID!) { events(filter: { objectId: $id }) { edges { node { action summary objectType objectName details } } } }`;

const MIN = 60_000;
const ago = (ms: number) => new Date(Date.now() - ms).toISOString();
/** The UUID inside a global id. */
const uuidOf = (globalId: string) => Buffer.from(globalId, 'base64').toString().split(':')[1];
const plus = (iso: string, ms: number) => new Date(new Date(iso).getTime() + ms).toISOString();

describe('checks', () => {
  let server: TestServer;
  let admin: string;
  let operator: string;
  let viewer: string;
  let seq = 0;

  beforeAll(async () => {
    server = await startTestServer();
    admin = server.adminCookie;
    await server.createUser('check-operator', 'operator');
    await server.createUser('check-viewer', 'viewer');
    operator = await server.signIn('check-operator', 'check-operator-password-123');
    viewer = await server.signIn('check-viewer', 'check-viewer-password-123');
  });
  afterAll(() => server?.close());

  async function create(input: Record<string, unknown> = {}) {
    const result = await server.gql(CREATE, { input: { name: `check-${++seq}`, ...input } }, { cookie: admin });
    expect(result.data?.createCheck?.__typename, JSON.stringify(result)).toBe('CreateCheckSuccess');
    return result.data.createCheck.data;
  }
  async function ping(input: Record<string, unknown>, cookie = operator) {
    return (await server.gql(PING, { input }, { cookie })).data?.recordPing;
  }
  async function okPing(input: Record<string, unknown>) {
    const result = await ping(input);
    expect(result.__typename, JSON.stringify(result)).toBe('RecordPingSuccess');
    return result.data;
  }
  const read = async (id: string, cookie = admin) => (await server.gql(CHECK, { id }, { cookie })).data.check;
  const events = async (id: string) => (await server.gql(EVENTS, { id }, { cookie: admin })).data.events.edges.map((e: any) => e.node);
  const counts = async () => {
    const row = await sql<{ checks: string; pings: string; events: string }>`select
      (select count(*) from checks) as checks, (select count(*) from pings) as pings,
      (select count(*) from events where action like 'check.%') as events`.execute(server.app.db);
    return row.rows[0];
  };

  it('creates, reads, updates and deletes checks as an admin, each change audited', async () => {
    const created = await create({ name: 'backup.sh', server: 'db-1', description: 'Nightly dump', periodSeconds: 86_400, graceSeconds: 600 });
    expect(created).toMatchObject({
      name: 'backup.sh', server: 'db-1', description: 'Nightly dump', kind: 'PERIOD', periodSeconds: 86_400, cron: null,
      timezone: 'UTC', graceSeconds: 600, state: 'NEW', lastPingAt: null, lastSuccess: null, nextDueAt: null,
    });
    expect(created.pingKey).toMatch(/^[0-9a-f-]{36}$/);
    expect(await read(created.id)).toEqual(created);
    expect((await server.gql(CHECK, { number: created.number }, { cookie: viewer })).data.check.name).toBe('backup.sh');
    expect((await server.gql(CHECK, { number: 999_999 }, { cookie: viewer })).data.check).toBeNull();

    const updated = await server.gql(UPDATE, { input: { id: created.id, name: 'backup-db.sh', graceSeconds: 1200 } }, { cookie: admin });
    expect(updated.data.updateCheck.data).toMatchObject({ name: 'backup-db.sh', server: 'db-1', graceSeconds: 1200, periodSeconds: 86_400 });

    const deleted = await server.gql(DELETE, { id: created.id }, { cookie: admin });
    expect(deleted.data.deleteCheck).toEqual({ __typename: 'DeleteCheckSuccess', data: created.id });
    expect(await read(created.id)).toBeNull();
    expect((await server.gql(DELETE, { id: created.id }, { cookie: admin })).data.deleteCheck).toEqual({
      __typename: 'NotFoundError',
      message: `There is no check with id "${uuidOf(created.id)}".`,
    });

    const log = await events(created.id);
    expect(log.map((e: any) => e.action)).toEqual(['check.deleted', 'check.updated', 'check.created']);
    expect(log[1]).toMatchObject({
      objectType: 'Check',
      objectName: 'backup-db.sh',
      summary: 'Updated check "backup-db.sh" on "db-1": name, graceSeconds',
      details: { before: { name: 'backup.sh', graceSeconds: 600 }, after: { name: 'backup-db.sh', graceSeconds: 1200 } },
    });
    expect(log[2].details.after).toMatchObject({ name: 'backup.sh', server: 'db-1', periodSeconds: 86_400 });
    expect(JSON.stringify(log)).not.toContain(created.pingKey);
  });

  it('refuses configuration changes below admin, and operational ones below operator', async () => {
    const check = await create();
    const before = await counts();
    const asOperator = await server.gql(CREATE, { input: { name: 'sneaky' } }, { cookie: operator });
    expect(asOperator.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    for (const [query, variables] of [
      [UPDATE, { input: { id: check.id, name: 'renamed' } }],
      [DELETE, { id: check.id }],
      [ROTATE, { id: check.id }],
    ] as const) {
      expect((await server.gql(query, variables, { cookie: operator })).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    }
    for (const [query, variables] of [
      [PAUSE, { id: check.id }],
      [PING, { input: { checkId: check.id, kind: 'SUCCESS' } }],
    ] as const) {
      expect((await server.gql(query, variables, { cookie: viewer })).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    }
    expect(await counts()).toEqual(before);
    expect(await read(check.id)).toMatchObject({ name: check.name, state: 'NEW' });
  });

  it('numbers checks with small increasing integers', async () => {
    const a = await create();
    const b = await create();
    expect(Number.isInteger(a.number)).toBe(true);
    expect(a.number).toBeGreaterThan(0);
    expect(a.number).toBeLessThan(100);
    expect(b.number).toBe(a.number + 1);
  });

  it('names every bad field, clearly, and writes nothing', async () => {
    const before = await counts();
    const cases: Array<[Record<string, unknown>, string[], RegExp]> = [
      [{ name: '   ' }, ['input.name'], /^Give the check a name\.$/],
      [{ name: 'x'.repeat(141) }, ['input.name'], /The name is 141 characters long; the limit is 140\./],
      [{ name: 'a\u0000b' }, ['input.name'], /The name contains a NUL character/],
      [{ name: 'ok', server: 's'.repeat(256) }, ['input.server'], /The server is 256 characters long; the limit is 255\./],
      [{ name: 'ok', description: 'd'.repeat(10_001) }, ['input.description'], /limit is 10000/],
      [{ name: 'ok', periodSeconds: 0 }, ['input.periodSeconds'], /The period must be a whole number of seconds from 1 to/],
      [{ name: 'ok', graceSeconds: -1 }, ['input.graceSeconds'], /The grace period must be a whole number of seconds from 0/],
      [{ name: 'ok', periodSeconds: 60, cron: '* * * * *' }, ['input.cron'], /Give either periodSeconds or cron, not both\./],
      [{ name: 'ok', cron: 'every day' }, ['input.cron'], /"every day" is not a cron expression/],
      [{ name: 'ok', cron: '0 9 * * *', timezone: 'Mars/Olympus' }, ['input.timezone'], /"Mars\/Olympus" is not a timezone/],
      [{ name: '', periodSeconds: 0, graceSeconds: -5 }, ['input.name', 'input.periodSeconds', 'input.graceSeconds'], /Give the check a name\. The period/],
    ];
    for (const [input, paths, message] of cases) {
      const result = (await server.gql(CREATE, { input }, { cookie: admin })).data.createCheck;
      expect(result.__typename, JSON.stringify(input).slice(0, 80)).toBe('ValidationError');
      expect(result.fields.map((f: { path: string[] }) => f.path.join('.'))).toEqual(paths);
      expect(result.message).toMatch(message);
    }
    const check = await create();
    const afterCreate = await counts();
    const bad = (await server.gql(UPDATE, { input: { id: check.id, name: '', cron: '' } }, { cookie: admin })).data.updateCheck;
    expect(bad.fields.map((f: { path: string[] }) => f.path.join('.'))).toEqual(['input.name', 'input.cron']);
    const missing = (await server.gql(UPDATE, { input: { id: gid('Check'), name: 'x' } }, { cookie: admin })).data.updateCheck;
    expect(missing.__typename).toBe('NotFoundError');
    const wrongType = (await server.gql(UPDATE, { input: { id: gid('Host'), name: 'x' } }, { cookie: admin })).data.updateCheck;
    expect(wrongType).toMatchObject({ __typename: 'ValidationError', message: 'input.id: that id belongs to a Host, not a Check.' });
    expect(await counts()).toEqual({ ...afterCreate });
    expect(Number(afterCreate!.checks)).toBe(Number(before!.checks) + 1);
    expect(await read(check.id)).toMatchObject({ name: check.name, kind: 'PERIOD' });
  });

  it('keeps (name, server) unique, ignoring case', async () => {
    await create({ name: 'dup.sh', server: 'Web-1' });
    const dup = (await server.gql(CREATE, { input: { name: 'DUP.SH', server: 'web-1' } }, { cookie: admin })).data.createCheck;
    expect(dup).toEqual({ __typename: 'ConflictError', message: 'A check named "DUP.SH" on "web-1" already exists.' });
    const other = await create({ name: 'dup.sh', server: 'web-2' });
    const clash = (await server.gql(UPDATE, { input: { id: other.id, server: 'WEB-1' } }, { cookie: admin })).data.updateCheck;
    expect(clash).toEqual({ __typename: 'ConflictError', message: 'A check named "dup.sh" on "WEB-1" already exists.' });
    await create({ name: 'no-server.sh' });
    expect((await server.gql(CREATE, { input: { name: 'No-Server.sh' } }, { cookie: admin })).data.createCheck.message).toBe(
      'A check named "No-Server.sh" already exists.',
    );
  });

  it('shows the ping key to operators and admins only', async () => {
    const check = await create();
    expect(await read(check.id, viewer)).toMatchObject({ name: check.name, pingKey: null, pingPath: null });
    expect(await read(check.id, operator)).toMatchObject({ pingKey: check.pingKey, pingPath: `/ping/${check.pingKey}` });
    const list = await server.gql(`{ checks(first: 50) { edges { node { pingKey } } } }`, {}, { cookie: viewer });
    expect(list.errors).toBeUndefined();
    expect(list.data.checks.edges.every((e: any) => e.node.pingKey === null)).toBe(true);
  });

  it('rotates the ping key: the old one stops working', async () => {
    const check = await create();
    const rotated = (await server.gql(ROTATE, { id: check.id }, { cookie: admin })).data.rotatePingKey;
    expect(rotated.__typename).toBe('RotatePingKeySuccess');
    expect(rotated.data.pingKey).not.toBe(check.pingKey);
    expect(rotated.data.pingPath).toBe(`/ping/${rotated.data.pingKey}`);
    expect(await ping({ pingKey: check.pingKey, kind: 'SUCCESS' })).toEqual({
      __typename: 'NotFoundError',
      message: 'No check has this ping key: it may have been rotated or the check deleted.',
    });
    expect((await okPing({ pingKey: rotated.data.pingKey, kind: 'SUCCESS' })).check.state).toBe('UP');
    const log = await events(check.id);
    expect(log.find((e: any) => e.action === 'check.ping_key_rotated')).toMatchObject({ summary: `Rotated the ping key of check "${check.name}"` });
    expect(JSON.stringify(log)).not.toContain(rotated.data.pingKey);
  });

  it('moves through states with pings', async () => {
    const check = await create({ periodSeconds: 3600, graceSeconds: 600 });
    const up = await okPing({ checkId: check.id, kind: 'SUCCESS' });
    expect(up).toMatchObject({ kind: 'SUCCESS', source: 'graphql', durationMs: null });
    expect(up.check).toMatchObject({ state: 'UP', lastSuccess: true, lastPingKind: 'SUCCESS', lastPingAt: up.receivedAt });
    expect(up.check.nextDueAt).toBe(plus(up.receivedAt, 4200_000));

    expect((await okPing({ pingKey: check.pingKey, kind: 'FAIL' })).check).toMatchObject({ state: 'DOWN', lastSuccess: false });
    expect((await okPing({ checkId: check.id, kind: 'EXIT', exitCode: 0 })).check).toMatchObject({ state: 'UP', lastSuccess: true, lastPingKind: 'EXIT' });
    const exit3 = await okPing({ checkId: check.id, kind: 'EXIT', exitCode: 3 });
    expect(exit3).toMatchObject({ exitCode: 3, check: { state: 'DOWN', lastSuccess: false } });

    const start = await okPing({ checkId: check.id, kind: 'START' });
    expect(start.check).toMatchObject({ state: 'DOWN', lastSuccess: false, lastPingKind: 'START', lastStartAt: start.receivedAt });
    expect(start.check.nextDueAt).toBe(plus(start.receivedAt, 600_000));

    const before = await read(check.id);
    const log = await okPing({ checkId: check.id, kind: 'LOG', body: 'halfway there' });
    expect(log.body).toBe('halfway there');
    expect(await read(check.id)).toEqual(before);
    // Pings are not audit events; the flips they cause are (START and LOG flipped nothing).
    const log2 = await events(check.id);
    expect(log2.map((e: any) => e.action)).toEqual(['check.down', 'check.up', 'check.down', 'check.up', 'check.created']);
    expect(log2.slice(0, 4).map((e: any) => e.details)).toEqual([
      { from: 'up', to: 'down' },
      { from: 'down', to: 'up' },
      { from: 'up', to: 'down' },
      { from: 'new', to: 'up' },
    ]);
    expect(log2[3]).toMatchObject({ objectType: 'Check', objectName: check.name, summary: `Check "${check.name}" is up (was new)` });
  });

  it('times a run by pairing a START with its finish', async () => {
    const check = await create();
    const a = await okPing({ checkId: check.id, kind: 'START', runKey: 'run-a', at: ago(10 * MIN) });
    const b = await okPing({ checkId: check.id, kind: 'START', runKey: 'run-b', at: ago(5 * MIN) });
    const endA = await okPing({ checkId: check.id, kind: 'SUCCESS', runKey: 'run-a', at: plus(a.receivedAt, 9 * MIN) });
    expect(endA.durationMs).toBe(9 * MIN);
    // Run b is still in progress.
    expect(endA.check).toMatchObject({ lastDurationMs: 9 * MIN, lastStartAt: b.receivedAt, state: 'UP' });
    // Without a run key a finish pairs with the latest START.
    const endB = await okPing({ checkId: check.id, kind: 'EXIT', exitCode: 1, at: plus(b.receivedAt, 4.5 * MIN) });
    expect(endB.durationMs).toBe(4.5 * MIN);
    expect(endB.check).toMatchObject({ lastDurationMs: 4.5 * MIN, lastStartAt: null, state: 'DOWN' });
    const unpaired = await okPing({ checkId: check.id, kind: 'SUCCESS', runKey: 'never-started' });
    expect(unpaired.durationMs).toBeNull();
    expect(unpaired.check.lastDurationMs).toBeNull();
  });

  it('keeps the first 100 KiB of a body and marks it truncated', async () => {
    const check = await create();
    const long = await okPing({ checkId: check.id, kind: 'LOG', body: 'x'.repeat(100 * 1024 + 777) });
    expect(long.body).toHaveLength(100 * 1024);
    expect(long.bodyTruncated).toBe(true);
    const exact = await okPing({ checkId: check.id, kind: 'LOG', body: 'y'.repeat(100 * 1024) });
    expect(exact.bodyTruncated).toBe(false);
    const stored = await sql<{ bytes: number; body_truncated: boolean }>`select octet_length(body) as bytes, body_truncated from pings
      where check_id = ${uuidOf(check.id)} order by received_at`.execute(server.app.db);
    expect(stored.rows).toEqual([{ bytes: 102_400, body_truncated: true }, { bytes: 102_400, body_truncated: false }]);
  });

  it('refuses bad pings, clearly, and records nothing', async () => {
    const check = await create();
    const before = await counts();
    const cases: Array<[Record<string, unknown>, string, RegExp]> = [
      [{ checkId: check.id, kind: 'SUCCESS', at: plus(new Date().toISOString(), 10 * MIN) }, 'input.at', /in the future; a ping may be at most 5 minutes ahead/],
      [{ checkId: check.id, kind: 'EXIT' }, 'input.exitCode', /An EXIT ping needs its exitCode \(0 for success\)\./],
      [{ checkId: check.id, pingKey: check.pingKey, kind: 'SUCCESS' }, 'input.checkId', /either checkId or pingKey \(exactly one\)/],
      [{ kind: 'SUCCESS' }, 'input.checkId', /either checkId or pingKey/],
      [{ pingKey: 'not-a-key', kind: 'SUCCESS' }, 'input.pingKey', /That is not a ping key/],
      [{ checkId: check.id, kind: 'START', runKey: 'r'.repeat(141) }, 'input.runKey', /The runKey is 141 characters long; the limit is 140\./],
    ];
    for (const [input, path, message] of cases) {
      const result = await ping(input);
      expect(result.__typename, path).toBe('ValidationError');
      expect(result.fields.map((f: { path: string[] }) => f.path.join('.'))).toEqual([path]);
      expect(result.message).toMatch(message);
    }
    expect((await ping({ checkId: gid('Check'), kind: 'SUCCESS' })).__typename).toBe('NotFoundError');
    expect((await ping({ pingKey: crypto.randomUUID(), kind: 'SUCCESS' })).__typename).toBe('NotFoundError');
    expect(await counts()).toEqual(before);
    expect(await read(check.id)).toMatchObject({ state: 'NEW', lastPingAt: null });
  });

  it('pauses and resumes (operators): paused checks record pings but stay paused', async () => {
    const check = await create();
    await okPing({ checkId: check.id, kind: 'SUCCESS' });
    const paused = (await server.gql(PAUSE, { id: check.id }, { cookie: operator })).data.pauseCheck;
    expect(paused).toEqual({ __typename: 'PauseCheckSuccess', data: { state: 'PAUSED', nextDueAt: null, lastSuccess: true } });
    const failed = await okPing({ checkId: check.id, kind: 'FAIL' });
    expect(failed.check).toMatchObject({ state: 'PAUSED', nextDueAt: null, lastSuccess: false });
    // Pausing again changes nothing and records nothing.
    expect((await server.gql(PAUSE, { id: check.id }, { cookie: operator })).data.pauseCheck.data.state).toBe('PAUSED');
    const resumed = (await server.gql(RESUME, { id: check.id }, { cookie: operator })).data.resumeCheck;
    expect(resumed.data).toEqual({ state: 'NEW', nextDueAt: null });
    expect((await okPing({ checkId: check.id, kind: 'SUCCESS' })).check.state).toBe('UP');
    // A paused check's pings flip nothing; the pings before and after it brought it up from new.
    expect((await events(check.id)).map((e: any) => e.action)).toEqual(['check.up', 'check.resumed', 'check.paused', 'check.up', 'check.created']);
    expect((await server.gql(RESUME, { id: gid('Check') }, { cookie: operator })).data.resumeCheck.__typename).toBe('NotFoundError');
  });

  it('expects a cron check at its next occurrence in its timezone', async () => {
    const check = await create({ cron: '0 9 * * *', timezone: 'America/New_York', graceSeconds: 300 });
    expect(check).toMatchObject({ kind: 'CRON', cron: '0 9 * * *', periodSeconds: null, timezone: 'America/New_York' });
    // 10:00 in New York in January (UTC-5): next is 09:00 the next day, 14:00 UTC.
    const winter = await okPing({ checkId: check.id, kind: 'SUCCESS', at: '2026-01-15T15:00:00.000Z' });
    expect(winter.check.nextDueAt).toBe('2026-01-16T14:05:00.000Z');
    // 08:00 in New York in July (UTC-4): next is 09:00 the same day, 13:00 UTC.
    const summer = await okPing({ checkId: check.id, kind: 'SUCCESS', at: '2026-07-15T12:00:00.000Z' });
    expect(summer.check.nextDueAt).toBe('2026-07-15T13:05:00.000Z');
  });

  it('new timing moves the due time and the state at once', async () => {
    const check = await create();
    const pinged = await okPing({ checkId: check.id, kind: 'SUCCESS', at: ago(90 * MIN) });
    expect(pinged.check).toMatchObject({ state: 'UP', nextDueAt: plus(pinged.receivedAt, (86_400 + 3600) * 1000) });
    const shorter = (await server.gql(UPDATE, { input: { id: check.id, periodSeconds: 3600, graceSeconds: 3600 } }, { cookie: admin })).data.updateCheck.data;
    expect(shorter).toMatchObject({ state: 'LATE', nextDueAt: plus(pinged.receivedAt, 2 * 3600_000) });
    // The update and the flip it caused are two events of one transaction.
    const flips = (await events(check.id)).filter((e: any) => e.action === 'check.late');
    expect(flips).toEqual([expect.objectContaining({ objectType: 'Check', details: { from: 'up', to: 'late' } })]);
    const cron = (await server.gql(UPDATE, { input: { id: check.id, cron: '*/5 * * * *' } }, { cookie: admin })).data.updateCheck.data;
    expect(cron).toMatchObject({ kind: 'CRON', cron: '*/5 * * * *', periodSeconds: null });
    expect((await server.gql(UPDATE, { input: { id: check.id, periodSeconds: 60 } }, { cookie: admin })).data.updateCheck.data).toMatchObject({
      kind: 'PERIOD',
      periodSeconds: 60,
      cron: null,
    });
  });

  it("pages through a check's pings, newest first, by kind", async () => {
    const check = await create();
    for (let i = 0; i < 5; i++) await okPing({ checkId: check.id, kind: i % 2 ? 'START' : 'LOG', body: `p${i}`, at: ago((10 - i) * MIN) });
    const PINGS = `query($id: ID!, $after: String, $kinds: [PingKind!]) { node(id: $id) { ... on Check {
      pings(first: 2, after: $after, kinds: $kinds) { totalCount edges { node { body } } pageInfo { hasNextPage endCursor } } } } }`;
    const bodies: string[] = [];
    let after: string | null = null;
    for (let page = 0; page < 3; page++) {
      const result: any = (await server.gql(PINGS, { id: check.id, after }, { cookie: viewer })).data.node.pings;
      expect(result.totalCount).toBe(5);
      bodies.push(...result.edges.map((e: any) => e.node.body));
      expect(result.pageInfo.hasNextPage).toBe(page < 2);
      after = result.pageInfo.endCursor;
    }
    expect(bodies).toEqual(['p4', 'p3', 'p2', 'p1', 'p0']);
    const starts = (await server.gql(PINGS, { id: check.id, kinds: ['START'] }, { cookie: viewer })).data.node.pings;
    expect(starts.edges.map((e: any) => e.node.body)).toEqual(['p3', 'p1']);
  });

  it('lists checks by name or number, with search and filters, page by page', async () => {
    const made = [];
    for (const name of ['Page-c', 'page-a', 'page-e', 'PAGE-b', 'page-d']) made.push(await create({ name, server: 'pager' }));
    await okPing({ checkId: made[1].id, kind: 'SUCCESS' });
    await okPing({ checkId: made[2].id, kind: 'FAIL' });
    const LIST = `query($after: String, $search: String, $filter: CheckFilter, $orderBy: CheckOrder) {
      checks(first: 2, after: $after, search: $search, filter: $filter, orderBy: $orderBy) { totalCount edges { node { name state } } pageInfo { hasNextPage endCursor } } }`;
    const names: string[] = [];
    let after: string | null = null;
    do {
      const page: any = (await server.gql(LIST, { after, filter: { server: 'PAGER' } }, { cookie: viewer })).data.checks;
      expect(page.totalCount).toBe(5);
      names.push(...page.edges.map((e: any) => e.node.name));
      after = page.pageInfo.hasNextPage ? page.pageInfo.endCursor : null;
    } while (after);
    expect(names).toEqual(['page-a', 'PAGE-b', 'Page-c', 'page-d', 'page-e']);

    const search = (await server.gql(LIST, { search: 'GE-D' }, { cookie: viewer })).data.checks;
    expect(search.edges.map((e: any) => e.node.name)).toEqual(['page-d']);
    const states = (await server.gql(LIST, { filter: { server: 'pager', states: ['UP', 'DOWN'] } }, { cookie: viewer })).data.checks;
    expect(states.edges.map((e: any) => e.node)).toEqual([{ name: 'page-a', state: 'UP' }, { name: 'page-e', state: 'DOWN' }]);
    const byNumber = (await server.gql(LIST, { filter: { server: 'pager' }, orderBy: 'NUMBER' }, { cookie: viewer })).data.checks;
    expect(byNumber.edges.map((e: any) => e.node.name)).toEqual(['Page-c', 'page-a']);
  });

  it("loads pings' checks with DataLoader: as many statements for 8 pings as for 2", async () => {
    const check = await create();
    for (let i = 0; i < 8; i++) await okPing({ checkId: check.id, kind: 'LOG', body: `b${i}` });
    const QUERY = `query($id: ID!, $first: Int!) { node(id: $id) { ... on Check { pings(first: $first) { edges { node { body check { name } } } } } } }`;
    async function statementsFor(first: number) {
      let least = Number.POSITIVE_INFINITY;
      for (let i = 0; i < 3; i++) {
        const before = statementCount(server.app.db);
        const result = await server.gql(QUERY, { id: check.id, first }, { cookie: admin });
        least = Math.min(least, statementCount(server.app.db) - before);
        expect(result.data.node.pings.edges).toHaveLength(first);
        expect(result.data.node.pings.edges.every((e: any) => e.node.check.name === check.name)).toBe(true);
      }
      return least;
    }
    expect(await statementsFor(8)).toBe(await statementsFor(2));
  });

  it('tells checkUpdated subscribers of every change, one check or all', async () => {
    const token = await server.createKey(viewer, 'check-ws', 'VIEWER');
    const client = wsClient(server.url, { apiKey: token });
    const check = await create();
    const other = await create();
    const seen: any[] = [];
    const everything: any[] = [];
    const done = new Promise<void>((resolve, reject) => {
      client.subscribe(
        { query: `subscription($id: ID) { checkUpdated(id: $id) { kind checkId check { state name } } }`, variables: { id: check.id } },
        { next: (r) => (seen.push(r.data?.checkUpdated ?? r.errors), seen.length === 4 && resolve()), error: reject, complete: () => undefined },
      );
      client.subscribe(
        { query: `subscription { checkUpdated { kind checkId } }` },
        { next: (r) => void everything.push(r.data?.checkUpdated), error: reject, complete: () => undefined },
      );
    });
    await new Promise((r) => setTimeout(r, 300));
    // Events carry ids and subscribers read the check when they resolve, so each change waits
    // for the one before it to be delivered (else the update could resolve after the delete).
    const delivered = async (count: number) => {
      for (let i = 0; i < 200 && seen.length < count; i++) await new Promise((r) => setTimeout(r, 10));
    };
    await okPing({ checkId: other.id, kind: 'SUCCESS' });
    await okPing({ checkId: check.id, kind: 'FAIL' });
    await delivered(1);
    await server.gql(PAUSE, { id: check.id }, { cookie: operator });
    await delivered(2);
    await server.gql(UPDATE, { input: { id: check.id, description: 'watched' } }, { cookie: admin });
    await delivered(3);
    await server.gql(DELETE, { id: check.id }, { cookie: admin });
    await done;
    await client.dispose();
    expect(seen).toEqual([
      { kind: 'PINGED', checkId: check.id, check: { state: 'DOWN', name: check.name } },
      { kind: 'PAUSED', checkId: check.id, check: { state: 'PAUSED', name: check.name } },
      { kind: 'UPDATED', checkId: check.id, check: { state: 'PAUSED', name: check.name } },
      { kind: 'DELETED', checkId: check.id, check: null },
    ]);
    expect(everything[0]).toEqual({ kind: 'PINGED', checkId: other.id });
    expect(everything).toHaveLength(5);
  });
});
