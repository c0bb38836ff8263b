/**
 * Otto's execution side over real HTTP and WebSocket against the real server executing runs:
 * attachments (multipart upload, raw download, edit, delete), agent self-registration and the
 * heartbeat with a real agent process, `PUT /api/action/sync` (ping, run_script on the local host
 * and on an agent, an offline host) and the live-run socket (output while running, the result,
 * cancel, refusals). Every refusal is Otto's error envelope, a 4xx, and writes nothing. IDs
 * come out as bare UUIDs; a global id works as input too.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { otto as ottoDialect } from '../graphql/rest/otto';
import { ROOT } from './support/process';
import { executing, startTestServer, type TestServer } from './support/server';

async function until<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The bare UUID inside a GraphQL global id (what Otto shows as an ID). */
const bare = (globalId: string) => Buffer.from(globalId, 'base64').toString().split(':')[1]!;

interface Answer {
  status: number;
  headers: Headers;
  body: any;
}

const CREATE_SCRIPT = `mutation($input: CreateScriptInput!) { createScript(input: $input) { __typename ... on CreateScriptSuccess { data { id } } ... on Error { message } } }`;
const CREATE_HOST = `mutation($input: CreateHostInput!) { createHost(input: $input) { __typename ... on CreateHostSuccess { data { host { id } } } ... on Error { message } } }`;
const OPTIONS = `mutation($input: UpdateOptionsInput!) { updateOptions(input: $input) { __typename ... on Error { message } } }`;

describe('Otto execution REST', () => {
  let server: TestServer;
  /** The admin's session as Otto's cookie. */
  let admin: string;
  let operator: string;
  let viewer: string;
  /** The local host: its bare UUID, and its global id (accepted as input too). */
  let localHost: string;
  let localHostGlobal: string;
  const agents: ChildProcess[] = [];

  const otto = (runboardCookie: string) => `otto-session=${runboardCookie.split('=').slice(1).join('=')}`;

  async function call(method: string, path: string, options: { cookie?: string; json?: unknown; body?: BodyInit; headers?: Record<string, string> } = {}): Promise<Answer> {
    const headers: Record<string, string> = { ...(options.cookie && { cookie: options.cookie }), ...options.headers };
    let body = options.body;
    if (options.json !== undefined) {
      body = JSON.stringify(options.json);
      headers['content-type'] ??= 'application/json';
    }
    const response = await fetch(`${server.url}${path}`, { method, headers, body });
    const type = response.headers.get('content-type') ?? '';
    const raw = Buffer.from(await response.arrayBuffer());
    return { status: response.status, headers: response.headers, body: type.startsWith('application/json') ? JSON.parse(raw.toString()) : raw };
  }

  /** Asserts Otto's error envelope. */
  function expectError(answer: Answer, status: number, message?: string | RegExp) {
    expect(answer.status, JSON.stringify(answer.body)).toBe(status);
    expect(answer.headers.get('content-type')).toMatch(/^application\/json/);
    expect(answer.body).toMatchObject({ code: status, error: { code: status } });
    expect(answer.body.data).toBeUndefined();
    if (message instanceof RegExp) expect(answer.body.error.message).toMatch(message);
    else if (message !== undefined) expect(answer.body.error.message).toBe(message);
  }

  function expectOk(answer: Answer) {
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    expect(answer.body).toMatchObject({ code: 200, error: {} });
    return answer.body.data;
  }

  /** Creates a script through GraphQL; its bare UUID (Otto's ScriptID). */
  async function script(name: string, body: string, extra: Record<string, unknown> = {}): Promise<string> {
    const result = await server.gql(CREATE_SCRIPT, { input: { name, body, executable: '/bin/sh', ...extra } }, { cookie: server.adminCookie });
    const id = result.data?.createScript?.data?.id;
    if (!id) throw new Error(JSON.stringify(result));
    return bare(id);
  }

  beforeAll(async () => {
    server = await startTestServer(executing({ hostTimeoutMs: 5_000 }));
    admin = otto(server.adminCookie);
    await server.createUser('oper', 'operator');
    await server.createUser('view', 'viewer');
    operator = otto(await server.signIn('oper', 'oper-password-123'));
    viewer = otto(await server.signIn('view', 'view-password-123'));
    const hosts = await server.gql(`{ hosts(first: 10, filter: { kind: LOCAL }) { edges { node { id } } } }`, {}, { cookie: server.adminCookie });
    localHostGlobal = hosts.data.hosts.edges[0].node.id;
    localHost = bare(localHostGlobal);
  });
  afterAll(async () => {
    for (const agent of agents) agent.kill('SIGKILL');
    await server?.close();
  });

  describe('every route of this part', () => {
    const mine = ottoDialect.routes.filter((route) => /^\/api\/(attachments|register|heartbeat|action)(\/|$)/.test(route.path));
    const methods = (route: (typeof mine)[number]) => (typeof route.method === 'string' ? [route.method] : [...route.method]);

    it('is in the table with its access', () => {
      expect(mine.map((route) => `${methods(route).join(',')} ${route.path} ${route.access}`).sort()).toEqual([
        'DELETE /api/attachments/attachment/:id admin',
        'GET /api/attachments viewer',
        'GET /api/attachments/attachment/:id viewer',
        'GET /api/attachments/attachment/:id/download viewer',
        'GET /api/heartbeat viewer',
        'POST /api/attachments/attachment/:id admin',
        'PUT /api/action/sync operator',
        'PUT /api/attachments admin',
        'PUT /api/register none',
      ]);
      expect(ottoDialect.upgrades?.map((route) => `${route.path} ${route.access}`)).toEqual(['/api/action/async operator']);
    });

    it('answers dummy ids and empty bodies with an Otto 4xx, and anonymous callers with 403 unauthorized (register needs none)', async () => {
      for (const route of mine) {
        for (const method of methods(route)) {
          for (const dummy of ['0', crypto.randomUUID()]) {
            const path = route.path.replace(/:[a-z]+/g, dummy);
            const answer = await call(method, path, { cookie: admin });
            if (answer.status !== 200) {
              expect(answer.status, `${method} ${path}`).toBeGreaterThanOrEqual(400);
              expect(answer.status, `${method} ${path}`).toBeLessThan(500);
              expect(answer.body, `${method} ${path}`).toMatchObject({ code: answer.status, error: { code: answer.status, message: expect.any(String) } });
            }
            const anonymous = await call(method, path);
            if (route.access === 'none') expect(anonymous.status, `${method} ${path}`).not.toBe(403);
            else expectError(anonymous, 403, 'unauthorized');
          }
        }
      }
    });
  });

  describe('attachments', () => {
    function upload(fields: Record<string, string>, file?: { bytes: Buffer | string; name: string; type?: string }, cookie = admin) {
      const form = new FormData();
      for (const [name, value] of Object.entries(fields)) form.append(name, value);
      if (file) form.append('file', new Blob([typeof file.bytes === 'string' ? file.bytes : new Uint8Array(file.bytes)], file.type ? { type: file.type } : {}), file.name);
      return call('PUT', '/api/attachments', { cookie, body: form });
    }
    const count = async () => expectOk(await call('GET', '/api/attachments', { cookie: admin })).length as number;

    it('uploads (multipart), lists newest first, reads, downloads the raw bytes, edits and deletes', async () => {
      const first = expectOk(await upload({ Path: '/etc/app/first.conf' }, { bytes: 'a=1\n', name: 'first.conf', type: 'text/plain' }));
      const bytes = Buffer.from([0, 1, 2, 250, 255, 10]);
      const created = expectOk(await upload({ Path: '/opt/app/blob.bin', UID: '1000', GID: '100', Mode: '493' }, { bytes, name: 'blob.bin', type: 'application/octet-stream' }));
      expect(created).toEqual({
        ID: expect.stringMatching(UUID),
        Path: '/opt/app/blob.bin',
        Name: 'blob.bin',
        MimeType: 'application/octet-stream',
        UID: 1000,
        GID: 100,
        Created: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/),
        Modified: expect.any(String),
        Mode: 493,
        Size: 6,
      });
      // Defaults: Mode 420 (0644), UID/GID the runner's own (0, as for scripts).
      expect(first).toMatchObject({ Mode: 420, UID: 0, GID: 0, Size: 4, MimeType: 'text/plain', Name: 'first.conf' });

      const list = expectOk(await call('GET', '/api/attachments', { cookie: viewer }));
      expect(list.map((a: { ID: string }) => a.ID).slice(0, 2)).toEqual([created.ID, first.ID]);

      expect(expectOk(await call('GET', `/api/attachments/attachment/${created.ID}`, { cookie: viewer }))).toEqual(created);
      // A global id names it too; the answer still shows the bare UUID.
      const globalId = Buffer.from(`Attachment:${created.ID}`).toString('base64');
      expect(expectOk(await call('GET', `/api/attachments/attachment/${globalId}`, { cookie: viewer }))).toEqual(created);

      const download = await call('GET', `/api/attachments/attachment/${created.ID}/download`, { cookie: viewer });
      expect(download.status).toBe(200);
      expect(download.headers.get('content-type')).toBe('application/octet-stream');
      expect(download.headers.get('content-disposition')).toBe(`attachment; filename="blob.bin"; filename*=UTF-8''blob.bin`);
      expect(Buffer.compare(download.body, bytes)).toBe(0);

      // Keys match case-insensitively; the edit replaces the whole object (no UID/GID: the runner's own).
      const edited = expectOk(await call('POST', `/api/attachments/attachment/${created.ID}`, { cookie: admin, json: { path: '/opt/app/moved.bin', mode: 384 } }));
      expect(edited).toMatchObject({ ID: created.ID, Path: '/opt/app/moved.bin', Mode: 384, UID: 0, GID: 0, Size: 6, Name: 'blob.bin' });

      expect(expectOk(await call('DELETE', `/api/attachments/attachment/${created.ID}`, { cookie: admin }))).toBe(true);
      expectError(await call('GET', `/api/attachments/attachment/${created.ID}`, { cookie: admin }), 400, `No attachment with ID ${created.ID}`);
      expectError(await call('DELETE', `/api/attachments/attachment/${created.ID}`, { cookie: admin }), 400, `No attachment with ID ${created.ID}`);
    });

    it('names downloads safely and keeps the exact name in filename*', async () => {
      const created = expectOk(await upload({ Path: '/srv/x.html' }, { bytes: '<script>1</script>', name: 'ré"port.html', type: 'text/html' }));
      const download = await call('GET', `/api/attachments/attachment/${created.ID}/download`, { cookie: viewer });
      expect(download.headers.get('content-type')).toBe('text/html');
      expect(download.headers.get('x-content-type-options')).toBe('nosniff');
      expect(download.headers.get('content-disposition')).toBe(`attachment; filename="r__port.html"; filename*=UTF-8''r%C3%A9%22port.html`);
      expect(download.body.toString()).toBe('<script>1</script>');
    });

    it('refuses bad uploads and edits with 400 and writes nothing', async () => {
      const before = await count();
      const file = { bytes: 'x', name: 'x.txt', type: 'text/plain' };
      expectError(await upload({ Path: 'etc/relative.conf' }, file), 400, /absolute path/);
      expectError(await upload({ Path: '/etc/../passwd' }, file), 400, /cannot contain "\.\."/);
      expectError(await upload({ Path: '/etc/./x' }, file), 400, /normal form/);
      expectError(await upload({}, file), 400, 'Path is required');
      expectError(await upload({ Path: '/etc/x' }), 400, /part named "file"/);
      expectError(await upload({ Path: '/etc/x', Mode: 'rw-r--r--' }, file), 400, /Mode/);
      expectError(await upload({ Path: '/etc/x', Mode: '70000' }, file), 400, /Mode/);
      expectError(await upload({ Path: '/etc/x', UID: '-1' }, file), 400, /UID/);
      expectError(await call('PUT', '/api/attachments', { cookie: admin, json: { Path: '/etc/x' } }), 400, /multipart\/form-data/);
      expectError(
        await call('PUT', '/api/attachments', { cookie: admin, body: '--x\r\nbroken', headers: { 'content-type': 'multipart/form-data; boundary=zzz' } }),
        400,
      );
      // Over the upload limit (16 MiB of file): refused before it is read.
      expectError(await upload({ Path: '/etc/huge' }, { bytes: Buffer.alloc(17 * 1024 * 1024), name: 'huge.bin' }), 400);
      expectError(await upload({ Path: '/etc/x' }, file, viewer), 403);
      expectError(await upload({ Path: '/etc/x' }, file, operator), 403);
      expectError(await upload({ Path: '/etc/x' }, file, ''), 403, 'unauthorized');
      expect(await count()).toBe(before);

      const target = expectOk(await upload({ Path: '/etc/target' }, file));
      const edit = (json: unknown, raw?: string) =>
        call('POST', `/api/attachments/attachment/${target.ID}`, { cookie: admin, ...(raw === undefined ? { json } : { body: raw, headers: { 'content-type': 'application/json' } }) });
      expectError(await edit(undefined, '{"Path": '), 400, 'Bad Request');
      expectError(await edit(undefined, ''), 400, 'Bad Request');
      expectError(await edit([1, 2]), 400, 'Bad Request');
      expectError(await edit({ Path: '/etc/../../root' }), 400, /cannot contain "\.\."/);
      expectError(await edit({ Path: 'relative' }), 400, /absolute/);
      expectError(await edit({ Mode: 420 }), 400, 'Path is required');
      expectError(await edit({ Path: '/etc/t', Mode: '420' }), 400, /^Bad Request: Mode must be an integer/);
      expectError(await edit({ Path: 42 }), 400, 'Bad Request: Path must be a string');
      // Below admin: 403 whatever the body.
      expectError(await call('POST', `/api/attachments/attachment/${target.ID}`, { cookie: operator, body: '{"Path": ' }), 403, /admin role/);
      expectError(await call('PUT', '/api/attachments', { cookie: viewer, body: 'x' }), 403, /admin role/);
      expectError(await call('DELETE', `/api/attachments/attachment/${target.ID}`, { cookie: operator }), 403);
      expect(expectOk(await call('GET', `/api/attachments/attachment/${target.ID}`, { cookie: admin }))).toEqual(target);
    });

    it('answers unknown ids with 400 "No attachment with ID"', async () => {
      for (const id of ['0', crypto.randomUUID(), 'not-an-id', Buffer.from(`Host:${crypto.randomUUID()}`).toString('base64')]) {
        expectError(await call('GET', `/api/attachments/attachment/${id}`, { cookie: admin }), 400, `No attachment with ID ${id}`);
        expectError(await call('GET', `/api/attachments/attachment/${id}/download`, { cookie: admin }), 400, `No attachment with ID ${id}`);
        expectError(await call('POST', `/api/attachments/attachment/${id}`, { cookie: admin, json: { Path: '/etc/x' } }), 400, `No attachment with ID ${id}`);
        expectError(await call('DELETE', `/api/attachments/attachment/${id}`, { cookie: admin }), 400, `No attachment with ID ${id}`);
      }
    });
  });

  describe('registration and heartbeat', () => {
    const register = (json: unknown, raw?: string) =>
      call('PUT', '/api/register', raw === undefined ? { json } : { body: raw, headers: { 'content-type': 'application/json' } });

    it('registers a host with the pre-shared key (404 while disabled, 403 and an event for a wrong key, 400 for an address in use), and a real agent with the issued key shows in the heartbeat', async () => {
      const agentBody = { address: '10.9.8.7', psk: 'the-registration-key', uname: 'Linux box 6.1 x86_64', hostname: 'box-1', port: 12444 };
      expectError(await register(agentBody), 404);

      expect((await server.gql(OPTIONS, { input: { registration: { enabled: true, psk: 'the-registration-key' } } }, { cookie: server.adminCookie })).data.updateOptions.__typename).toBe(
        'UpdateOptionsSuccess',
      );
      expectError(await register({ ...agentBody, psk: 'wrong' }), 403);
      const refused = await server.app.db.selectFrom('events').select('action').where('action', '=', 'host.register_refused').execute();
      expect(refused.length).toBe(1);
      expectError(await register({ ...agentBody, psk: undefined }), 400, 'psk is required');
      expectError(await register({ ...agentBody, port: '12444' }), 400, 'Bad Request: port must be an integer from 0 to 65535');
      expectError(await register(undefined, '{"psk":'), 400, 'Bad Request');

      // No session needed; keys match case-insensitively.
      const data = expectOk(await register({ Address: agentBody.address, PSK: agentBody.psk, Uname: agentBody.uname, Hostname: agentBody.hostname, Port: agentBody.port }));
      expect(data).toEqual({ psk: expect.stringMatching(/^rbh_/) });
      expectError(await register({ ...agentBody, hostname: 'box-2' }), 400);

      const before = expectOk(await call('GET', '/api/heartbeat', { cookie: viewer }));
      expect(before).toContainEqual({ Address: '10.9.8.7', IsReachable: false, LastReply: '0001-01-01T00:00:00Z', LastAttempt: '0001-01-01T00:00:00Z', LastVersion: '' });
      expect(before.find((h: { Address: string }) => h.Address === 'local')).toMatchObject({ IsReachable: true });

      // The issued key is the agent's key: a real agent dials in with it.
      const agent = spawn(process.execPath, ['--import', 'tsx', 'agent/main.ts', '--server', server.url, '--key', data.psk], {
        cwd: ROOT,
        env: { NODE_ENV: 'production', PATH: process.env.PATH, HOME: process.env.HOME },
        stdio: 'ignore',
      });
      agents.push(agent);
      const beat = await until('the agent in the heartbeat', async () => {
        const list = expectOk(await call('GET', '/api/heartbeat', { cookie: viewer }));
        return list.find((h: { Address: string; IsReachable: boolean }) => h.Address === '10.9.8.7' && h.IsReachable);
      });
      expect(beat).toEqual({ Address: '10.9.8.7', IsReachable: true, LastReply: expect.stringMatching(/^\d{4}-/), LastAttempt: beat.LastReply, LastVersion: expect.stringMatching(/\d+\.\d+/) });

      // A script runs on the agent through the sync action.
      const hosts = await server.gql(`{ hosts(first: 10, search: "box-1") { edges { node { id } } } }`, {}, { cookie: server.adminCookie });
      // Its global id, as GraphQL shows it: accepted as Otto's HostID too.
      const agentHost = hosts.data.hosts.edges[0].node.id;
      const scriptId = await script('on-agent', 'echo "from $(hostname) agent"');
      const result = expectOk(await call('PUT', '/api/action/sync', { cookie: operator, json: { HostID: agentHost, Action: 'run_script', ScriptID: scriptId } }));
      expect(result).toMatchObject({ ScriptID: scriptId, RunError: '', Result: { Success: true, Code: 0, Stdout: expect.stringMatching(/agent\n$/) } });
      expect(expectOk(await call('PUT', '/api/action/sync', { cookie: operator, json: { HostID: agentHost, Action: 'ping' } }))).toBe(true);

      agent.kill('SIGKILL');
      await until('the agent offline', async () => {
        const list = expectOk(await call('GET', '/api/heartbeat', { cookie: viewer }));
        return list.some((h: { Address: string; IsReachable: boolean }) => h.Address === '10.9.8.7' && !h.IsReachable);
      });
      expect(expectOk(await call('PUT', '/api/action/sync', { cookie: operator, json: { HostID: agentHost, Action: 'ping' } }))).toBe(false);
    }, 60_000);

    it('needs a session for the heartbeat', async () => {
      expectError(await call('GET', '/api/heartbeat'), 403, 'unauthorized');
    });
  });

  describe('PUT /api/action/sync', () => {
    const sync = (json: unknown, cookie = operator) => call('PUT', '/api/action/sync', { cookie, json });

    it('pings a host and runs a script to its end: exit code, stdout, stderr, durations in nanoseconds', async () => {
      expect(expectOk(await sync({ HostID: localHost, Action: 'ping' }))).toBe(true);

      const failing = await script('sync-fail', 'echo out; echo err >&2; sleep 0.2; exit 3');
      const failed = expectOk(await sync({ hostid: localHost, action: 'run_script', scriptid: failing }));
      expect(failed).toEqual({
        ScriptID: failing,
        Duration: expect.any(Number),
        Environment: [],
        Result: { Success: false, ExecError: '', Code: 3, Stdout: 'out\n', Stderr: 'err\n', Elapsed: expect.any(Number) },
        RunError: '',
      });
      expect(failed.Result.Elapsed).toBeGreaterThanOrEqual(200_000_000);
      expect(failed.Duration).toBeGreaterThanOrEqual(failed.Result.Elapsed);

      // Global ids work as input; ScriptID comes back as the bare UUID.
      const passing = await script('sync-ok', 'printf hello');
      const byGlobalIds = { HostID: localHostGlobal, Action: 'run_script', ScriptID: Buffer.from(`Script:${passing}`).toString('base64') };
      expect(expectOk(await sync(byGlobalIds, admin))).toMatchObject({ ScriptID: passing, Result: { Success: true, Code: 0, Stdout: 'hello', Stderr: '' } });

      const broken = await script('sync-no-exec', 'true', { executable: '/nonexistent/interpreter' });
      const notStarted = expectOk(await sync({ HostID: localHost, Action: 'run_script', ScriptID: broken }));
      expect(notStarted).toMatchObject({ RunError: '', Result: { Success: false, Code: -1, ExecError: expect.stringMatching(/.+/) } });

      const slow = await script('sync-timeout', 'sleep 30', { timeoutSeconds: 1 });
      expect(expectOk(await sync({ HostID: localHost, Action: 'run_script', ScriptID: slow }))).toMatchObject({ RunError: '', Result: { Success: false, ExecError: expect.any(String) } });
    }, 30_000);

    it('stops waiting when the client goes away, leaving the run going', async () => {
      const scriptId = await script('sync-gone', 'echo started; sleep 30');
      const client = new AbortController();
      const request = fetch(`${server.url}/api/action/sync`, {
        method: 'PUT',
        headers: { cookie: operator, 'content-type': 'application/json' },
        body: JSON.stringify({ HostID: localHost, Action: 'run_script', ScriptID: scriptId }),
        signal: client.signal,
      }).catch((error: unknown) => error);
      const runOf = async () => (await server.gql(`{ runs(first: 1, filter: { scriptId: "${scriptId}" }) { edges { node { id state } } } }`, {}, { cookie: server.adminCookie })).data.runs.edges[0]?.node;
      await until('the run running', async () => (await runOf())?.state === 'RUNNING');
      client.abort();
      expect(await request).toBeInstanceOf(Error);
      await new Promise((resolve) => setTimeout(resolve, 300));
      const run = await runOf();
      expect(run.state).toBe('RUNNING');
      // The server answers the same client at once afterwards.
      expect(expectOk(await sync({ HostID: localHost, Action: 'ping' }))).toBe(true);
      await server.gql(`mutation($id: ID!) { cancelRun(id: $id) { __typename } }`, { id: run.id }, { cookie: server.adminCookie });
    });

    it('answers an offline host with 200 and RunError', async () => {
      const created = await server.gql(CREATE_HOST, { input: { name: 'far-away', address: '192.0.2.1' } }, { cookie: server.adminCookie });
      const hostId = created.data.createHost.data.host.id;
      const scriptId = await script('sync-offline', 'echo never');
      const result = expectOk(await sync({ HostID: hostId, Action: 'run_script', ScriptID: scriptId }));
      expect(result).toMatchObject({ ScriptID: scriptId, RunError: expect.stringMatching(/not reachable/), Result: { Success: false } });
      expect(expectOk(await sync({ HostID: hostId, Action: 'ping' }))).toBe(false);
      const runs = await server.gql(`{ runs(first: 5, filter: { hostId: "${hostId}" }) { edges { node { id } } } }`, {}, { cookie: server.adminCookie });
      expect(runs.data.runs.edges).toEqual([]);
    });

    it('refuses what it cannot do with Otto errors, running nothing', async () => {
      const scriptId = await script('sync-refused', 'echo no');
      const runCount = async () => (await server.app.db.selectFrom('runs').select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow()).n;
      const before = await runCount();
      for (const action of ['exit_client', 'reboot', 'shutdown']) {
        expectError(await sync({ HostID: localHost, Action: action }), 400, /Runboard does not .* remotely/);
      }
      // The seed's body, as documented (every value empty).
      expectError(await sync({ HostID: '', Action: '', ScriptID: '' }), 400, 'Action is required');
      expectError(await sync({ HostID: localHost, Action: 'dance' }), 400, /Unknown Action "dance"/);
      expectError(await sync({ HostID: localHost }), 400, 'Action is required');
      expectError(await sync({ Action: 'ping' }), 400, 'HostID is required');
      expectError(await sync({ HostID: localHost, Action: 'run_script' }), 400, 'ScriptID is required');
      expectError(await sync({ HostID: 42, Action: 'ping' }), 400, 'Bad Request: HostID must be a string');
      expectError(await sync({ HostID: '0', Action: 'ping' }), 400, 'No host with ID 0');
      const random = crypto.randomUUID();
      expectError(await sync({ HostID: random, Action: 'run_script', ScriptID: scriptId }), 400, `No host with ID ${random}`);
      expectError(await sync({ HostID: localHost, Action: 'run_script', ScriptID: random }), 400, `No script with ID ${random}`);
      expectError(await sync({ HostID: localHost, Action: 'run_script', ScriptID: localHost }), 400, `No script with ID ${localHost}`);
      expectError(await sync({ HostID: localHost, Action: 'run_script', ScriptID: localHostGlobal }), 400, `No script with ID ${localHostGlobal}`);
      expectError(await call('PUT', '/api/action/sync', { cookie: operator, body: '{"HostID"', headers: { 'content-type': 'application/json' } }), 400, 'Bad Request');
      expectError(await call('PUT', '/api/action/sync', { cookie: operator }), 400, 'Bad Request');
      expectError(await call('PUT', '/api/action/sync', { cookie: operator, body: 'x'.repeat(2 * 1024 * 1024), headers: { 'content-type': 'application/json' } }), 400);
      expectError(await sync({ HostID: localHost, Action: 'run_script', ScriptID: scriptId }, viewer), 403, /operator/);
      expectError(await sync({ HostID: localHost, Action: 'ping' }, viewer), 403);
      expectError(await sync({ HostID: localHost, Action: 'ping' }, ''), 403, 'unauthorized');
      expectError(await sync({ HostID: localHost, Action: 'ping' }, 'otto-session=not-a-session'), 403);
      expect(await runCount()).toBe(before);
    });

    it('takes HTTP Basic and Bearer as well as the otto-session cookie', async () => {
      const key = await server.createKey(server.adminCookie, 'otto-exec', 'OPERATOR');
      const { basic } = await import('./support/server');
      expect(expectOk(await call('PUT', '/api/action/sync', { headers: { authorization: `Bearer ${key}` }, json: { HostID: localHost, Action: 'ping' } }))).toBe(true);
      expect(expectOk(await call('PUT', '/api/action/sync', { headers: { authorization: basic('oper', 'oper-password-123') }, json: { HostID: localHost, Action: 'ping' } }))).toBe(true);
      // `curl -d` sends JSON as a form: the body is read as JSON whatever its type (as Otto does).
      const curlStyle = { authorization: `Bearer ${key}`, 'content-type': 'application/x-www-form-urlencoded' };
      expect(expectOk(await call('PUT', '/api/action/sync', { headers: curlStyle, json: { HostID: localHost, Action: 'ping' } }))).toBe(true);
    });
  });

  describe('WS /api/action/async', () => {
    const wsUrl = () => `${server.url.replace(/^http/, 'ws')}/api/action/async`;

    /** Opens the socket, sends `first`, gathers messages until the server closes it. */
    function live(first: unknown, options: { cookie?: string; headers?: Record<string, string>; onMessage?: (message: any, socket: WebSocket) => void } = {}): Promise<any[]> {
      return new Promise((resolve, reject) => {
        const socket = new WebSocket(wsUrl(), { headers: options.headers ?? { cookie: options.cookie ?? operator } });
        const messages: any[] = [];
        socket.on('open', () => socket.send(typeof first === 'string' ? first : JSON.stringify(first)));
        socket.on('message', (raw) => {
          const message = JSON.parse(raw.toString());
          messages.push(message);
          options.onMessage?.(message, socket);
        });
        socket.on('close', () => resolve(messages));
        socket.on('error', reject);
      });
    }

    /** The HTTP answer to a refused upgrade. */
    function refusal(cookie: string | undefined, headers: Record<string, string> = {}): Promise<{ status: number; body: any }> {
      return new Promise((resolve, reject) => {
        const socket = new WebSocket(wsUrl(), { headers: { ...(cookie && { cookie }), ...headers } });
        socket.on('unexpected-response', (_req, res) => {
          let text = '';
          res.on('data', (chunk) => (text += chunk));
          res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(text) }));
        });
        socket.on('open', () => reject(new Error('the socket opened')));
        socket.on('error', () => undefined);
      });
    }

    it('sends all output so far while the script runs, then the result', async () => {
      const scriptId = await script('live', 'echo one; sleep 0.3; echo two; echo warn >&2; sleep 0.3; exit 0');
      const messages = await live({ HostID: localHost, Action: 'run_script', ScriptID: scriptId });
      const progress = messages.filter((m) => m.Code === 100);
      expect(progress.length).toBeGreaterThanOrEqual(2);
      expect(progress[0]).toEqual({ Code: 100, Stdout: 'one\n' });
      expect(progress.at(-1)).toEqual({ Code: 100, Stdout: 'one\ntwo\n', Stderr: 'warn\n' });
      for (const message of progress) expect(Object.keys(message).sort()).toEqual(['Code', ...(message.Stderr ? ['Stderr'] : []), 'Stdout']);
      const last = messages.at(-1);
      expect(last).toEqual({
        Code: 200,
        Result: { ScriptID: scriptId, Duration: expect.any(Number), Environment: [], RunError: '', Result: { Success: true, ExecError: '', Code: 0, Stdout: 'one\ntwo\n', Stderr: 'warn\n', Elapsed: expect.any(Number) } },
      });
    });

    it('cancels the run on {"Cancel":true}', async () => {
      const scriptId = await script('live-cancel', 'echo started; sleep 30');
      const began = Date.now();
      const messages = await live(
        { HostID: localHost, Action: 'run_script', ScriptID: scriptId },
        { onMessage: (message, socket) => message.Code === 100 && socket.send(JSON.stringify({ Cancel: true })) },
      );
      expect(Date.now() - began).toBeLessThan(30_000);
      const last = messages.at(-1);
      expect(last.Code).toBe(200);
      expect(last.Result.Result).toMatchObject({ Success: false, Stdout: 'started\n', ExecError: expect.stringMatching(/cancel/i) });
      const runs = await server.gql(`{ runs(first: 1, filter: { scriptId: "${scriptId}" }) { edges { node { state } } } }`, {}, { cookie: server.adminCookie });
      expect(runs.data.runs.edges[0].node.state).toBe('CANCELLED');
    }, 20_000);

    it('leaves the run going when the client closes the socket', async () => {
      const scriptId = await script('live-closed', 'echo started; sleep 30');
      await live({ HostID: localHost, Action: 'run_script', ScriptID: scriptId }, { onMessage: (message, socket) => message.Code === 100 && socket.close() });
      await new Promise((resolve) => setTimeout(resolve, 300));
      const runs = await server.gql(`{ runs(first: 1, filter: { scriptId: "${scriptId}" }) { edges { node { id state } } } }`, {}, { cookie: server.adminCookie });
      const run = runs.data.runs.edges[0].node;
      expect(run.state).toBe('RUNNING');
      await server.gql(`mutation($id: ID!) { cancelRun(id: $id) { __typename } }`, { id: run.id }, { cookie: server.adminCookie });
    });

    it('answers a bad first message, an unknown host or script, and other actions with Code 400', async () => {
      const scriptId = await script('live-bad', 'echo x');
      // The seed's first message, as documented (every value empty).
      expect(await live({ HostID: '', Action: '', ScriptID: '' })).toEqual([{ Code: 400, Error: 'Action is required' }]);
      expect(await live('not json')).toEqual([{ Code: 400, Error: expect.stringMatching(/^Bad Request/) }]);
      expect(await live([1])).toEqual([{ Code: 400, Error: expect.stringMatching(/^Bad Request/) }]);
      expect(await live({ HostID: '0', Action: 'run_script', ScriptID: scriptId })).toEqual([{ Code: 400, Error: 'No host with ID 0' }]);
      expect(await live({ HostID: localHost, Action: 'run_script', ScriptID: '0' })).toEqual([{ Code: 400, Error: 'No script with ID 0' }]);
      expect(await live({ HostID: localHost, Action: 'reboot' })).toEqual([{ Code: 400, Error: expect.stringMatching(/Runboard does not reboot/) }]);
      expect(await live({ HostID: localHost, Action: 'ping' })).toEqual([{ Code: 200, Result: true }]);
      const key = await server.createKey(server.adminCookie, 'otto-live', 'OPERATOR');
      expect(await live({ HostID: localHost, Action: 'ping' }, { headers: { authorization: `Bearer ${key}` } })).toEqual([{ Code: 200, Result: true }]);
    });

    it('refuses the upgrade without a session (403 unauthorized) and for viewers (403)', async () => {
      expect(await refusal(undefined)).toEqual({ status: 403, body: { code: 403, error: { code: 403, message: 'unauthorized' } } });
      expect(await refusal('otto-session=nope')).toMatchObject({ status: 403 });
      // A page on another site cannot use the cookie.
      expect(await refusal(operator, { origin: 'http://evil.example' })).toMatchObject({ status: 403, body: { error: { message: expect.stringMatching(/Cross-site/) } } });
      expect(await refusal(viewer)).toMatchObject({ status: 403, body: { code: 403, error: { code: 403, message: expect.stringMatching(/operator/) } } });
    });
  });
});

describe('Otto live-run socket and shutdown', () => {
  it('lets the server stop with a socket open: the socket gets closed', async () => {
    const server = await startTestServer(executing());
    const created = await server.gql(CREATE_SCRIPT, { input: { name: 'long', body: 'echo go; sleep 60', executable: '/bin/sh' } }, { cookie: server.adminCookie });
    const hosts = await server.gql(`{ hosts(first: 10, filter: { kind: LOCAL }) { edges { node { id } } } }`, {}, { cookie: server.adminCookie });
    const socket = new WebSocket(`${server.url.replace(/^http/, 'ws')}/api/action/async`, { headers: { cookie: `otto-session=${server.adminCookie.split('=')[1]}` } });
    const closed = new Promise<number>((resolve) => socket.on('close', (code) => resolve(code)));
    const running = new Promise<void>((resolve) => socket.on('message', () => resolve()));
    socket.on('open', () => socket.send(JSON.stringify({ HostID: hosts.data.hosts.edges[0].node.id, Action: 'run_script', ScriptID: created.data.createScript.data.id })));
    await running;
    const began = Date.now();
    await server.close();
    // The dialect's close hook ends the socket at once: an open socket would otherwise hold the
    // HTTP server's close for its whole grace period (5 s).
    expect(Date.now() - began).toBeLessThan(4_000);
    expect(await closed).toBeGreaterThan(0);
  }, 45_000);
});
