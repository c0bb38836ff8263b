import { getIntrospectionQuery } from 'graphql';
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './support/server';

/** A raw HTTP request, for what fetch will not send (chunked bodies, odd headers). */
function raw(url: string, options: { method?: string; headers?: Record<string, string>; body?: string; chunked?: boolean }): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${url}/api/graphql`, { method: options.method ?? 'POST', headers: options.headers }, (res) => {
      let body = '';
      res.on('data', (chunk) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
    });
    req.on('error', reject);
    if (options.chunked) {
      req.write(options.body ?? '');
      req.end();
    } else req.end(options.body);
  });
}

describe('abuse limits', () => {
  let server: TestServer;
  let key: string;
  beforeAll(async () => {
    server = await startTestServer({ maxBodyBytes: 4096 });
    key = await server.createKey(server.adminCookie, 'limits');
  });
  afterAll(() => server?.close());

  const auth = () => ({ authorization: `Bearer ${key}` });

  it('refuses a body over the limit with 413 before reading it', async () => {
    const body = JSON.stringify({ query: `{ viewer { role } }`, variables: { pad: 'x'.repeat(5000) } });
    const result = await raw(server.url, { headers: { ...auth(), 'content-type': 'application/json', 'content-length': String(body.length) }, body });
    expect(result.status).toBe(413);
    expect(JSON.parse(result.body).errors[0].message).toBe('The request body is larger than the limit of 4096 bytes (RUNBOARD_MAX_BODY_BYTES).');
  });

  it('refuses a chunked body of unknown length with 411', async () => {
    const result = await raw(server.url, { headers: { ...auth(), 'content-type': 'application/json', 'transfer-encoding': 'chunked' }, body: '{"query":"{ viewer { role } }"}', chunked: true });
    expect(result.status).toBe(411);
  });

  it('refuses queries that are too deep, too costly or use too many aliases, and still allows introspection', async () => {
    const standard = await server.gql(getIntrospectionQuery(), {}, { headers: auth() });
    expect(standard.data.__schema.queryType.name).toBe('Query');
    let cycle = 'name';
    for (let i = 0; i < 12; i++) cycle = `fields { type { ${cycle} } }`;
    const deep = await server.gql(`{ __schema { types { ${cycle} } } }`, {}, { headers: auth() });
    expect(deep.errors?.[0]?.message).toBe('Maximum introspection depth exceeded');
    const costly = await server.gql(`{ __type(name: "Query") { ${cycle} } }`, {}, { headers: auth() });
    expect(costly.errors?.[0]?.message).toMatch(/Query Cost limit of 5000 exceeded/);
    const aliases = `{ ${Array.from({ length: 30 }, (_, i) => `a${i}: viewer { role }`).join(' ')} }`;
    const many = await server.gql(aliases, {}, { headers: auth() });
    expect(many.errors?.[0]?.message).toMatch(/Aliases limit of 20 exceeded/i);
    expect(many.data).toBeUndefined();
  });

  it('refuses a query that walks the domain graph too deep, and serves the console\'s own deep queries', async () => {
    let walk = 'name';
    for (let i = 0; i < 3; i++) walk = `hosts { edges { node { groups { ${walk} } } } }`;
    const deep = await server.gql(`{ groups { edges { node { ${walk} } } } }`, {}, { headers: auth() });
    expect(deep.errors?.[0]?.message).toMatch(/depth limit of 12 exceeded/i);
    const console = await server.gql(
      `{ runs(first: 50) { edges { cursor node { id state script { name groups { name } } host { name groups { name } } schedule { name } } } pageInfo { endCursor } } }`,
      {},
      { headers: auth() },
    );
    expect(console.errors).toBeUndefined();
  });

  it('refuses cookie-authenticated requests a cross-site form could send', async () => {
    const body = JSON.stringify({ query: `mutation { signOut }` });
    const plain = await raw(server.url, { headers: { cookie: server.adminCookie, 'content-type': 'text/plain', 'content-length': String(body.length) }, body });
    expect(plain.status).toBe(415);
    expect(JSON.parse(plain.body).errors[0].message).toBe('Send GraphQL requests with "Content-Type: application/json".');
    const crossOrigin = await server.gql(`{ viewer { role } }`, {}, { cookie: server.adminCookie, headers: { origin: 'https://evil.example' } });
    expect(crossOrigin.status).toBe(403);
    expect(crossOrigin.errors?.[0]?.message).toBe('Cross-site request refused: origin https://evil.example is not this server.');
    // The session survived: the forged sign-out never ran.
    expect((await server.gql(`{ viewer { role } }`, {}, { cookie: server.adminCookie })).data.viewer.role).toBe('ADMIN');
    // Same origin is fine.
    const host = new URL(server.url).host;
    const same = await server.gql(`{ viewer { role } }`, {}, { cookie: server.adminCookie, headers: { origin: `http://${host}` } });
    expect(same.status).toBe(200);
  });

  it('gives each response a request id, and keeps a sane one from the client', async () => {
    const mine = await raw(server.url, { method: 'POST', headers: { ...auth(), 'content-type': 'application/json', 'x-request-id': 'trace-123' }, body: '{"query":"{ viewer { role } }"}' });
    expect(mine.headers['x-request-id']).toBe('trace-123');
    const generated = await raw(server.url, { method: 'POST', headers: { ...auth(), 'content-type': 'application/json', 'x-request-id': 'bad id with spaces' }, body: '{"query":"{ viewer { role } }"}' });
    expect(generated.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('answers malformed JSON and a missing query with 400 and a message', async () => {
    const broken = await raw(server.url, { headers: { ...auth(), 'content-type': 'application/json' }, body: '{"query": ' });
    expect(broken.status).toBe(400);
    expect(JSON.parse(broken.body).errors[0].message).toMatch(/JSON/i);
    const empty = await raw(server.url, { headers: { ...auth(), 'content-type': 'application/json' }, body: '{}' });
    expect(JSON.parse(empty.body).errors[0].message).toBe('Must provide query string.');
  });

  it('shows GraphiQL only to people signed in', async () => {
    const anonymous = await fetch(`${server.url}/api/graphql`, { headers: { accept: 'text/html' } });
    expect(anonymous.status).toBe(401);
    expect(await anonymous.text()).toContain('Sign in to use GraphiQL.');
    const signedIn = await fetch(`${server.url}/api/graphql`, { headers: { accept: 'text/html', cookie: server.adminCookie } });
    expect(signedIn.status).toBe(200);
    expect(await signedIn.text()).toMatch(/graphiql/i);
  });
});
