import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './support/server';

describe('unexpected failures', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(() => server?.close());

  it('are masked: a message with the request id, no internals, and the server keeps serving', async () => {
    const key = await server.createKey(server.adminCookie, 'errors');
    // Break the database under the running server: every query now fails unexpectedly.
    await server.app.db.schema.alterTable('users').renameTo('users_gone').execute().catch(() => undefined);
    const result = await server.gql(`{ users { edges { node { id } } } }`, {}, { headers: { authorization: `Bearer ${key}`, 'x-request-id': 'req-42' } });
    expect(result.errors?.[0]?.message).toBe('Something went wrong on our side; it has been logged with request id req-42.');
    expect(result.errors?.[0]?.extensions?.code).toBe('INTERNAL_SERVER_ERROR');
    expect(JSON.stringify(result)).not.toMatch(/users_gone|relation|stack|\.ts:/);
    await server.app.db.schema.alterTable('users_gone').renameTo('users').execute();
    const healed = await server.gql(`{ users { nodes: edges { node { username } } } }`, {}, { headers: { authorization: `Bearer ${key}` } });
    expect(healed.data.users.nodes.map((e: { node: { username: string } }) => e.node.username)).toEqual(['admin']);
  });
});
