import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './support/server';
import { runOnce, wsClient } from './support/ws';

const VIEWER = `{ viewer { role via user { username } } }`;

describe('graphql-ws on /api/graphql', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(() => server?.close());

  it('refuses anonymous connections with 4401 and a reason', async () => {
    const client = wsClient(server.url);
    const outcome = await runOnce(client, VIEWER);
    await client.dispose();
    expect(outcome.closed).toEqual({ code: 4401, reason: 'Unauthorized: sign in first, or pass connectionParams.apiKey.' });
  });

  it('refuses a wrong key, saying why', async () => {
    const client = wsClient(server.url, { apiKey: 'rbk_nope' });
    const outcome = await runOnce(client, VIEWER);
    await client.dispose();
    expect(outcome.closed).toEqual({ code: 4401, reason: 'Unauthorized: The API key is not valid.' });
  });

  it('accepts the session cookie on the upgrade', async () => {
    const client = wsClient(server.url, { cookie: server.adminCookie });
    const outcome = await runOnce(client, VIEWER);
    await client.dispose();
    expect(outcome.data).toEqual({ viewer: { role: 'ADMIN', via: 'SESSION', user: { username: 'admin' } } });
  });

  it('refuses a cookie sent from another site (cross-site WebSocket hijacking)', async () => {
    const client = wsClient(server.url, { cookie: server.adminCookie, origin: 'https://evil.example' });
    const outcome = await runOnce(client, VIEWER);
    await client.dispose();
    expect(outcome.closed?.code).toBe(4401);
    expect(outcome.closed?.reason).toMatch(/Cross-site WebSocket refused/);
  });

  it('accepts connectionParams.apiKey and delivers subscription events', async () => {
    const token = await server.createKey(server.adminCookie, 'ws');
    const client = wsClient(server.url, { apiKey: token });
    const events: unknown[] = [];
    const received = new Promise<void>((resolve, reject) => {
      client.subscribe(
        { query: `subscription { userChanged { kind user { username } } }` },
        {
          next: (result) => {
            events.push(result.data);
            resolve();
          },
          error: reject,
          complete: () => undefined,
        },
      );
    });
    // Let the subscription start before the event is published.
    await new Promise((r) => setTimeout(r, 300));
    await server.createUser('ws-newcomer', 'viewer');
    await received;
    await client.dispose();
    expect(events[0]).toEqual({ userChanged: { kind: 'CREATED', user: { username: 'ws-newcomer' } } });
  });

  it('answers a malformed query with an error, and keeps the socket', async () => {
    const token = await server.createKey(server.adminCookie, 'ws-bad');
    const client = wsClient(server.url, { apiKey: token });
    const bad = await runOnce(client, `{ viewer { `);
    expect(bad.errors?.[0]?.message).toMatch(/Syntax Error/);
    const unknown = await runOnce(client, `{ nothingHere }`);
    expect(unknown.errors?.[0]?.message).toMatch(/Cannot query field "nothingHere"/);
    const good = await runOnce(client, VIEWER);
    await client.dispose();
    expect(good.data?.viewer.user.username).toBe('admin');
  });

  it('stops serving a connection whose key was revoked', async () => {
    const token = await server.createKey(server.adminCookie, 'ws-revoked');
    const client = wsClient(server.url, { apiKey: token });
    expect((await runOnce(client, VIEWER)).data?.viewer.via).toBe('API_KEY');
    const keys = await server.gql(`{ apiKeys { edges { node { id name } } } }`, {}, { cookie: server.adminCookie });
    const id = keys.data.apiKeys.edges.map((e: { node: unknown }) => e.node).find((k: { name: string }) => k.name === 'ws-revoked').id;
    await server.gql(`mutation($id: ID!) { revokeApiKey(id: $id) { __typename } }`, { id }, { cookie: server.adminCookie });
    const after = await runOnce(client, VIEWER);
    await client.dispose();
    expect(after.closed?.code ?? after.errors?.[0]?.extensions?.code).toSatisfy((v) => v === 4401 || v === 'UNAUTHENTICATED');
  });
});
