import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type GraphQLResponse, type TestServer } from './support/server';
import { wsClient } from './support/ws';

const GROUP_FIELDS = `id name description hostCount hosts { totalCount edges { node { name } } } scripts { id name } environment { key value secret displayValue }`;
const result = (field: string, success: string, fields = GROUP_FIELDS) =>
  `${field} { __typename ... on ${success} { data { ${fields} } } ... on Error { message } ... on ValidationError { fields { path message } } }`;
const CREATE = `mutation($input: CreateGroupInput!) { ${result('createGroup(input: $input)', 'CreateGroupSuccess')} }`;
const UPDATE = `mutation($input: UpdateGroupInput!) { ${result('updateGroup(input: $input)', 'UpdateGroupSuccess')} }`;
const DELETE = `mutation($id: ID!) { deleteGroup(id: $id) { __typename ... on DeleteGroupSuccess { data } ... on Error { message } } }`;
const SET_HOSTS = `mutation($input: GroupHostsInput!) { ${result('setGroupHosts(input: $input)', 'SetGroupHostsSuccess')} }`;
const ADD_HOSTS = `mutation($input: GroupHostsInput!) { ${result('addHostsToGroup(input: $input)', 'AddHostsToGroupSuccess')} }`;
const REMOVE_HOSTS = `mutation($input: GroupHostsInput!) { ${result('removeHostsFromGroup(input: $input)', 'RemoveHostsFromGroupSuccess')} }`;
const SET_SCRIPTS = `mutation($input: GroupScriptsInput!) { ${result('setGroupScripts(input: $input)', 'SetGroupScriptsSuccess')} }`;
const GROUPS = `query($search: String, $first: Int, $after: String) {
  groups(search: $search, first: $first, after: $after) { totalCount pageInfo { hasNextPage endCursor } edges { node { ${GROUP_FIELDS} } } }
}`;
const NODE = `query($id: ID!) { node(id: $id) { ... on Group { ${GROUP_FIELDS} } } }`;
const EVENTS = `query($id: ID!) { events(filter: { objectId: $id }) { edges { node { action summary details } } } }`;

const uuidOf = (globalId: string) => Buffer.from(globalId, 'base64').toString().split(':')[1]!;
const names = (connection: { edges: { node: { name: string } }[] }) => connection.edges.map((e) => e.node.name);

describe('groups', () => {
  let server: TestServer;
  let admin: string;
  let operator: string;
  let viewer: string;
  const as = (cookie: string) => ({ cookie });

  const newHost = async (name: string) => {
    const r = await server.gql(`mutation($name: String!) { createHost(input: { name: $name }) { ... on CreateHostSuccess { data { host { id } } } } }`, { name }, as(admin));
    return r.data.createHost.data.host.id as string;
  };
  /** Scripts are written straight to the table: this file tests groups, not scripts. */
  const newScript = async (name: string) => {
    const row = await server.app.db.insertInto('scripts').values({ name }).returning('id').executeTakeFirstOrThrow();
    return Buffer.from(`Script:${row.id}`).toString('base64');
  };
  const newGroup = async (input: Record<string, unknown>) => {
    const r = await server.gql(CREATE, { input }, as(admin));
    expect(r.data?.createGroup.__typename, JSON.stringify(r.data ?? r.errors)).toBe('CreateGroupSuccess');
    return r.data.createGroup.data;
  };
  const groupCount = async () => Number((await server.app.db.selectFrom('groups').select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow()).n);
  const eventsOf = async (id: string) =>
    (await server.gql(EVENTS, { id }, as(admin))).data.events.edges.map((e: { node: unknown }) => e.node) as Array<{ action: string; summary: string; details: any }>;

  beforeAll(async () => {
    server = await startTestServer();
    admin = server.adminCookie;
    await server.createUser('group-operator', 'operator');
    await server.createUser('group-viewer', 'viewer');
    operator = await server.signIn('group-operator', 'group-operator-password-123');
    viewer = await server.signIn('group-viewer', 'group-viewer-password-123');
  });
  afterAll(() => server?.close());

  it('creates a group with hosts, scripts and environment, as an admin only', async () => {
    const [web1, web2] = [await newHost('web-1'), await newHost('web-2')];
    const deploy = await newScript('deploy');
    const before = await groupCount();
    const refused = await server.gql(CREATE, { input: { name: 'by-operator' } }, as(operator));
    expect(refused.status).toBe(403);
    expect(refused.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect(await groupCount()).toBe(before);

    const group = await newGroup({ name: 'web', description: 'Web servers', hostIds: [web2, web1], scriptIds: [deploy], environment: [{ key: 'TIER', value: 'web' }] });
    expect(group).toMatchObject({
      name: 'web',
      description: 'Web servers',
      hostCount: 2,
      hosts: { totalCount: 2, edges: [{ node: { name: 'web-1' } }, { node: { name: 'web-2' } }] },
      scripts: [{ id: deploy, name: 'deploy' }],
      environment: [{ key: 'TIER', value: 'web', secret: false, displayValue: 'web' }],
    });
    const read = await server.gql(NODE, { id: group.id }, as(viewer));
    expect(read.data.node).toEqual(group);
    const hostSide = await server.gql(`query($id: ID!) { node(id: $id) { ... on Host { groups { name } } } }`, { id: web1 }, as(viewer));
    expect(hostSide.data.node.groups).toEqual([{ name: 'web' }]);

    const [event] = await eventsOf(group.id);
    expect(event).toMatchObject({ action: 'group.created', summary: 'Created group "web"', details: { after: { name: 'web', scripts: ['deploy'], hosts: ['web-2', 'web-1'], environment: ['TIER'] } } });
  });

  it('names every bad field at once, refuses unknown ids and taken names, and writes nothing', async () => {
    const before = await groupCount();
    const bad = await server.gql(CREATE, { input: { name: '', description: 'x'.repeat(10_001), environment: [{ key: 'A B', value: '1' }] } }, as(admin));
    expect(bad.data.createGroup.__typename).toBe('ValidationError');
    expect(bad.data.createGroup.fields.map((f: { path: string[] }) => f.path.join('.'))).toEqual(['input.name', 'input.description', 'input.environment.0.key']);
    expect(bad.data.createGroup.message).toMatch(/^Give the group a name\. A description is at most 10,000 characters\./);
    const long = await server.gql(CREATE, { input: { name: 'g'.repeat(141) } }, as(admin));
    expect(long.data.createGroup.message).toBe('A group name is at most 140 characters.');
    const nul = await server.gql(CREATE, { input: { name: 'a\0b' } }, as(admin));
    expect(nul.data.createGroup.message).toBe('A group name cannot contain a NUL character.');
    const wrongType = await server.gql(CREATE, { input: { name: 'typed', hostIds: [Buffer.from('Script:00000000-0000-4000-8000-000000000000').toString('base64')] } }, as(admin));
    expect(wrongType.data.createGroup.message).toBe('input.hostIds: that id belongs to a Script, not a Host.');

    const [m1, m2] = ['00000000-0000-4000-8000-0000000000a1', '00000000-0000-4000-8000-0000000000a2'];
    const web1 = await newHost('lonely');
    expect((await server.gql(CREATE, { input: { name: 'ghosts', hostIds: [m1, web1, m2] } }, as(admin))).data.createGroup).toEqual({
      __typename: 'NotFoundError',
      message: `There is no host with id "${m1}", "${m2}".`,
    });
    expect((await server.gql(CREATE, { input: { name: 'ghost-scripts', scriptIds: [m1] } }, as(admin))).data.createGroup).toEqual({
      __typename: 'NotFoundError',
      message: `There is no script with id "${m1}".`,
    });
    expect((await server.gql(CREATE, { input: { name: 'WEB' } }, as(admin))).data.createGroup).toEqual({
      __typename: 'ConflictError',
      message: 'A group named "WEB" already exists.',
    });
    expect(await groupCount()).toBe(before);
    const memberships = await server.app.db.selectFrom('group_hosts').select('group_id').where('host_id', '=', uuidOf(web1)).execute();
    expect(memberships).toEqual([]);
  });

  it('updates only the fields given; lists given replace', async () => {
    const [a, b, c] = [await newHost('upd-a'), await newHost('upd-b'), await newHost('upd-c')];
    const [s1, s2] = [await newScript('upd-script-1'), await newScript('upd-script-2')];
    const group = await newGroup({ name: 'upd', description: 'before', hostIds: [a, b], scriptIds: [s1] });
    const renamed = await server.gql(UPDATE, { input: { id: group.id, name: 'updated' } }, as(admin));
    expect(renamed.data.updateGroup.data).toMatchObject({ name: 'updated', description: 'before', hostCount: 2, scripts: [{ name: 'upd-script-1' }] });
    const replaced = await server.gql(UPDATE, { input: { id: group.id, hostIds: [b, c], scriptIds: [s2, s1] } }, as(admin));
    expect(names(replaced.data.updateGroup.data.hosts)).toEqual(['upd-b', 'upd-c']);
    expect(replaced.data.updateGroup.data.scripts.map((s: { name: string }) => s.name)).toEqual(['upd-script-1', 'upd-script-2']);

    expect((await server.gql(UPDATE, { input: { id: group.id, description: 'nope' } }, as(operator))).status).toBe(403);
    expect((await server.gql(UPDATE, { input: { id: '00000000-0000-4000-8000-0000000000b1', name: 'x' } }, as(admin))).data.updateGroup).toEqual({
      __typename: 'NotFoundError',
      message: 'There is no group with id "00000000-0000-4000-8000-0000000000b1".',
    });

    const events = await eventsOf(group.id);
    expect(events.map((e) => e.action)).toEqual(['group.updated', 'group.updated', 'group.created']);
    expect(events[1]!.details).toEqual({ before: { name: 'upd' }, after: { name: 'updated' } });
    expect(events[0]!.details).toEqual({
      before: { scripts: ['upd-script-1'] },
      after: { scripts: ['upd-script-1', 'upd-script-2'] },
      hosts: { added: ['upd-c'], removed: ['upd-a'] },
    });
  });

  it('sets, adds and removes hosts, and sets scripts', async () => {
    const [x, y, z] = [await newHost('mem-x'), await newHost('mem-y'), await newHost('mem-z')];
    const group = await newGroup({ name: 'members' });
    const input = (hostIds: string[]) => ({ input: { groupId: group.id, hostIds } });

    expect((await server.gql(SET_HOSTS, input([x]), as(operator))).status).toBe(403);
    const set = await server.gql(SET_HOSTS, input([x, y]), as(admin));
    expect(names(set.data.setGroupHosts.data.hosts)).toEqual(['mem-x', 'mem-y']);
    const added = await server.gql(ADD_HOSTS, input([y, z]), as(admin));
    expect(names(added.data.addHostsToGroup.data.hosts)).toEqual(['mem-x', 'mem-y', 'mem-z']);
    const removed = await server.gql(REMOVE_HOSTS, input([x]), as(admin));
    expect(names(removed.data.removeHostsFromGroup.data.hosts)).toEqual(['mem-y', 'mem-z']);
    expect(removed.data.removeHostsFromGroup.data.hostCount).toBe(2);

    const missing = '00000000-0000-4000-8000-0000000000c1';
    expect((await server.gql(ADD_HOSTS, input([z, missing]), as(admin))).data.addHostsToGroup).toEqual({
      __typename: 'NotFoundError',
      message: `There is no host with id "${missing}".`,
    });
    expect((await server.gql(REMOVE_HOSTS, input([missing]), as(admin))).data.removeHostsFromGroup.__typename).toBe('NotFoundError');
    const noGroup = await server.gql(SET_HOSTS, { input: { groupId: missing, hostIds: [] } }, as(admin));
    expect(noGroup.data.setGroupHosts).toEqual({ __typename: 'NotFoundError', message: `There is no group with id "${missing}".` });
    expect(names((await server.gql(NODE, { id: group.id }, as(viewer))).data.node.hosts)).toEqual(['mem-y', 'mem-z']);

    const events = await eventsOf(group.id);
    expect(events.map((e) => e.summary)).toEqual([
      'Group "members": removed "mem-x"',
      'Group "members": added "mem-z"',
      'Group "members": added "mem-x", "mem-y"',
      'Created group "members"',
    ]);

    const script = await newScript('mem-script');
    expect((await server.gql(SET_SCRIPTS, { input: { groupId: group.id, scriptIds: [script] } }, as(operator))).status).toBe(403);
    const scripts = await server.gql(SET_SCRIPTS, { input: { groupId: group.id, scriptIds: [script] } }, as(admin));
    expect(scripts.data.setGroupScripts.data.scripts).toEqual([{ id: script, name: 'mem-script' }]);
    expect((await server.gql(SET_SCRIPTS, { input: { groupId: group.id, scriptIds: [missing] } }, as(admin))).data.setGroupScripts).toEqual({
      __typename: 'NotFoundError',
      message: `There is no script with id "${missing}".`,
    });
    const cleared = await server.gql(SET_SCRIPTS, { input: { groupId: group.id, scriptIds: [] } }, as(admin));
    expect(cleared.data.setGroupScripts.data.scripts).toEqual([]);
    expect((await eventsOf(group.id))[0]).toMatchObject({ action: 'group.updated', details: { before: { scripts: ['mem-script'] }, after: { scripts: [] } } });
  });

  it('refuses to delete a group that is still in use, saying why; then deletes it', async () => {
    const host = await newHost('busy-host');
    const group = await newGroup({ name: 'busy', hostIds: [host] });
    const id = uuidOf(group.id);
    const script = await server.app.db.insertInto('scripts').values({ name: 'busy-script' }).returning('id').executeTakeFirstOrThrow();
    const schedule = await server.app.db
      .insertInto('schedules')
      .values({ name: 'Hourly sync', script_id: script.id, kind: 'interval', interval_seconds: 3600 })
      .returning('id')
      .executeTakeFirstOrThrow();
    await server.app.db.insertInto('schedule_groups').values({ schedule_id: schedule.id, group_id: id }).execute();
    await server.app.db.updateTable('options').set({ register_default_group_id: id }).execute();
    await server.app.db.insertInto('registration_rules').values({ position: 0, property: 'hostname', pattern: '^busy', group_id: id }).execute();

    const attempt = async () => (await server.gql(DELETE, { id: group.id }, as(admin))).data.deleteGroup;
    expect(await attempt()).toEqual({
      __typename: 'ConflictError',
      message:
        'Group "busy" cannot be deleted: it still has 1 host (remove them first); it is the default group for agent registration (choose another in the options); 1 registration rule puts new hosts in it; the schedule "Hourly sync" targets it.',
    });
    await server.gql(REMOVE_HOSTS, { input: { groupId: group.id, hostIds: [host] } }, as(admin));
    await server.app.db.updateTable('options').set({ register_default_group_id: null }).execute();
    await server.app.db.deleteFrom('registration_rules').execute();
    expect(await attempt()).toEqual({ __typename: 'ConflictError', message: 'Group "busy" cannot be deleted: the schedule "Hourly sync" targets it.' });
    expect((await server.gql(DELETE, { id: group.id }, as(operator))).status).toBe(403);
    await server.app.db.deleteFrom('schedule_groups').execute();

    expect(await attempt()).toEqual({ __typename: 'DeleteGroupSuccess', data: group.id });
    expect((await server.gql(NODE, { id: group.id }, as(admin))).data.node).toBeNull();
    expect((await eventsOf(group.id))[0]).toMatchObject({ action: 'group.deleted', summary: 'Deleted group "busy"' });
    expect((await attempt()).__typename).toBe('NotFoundError');
  });

  it('never returns a secret, and stores it encrypted', async () => {
    const secret = 'group-secret-value-42';
    const created = await server.gql(CREATE, { input: { name: 'secretive', environment: [{ key: 'API_TOKEN', value: secret, secret: true }] } }, as(admin));
    const group = created.data.createGroup.data;
    expect(group.environment).toEqual([{ key: 'API_TOKEN', value: null, secret: true, displayValue: '••••••••' }]);
    const row = await server.app.db.selectFrom('env_vars').selectAll().where('group_id', '=', uuidOf(group.id)).executeTakeFirstOrThrow();
    expect(row.value).toBeNull();
    expect(row.value_encrypted).not.toBeNull();
    expect(row.value_encrypted!.toString('hex')).not.toContain(Buffer.from(secret).toString('hex'));
    const resent = await server.gql(UPDATE, { input: { id: group.id, environment: [{ key: 'API_TOKEN', secret: true }] } }, as(admin));
    const responses = [created, resent, await server.gql(GROUPS, {}, as(viewer)), await server.gql(NODE, { id: group.id }, as(admin)), await server.gql(EVENTS, { id: group.id }, as(admin))];
    for (const response of responses) expect(JSON.stringify(response.data)).not.toContain(secret);
    // Re-sent without a value, the secret keeps its sealed value.
    const kept = await server.app.db.selectFrom('env_vars').selectAll().where('group_id', '=', uuidOf(group.id)).executeTakeFirstOrThrow();
    expect(kept.value_encrypted).toEqual(row.value_encrypted);
  });

  it('pages through groups and a group’s hosts by name, with counts loaded per page', async () => {
    const hosts = [];
    for (const name of ['pg-h3', 'pg-h1', 'pg-h2']) hosts.push(await newHost(name));
    for (const [name, members] of [['list-b', hosts], ['List-A', [hosts[0]]], ['list-c', []]] as const) await newGroup({ name, hostIds: members });
    const seen: Array<[string, number]> = [];
    let after: string | null = null;
    let hasNextPage = true;
    while (hasNextPage) {
      const page: GraphQLResponse = await server.gql(GROUPS, { search: 'LIST-', first: 2, after }, as(viewer));
      expect(page.data.groups.totalCount).toBe(3);
      seen.push(...page.data.groups.edges.map((e: { node: { name: string; hostCount: number } }) => [e.node.name, e.node.hostCount] as [string, number]));
      ({ hasNextPage, endCursor: after } = page.data.groups.pageInfo);
    }
    expect(seen).toEqual([['List-A', 1], ['list-b', 3], ['list-c', 0]]);

    const groupId = (await server.gql(GROUPS, { search: 'list-b' }, as(viewer))).data.groups.edges[0].node.id;
    const HOSTS_PAGE = `query($id: ID!, $after: String) { node(id: $id) { ... on Group { hosts(first: 2, after: $after) { pageInfo { hasNextPage endCursor } edges { node { name } } } } } }`;
    const first = (await server.gql(HOSTS_PAGE, { id: groupId }, as(viewer))).data.node.hosts;
    expect(names(first)).toEqual(['pg-h1', 'pg-h2']);
    expect(first.pageInfo.hasNextPage).toBe(true);
    const second = (await server.gql(HOSTS_PAGE, { id: groupId, after: first.pageInfo.endCursor }, as(viewer))).data.node.hosts;
    expect(names(second)).toEqual(['pg-h3']);
    expect(second.pageInfo.hasNextPage).toBe(false);
  });

  it('tells hostUpdated subscribers about hosts that joined or left a group', async () => {
    const host = await newHost('joining');
    const group = await newGroup({ name: 'joined' });
    const client = wsClient(server.url, { cookie: viewer });
    const seen: Array<{ kind: string; host: { groups: { name: string }[] } }> = [];
    const received = new Promise<void>((resolve, reject) => {
      client.subscribe(
        { query: `subscription { hostUpdated { kind host { groups { name } } } }` },
        {
          next: (r) => {
            seen.push((r.data as { hostUpdated: (typeof seen)[number] }).hostUpdated);
            if (seen.length === 2) resolve();
          },
          error: reject,
          complete: () => undefined,
        },
      );
    });
    await new Promise((r) => setTimeout(r, 300));
    await server.gql(ADD_HOSTS, { input: { groupId: group.id, hostIds: [host] } }, as(admin));
    // The first change is delivered before the second is made: subscribers read the host as it
    // is when they resolve.
    for (let i = 0; i < 200 && seen.length < 1; i++) await new Promise((r) => setTimeout(r, 10));
    await server.gql(REMOVE_HOSTS, { input: { groupId: group.id, hostIds: [host] } }, as(admin));
    await received;
    await client.dispose();
    expect(seen).toEqual([
      { kind: 'UPDATED', host: { groups: [{ name: 'joined' }] } },
      { kind: 'UPDATED', host: { groups: [] } },
    ]);
  });
});
