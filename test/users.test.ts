import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './support/server';

const CREATE = `mutation($input: CreateUserInput!) {
  createUser(input: $input) { __typename ... on CreateUserSuccess { data { id username email role enabled } } ... on Error { message } ... on ValidationError { fields { path message } } }
}`;
const UPDATE = `mutation($input: UpdateUserInput!) {
  updateUser(input: $input) { __typename ... on UpdateUserSuccess { data { username email role enabled } } ... on Error { message } }
}`;
const DELETE = `mutation($id: ID!) { deleteUser(id: $id) { __typename ... on DeleteUserSuccess { data } ... on Error { message } } }`;
const VIEWER = `{ viewer { user { username } } }`;

describe('user management', () => {
  let server: TestServer;
  let admin: string;
  beforeAll(async () => {
    server = await startTestServer();
    admin = server.adminCookie;
  });
  afterAll(() => server?.close());

  it('creates users and refuses duplicates case-insensitively', async () => {
    const created = await server.gql(CREATE, { input: { username: 'Ops.One', email: 'ops@example.com', password: 'ops-one-password', role: 'OPERATOR' } }, { cookie: admin });
    expect(created.data.createUser).toMatchObject({ __typename: 'CreateUserSuccess', data: { username: 'Ops.One', email: 'ops@example.com', role: 'OPERATOR', enabled: true } });
    const dup = await server.gql(CREATE, { input: { username: 'ops.one', password: 'another-password', role: 'VIEWER' } }, { cookie: admin });
    expect(dup.data.createUser).toEqual({ __typename: 'ConflictError', message: 'The username "ops.one" is taken.' });
    // The stored password is an Argon2id hash.
    const row = await server.app.db.selectFrom('users').select('password_hash').where('username', '=', 'Ops.One').executeTakeFirstOrThrow();
    expect(row.password_hash).toMatch(/^\$argon2id\$/);
  });

  it('names every bad field at once', async () => {
    const bad = await server.gql(CREATE, { input: { username: '-bad name', email: 'not-an-email', password: 'short', role: 'VIEWER' } }, { cookie: admin });
    expect(bad.data.createUser.__typename).toBe('ValidationError');
    expect(bad.data.createUser.fields.map((f: { path: string[] }) => f.path.join('.'))).toEqual(['input.username', 'input.email', 'input.password']);
    expect(bad.data.createUser.message).toMatch(/Password: Use at least 12 characters/);
    const wrongType = await server.gql(CREATE, { input: { username: 'x', password: 'y', role: 'GOD' } }, { cookie: admin });
    expect(wrongType.status).toBe(400);
    expect(wrongType.errors?.[0]?.message).toMatch(/Value "GOD" does not exist in "Role" enum/);
  });

  it('updates users and tells a missing one apart', async () => {
    const id = await server.createUser('to-update', 'viewer');
    const updated = await server.gql(UPDATE, { input: { id, role: 'OPERATOR', email: 'new@example.com' } }, { cookie: admin });
    expect(updated.data.updateUser).toMatchObject({ data: { role: 'OPERATOR', email: 'new@example.com' } });
    const cleared = await server.gql(UPDATE, { input: { id, email: '' } }, { cookie: admin });
    expect(cleared.data.updateUser.data.email).toBeNull();
    const missing = await server.gql(UPDATE, { input: { id: '00000000-0000-0000-0000-000000000000', role: 'VIEWER' } }, { cookie: admin });
    expect(missing.data.updateUser).toEqual({ __typename: 'NotFoundError', message: 'There is no user with id "00000000-0000-0000-0000-000000000000".' });
    const malformed = await server.gql(UPDATE, { input: { id: 'not-a-uuid' } }, { cookie: admin });
    expect(malformed.data.updateUser.__typename).toBe('ValidationError');
  });

  it('disabling a user ends their sessions', async () => {
    const id = await server.createUser('to-disable', 'operator');
    const cookie = await server.signIn('to-disable', 'to-disable-password-123');
    expect((await server.gql(VIEWER, {}, { cookie })).data.viewer.user.username).toBe('to-disable');
    await server.gql(UPDATE, { input: { id, enabled: false } }, { cookie: admin });
    expect((await server.gql(VIEWER, {}, { cookie })).data.viewer).toBeNull();
  });

  it('deleting a user ends their sessions and keys', async () => {
    const id = await server.createUser('to-delete', 'operator');
    const cookie = await server.signIn('to-delete', 'to-delete-password-123');
    const token = await server.createKey(cookie, 'doomed');
    const deleted = await server.gql(DELETE, { id }, { cookie: admin });
    expect(deleted.data.deleteUser).toEqual({ __typename: 'DeleteUserSuccess', data: id });
    expect((await server.gql(VIEWER, {}, { cookie })).data.viewer).toBeNull();
    expect((await server.gql(VIEWER, {}, { headers: { authorization: `Bearer ${token}` } })).status).toBe(401);
    const again = await server.gql(DELETE, { id }, { cookie: admin });
    expect(again.data.deleteUser.__typename).toBe('NotFoundError');
  });

  it('nobody can delete or disable themselves, and the last admin stays', async () => {
    const me = await server.gql(`{ users { edges { node { id username } } } }`, {}, { cookie: admin });
    const adminId = me.data.users.edges.map((e: { node: unknown }) => e.node).find((u: { username: string }) => u.username === 'admin').id;
    expect((await server.gql(DELETE, { id: adminId }, { cookie: admin })).data.deleteUser).toEqual({
      __typename: 'ValidationError',
      message: 'You cannot delete your own account.',
    });
    expect((await server.gql(UPDATE, { input: { id: adminId, enabled: false } }, { cookie: admin })).data.updateUser.message).toBe(
      'You cannot disable your own account.',
    );
    expect((await server.gql(UPDATE, { input: { id: adminId, role: 'VIEWER' } }, { cookie: admin })).data.updateUser).toEqual({
      __typename: 'ConflictError',
      message: 'Cannot demote "admin": it is the only enabled admin.',
    });
    // With a second admin, the first may step down.
    await server.createUser('second-admin', 'admin');
    const demoted = await server.gql(UPDATE, { input: { id: adminId, role: 'OPERATOR' } }, { cookie: admin });
    expect(demoted.data.updateUser.data.role).toBe('OPERATOR');
  });
});

describe('user lists and the audit trail', () => {
  let server: TestServer;
  let admin: string;
  beforeAll(async () => {
    server = await startTestServer();
    admin = server.adminCookie;
  });
  afterAll(() => server?.close());

  it('lists users as a connection, a page at a time, with search and filters', async () => {
    for (const name of ['page-a', 'page-b', 'page-c']) await server.createUser(name, 'viewer');
    const LIST = `query($after: String, $search: String, $role: Role) {
      users(first: 2, after: $after, search: $search, role: $role) { totalCount edges { cursor node { username role } } pageInfo { hasNextPage endCursor } }
    }`;
    const first = await server.gql(LIST, { search: 'page-' }, { cookie: admin });
    expect(first.data.users.totalCount).toBe(3);
    expect(first.data.users.edges.map((e: { node: { username: string } }) => e.node.username)).toEqual(['page-a', 'page-b']);
    expect(first.data.users.pageInfo.hasNextPage).toBe(true);
    const second = await server.gql(LIST, { search: 'page-', after: first.data.users.pageInfo.endCursor }, { cookie: admin });
    expect(second.data.users.edges.map((e: { node: { username: string } }) => e.node.username)).toEqual(['page-c']);
    expect(second.data.users.pageInfo.hasNextPage).toBe(false);
    const viewers = await server.gql(LIST, { search: 'page-', role: 'ADMIN' }, { cookie: admin });
    expect(viewers.data.users.edges).toEqual([]);
    const bad = await server.gql(LIST, { after: 'not-a-cursor' }, { cookie: admin });
    expect(bad.errors?.[0]?.message).toMatch(/not one Runboard gave out/);
  });

  it('audits every change to users and keys, and sign-ins, never with a password', async () => {
    const id = await server.createUser('audited', 'viewer');
    await server.gql(UPDATE, { input: { id, role: 'OPERATOR', password: 'a-brand-new-password' } }, { cookie: admin });
    const wrong = await server.gql(`mutation { signIn(input: { username: "audited", password: "wrong-password-here" }) { __typename } }`);
    expect(wrong.data.signIn.__typename).toBe('SignInError');
    const cookie = await server.signIn('audited', 'a-brand-new-password');
    await server.createKey(cookie, 'audited-key');
    await server.gql(DELETE, { id }, { cookie: admin });
    const EVENTS = `query($filter: EventFilter) { events(filter: $filter, first: 50) { edges { node { action actorName objectType objectId objectName summary details } } } }`;
    const about = await server.gql(EVENTS, { filter: { objectId: id } }, { cookie: admin });
    const actions = about.data.events.edges.map((e: { node: { action: string } }) => e.node.action);
    expect(actions).toEqual(['user.deleted', 'user.signed_in', 'user.updated', 'user.created']);
    const updated = about.data.events.edges.find((e: { node: { action: string } }) => e.node.action === 'user.updated').node;
    expect(updated).toMatchObject({ actorName: 'admin', objectType: 'User', objectId: id, objectName: 'audited' });
    expect(updated.details).toEqual({ before: { role: 'viewer' }, after: { role: 'operator' }, passwordChanged: true });
    expect(JSON.stringify(about.data)).not.toContain('a-brand-new-password');
    const failed = await server.gql(EVENTS, { filter: { actions: ['user.sign_in_failed'], search: 'audited' } }, { cookie: admin });
    expect(failed.data.events.edges[0].node).toMatchObject({ actorName: 'anonymous', objectName: 'audited' });
    const keys = await server.gql(EVENTS, { filter: { actionPrefix: 'api_key.' } }, { cookie: admin });
    expect(keys.data.events.edges.map((e: { node: { actorName: string; objectName: string } }) => [e.node.actorName, e.node.objectName])).toContainEqual([
      'audited',
      'audited-key',
    ]);
  });

  it('shows a user only to admins and to that user, and an API key only to its owner, even by node id', async () => {
    const otherId = await server.createUser('node-other', 'viewer');
    await server.createUser('node-me', 'operator');
    const cookie = await server.signIn('node-me', 'node-me-password-123');
    const NODE = `query($id: ID!) { node(id: $id) { id ... on User { username } ... on ApiKey { name } } }`;
    const other = await server.gql(NODE, { id: otherId }, { cookie });
    expect(other.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect(JSON.stringify(other.data)).not.toContain('node-other');
    const me = await server.gql(`{ viewer { user { id } } }`, {}, { cookie });
    const mine = await server.gql(NODE, { id: me.data.viewer.user.id }, { cookie });
    expect(mine.data.node.username).toBe('node-me');
    const seenByAdmin = await server.gql(NODE, { id: otherId }, { cookie: admin });
    expect(seenByAdmin.data.node.username).toBe('node-other');

    await server.createKey(admin, 'admins-own-key');
    const adminKeys = await server.gql(`{ apiKeys { edges { node { id } } } }`, {}, { cookie: admin });
    const keyId = adminKeys.data.apiKeys.edges[0].node.id;
    const notMine = await server.gql(NODE, { id: keyId }, { cookie });
    expect(notMine.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect(JSON.stringify(notMine.data)).not.toContain('admins-own-key');
    const revoke = await server.gql(`mutation($id: ID!) { revokeApiKey(id: $id) { __typename } }`, { id: keyId }, { cookie });
    expect(revoke.data.revokeApiKey.__typename).toBe('NotFoundError');
  });

  it('keeps events about users and keys for admins', async () => {
    await server.createUser('events-viewer', 'viewer');
    const cookie = await server.signIn('events-viewer', 'events-viewer-password-123');
    const EVENTS = `{ events(first: 100) { totalCount edges { node { objectType } } } }`;
    const seen = await server.gql(EVENTS, {}, { cookie });
    const types = seen.data.events.edges.map((e: { node: { objectType: string | null } }) => e.node.objectType);
    expect(types).not.toContain('User');
    expect(types).not.toContain('ApiKey');
    const all = await server.gql(EVENTS, {}, { cookie: admin });
    expect(all.data.events.edges.map((e: { node: { objectType: string | null } }) => e.node.objectType)).toContain('User');
    expect(seen.data.events.totalCount).toBeLessThan(all.data.events.totalCount);
  });
});
