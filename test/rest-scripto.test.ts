/**
 * Scripto over real HTTP: every example of seeds/scripto-api.md (with credentials added), the
 * facts COMPAT.md adds (pagination, Link, 0/1 status, the clock words, periodicity, 404 `{}`,
 * 405 on the collection) and malformed input, each refused in Scripto's format with nothing written.
 */
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basic, startTestServer, type TestServer } from './support/server';

const NOW_TOLERANCE_MS = 5_000;

describe('Scripto REST dialect', () => {
  let server: TestServer;
  let operator: string;
  let admin: string;
  let viewer: string;

  beforeAll(async () => {
    server = await startTestServer({ maxBodyBytes: 64 * 1024, pubsub: 'memory' });
    await server.createUser('scripto-op', 'operator');
    await server.createUser('scripto-viewer', 'viewer');
    operator = basic('scripto-op', 'scripto-op-password-123');
    viewer = `Bearer ${await server.createKey(await server.signIn('scripto-viewer', 'scripto-viewer-password-123'), 'viewer key')}`;
    admin = `Bearer ${await server.createKey(server.adminCookie, 'admin key')}`;
  });
  afterAll(() => server?.close());

  async function call(method: string, path: string, options: { body?: string; type?: string | null; auth?: string | null } = {}) {
    const headers: Record<string, string> = {};
    const type = options.type === undefined ? 'application/json' : options.type;
    if (type) headers['content-type'] = type;
    const auth = options.auth === undefined ? operator : options.auth;
    if (auth) headers.authorization = auth;
    const response = await fetch(`${server.url}${path}`, { method, headers, body: options.body });
    const text = await response.text();
    let json: any;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    return { status: response.status, headers: response.headers, text, json };
  }
  const counts = async () => {
    const { rows } = await sql<{ checks: string; pings: string; events: string }>`
      select (select count(*) from checks) as checks, (select count(*) from pings) as pings, (select count(*) from events) as events`.execute(server.app.db);
    return rows[0]!;
  };
  const nearNow = (legacy: string) => Math.abs(new Date(`${legacy}Z`).getTime() - Date.now()) < NOW_TOLERANCE_MS;

  describe('the seed document, example by example', () => {
    let id: number;

    it('POST /api/v1/script with CURRENT_TIMESTAMP → 201, the object, Location', async () => {
      const answer = await call('POST', '/api/v1/script', {
        body: JSON.stringify({ last_exec: 'CURRENT_TIMESTAMP', name: 'test.sh', server: 'myserver.local', status: true }),
      });
      expect(answer.status).toBe(201);
      expect(answer.headers.get('content-type')).toBe('application/json');
      expect(answer.json).toMatchObject({ name: 'test.sh', server: 'myserver.local', status: true });
      expect(Object.keys(answer.json).sort()).toEqual(['id', 'last_exec', 'name', 'periodicity', 'server', 'status']);
      expect(answer.json.id).toEqual(expect.any(Number));
      expect(answer.json.last_exec).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$/);
      expect(nearNow(answer.json.last_exec)).toBe(true);
      expect(answer.headers.get('location')).toBe(`${server.url}/api/v1/script/${answer.json.id}`);
      expect(answer.headers.get('content-length')).toBe(String(Buffer.byteLength(answer.text)));
      // Pretty-printed with sorted keys, as Flask wrote it.
      expect(answer.text).toBe(`${JSON.stringify(Object.fromEntries(Object.entries(answer.json).sort()), null, 2)}\n`);
    });

    it('curl creation with status 0 → 201 with status false', async () => {
      const answer = await call('POST', '/api/v1/script', {
        body: `{"last_exec":"CURRENT_TIMESTAMP", "name": "test_curl.sh", "server": "myserver.local", "status": 0}`,
      });
      expect(answer.status).toBe(201);
      expect(answer.json).toMatchObject({ name: 'test_curl.sh', server: 'myserver.local', status: false });
      expect(answer.headers.get('location')).toBe(`${server.url}/api/v1/script/${answer.json.id}`);
      id = answer.json.id;
    });

    it('curl update with PUT and status 1 → 200, the full object, recorded as a check-in', async () => {
      const before = await counts();
      const answer = await call('PUT', `/api/v1/script/${id}`, {
        body: `{"last_exec":"CURRENT_TIMESTAMP", "name": "test_curl.sh", "server": "myserver.local", "status": 1}`,
      });
      expect(answer.status).toBe(200);
      expect(answer.json).toMatchObject({ id, name: 'test_curl.sh', server: 'myserver.local', status: true });
      expect(nearNow(answer.json.last_exec)).toBe(true);
      const after = await counts();
      expect(Number(after.pings)).toBe(Number(before.pings) + 1);
      // Nothing but the outcome changed: no audit event (a flip to up is one).
      const { rows } = await sql<{ kind: string; source: string }>`select kind, source from pings order by received_at desc limit 1`.execute(server.app.db);
      expect(rows[0]).toEqual({ kind: 'success', source: 'scripto' });
    });

    it('curl DELETE → 204 with an empty body', async () => {
      const answer = await call('DELETE', `/api/v1/script/${id}`, { auth: admin });
      expect(answer.status).toBe(204);
      expect(answer.text).toBe('');
      expect((await call('GET', `/api/v1/script/${id}`)).status).toBe(404);
    });
  });

  describe('what COMPAT.md adds', () => {
    it('GET one; an unknown or non-numeric id is 404 {}', async () => {
      const created = (await call('POST', '/api/v1/script', { body: JSON.stringify({ last_exec: '2017-08-02T14:16:25', name: 'one.sh', server: 'h1', status: true }) })).json;
      const answer = await call('GET', `/api/v1/script/${created.id}`, { type: null, auth: viewer });
      expect(answer.status).toBe(200);
      expect(answer.json).toEqual({ id: created.id, last_exec: '2017-08-02T14:16:25', name: 'one.sh', server: 'h1', status: true, periodicity: 'daily' });
      for (const path of ['/api/v1/script/999999', '/api/v1/script/abc', '/api/v1/script/1.5']) {
        const missing = await call('GET', path, { type: null });
        expect([missing.status, missing.json], path).toEqual([404, {}]);
      }
      expect((await call('DELETE', '/api/v1/script/999999', { auth: admin })).json).toEqual({});
      expect((await call('PUT', '/api/v1/script/999999', { body: '{"status": 1}' })).status).toBe(404);
    });

    it('PUT and PATCH are partial updates; periodicity sets the expected period', async () => {
      const created = (await call('POST', '/api/v1/script', { body: JSON.stringify({ last_exec: 'CURRENT_TIMESTAMP', name: 'partial.sh', server: 'h2', status: true, periodicity: 'hourly' }) })).json;
      expect(created.periodicity).toBe('hourly');
      const patched = await call('PATCH', `/api/v1/script/${created.id}`, { body: JSON.stringify({ server: 'h3' }) });
      expect(patched.json).toMatchObject({ id: created.id, name: 'partial.sh', server: 'h3', status: true, periodicity: 'hourly', last_exec: created.last_exec });
      const weekly = await call('PUT', `/api/v1/script/${created.id}`, { body: JSON.stringify({ periodicity: 'weekly', status: false }) });
      expect(weekly.json).toMatchObject({ server: 'h3', status: false, periodicity: 'weekly' });
      const check = await server.gql(`{ check(number: ${created.id}) { periodSeconds lastSuccess state } }`, {}, { cookie: server.adminCookie });
      expect(check.data.check).toMatchObject({ periodSeconds: 604_800, lastSuccess: false, state: 'DOWN' });
    });

    it('CURRENT_DATE is today at midnight UTC; LOCALTIMESTAMP the server clock; a zoned time is converted', async () => {
      const today = new Date().toISOString().slice(0, 10);
      const date = await call('POST', '/api/v1/script', { body: JSON.stringify({ last_exec: 'CURRENT_DATE', name: 'date.sh', server: 'h', status: 1 }) });
      expect(date.json.last_exec).toBe(`${today}T00:00:00`);
      const local = await call('POST', '/api/v1/script', { body: JSON.stringify({ last_exec: 'LOCALTIMESTAMP', name: 'local.sh', server: 'h', status: 1 }) });
      expect(local.status).toBe(201);
      const zoned = await call('POST', '/api/v1/script', { body: JSON.stringify({ last_exec: '2020-01-01T12:00:00+02:00', name: 'zoned.sh', server: 'h', status: 1 }) });
      expect(zoned.json.last_exec).toBe('2020-01-01T10:00:00');
    });

    it('lists page by page, with num_results, total_pages and a Link header', async () => {
      for (let i = 0; i < 12; i++) {
        await call('POST', '/api/v1/script', { body: JSON.stringify({ last_exec: 'CURRENT_TIMESTAMP', name: `page-${i}.sh`, server: 'pager', status: true }) });
      }
      const first = await call('GET', '/api/v1/script', { type: null, auth: viewer });
      expect(first.status).toBe(200);
      const total = first.json.num_results;
      expect(total).toBeGreaterThanOrEqual(12);
      expect(first.json).toMatchObject({ page: 1, total_pages: Math.ceil(total / 10) });
      expect(first.json.objects).toHaveLength(10);
      const ids = first.json.objects.map((o: { id: number }) => o.id);
      expect([...ids].sort((a, b) => a - b)).toEqual(ids);
      expect(first.headers.get('link')).toBe(
        `<${server.url}/api/v1/script?page=2&results_per_page=10>; rel="next", <${server.url}/api/v1/script?page=${Math.ceil(total / 10)}&results_per_page=10>; rel="last"`,
      );
      const second = await call('GET', '/api/v1/script?page=2&results_per_page=5', { type: null });
      expect(second.json.page).toBe(2);
      expect(second.json.objects.map((o: { id: number }) => o.id)).toEqual(ids.slice(5, 10));
      const capped = await call('GET', '/api/v1/script?results_per_page=1000', { type: null });
      expect(capped.json.objects.length).toBeLessThanOrEqual(100);
      const past = await call('GET', '/api/v1/script?page=999', { type: null });
      expect(past.json).toMatchObject({ page: 999, objects: [] });
      expect(past.headers.get('link')).not.toContain('rel="next"');
      expect((await call('GET', '/api/v1/script?page=zero', { type: null })).status).toBe(400);
    });

    it('PUT, PATCH and DELETE on the collection are 405', async () => {
      for (const method of ['PUT', 'PATCH', 'DELETE']) {
        const answer = await call(method, '/api/v1/script', { body: method === 'DELETE' ? undefined : '{}', auth: admin });
        expect(answer.status, method).toBe(405);
        expect(answer.json.message).toMatch(/not allowed/);
        expect(answer.headers.get('allow')).toBe('GET, POST');
      }
    });

    it('the anonymous check-in option admits writes from listed networks only, and never reads or deletes', async () => {
      const body = JSON.stringify({ last_exec: 'CURRENT_TIMESTAMP', name: 'anon.sh', server: 'lan', status: true });
      const refused = await call('POST', '/api/v1/script', { body, auth: null });
      expect(refused.status).toBe(401);
      expect(refused.headers.get('www-authenticate')).toMatch(/^Basic realm="scripto"/);
      expect(refused.json.message).toMatch(/credentials/);
      const set = async (networks: string[]) =>
        server.gql(`mutation($n: [String!]!) { updateOptions(input: { anonymousCheckinNetworks: $n }) { __typename } }`, { n: networks }, { cookie: server.adminCookie });
      await set(['10.0.0.0/8']);
      await new Promise((r) => setTimeout(r, 1_100)); // the list is cached for a second
      expect((await call('POST', '/api/v1/script', { body, auth: null })).status).toBe(401);
      const admitted = await set(['127.0.0.0/8', '::1/128']);
      expect(admitted.data, JSON.stringify(admitted)).toEqual({ updateOptions: { __typename: 'UpdateOptionsSuccess' } });
      await new Promise((r) => setTimeout(r, 1_100));
      const created = await call('POST', '/api/v1/script', { body, auth: null });
      expect(created.status).toBe(201);
      expect((await call('PUT', `/api/v1/script/${created.json.id}`, { body: '{"status": 0}', auth: null })).json.status).toBe(false);
      expect((await call('GET', `/api/v1/script/${created.json.id}`, { auth: null, type: null })).status).toBe(401);
      expect((await call('DELETE', `/api/v1/script/${created.json.id}`, { auth: null })).status).toBe(401);
      await set([]);
    });

    it('a viewer reads but may not report; an operator may not delete', async () => {
      const body = JSON.stringify({ last_exec: 'CURRENT_TIMESTAMP', name: 'roles.sh', server: 'h', status: true });
      const denied = await call('POST', '/api/v1/script', { body, auth: viewer });
      expect(denied.status).toBe(403);
      expect(denied.json.message).toMatch(/viewer/);
      const created = await call('POST', '/api/v1/script', { body });
      const notAdmin = await call('DELETE', `/api/v1/script/${created.json.id}`);
      expect(notAdmin.status).toBe(403);
      expect(notAdmin.json.message).toMatch(/admin/);
      const wrong = await call('GET', '/api/v1/script', { auth: basic('scripto-op', 'wrong-password') });
      expect(wrong.status).toBe(401);
      expect(wrong.json.message).toBe('Wrong username or password.');
    });
  });

  describe('reports arriving together (written in batches)', () => {
    it('every report of a burst is a ping, applied in order; each caller gets its own answer', async () => {
      const make = async (name: string) =>
        (await call('POST', '/api/v1/script', { body: JSON.stringify({ last_exec: 'CURRENT_TIMESTAMP', name, server: 'burst', status: true }) })).json.id as number;
      const ids = await Promise.all(Array.from({ length: 20 }, (_, i) => make(`burst-${i}.sh`)));
      const before = await counts();
      // 20 scripts report at once, 10 times each one after the other; the last report says it failed.
      const chains = await Promise.all(
        ids.map(async (id, i) => {
          const answers = [];
          for (let k = 0; k < 10; k++) {
            const body = { last_exec: `2026-01-01T00:00:${String(k).padStart(2, '0')}`, name: `burst-${i}.sh`, server: 'burst', status: k === 9 ? 0 : 1 };
            answers.push(await call('PUT', `/api/v1/script/${id}`, { body: JSON.stringify(body) }));
          }
          return answers;
        }),
      );
      const answers = chains.flat();
      expect(answers.every((a) => a.status === 200)).toBe(true);
      // The same script reported by several callers at once: every report counts.
      const same = await Promise.all(Array.from({ length: 10 }, () => call('PUT', `/api/v1/script/${ids[0]}`, { body: '{"status": 0}' })));
      expect(same.every((a) => a.status === 200 && a.json.status === false)).toBe(true);
      const after = await counts();
      expect(Number(after.pings) - Number(before.pings)).toBe(210);
      // A report's answer is the check as that report left it.
      for (const answer of answers) expect(answer.json.status).toBe(answer.json.last_exec !== '2026-01-01T00:00:09');
      for (const id of ids.slice(1)) {
        const script = (await call('GET', `/api/v1/script/${id}`)).json;
        expect(script).toMatchObject({ status: false, last_exec: '2026-01-01T00:00:09' });
      }
      // One flip to down per script, each audited.
      const { rows } = await sql<{ n: number }>`select count(*)::int as n from events where action = 'check.down' and object_name like 'burst-%'`.execute(server.app.db);
      expect(rows[0]!.n).toBe(20);
    });

    it('a burst mixing renames, unknown scripts and plain reports gives each its own outcome', async () => {
      const id = (await call('POST', '/api/v1/script', { body: JSON.stringify({ last_exec: 'CURRENT_TIMESTAMP', name: 'mix.sh', server: 'mix', status: true }) })).json.id;
      const answers = await Promise.all([
        call('PUT', `/api/v1/script/${id}`, { body: '{"status": 1}' }),
        call('PUT', '/api/v1/script/987654', { body: '{"status": 1}' }),
        call('PUT', `/api/v1/script/${id}`, { body: '{"status": 1, "name": "mix-renamed.sh"}' }),
        call('PUT', `/api/v1/script/${id}`, { body: '{"status": 1}' }),
      ]);
      expect(answers.map((a) => a.status)).toEqual([200, 404, 200, 200]);
      expect((await call('GET', `/api/v1/script/${id}`)).json.name).toBe('mix-renamed.sh');
    });
  });

  describe('malformed input: Scripto\'s error format, a 4xx, nothing written', () => {
    const cases: Array<[string, { method?: string; path?: string; body?: string; type?: string | null }, number, RegExp]> = [
      ['no JSON content type', { body: '{"name":"x"}', type: 'text/plain' }, 415, /^Request must have "Content-Type: application\/json" header$/],
      ['no content type at all', { body: '{"name":"x"}', type: null }, 415, /Content-Type: application\/json/],
      ['broken JSON', { body: '{"name": ' }, 400, /^Unable to decode data$/],
      ['a JSON array', { body: '[1,2]' }, 400, /Unable to decode data/],
      ['an unknown field', { body: JSON.stringify({ name: 'x', server: 'y', status: true, last_exec: 'CURRENT_TIMESTAMP', colour: 'red' }) }, 400, /'colour'/],
      ['a missing name', { body: JSON.stringify({ server: 'y', status: true, last_exec: 'CURRENT_TIMESTAMP' }) }, 400, /'name'/],
      ['a missing server', { body: JSON.stringify({ name: 'x', status: true, last_exec: 'CURRENT_TIMESTAMP' }) }, 400, /'server'/],
      ['a missing status', { body: JSON.stringify({ name: 'x', server: 'y', last_exec: 'CURRENT_TIMESTAMP' }) }, 400, /'status'/],
      ['a missing last_exec', { body: JSON.stringify({ name: 'x', server: 'y', status: true }) }, 400, /'last_exec'/],
      ['status "yes"', { body: JSON.stringify({ name: 'x', server: 'y', status: 'yes', last_exec: 'CURRENT_TIMESTAMP' }) }, 400, /status must be true or false/],
      ['status 2', { body: JSON.stringify({ name: 'x', server: 'y', status: 2, last_exec: 'CURRENT_TIMESTAMP' }) }, 400, /status/],
      ['a numeric name', { body: JSON.stringify({ name: 5, server: 'y', status: true, last_exec: 'CURRENT_TIMESTAMP' }) }, 400, /name must be a string/],
      ['a bad date', { body: JSON.stringify({ name: 'x', server: 'y', status: true, last_exec: 'yesterday' }) }, 400, /not a date-time/],
      ['a date in the future', { body: JSON.stringify({ name: 'x', server: 'y', status: true, last_exec: '2999-01-01T00:00:00' }) }, 400, /future/],
      ['an overlong name', { body: JSON.stringify({ name: 'x'.repeat(500), server: 'y', status: true, last_exec: 'CURRENT_TIMESTAMP' }) }, 400, /limit is 140/],
      ['a bad periodicity', { body: JSON.stringify({ name: 'x', server: 'y', status: true, last_exec: 'CURRENT_TIMESTAMP', periodicity: 'yearly' }) }, 400, /periodicity/],
      ['an id on create', { body: JSON.stringify({ id: 7, name: 'x', server: 'y', status: true, last_exec: 'CURRENT_TIMESTAMP' }) }, 400, /id/],
      ['a huge body', { body: JSON.stringify({ name: 'x'.repeat(100_000) }) }, 413, /larger than the limit/],
      ['a NUL in the name', { body: JSON.stringify({ name: 'a\u0000b', server: 'y', status: true, last_exec: 'CURRENT_TIMESTAMP' }) }, 400, /NUL/],
      ['a path beyond a script', { method: 'GET', path: '/api/v1/script/%2e%2e%2f%2e%2e%2fetc%2fpasswd', type: null }, 404, /^$/],
    ];
    for (const [name, request, status, message] of cases) {
      it(`${name} → ${status}`, async () => {
        const before = await counts();
        const answer = await call(request.method ?? 'POST', request.path ?? '/api/v1/script', request);
        expect(answer.status).toBe(status);
        expect(answer.headers.get('content-type')).toBe('application/json');
        if (status === 404) expect(answer.json).toEqual({});
        else expect(answer.json.message).toMatch(message);
        expect(await counts()).toEqual(before);
      });
    }

    it('a duplicate name on one server is 409; the update that would clash changes nothing', async () => {
      const body = (name: string) => JSON.stringify({ last_exec: 'CURRENT_TIMESTAMP', name, server: 'dup', status: true });
      await call('POST', '/api/v1/script', { body: body('dup.sh') });
      const other = (await call('POST', '/api/v1/script', { body: body('other.sh') })).json;
      const before = await counts();
      const clash = await call('POST', '/api/v1/script', { body: body('DUP.sh') });
      expect(clash.status).toBe(409);
      expect(clash.json.message).toMatch(/already exists/);
      const rename = await call('PUT', `/api/v1/script/${other.id}`, { body: JSON.stringify({ name: 'dup.sh', status: false }) });
      expect(rename.status).toBe(409);
      expect(await counts()).toEqual(before);
      expect((await call('GET', `/api/v1/script/${other.id}`)).json).toMatchObject({ name: 'other.sh', status: true });
    });
  });
});
