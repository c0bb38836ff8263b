/** The ping URLs over real HTTP: every form, bodies and their cap, rid pairing, refusals, no credentials. */
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { statementCount } from '../db/database';
import { startTestServer, type TestServer } from './support/server';
import { wsClient } from './support/ws';

const KIB = 1024;
/** The request body limit of this server: pings must take bodies far over it. */
const MAX_BODY = 256 * KIB;

const CREATE = `mutation($input: CreateCheckInput!) { createCheck(input: $input) { ... on CreateCheckSuccess { data { id pingKey } } ... on Error { message } } }`;
const CHECK = `query($id: ID!) { node(id: $id) { ... on Check { state lastPingKind lastSuccess lastStartAt lastDurationMs
  pings(first: 1) { edges { node { kind exitCode body bodyTruncated runKey durationMs source remoteAddr userAgent } } } } } }`;
const PAUSE = `mutation($id: ID!) { pauseCheck(id: $id) { __typename } }`;
const ROTATE = `mutation($id: ID!) { rotatePingKey(id: $id) { ... on RotatePingKeySuccess { data { pingKey } } } }`;

const uuidOf = (globalId: string) => Buffer.from(globalId, 'base64').toString().split(':')[1]!;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('ping URLs', () => {
  let server: TestServer;
  let seq = 0;

  beforeAll(async () => {
    // In-memory events: a NOTIFY would count among the statements a ping costs.
    server = await startTestServer({ maxBodyBytes: MAX_BODY, pubsub: 'memory' });
  });
  afterAll(() => server?.close());

  async function create(input: Record<string, unknown> = {}): Promise<{ id: string; pingKey: string }> {
    const result = await server.gql(CREATE, { input: { name: `ping-${++seq}`, ...input } }, { cookie: server.adminCookie });
    expect(result.data?.createCheck?.pingKey ?? result.data?.createCheck?.data, JSON.stringify(result)).toBeTruthy();
    return result.data.createCheck.data;
  }
  const read = async (id: string) => (await server.gql(CHECK, { id }, { cookie: server.adminCookie })).data.node;
  const lastPing = async (id: string) => (await read(id)).pings.edges[0]?.node;
  const hit = async (path: string, init: RequestInit = {}) => {
    const response = await fetch(`${server.url}${path}`, init);
    return { status: response.status, type: response.headers.get('content-type'), text: await response.text() };
  };
  const pingCount = async () => Number((await sql<{ n: string }>`select count(*) as n from pings`.execute(server.app.db)).rows[0]!.n);

  it('records a success for a plain GET with no credentials: 200 "OK", with source, address and user agent', async () => {
    const check = await create();
    // X-Forwarded-For is not believed without RUNBOARD_TRUST_PROXY.
    const answer = await hit(`/ping/${check.pingKey}`, { headers: { 'user-agent': 'cron-test/1.0', 'x-forwarded-for': '203.0.113.9' } });
    expect(answer).toEqual({ status: 200, type: 'text/plain; charset=utf-8', text: 'OK' });
    const after = await read(check.id);
    expect(after).toMatchObject({ state: 'UP', lastPingKind: 'SUCCESS', lastSuccess: true });
    expect(after.pings.edges[0].node).toMatchObject({ kind: 'SUCCESS', exitCode: null, body: null, source: 'http', userAgent: 'cron-test/1.0' });
    expect(after.pings.edges[0].node.remoteAddr).toMatch(/127\.0\.0\.1$/);
    // The key is case-insensitive (it is a UUID), and a trailing slash is fine.
    expect((await hit(`/ping/${check.pingKey.toUpperCase()}/`)).text).toBe('OK');
  });

  it('records the address from X-Forwarded-For behind a trusted proxy (RUNBOARD_TRUST_PROXY)', async () => {
    const proxied = await startTestServer({ trustProxy: true, pubsub: 'memory' });
    try {
      const result = await proxied.gql(CREATE, { input: { name: 'behind-proxy' } }, { cookie: proxied.adminCookie });
      const check = result.data.createCheck.data;
      const response = await fetch(`${proxied.url}/ping/${check.pingKey}/log`, { headers: { 'x-forwarded-for': '203.0.113.9, 10.0.0.1' } });
      expect(response.status).toBe(200);
      const ping = (await proxied.gql(CHECK, { id: check.id }, { cookie: proxied.adminCookie })).data.node.pings.edges[0].node;
      expect(ping).toMatchObject({ kind: 'LOG', remoteAddr: '203.0.113.9', source: 'http' });
    } finally {
      await proxied.close();
    }
  });

  it('takes every form, by GET and by POST: start, fail, log and exit codes (0 is success)', async () => {
    const check = await create();
    const forms: Array<[string, 'GET' | 'POST', Record<string, unknown>, string]> = [
      ['/start', 'GET', { kind: 'START', exitCode: null }, 'NEW'],
      ['', 'POST', { kind: 'SUCCESS', exitCode: null }, 'UP'],
      ['/fail', 'GET', { kind: 'FAIL', exitCode: null }, 'DOWN'],
      ['/0', 'POST', { kind: 'EXIT', exitCode: 0 }, 'UP'],
      ['/log', 'POST', { kind: 'LOG', exitCode: null }, 'UP'],
      ['/255', 'GET', { kind: 'EXIT', exitCode: 255 }, 'DOWN'],
      ['/START', 'POST', { kind: 'START', exitCode: null }, 'DOWN'],
      ['/0', 'GET', { kind: 'EXIT', exitCode: 0 }, 'UP'],
      ['/1', 'POST', { kind: 'EXIT', exitCode: 1 }, 'DOWN'],
    ];
    for (const [suffix, method, ping, state] of forms) {
      expect((await hit(`/ping/${check.pingKey}${suffix}`, { method })).status, `${method} ${suffix}`).toBe(200);
      const after = await read(check.id);
      expect(after.pings.edges[0].node, `${method} ${suffix}`).toMatchObject({ ...ping, source: 'http' });
      expect(after.state, `${method} ${suffix}`).toBe(state);
    }
  });

  it('keeps a POST body: the first 100 KiB, cut on a character boundary, marked truncated; never refused, even far over the request limit or chunked', async () => {
    const check = await create();
    expect((await hit(`/ping/${check.pingKey}/log`, { method: 'POST', body: 'line 1\nline 2 ✓' })).text).toBe('OK');
    expect(await lastPing(check.id)).toMatchObject({ kind: 'LOG', body: 'line 1\nline 2 ✓', bodyTruncated: false });

    const exact = 'x'.repeat(100 * KIB);
    await hit(`/ping/${check.pingKey}/log`, { method: 'POST', body: exact });
    expect(await lastPing(check.id)).toMatchObject({ body: exact, bodyTruncated: false });

    await hit(`/ping/${check.pingKey}/log`, { method: 'POST', body: `${exact}y` });
    expect(await lastPing(check.id)).toMatchObject({ body: exact, bodyTruncated: true });

    // 'é' is two bytes: 51,201 of them cannot end on the limit; the cut backs off to a whole one.
    await hit(`/ping/${check.pingKey}/log`, { method: 'POST', body: 'é'.repeat(51_201) });
    expect(await lastPing(check.id)).toMatchObject({ body: 'é'.repeat(51_200), bodyTruncated: true });

    // Twelve times the request body limit that /api/graphql enforces (it would answer 413).
    const huge = Buffer.alloc(12 * MAX_BODY, 'z');
    expect(await hit(`/ping/${check.pingKey}/fail`, { method: 'POST', body: huge })).toMatchObject({ status: 200, text: 'OK' });
    const stored = await lastPing(check.id);
    expect(stored).toMatchObject({ kind: 'FAIL', bodyTruncated: true });
    expect(stored.body).toHaveLength(100 * KIB);
    const graphqlRefuses = await fetch(`${server.url}/api/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: huge });
    expect(graphqlRefuses.status).toBe(413);

    // Chunked, of unknown length (which /api/graphql refuses with 411).
    const chunks = ['first ', 'second ', 'third'];
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        const next = chunks.shift();
        if (next === undefined) controller.close();
        else controller.enqueue(new TextEncoder().encode(next));
      },
    });
    const chunked = await fetch(`${server.url}/ping/${check.pingKey}`, { method: 'POST', body: stream, duplex: 'half' } as RequestInit);
    expect(chunked.status).toBe(200);
    expect(await lastPing(check.id)).toMatchObject({ kind: 'SUCCESS', body: 'first second third', bodyTruncated: false });
    const stored2 = await sql<{ bytes: number }>`select max(octet_length(body)) as bytes from pings where check_id = ${uuidOf(check.id)}`.execute(server.app.db);
    expect(stored2.rows[0]!.bytes).toBe(100 * KIB);
  });

  it('pairs ?rid= a start with its finish and measures the run, even with runs overlapping', async () => {
    const check = await create();
    expect((await hit(`/ping/${check.pingKey}/start?rid=run-a`)).text).toBe('OK');
    await sleep(300);
    expect((await hit(`/ping/${check.pingKey}/start?rid=run-b`)).text).toBe('OK');
    await sleep(300);
    await hit(`/ping/${check.pingKey}?rid=run-a`);
    const a = await read(check.id);
    expect(a.pings.edges[0].node).toMatchObject({ kind: 'SUCCESS', runKey: 'run-a' });
    expect(a.pings.edges[0].node.durationMs).toBeGreaterThanOrEqual(550);
    expect(a.pings.edges[0].node.durationMs).toBeLessThan(10_000);
    // Run b is still in progress.
    expect(a.lastStartAt).not.toBeNull();
    await hit(`/ping/${check.pingKey}/3?rid=run-b`, { method: 'POST' });
    const b = await read(check.id);
    expect(b.pings.edges[0].node).toMatchObject({ kind: 'EXIT', exitCode: 3, runKey: 'run-b' });
    expect(b.pings.edges[0].node.durationMs).toBeGreaterThanOrEqual(250);
    expect(b.pings.edges[0].node.durationMs).toBeLessThan(a.pings.edges[0].node.durationMs);
    expect(b).toMatchObject({ state: 'DOWN', lastStartAt: null, lastDurationMs: b.pings.edges[0].node.durationMs });

    const before = await pingCount();
    const long = await hit(`/ping/${check.pingKey}?rid=${'r'.repeat(141)}`);
    expect(long).toMatchObject({ status: 400, type: 'text/plain; charset=utf-8' });
    expect(long.text).toMatch(/^\?rid: The rid is 141 characters long; the limit is 140\./);
    expect(await pingCount()).toBe(before);
  });

  it('answers 404 "not found" for a key no check has (unknown, or rotated), recording nothing', async () => {
    const check = await create();
    const before = await pingCount();
    expect(await hit(`/ping/${crypto.randomUUID()}`)).toEqual({ status: 404, type: 'text/plain; charset=utf-8', text: 'not found' });
    const rotated = (await server.gql(ROTATE, { id: check.id }, { cookie: server.adminCookie })).data.rotatePingKey.data.pingKey;
    expect((await hit(`/ping/${check.pingKey}/start`, { method: 'POST', body: 'x' })).status).toBe(404);
    expect(await pingCount()).toBe(before);
    expect((await hit(`/ping/${rotated}/start`)).status).toBe(200);
  });

  it('answers 400 with what to change for a malformed path or exit code, 405 for other methods, never 500', async () => {
    const check = await create();
    const key = check.pingKey;
    const before = await pingCount();
    const cases: Array<[string, RegExp]> = [
      ['/ping', /^No ping key in the URL\. A ping URL is \/ping\/<key>/],
      ['/ping/', /^No ping key in the URL\./],
      ['/ping/not-a-uuid', /^"not-a-uuid" is not a ping key\. A ping URL is \/ping\/<key>, optionally followed by \/start, \/fail, \/log or \/<exit code 0-255>/],
      [`/ping/${key}/256`, /^Exit code "256" is out of range: send the script's exit status, 0-255 \(0 is success\)\./],
      [`/ping/${key}/99999999999999999999`, /is out of range/],
      [`/ping/${key}/-1`, /^"-1" is not a kind of ping: after the key use start, fail, log or an exit code 0-255 \(nothing for success\)\./],
      [`/ping/${key}/1.5`, /"1\.5" is not a kind of ping/],
      [`/ping/${key}/restart`, /"restart" is not a kind of ping/],
      [`/ping/${key}/start/now`, /^Too many parts after the key \("start\/now"\)\./],
    ];
    for (const [path, message] of cases) {
      for (const method of ['GET', 'POST']) {
        const answer = await hit(path, { method, ...(method === 'POST' && { body: 'some output' }) });
        expect(answer.status, `${method} ${path}`).toBe(400);
        expect(answer.text, `${method} ${path}`).toMatch(message);
      }
    }
    for (const method of ['PUT', 'DELETE', 'HEAD', 'OPTIONS']) {
      const response = await fetch(`${server.url}/ping/${key}`, { method });
      expect(response.status, method).toBe(405);
      expect(response.headers.get('allow')).toBe('GET, POST');
      if (method !== 'HEAD') expect(await response.text()).toBe(`Send pings with GET or POST, not ${method}.`);
    }
    expect(await pingCount()).toBe(before);
  });

  it('needs nothing but the key (no session, key or same-origin check), and opens no other route', async () => {
    const check = await create();
    // What a cross-site form would send: /api/graphql refuses it, a ping takes it.
    const crossSite = { method: 'POST', headers: { origin: 'https://evil.example', 'content-type': 'text/plain' }, body: 'hi' };
    expect(await hit(`/ping/${check.pingKey}`, crossSite)).toMatchObject({ status: 200, text: 'OK' });
    expect((await fetch(`${server.url}/api/graphql`, crossSite)).status).toBe(403);
    // A stale or wrong credential is not looked at.
    expect((await hit(`/ping/${check.pingKey}/log`, { headers: { authorization: 'Bearer rb_not_a_key', cookie: 'runboard_session=nope' } })).status).toBe(200);

    // Everything else still needs credentials.
    const anonymous = await server.gql(`{ checks(first: 1) { totalCount } }`);
    expect(anonymous.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    const anonymousPing = await server.gql(`mutation { recordPing(input: { pingKey: "${check.pingKey}", kind: SUCCESS }) { __typename } }`);
    expect(anonymousPing.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    for (const path of ['/pingx', `/api/ping/${check.pingKey}`, `/pings/${check.pingKey}`]) {
      expect((await fetch(`${server.url}${path}`)).status, path).toBe(404);
    }
    expect((await lastPing(check.id)).kind).toBe('LOG');
  });

  it('records pings to a paused check, which stays paused', async () => {
    const check = await create();
    await hit(`/ping/${check.pingKey}`);
    expect((await server.gql(PAUSE, { id: check.id }, { cookie: server.adminCookie })).data.pauseCheck.__typename).toBe('PauseCheckSuccess');
    expect((await hit(`/ping/${check.pingKey}/fail`)).text).toBe('OK');
    expect(await read(check.id)).toMatchObject({ state: 'PAUSED', lastPingKind: 'FAIL', lastSuccess: false });
  });

  it('costs one transaction: lock, insert, update (and the event of a flip), no more', async () => {
    const check = await create();
    await hit(`/ping/${check.pingKey}`); // new → up: a flip
    const statements = async (path: string) => {
      const before = statementCount(server.app.db);
      expect((await hit(path)).status).toBe(200);
      return statementCount(server.app.db) - before;
    };
    // begin, lock the check, insert the ping, update the check, commit.
    expect(await statements(`/ping/${check.pingKey}`)).toBe(5);
    // … and the flip's event.
    expect(await statements(`/ping/${check.pingKey}/fail`)).toBe(6);
    // LOG changes nothing on the check.
    expect(await statements(`/ping/${check.pingKey}/log`)).toBe(4);
  });

  it('writes flips as audit events (anonymous, with the address) and tells checkUpdated and eventAdded subscribers', async () => {
    const check = await create();
    const token = await server.createKey(server.adminCookie, 'ping-ws', 'ADMIN');
    const client = wsClient(server.url, { apiKey: token });
    const changes: any[] = [];
    const added: any[] = [];
    const fail = (error: unknown) => changes.push({ error });
    client.subscribe(
      { query: `subscription($id: ID) { checkUpdated(id: $id) { kind check { state } } }`, variables: { id: check.id } },
      { next: (r) => void changes.push(r.data?.checkUpdated ?? r.errors), error: fail, complete: () => undefined },
    );
    client.subscribe(
      { query: `subscription { eventAdded { action objectType objectId objectName details actorKind ip } }` },
      { next: (r) => void added.push(r.data?.eventAdded ?? r.errors), error: fail, complete: () => undefined },
    );
    await sleep(300);
    const until = async (done: () => boolean) => {
      for (let i = 0; i < 500 && !done(); i++) await sleep(10);
    };
    for (const [i, suffix] of ['', '/log', '/fail', '/fail', '/0'].entries()) {
      expect((await hit(`/ping/${check.pingKey}${suffix}`)).status).toBe(200);
      await until(() => changes.length > i);
    }
    await until(() => added.filter((e) => e.objectId === check.id).length >= 3);
    await client.dispose();
    // LOG publishes like any ping, but neither it nor the second FAIL flips anything.
    expect(changes.map((c) => `${c.kind} ${c.check.state}`)).toEqual(['PINGED UP', 'PINGED UP', 'PINGED DOWN', 'PINGED DOWN', 'PINGED UP']);
    const flips = added.filter((e) => e.objectId === check.id);
    expect(flips).toEqual([
      { action: 'check.up', objectType: 'Check', objectId: check.id, objectName: `ping-${seq}`, details: { from: 'new', to: 'up' }, actorKind: 'ANONYMOUS', ip: expect.stringMatching(/127\.0\.0\.1$/) },
      expect.objectContaining({ action: 'check.down', details: { from: 'up', to: 'down' } }),
      expect.objectContaining({ action: 'check.up', details: { from: 'down', to: 'up' } }),
    ]);
    const rows = await sql<{ action: string; object_type: string; details: unknown }>`
      select action, object_type, details from events where object_id = ${uuidOf(check.id)} and action like 'check.%' and action <> 'check.created' order by at`.execute(server.app.db);
    expect(rows.rows).toEqual([
      { action: 'check.up', object_type: 'Check', details: { from: 'new', to: 'up' } },
      { action: 'check.down', object_type: 'Check', details: { from: 'up', to: 'down' } },
      { action: 'check.up', object_type: 'Check', details: { from: 'down', to: 'up' } },
    ]);
  });
});
