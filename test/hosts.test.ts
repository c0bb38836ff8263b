import { createHash } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authenticateHostKey } from '../core/host.service';
import type { RunState } from '../db/schema';
import { startTestServer, type GraphQLResponse, type TestServer } from './support/server';
import { wsClient } from './support/ws';

const HOST_FIELDS = `id name kind description address port enabled hasAgentKey agentKeyPrefix agentKeyCreatedAt online
  groups { id name } environment { key value secret displayValue }`;
const CREATE = `mutation($input: CreateHostInput!) {
  createHost(input: $input) {
    __typename
    ... on CreateHostSuccess { data { agentKey host { ${HOST_FIELDS} } } }
    ... on Error { message }
    ... on ValidationError { fields { path message } }
  }
}`;
const UPDATE = `mutation($input: UpdateHostInput!) {
  updateHost(input: $input) { __typename ... on UpdateHostSuccess { data { ${HOST_FIELDS} } } ... on Error { message } ... on ValidationError { fields { path message } } }
}`;
const DELETE = `mutation($id: ID!) { deleteHost(id: $id) { __typename ... on DeleteHostSuccess { data } ... on Error { message } } }`;
const ROTATE = `mutation($id: ID!) { rotateHostKey(id: $id) { __typename ... on RotateHostKeySuccess { data { agentKey host { agentKeyPrefix hasAgentKey } } } ... on Error { message } } }`;
const REVOKE = `mutation($id: ID!) { revokeHostKey(id: $id) { __typename ... on RevokeHostKeySuccess { data { hasAgentKey agentKeyPrefix } } ... on Error { message } } }`;
const HOSTS = `query($search: String, $filter: HostFilter, $first: Int, $after: String) {
  hosts(search: $search, filter: $filter, first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor } edges { cursor node { ${HOST_FIELDS} } }
  }
}`;
const NODE = `query($id: ID!) { node(id: $id) { ... on Host { ${HOST_FIELDS} } } }`;
const EVENTS = `query($id: ID!) { events(filter: { objectId: $id }) { edges { node { action summary details actorName } } } }`;

describe('hosts', () => {
  let server: TestServer;
  let admin: string;
  let operator: string;
  let viewer: string;
  let n = 0;

  const as = (cookie: string) => ({ cookie });
  const create = (input: Record<string, unknown>, cookie = admin) => server.gql(CREATE, { input }, as(cookie));
  /** Creates a host and returns its data and key. */
  const newHost = async (input: Record<string, unknown> = {}) => {
    const result = await create({ name: `host-${++n}`, ...input });
    expect(result.data?.createHost.__typename, JSON.stringify(result.data ?? result.errors)).toBe('CreateHostSuccess');
    return result.data.createHost.data as { agentKey: string; host: { id: string; name: string; agentKeyPrefix: string } };
  };
  const hostCount = async () => Number((await sql<{ n: string }>`select count(*) as n from hosts`.execute(server.app.db)).rows[0]!.n);
  const eventsOf = async (id: string) =>
    (await server.gql(EVENTS, { id }, as(admin))).data.events.edges.map((e: { node: unknown }) => e.node) as Array<{
      action: string;
      summary: string;
      details: { before?: Record<string, unknown>; after?: Record<string, unknown> };
    }>;
  const localHost = async () => (await server.gql(HOSTS, { filter: { kind: 'LOCAL' } }, as(viewer))).data.hosts.edges[0].node;

  beforeAll(async () => {
    server = await startTestServer();
    admin = server.adminCookie;
    await server.createUser('host-operator', 'operator');
    await server.createUser('host-viewer', 'viewer');
    operator = await server.signIn('host-operator', 'host-operator-password-123');
    viewer = await server.signIn('host-viewer', 'host-viewer-password-123');
  });
  afterAll(() => server?.close());

  it('has the local host, which keeps its name, has no key and cannot be deleted', async () => {
    const local = await localHost();
    expect(local).toMatchObject({ name: 'local', kind: 'LOCAL', online: true, hasAgentKey: false, agentKeyPrefix: null });
    expect((await server.gql(DELETE, { id: local.id }, as(admin))).data.deleteHost).toEqual({
      __typename: 'ConflictError',
      message: 'The local host is the Runboard server itself and cannot be deleted.',
    });
    const renamed = await server.gql(UPDATE, { input: { id: local.id, name: 'server' } }, as(admin));
    expect(renamed.data.updateHost).toMatchObject({
      __typename: 'ValidationError',
      message: 'The local host is the Runboard server itself and is always named "local".',
      fields: [{ path: ['input', 'name'] }],
    });
    expect((await server.gql(ROTATE, { id: local.id }, as(admin))).data.rotateHostKey.__typename).toBe('ConflictError');
    // Its description may change.
    const described = await server.gql(UPDATE, { input: { id: local.id, description: 'The box in the cupboard.' } }, as(admin));
    expect(described.data.updateHost.data).toMatchObject({ name: 'local', description: 'The box in the cupboard.' });
    // And no other host can take its name.
    const { host } = await newHost();
    expect((await server.gql(UPDATE, { input: { id: host.id, name: 'LOCAL' } }, as(admin))).data.updateHost).toEqual({
      __typename: 'ConflictError',
      message: 'A host named "LOCAL" already exists.',
    });
  });

  it('creates a host as an admin, shows its agent key once and stores only its hash', async () => {
    const before = await hostCount();
    const refused = await create({ name: 'by-operator' }, operator);
    expect(refused.status).toBe(403);
    expect(refused.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect(await hostCount()).toBe(before);

    const result = await create({ name: 'web-1', description: 'Front end', address: 'web-1.example.com', port: 2222 });
    const { host, agentKey } = result.data.createHost.data;
    expect(agentKey).toMatch(/^rbh_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$/);
    expect(host).toMatchObject({ name: 'web-1', kind: 'AGENT', description: 'Front end', address: 'web-1.example.com', port: 2222, enabled: true, hasAgentKey: true, online: false });
    expect(agentKey.startsWith(`rbh_${host.agentKeyPrefix}_`)).toBe(true);

    // Never shown again: not by node, not in the list, not in the audit log.
    const again = [await server.gql(NODE, { id: host.id }, as(admin)), await server.gql(HOSTS, {}, as(admin)), await server.gql(EVENTS, { id: host.id }, as(admin))];
    for (const response of again) expect(JSON.stringify(response.data)).not.toContain(agentKey.split('_')[2]);
    const row = await server.app.db.selectFrom('hosts').selectAll().where('name', '=', 'web-1').executeTakeFirstOrThrow();
    expect(row.agent_key_hash).toEqual(createHash('sha256').update(agentKey).digest());
    expect(JSON.stringify(row)).not.toContain(agentKey.split('_')[2]);

    expect((await authenticateHostKey(server.app.db, agentKey))?.name).toBe('web-1');
    expect(await authenticateHostKey(server.app.db, `${agentKey.slice(0, -1)}${agentKey.endsWith('A') ? 'B' : 'A'}`)).toBeUndefined();
    expect(await authenticateHostKey(server.app.db, 'rbh_nope')).toBeUndefined();

    const events = await eventsOf(host.id);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ action: 'host.created', summary: 'Created host "web-1"', actorName: 'admin', details: { after: { name: 'web-1', address: 'web-1.example.com', port: 2222 } } });
  });

  it('names every bad field at once and writes nothing', async () => {
    const before = await hostCount();
    const createdEvents = async () => (await server.gql(`{ events(filter: { actionPrefix: "host." }) { totalCount } }`, {}, as(admin))).data.events.totalCount;
    const eventsBefore = await createdEvents();
    const bad = await create({
      name: 'x'.repeat(141),
      description: 'd'.repeat(10_001),
      address: 'has space',
      port: 70000,
      environment: [{ key: '1BAD', value: 'v' }],
    });
    expect(bad.data.createHost.__typename).toBe('ValidationError');
    expect(bad.data.createHost.fields.map((f: { path: string[] }) => f.path.join('.'))).toEqual([
      'input.name',
      'input.description',
      'input.address',
      'input.port',
      'input.environment.0.key',
    ]);
    expect(bad.data.createHost.message).toContain('A host name is at most 140 characters.');
    expect(bad.data.createHost.message).toContain('A port is between 1 and 65535 (got 70000).');

    const cases: Array<[Record<string, unknown>, string]> = [
      [{ name: '   ' }, 'Give the host a name.'],
      [{ name: 'nul\0name' }, 'A host name cannot contain a NUL character.'],
      [{ name: 'zero-port', port: 0 }, 'A port is between 1 and 65535 (got 0).'],
      [{ name: 'secret-without-value', environment: [{ key: 'TOKEN', secret: true }] }, 'TOKEN: a new secret needs a value.'],
      [{ name: 'reserved', environment: [{ key: 'RUNBOARD_X', value: '1' }] }, 'RUNBOARD_X: names starting with RUNBOARD_ are set by Runboard itself.'],
      [{ name: 'bad-group-id', groupIds: ['nope'] }, 'input.groupIds: "nope" is not an id. Use the `id` of a Group.'],
    ];
    for (const [input, message] of cases) {
      const result = await create(input);
      expect(result.data.createHost, JSON.stringify(input)).toMatchObject({ __typename: 'ValidationError', message });
    }
    const missingGroup = '00000000-0000-4000-8000-000000000001';
    expect((await create({ name: 'unknown-group', groupIds: [missingGroup] })).data.createHost).toEqual({
      __typename: 'NotFoundError',
      message: `There is no group with id "${missingGroup}".`,
    });
    expect(await hostCount()).toBe(before);
    expect(await createdEvents()).toBe(eventsBefore);
  });

  it('refuses a taken name or address, ignoring case', async () => {
    await newHost({ name: 'db-1', address: 'db-1.example.com' });
    expect((await create({ name: 'DB-1' })).data.createHost).toEqual({ __typename: 'ConflictError', message: 'A host named "DB-1" already exists.' });
    expect((await create({ name: 'db-2', address: 'DB-1.example.com' })).data.createHost).toEqual({
      __typename: 'ConflictError',
      message: 'Another host already has the address "DB-1.example.com".',
    });
  });

  it('updates only the fields given, and audits the difference', async () => {
    const { host } = await newHost({ name: 'app-1', description: 'old', address: 'app-1.local', port: 22 });
    const updated = await server.gql(UPDATE, { input: { id: host.id, description: 'new', enabled: false } }, as(admin));
    expect(updated.data.updateHost.data).toMatchObject({ name: 'app-1', description: 'new', address: 'app-1.local', port: 22, enabled: false });
    const cleared = await server.gql(UPDATE, { input: { id: host.id, address: null, port: null, name: 'app-one' } }, as(admin));
    expect(cleared.data.updateHost.data).toMatchObject({ name: 'app-one', description: 'new', address: null, port: null, enabled: false });

    const refused = await server.gql(UPDATE, { input: { id: host.id, description: 'operator was here' } }, as(operator));
    expect(refused.status).toBe(403);
    const missing = '00000000-0000-4000-8000-000000000002';
    expect((await server.gql(UPDATE, { input: { id: missing, description: 'x' } }, as(admin))).data.updateHost).toEqual({
      __typename: 'NotFoundError',
      message: `There is no host with id "${missing}".`,
    });
    const badPort = await server.gql(UPDATE, { input: { id: host.id, port: -1 } }, as(admin));
    expect(badPort.data.updateHost.__typename).toBe('ValidationError');

    const events = await eventsOf(host.id);
    expect(events.map((e) => e.action)).toEqual(['host.updated', 'host.updated', 'host.created']);
    expect(events[1]!.details).toEqual({ before: { description: 'old', enabled: true }, after: { description: 'new', enabled: false } });
    expect(events[0]!.details).toEqual({
      before: { name: 'app-1', address: 'app-1.local', port: 22 },
      after: { name: 'app-one', address: null, port: null },
    });
  });

  it('never returns a secret, and stores it encrypted', async () => {
    const secret = 'hunter2-very-secret-value';
    const created = await create({
      name: 'with-secrets',
      environment: [
        { key: 'PLAIN', value: 'visible' },
        { key: 'TOKEN', value: secret, secret: true },
      ],
    });
    expect(JSON.stringify(created.data)).not.toContain(secret);
    const { host } = created.data.createHost.data;
    expect(host.environment).toEqual([
      { key: 'PLAIN', value: 'visible', secret: false, displayValue: 'visible' },
      { key: 'TOKEN', value: null, secret: true, displayValue: '••••••••' },
    ]);
    const stored = () => server.app.db.selectFrom('env_vars').selectAll().where('host_id', '=', Buffer.from(host.id, 'base64').toString().split(':')[1]!).where('key', '=', 'TOKEN').executeTakeFirstOrThrow();
    const row = await stored();
    expect(row.value).toBeNull();
    expect(row.value_encrypted).not.toBeNull();
    expect(row.value_encrypted!.toString('utf8')).not.toContain(secret);
    expect(row.value_encrypted!.toString('hex')).not.toContain(Buffer.from(secret).toString('hex'));

    // Kept across an edit that re-sends it without a value; never in any answer or the log.
    const kept = await server.gql(UPDATE, { input: { id: host.id, environment: [{ key: 'TOKEN', secret: true }, { key: 'MORE', value: '1' }] } }, as(admin));
    expect(kept.data.updateHost.data.environment.map((v: { key: string }) => v.key)).toEqual(['TOKEN', 'MORE']);
    expect((await stored()).value_encrypted).toEqual(row.value_encrypted);
    for (const response of [kept, await server.gql(HOSTS, {}, as(viewer)), await server.gql(NODE, { id: host.id }, as(admin)), await server.gql(EVENTS, { id: host.id }, as(admin))]) {
      expect(JSON.stringify(response.data)).not.toContain(secret);
    }
    const events = await eventsOf(host.id);
    expect(events[0]!.details).toEqual({ before: { environment: ['PLAIN', 'TOKEN (secret)'] }, after: { environment: ['TOKEN (secret)', 'MORE'] } });
  });

  it('rotates and revokes agent keys: the old key stops working at once', async () => {
    const { host, agentKey: first } = await newHost({ name: 'rotating' });
    const rotated = await server.gql(ROTATE, { id: host.id }, as(admin));
    const second = rotated.data.rotateHostKey.data.agentKey;
    expect(second).toMatch(/^rbh_/);
    expect(second).not.toBe(first);
    expect(second.startsWith(`rbh_${rotated.data.rotateHostKey.data.host.agentKeyPrefix}_`)).toBe(true);
    expect(await authenticateHostKey(server.app.db, first)).toBeUndefined();
    expect((await authenticateHostKey(server.app.db, second))?.name).toBe('rotating');

    expect((await server.gql(ROTATE, { id: host.id }, as(operator))).status).toBe(403);
    expect((await server.gql(REVOKE, { id: host.id }, as(operator))).status).toBe(403);

    const revoked = await server.gql(REVOKE, { id: host.id }, as(admin));
    expect(revoked.data.revokeHostKey.data).toEqual({ hasAgentKey: false, agentKeyPrefix: null });
    expect(await authenticateHostKey(server.app.db, second)).toBeUndefined();
    expect((await eventsOf(host.id)).map((e) => e.action)).toEqual(['host.key_revoked', 'host.key_rotated', 'host.created']);
  });

  it('refuses to delete a host a schedule targets, naming the schedule; then deletes it', async () => {
    const { host } = await newHost({ name: 'doomed' });
    const uuid = Buffer.from(host.id, 'base64').toString().split(':')[1]!;
    const script = await server.app.db.insertInto('scripts').values({ name: 'nightly-script' }).returning('id').executeTakeFirstOrThrow();
    const schedule = await server.app.db
      .insertInto('schedules')
      .values({ name: 'Nightly backup', script_id: script.id, kind: 'cron', cron: '0 3 * * *' })
      .returning('id')
      .executeTakeFirstOrThrow();
    await server.app.db.insertInto('schedule_hosts').values({ schedule_id: schedule.id, host_id: uuid }).execute();

    expect((await server.gql(DELETE, { id: host.id }, as(admin))).data.deleteHost).toEqual({
      __typename: 'ConflictError',
      message: 'Host "doomed" cannot be deleted: the schedule "Nightly backup" targets it. Change or delete that schedule first.',
    });
    expect((await server.gql(DELETE, { id: host.id }, as(operator))).status).toBe(403);

    await server.app.db.deleteFrom('schedule_hosts').where('schedule_id', '=', schedule.id).execute();
    expect((await server.gql(DELETE, { id: host.id }, as(admin))).data.deleteHost).toEqual({ __typename: 'DeleteHostSuccess', data: host.id });
    expect((await server.gql(NODE, { id: host.id }, as(admin))).data.node).toBeNull();
    expect((await eventsOf(host.id))[0]).toMatchObject({ action: 'host.deleted', summary: 'Deleted host "doomed"', details: { before: { name: 'doomed' } } });
    expect((await server.gql(DELETE, { id: host.id }, as(admin))).data.deleteHost.__typename).toBe('NotFoundError');
    expect((await server.gql(DELETE, { id: 'not-an-id' }, as(admin))).data.deleteHost.__typename).toBe('ValidationError');
  });

  it('pages through hosts by name, with search and filters', async () => {
    for (const name of ['page-c', 'Page-A', 'page-e', 'page-b', 'page-d']) await newHost({ name, enabled: name !== 'page-d' });
    const seen: string[] = [];
    let after: string | null = null;
    let hasNextPage = true;
    while (hasNextPage) {
      const page: GraphQLResponse = await server.gql(HOSTS, { search: 'PAGE-', first: 2, after }, as(viewer));
      expect(page.data.hosts.totalCount).toBe(5);
      seen.push(...page.data.hosts.edges.map((e: { node: { name: string } }) => e.node.name));
      ({ hasNextPage, endCursor: after } = page.data.hosts.pageInfo);
    }
    expect(seen).toEqual(['Page-A', 'page-b', 'page-c', 'page-d', 'page-e']);
    const disabled = await server.gql(HOSTS, { search: 'page-', filter: { enabled: false } }, as(viewer));
    expect(disabled.data.hosts.edges.map((e: { node: { name: string } }) => e.node.name)).toEqual(['page-d']);
    const local = await server.gql(HOSTS, { filter: { kind: 'LOCAL', online: true } }, as(viewer));
    expect(local.data.hosts.edges.map((e: { node: { name: string } }) => e.node.name)).toEqual(['local']);
    const offline = await server.gql(HOSTS, { search: 'page-', filter: { online: false, kind: 'AGENT' } }, as(viewer));
    expect(offline.data.hosts.totalCount).toBe(5);
  });

  it('loads each host’s groups and environment for a whole page', async () => {
    const groupIds: string[] = [];
    for (const name of ['loaded-x', 'loaded-y']) {
      const g = await server.gql(`mutation($name: String!) { createGroup(input: { name: $name }) { ... on CreateGroupSuccess { data { id } } } }`, { name }, as(admin));
      groupIds.push(g.data.createGroup.data.id);
    }
    await newHost({ name: 'member-1', groupIds, environment: [{ key: 'ONE', value: '1' }] });
    await newHost({ name: 'member-2', groupIds: [groupIds[1]], environment: [{ key: 'TWO', value: '2' }] });
    await newHost({ name: 'member-3' });
    const page = await server.gql(HOSTS, { search: 'member-' }, as(viewer));
    const shape = page.data.hosts.edges.map((e: { node: { name: string; groups: { name: string }[]; environment: { key: string }[] } }) => [
      e.node.name,
      e.node.groups.map((g) => g.name),
      e.node.environment.map((v) => v.key),
    ]);
    expect(shape).toEqual([
      ['member-1', ['loaded-x', 'loaded-y'], ['ONE']],
      ['member-2', ['loaded-y'], ['TWO']],
      ['member-3', [], []],
    ]);
    // Replacing a host's groups.
    const id = page.data.hosts.edges[0].node.id;
    const moved = await server.gql(UPDATE, { input: { id, groupIds: [groupIds[1]] } }, as(admin));
    expect(moved.data.updateHost.data.groups.map((g: { name: string }) => g.name)).toEqual(['loaded-y']);
  });

  it('counts each host’s runs that are dispatched or running, for a whole page at once', async () => {
    const busy = await newHost({ name: 'busy-1' });
    await newHost({ name: 'busy-2' });
    const script = await server.app.db.insertInto('scripts').values({ name: 'busy-script', job_class: 'noop' }).returning('id').executeTakeFirstOrThrow();
    const busyId = Buffer.from(busy.host.id, 'base64').toString().split(':')[1]!;
    const run = (state: RunState) => ({ script_id: script.id, script_name: 'busy-script', host_id: busyId, host_name: 'busy-1', trigger: 'manual' as const, state });
    await server.app.db.insertInto('runs').values([run('running'), run('dispatched'), run('queued'), run('succeeded')]).execute();
    const page = await server.gql(`query { hosts(search: "busy-") { edges { node { name runningRuns } } } }`, {}, as(viewer));
    expect(page.data.hosts.edges.map((e: { node: unknown }) => e.node)).toEqual([
      { name: 'busy-1', runningRuns: 2 },
      { name: 'busy-2', runningRuns: 0 },
    ]);
  });

  it('tells subscribers when a host is created, changed and deleted', async () => {
    const client = wsClient(server.url, { cookie: viewer });
    const changes: Array<{ kind: string; hostId: string; host: { name: string; description: string } | null }> = [];
    let wanted = 0;
    let notify: () => void = () => undefined;
    client.subscribe(
      { query: `subscription { hostUpdated { kind hostId host { name description } } }` },
      {
        next: (result) => {
          changes.push((result.data as { hostUpdated: (typeof changes)[number] }).hostUpdated);
          if (changes.length >= wanted) notify();
        },
        error: (error) => {
          throw new Error(`subscription failed: ${JSON.stringify(error)}`);
        },
        complete: () => undefined,
      },
    );
    const received = (count: number) =>
      new Promise<void>((resolve) => {
        wanted = count;
        notify = resolve;
        if (changes.length >= count) resolve();
      });
    await new Promise((r) => setTimeout(r, 300));
    // Each change waits for the one before to be delivered: subscribers read the host as it is
    // when they resolve, so an update resolved after the delete would show no host.
    const { host } = await newHost({ name: 'live-1' });
    await received(1);
    await server.gql(UPDATE, { input: { id: host.id, description: 'changed' } }, as(admin));
    await received(2);
    await server.gql(ROTATE, { id: host.id }, as(admin));
    await received(3);
    await server.gql(DELETE, { id: host.id }, as(admin));
    await received(4);
    await client.dispose();
    expect(changes).toEqual([
      { kind: 'CREATED', hostId: host.id, host: { name: 'live-1', description: '' } },
      { kind: 'UPDATED', hostId: host.id, host: { name: 'live-1', description: 'changed' } },
      { kind: 'UPDATED', hostId: host.id, host: { name: 'live-1', description: 'changed' } },
      { kind: 'DELETED', hostId: host.id, host: null },
    ]);
  });
});
