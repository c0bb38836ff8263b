import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './support/server';

const CREATE = `mutation($input: CreateUserInput!) {
  createUser(input: $input) { __typename ... on CreateUserSuccess { data { id username email role enabled } } ... on Error { message } ... on ValidationError { fields { path message } } }
}`;
const UPDATE = `mutation($input: UpdateUserInput!) {
  updateUser(input: $input) { __typename ... on UpdateUserSuccess { data { username email role enabled } } ... on Error { message } }
}`;
const DELETE = `mutation($id: ID!) { deleteUser(id: $id) { __typename ... on DeleteUserSuccess { data { username } } ... on Error { message } } }`;
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
    expect(malformed.data.updateUser.__typename).toBe('NotFoundError');
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
    expect(deleted.data.deleteUser).toEqual({ __typename: 'DeleteUserSuccess', data: { username: 'to-delete' } });
    expect((await server.gql(VIEWER, {}, { cookie })).data.viewer).toBeNull();
    expect((await server.gql(VIEWER, {}, { headers: { authorization: `Bearer ${token}` } })).status).toBe(401);
    const again = await server.gql(DELETE, { id }, { cookie: admin });
    expect(again.data.deleteUser.__typename).toBe('NotFoundError');
  });

  it('nobody can delete or disable themselves, and the last admin stays', async () => {
    const me = await server.gql(`{ users { id username } }`, {}, { cookie: admin });
    const adminId = me.data.users.find((u: { username: string }) => u.username === 'admin').id;
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
