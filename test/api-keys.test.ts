import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_PASSWORD, basic, startTestServer, type TestServer } from './support/server';

const VIEWER = `{ viewer { role via user { username } } }`;

describe('API keys', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(() => server?.close());

  it('are shown once, stored hashed, and work as a Bearer token', async () => {
    const created = await server.gql(
      `mutation { createApiKey(input: { name: "ci" }) { ... on CreateApiKeySuccess { data { token apiKey { id name prefix role lastUsedAt } } } } }`,
      {},
      { cookie: server.adminCookie },
    );
    const { token, apiKey } = created.data.createApiKey.data;
    expect(token).toMatch(/^rbk_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$/);
    expect(token.startsWith(`rbk_${apiKey.prefix}_`)).toBe(true);
    expect(apiKey).toMatchObject({ name: 'ci', role: 'ADMIN', lastUsedAt: null });

    // Only a hash is stored: the token appears nowhere in the table.
    const rows = await server.app.db.selectFrom('api_keys').selectAll().execute();
    expect(JSON.stringify(rows)).not.toContain(token.slice('rbk_'.length + 13));

    const result = await server.gql(VIEWER, {}, { headers: { authorization: `Bearer ${token}` } });
    expect(result.data.viewer).toEqual({ role: 'ADMIN', via: 'API_KEY', user: { username: 'admin' } });
    const listed = await server.gql(`{ apiKeys { nodes: edges { node { name lastUsedAt } } } }`, {}, { headers: { authorization: `Bearer ${token}` } });
    expect(listed.data.apiKeys.nodes.map((e: { node: { name: string } }) => e.node).find((k: { name: string }) => k.name === 'ci').lastUsedAt).not.toBeNull();
  });

  it('work as the password of HTTP Basic with the owner username, and so does the real password', async () => {
    const token = await server.createKey(server.adminCookie, 'basic-key');
    const withKey = await server.gql(VIEWER, {}, { headers: { authorization: basic('admin', token) } });
    expect(withKey.data.viewer.via).toBe('API_KEY');
    const otherName = await server.gql(VIEWER, {}, { headers: { authorization: basic('someone-else', token) } });
    expect(otherName.status).toBe(401);
    const withPassword = await server.gql(VIEWER, {}, { headers: { authorization: basic('admin', ADMIN_PASSWORD) } });
    expect(withPassword.data.viewer).toEqual({ role: 'ADMIN', via: 'PASSWORD', user: { username: 'admin' } });
    const wrong = await server.gql(VIEWER, {}, { headers: { authorization: basic('admin', 'not-the-password') } });
    expect(wrong.status).toBe(401);
    expect(wrong.errors?.[0]?.message).toBe('Wrong username or password.');
  });

  it('refuses a wrong key with 401 and a clear message', async () => {
    const made = 'rbk_000000000000_' + 'A'.repeat(43);
    for (const token of [made, 'garbage']) {
      const result = await server.gql(VIEWER, {}, { headers: { authorization: `Bearer ${token}` } });
      expect(result.status).toBe(401);
      expect(result.errors?.[0]).toMatchObject({ message: 'The API key is not valid.', extensions: { code: 'UNAUTHENTICATED' } });
      expect(result.data).toBeUndefined();
    }
    const scheme = await server.gql(VIEWER, {}, { headers: { authorization: 'Token abc' } });
    expect(scheme.status).toBe(401);
    expect(scheme.errors?.[0]?.message).toMatch(/Unsupported Authorization header/);
  });

  it('stop working once revoked', async () => {
    const token = await server.createKey(server.adminCookie, 'to-revoke');
    const keys = await server.gql(`{ apiKeys { edges { node { id name } } } }`, {}, { cookie: server.adminCookie });
    const id = keys.data.apiKeys.edges.map((e: { node: unknown }) => e.node).find((k: { name: string }) => k.name === 'to-revoke').id;
    const revoked = await server.gql(
      `mutation($id: ID!) { revokeApiKey(id: $id) { ... on RevokeApiKeySuccess { data { revokedAt } } } }`,
      { id },
      { cookie: server.adminCookie },
    );
    expect(revoked.data.revokeApiKey.data.revokedAt).toBeTruthy();
    const result = await server.gql(VIEWER, {}, { headers: { authorization: `Bearer ${token}` } });
    expect(result.status).toBe(401);
    expect(result.errors?.[0]?.message).toBe('The API key "to-revoke" was revoked.');
    // The name is free again for a new key.
    await expect(server.createKey(server.adminCookie, 'to-revoke')).resolves.toMatch(/^rbk_/);
  });

  it('stop working after they expire, and refuse an expiry in the past', async () => {
    const token = await server.createKey(server.adminCookie, 'short-lived', undefined, new Date(Date.now() + 1500));
    expect((await server.gql(VIEWER, {}, { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
    await new Promise((r) => setTimeout(r, 1700));
    const result = await server.gql(VIEWER, {}, { headers: { authorization: `Bearer ${token}` } });
    expect(result.status).toBe(401);
    expect(result.errors?.[0]?.message).toMatch(/^The API key "short-lived" expired at /);
    const past = await server.gql(
      `mutation { createApiKey(input: { name: "past", expiresAt: "2020-01-01T00:00:00Z" }) { ... on Error { message } } }`,
      {},
      { cookie: server.adminCookie },
    );
    expect(past.data.createApiKey.message).toBe('The expiry must be in the future.');
  });

  it('never do more than their role ceiling, nor more than their owner', async () => {
    const viewerKey = await server.createKey(server.adminCookie, 'read-only', 'VIEWER');
    const me = await server.gql(VIEWER, {}, { headers: { authorization: `Bearer ${viewerKey}` } });
    expect(me.data.viewer.role).toBe('VIEWER');
    const refused = await server.gql(`{ users { edges { node { id } } } }`, {}, { headers: { authorization: `Bearer ${viewerKey}` } });
    expect(refused.status).toBe(403);
    expect(refused.errors?.[0]).toMatchObject({ extensions: { code: 'FORBIDDEN' } });
    expect(refused.errors?.[0]?.message).toMatch(/needs the admin role/);

    await server.createUser('keyop', 'operator');
    const cookie = await server.signIn('keyop', 'keyop-password-123');
    const tooMuch = await server.gql(
      `mutation { createApiKey(input: { name: "escalate", role: ADMIN }) { __typename ... on Error { message } } }`,
      {},
      { cookie },
    );
    expect(tooMuch.data.createApiKey).toEqual({
      __typename: 'ValidationError',
      message: 'A key cannot do more than you: your role is operator, the key asked for admin.',
    });
  });

  it('refuses a duplicate name and a key of a disabled owner', async () => {
    const id = await server.createUser('keyowner', 'operator');
    const cookie = await server.signIn('keyowner', 'keyowner-password-123');
    const token = await server.createKey(cookie, 'mine');
    const dup = await server.gql(`mutation { createApiKey(input: { name: "mine" }) { __typename ... on Error { message } } }`, {}, { cookie });
    expect(dup.data.createApiKey).toEqual({ __typename: 'ConflictError', message: 'You already have a key named "mine".' });
    await server.gql(`mutation($input: UpdateUserInput!) { updateUser(input: $input) { __typename } }`, { input: { id, enabled: false } }, { cookie: server.adminCookie });
    const result = await server.gql(VIEWER, {}, { headers: { authorization: `Bearer ${token}` } });
    expect(result.status).toBe(401);
    expect(result.errors?.[0]?.message).toBe('The account "keyowner" that owns this API key is disabled.');
  });

  it("cannot revoke someone else's key", async () => {
    const keys = await server.gql(`{ apiKeys { edges { node { id } } } }`, {}, { cookie: server.adminCookie });
    await server.createUser('thief', 'operator');
    const cookie = await server.signIn('thief', 'thief-password-123');
    const result = await server.gql(
      `mutation($id: ID!) { revokeApiKey(id: $id) { __typename ... on Error { message } } }`,
      { id: keys.data.apiKeys.edges[0].node.id },
      { cookie },
    );
    expect(result.data.revokeApiKey.__typename).toBe('NotFoundError');
  });
});
