/**
 * The ndscheduler dialect over real HTTP (COMPAT.md "ndscheduler"): the seed's login and job
 * examples, jobs as schedules with scripts of their own, real executions of ShellJob, AwesomeJob
 * and CurlJob, the audit log, and every refusal in `{"error": …}` with nothing written.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_PASSWORD, basic, executing, startTestServer, type TestServer } from './support/server';

const HEX32 = /^[0-9a-f]{32}$/;
const ISO_UTC = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00$/;
const AWESOME = 'simple_scheduler.jobs.sample_job.AwesomeJob';
const SHELL = 'simple_scheduler.jobs.shell_job.ShellJob';
const CURL = 'simple_scheduler.jobs.curl_job.CurlJob';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Answer {
  status: number;
  headers: Headers;
  text: string;
  body: any;
}

describe('ndscheduler REST dialect', () => {
  let server: TestServer;
  let cookie: string; // the `user` cookie of the admin, from POST /login
  let target: http.Server; // CurlJob's target
  let targetUrl: string;
  let seq = 0;

  async function call(method: string, path: string, options: { json?: unknown; body?: string; type?: string; headers?: Record<string, string>; auth?: string | null } = {}): Promise<Answer> {
    const headers: Record<string, string> = { ...options.headers };
    if (options.auth === undefined) headers.cookie = cookie;
    else if (options.auth !== null) headers.authorization = options.auth;
    let body = options.body;
    if (options.json !== undefined) {
      body = JSON.stringify(options.json);
      headers['content-type'] = 'application/json';
    }
    if (options.type) headers['content-type'] = options.type;
    const response = await fetch(`${server.url}${path}`, { method, headers, body, redirect: 'manual' });
    const text = await response.text();
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    return { status: response.status, headers: response.headers, text, body: parsed };
  }

  async function login(username: string, password: string): Promise<Response> {
    return fetch(`${server.url}/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ username, password }).toString(),
      redirect: 'manual',
    });
  }

  const userCookieOf = (response: Response) =>
    response.headers
      .getSetCookie()
      .find((c) => c.startsWith('user='))
      ?.split(';')[0];

  async function addJob(fields: Record<string, unknown>): Promise<string> {
    const answer = await call('POST', '/api/v1/jobs', { json: { name: `job-${++seq}`, job_class_string: AWESOME, minute: '*/5', ...fields } });
    expect(answer.status, answer.text).toBe(201);
    return answer.body.job_id;
  }

  async function finished(executionId: string): Promise<any> {
    for (let i = 0; i < 150; i++) {
      const answer = await call('GET', `/api/v1/executions/${executionId}`);
      expect(answer.status, answer.text).toBe(200);
      if (!['scheduled', 'running'].includes(answer.body.state)) return answer.body;
      await sleep(100);
    }
    throw new Error(`execution ${executionId} did not finish`);
  }

  /** What a refused request must not have changed: the jobs, the scripts and the audit log. */
  async function snapshot(): Promise<string> {
    // Not next_run_time: jobs fire while the tests run.
    const jobs = (await call('GET', '/api/v1/jobs')).body.jobs.map(({ next_run_time: _next, ...job }: Record<string, unknown>) => job);
    const scripts = await server.gql('{ scripts(first: 500) { edges { node { name jobClass jobArgs } } } }', {}, { cookie: server.adminCookie });
    const events = await server.gql('{ events(first: 1, filter: { actionPrefix: "sc" }) { edges { node { id } } } }', {}, { cookie: server.adminCookie });
    return JSON.stringify([jobs, scripts.data, events.data]);
  }

  beforeAll(async () => {
    server = await startTestServer(executing());
    target = http.createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(`hello from ${req.method} ${req.url}`);
    });
    await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', resolve));
    targetUrl = `http://127.0.0.1:${(target.address() as AddressInfo).port}/ping`;
    const response = await login('admin', ADMIN_PASSWORD);
    cookie = userCookieOf(response)!;
  });
  afterAll(async () => {
    await new Promise((resolve) => target?.close(resolve));
    await server?.close();
  });

  describe('login (the seed: curl --data-urlencode … --cookie-jar, then --cookie)', () => {
    it('answers 302 to / with the `user` cookie (HttpOnly, SameSite=Lax, Path=/), and that cookie works for the API', async () => {
      const response = await login('admin', ADMIN_PASSWORD);
      expect(response.status).toBe(302);
      expect(response.headers.get('location')).toBe('/');
      const setCookies = response.headers.getSetCookie();
      expect(setCookies).toHaveLength(1);
      expect(setCookies[0]).toMatch(/^user=[^;]+; Path=\/; HttpOnly; SameSite=Lax$/);
      const jar = userCookieOf(response)!;
      // The seed's second command: create a job with the cookie.
      const created = await call('POST', '/api/v1/jobs', {
        headers: { cookie: jar },
        auth: null,
        body: '{"job_class_string": "simple_scheduler.jobs.sample_job.AwesomeJob", "name": "My first job", "minute": "*/1", "pub_args": ["arg1", 2]}',
        type: 'application/json',
      });
      expect(created.status, created.text).toBe(201);
      expect(created.body).toEqual({ job_id: expect.stringMatching(HEX32) });
      expect(created.headers.get('content-type')).toMatch(/^application\/json/);
      // The seed's "Get all jobs".
      const jobs = await call('GET', '/api/v1/jobs', { headers: { cookie: jar }, auth: null });
      expect(jobs.status).toBe(200);
      expect(jobs.body.jobs).toContainEqual({
        job_id: created.body.job_id,
        name: 'My first job',
        next_run_time: expect.stringMatching(ISO_UTC),
        job_class_string: AWESOME,
        pub_args: ['arg1', 2],
        month: '*',
        day: '*',
        week: '*',
        day_of_week: '*',
        hour: '*',
        minute: '*/1',
      });
    });

    it('replays "Run it NOW" with Basic credentials added: add a job, get all jobs', async () => {
      const auth = basic('admin', ADMIN_PASSWORD);
      const added = await call('POST', '/api/v1/jobs', {
        auth,
        type: 'application/json',
        body: '{"job_class_string": "simple_scheduler.jobs.sample_job.AwesomeJob", "name": "My first job (basic)", "minute": "*/1", "pub_args": ["arg1", 2]}',
      });
      expect([added.status, Object.keys(added.body)]).toEqual([201, ['job_id']]);
      const all = await call('GET', '/api/v1/jobs', { auth });
      expect(all.body.jobs.find((job: { job_id: string }) => job.job_id === added.body.job_id)).toMatchObject({ name: 'My first job (basic)', minute: '*/1' });
      // The seed's sample calls that send no body at all are refused, not crashed on.
      const put = await call('PUT', `/api/v1/jobs/${added.body.job_id}`, { auth });
      expect([put.status, put.body]).toEqual([415, { error: expect.stringContaining('application/json') }]);
      const run = await call('POST', '/api/v1/executions', { auth });
      expect([run.status, run.body]).toEqual([415, { error: expect.stringContaining('application/json') }]);
    });

    it('sets no cookie on a wrong password and sends the form back with the reason; GET /login is the form', async () => {
      const response = await login('admin', 'not-the-password');
      expect(response.status).toBe(302);
      expect(response.headers.getSetCookie()).toEqual([]);
      const location = new URL(response.headers.get('location')!, server.url);
      expect(location.pathname).toBe('/login');
      expect(location.searchParams.get('error')).toBeTruthy();
      const page = await call('GET', `${location.pathname}${location.search}`, { auth: null });
      expect(page.status).toBe(200);
      expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
      expect(page.text).toContain('<form method="post" action="/login">');
      expect(page.text).toContain('name="username"');
      expect(page.text).toContain('type="password"');
      // A sign-in with missing fields, or not as a form, is refused the same way.
      const missing = await fetch(`${server.url}/login`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'username=admin', redirect: 'manual' });
      expect([missing.status, missing.headers.getSetCookie()]).toEqual([302, []]);
      const asJson = await call('POST', '/login', { auth: null, json: { username: 'admin', password: ADMIN_PASSWORD } });
      expect([asJson.status, asJson.headers.getSetCookie()]).toEqual([302, []]);
      expect(asJson.headers.get('location')).toMatch(/^\/login\?error=/);
    });

    it('goes back to `next` after signing in, only ever on this server', async () => {
      const go = (next: string) =>
        fetch(`${server.url}/login`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ username: 'admin', password: ADMIN_PASSWORD, next }).toString(),
          redirect: 'manual',
        });
      expect((await go('/api/v1/jobs')).headers.get('location')).toBe('/api/v1/jobs');
      expect((await go('https://evil.example/')).headers.get('location')).toBe('/');
      expect((await go('//evil.example/')).headers.get('location')).toBe('/');
    });

    it('GET /logout ends the session and clears the cookie (302 /)', async () => {
      const jar = userCookieOf(await login('admin', ADMIN_PASSWORD))!;
      expect((await call('GET', '/api/v1/jobs', { headers: { cookie: jar }, auth: null })).status).toBe(200);
      const out = await call('GET', '/logout', { headers: { cookie: jar }, auth: null });
      expect(out.status).toBe(302);
      expect(out.headers.get('location')).toBe('/');
      expect(out.headers.getSetCookie()[0]).toMatch(/^user=; Max-Age=0; Path=\/; HttpOnly; SameSite=Lax$/);
      const after = await call('GET', '/api/v1/jobs', { headers: { cookie: jar }, auth: null });
      expect(after.status).toBe(302);
    });

    it('sends an anonymous GET to /login?next=…, refuses other methods with 403, and takes Basic and Bearer', async () => {
      const anonymous = await call('GET', '/api/v1/jobs?x=1', { auth: null });
      expect(anonymous.status).toBe(302);
      expect(anonymous.headers.get('location')).toBe(`/login?next=${encodeURIComponent('/api/v1/jobs?x=1')}`);
      const post = await call('POST', '/api/v1/jobs', { auth: null, json: { name: 'x', job_class_string: AWESOME, minute: '1' } });
      expect(post.status).toBe(403);
      expect(post.body).toEqual({ error: expect.any(String) });
      expect((await call('PATCH', `/api/v1/jobs/${'0'.repeat(32)}`, { auth: null })).status).toBe(403);
      expect((await call('GET', '/api/v1/jobs', { auth: basic('admin', ADMIN_PASSWORD) })).status).toBe(200);
      const wrong = await call('GET', '/api/v1/jobs', { auth: basic('admin', 'wrong') });
      expect(wrong.status).toBe(401);
      expect(wrong.body).toEqual({ error: expect.any(String) });
      // A cookie that is no session, or not even well-formed, is no sign-in (never a crash).
      for (const jar of ['user=nope', 'user=%E0%A4%A']) {
        const stale = await call('GET', '/api/v1/jobs', { headers: { cookie: jar }, auth: null });
        expect([stale.status, stale.headers.get('location')]).toEqual([302, '/login?next=%2Fapi%2Fv1%2Fjobs']);
        expect((await call('DELETE', `/api/v1/jobs/${'0'.repeat(32)}`, { headers: { cookie: jar }, auth: null })).status).toBe(403);
      }
      const key = await server.createKey(server.adminCookie, `nds-${++seq}`);
      expect((await call('GET', '/api/v1/jobs', { auth: `Bearer ${key}` })).status).toBe(200);
    });

    it('lets viewers read, operators pause, resume and run, and only admins change jobs', async () => {
      const jobId = await addJob({});
      await server.createUser('nds-viewer', 'viewer');
      await server.createUser('nds-operator', 'operator');
      const viewer = basic('nds-viewer', 'nds-viewer-password-123');
      const operator = basic('nds-operator', 'nds-operator-password-123');
      expect((await call('GET', `/api/v1/jobs/${jobId}`, { auth: viewer })).status).toBe(200);
      expect((await call('GET', '/api/v1/logs', { auth: viewer })).status).toBe(200);
      const refused = await call('PATCH', `/api/v1/jobs/${jobId}`, { auth: viewer });
      expect([refused.status, refused.body]).toEqual([403, { error: expect.any(String) }]);
      expect((await call('PATCH', `/api/v1/jobs/${jobId}`, { auth: operator })).status).toBe(200);
      expect((await call('OPTIONS', `/api/v1/jobs/${jobId}`, { auth: operator })).status).toBe(200);
      expect((await call('POST', `/api/v1/executions/${jobId}`, { auth: operator })).status).toBe(200);
      expect((await call('DELETE', `/api/v1/jobs/${jobId}`, { auth: operator })).status).toBe(403);
      expect((await call('POST', '/api/v1/jobs', { auth: operator, json: { name: 'no', job_class_string: AWESOME, hour: '1' } })).status).toBe(403);
    });
  });

  describe('jobs', () => {
    it('fills cron fields as APScheduler does: more significant ones *, less significant ones their minimum', async () => {
      const read = async (fields: Record<string, unknown>) => (await call('GET', `/api/v1/jobs/${await addJob({ minute: undefined, ...fields })}`)).body;
      expect(await read({ hour: '*/1' })).toMatchObject({ month: '*', day: '*', week: '*', day_of_week: '*', hour: '*/1', minute: '0' });
      expect(await read({ day: '1' })).toMatchObject({ month: '*', day: '1', day_of_week: '*', hour: '0', minute: '0' });
      expect(await read({ month: '6' })).toMatchObject({ month: '6', day: '1', hour: '0', minute: '0' });
      // APScheduler counts weekdays from Monday (0); they read back as names.
      expect(await read({ day_of_week: '0-4', hour: 9 })).toMatchObject({ day_of_week: 'mon-fri', hour: '9', minute: '0', day: '*' });
      expect(await read({ day_of_week: 'sat,sun', minute: '30', week: '*' })).toMatchObject({ day_of_week: 'sat,sun', hour: '*', minute: '30' });
      // A range may end on Sunday, and a step counts from Monday, as in APScheduler.
      expect(await read({ day_of_week: '5-6' })).toMatchObject({ day_of_week: 'sat-sun' });
      expect(await read({ day_of_week: 'sat-sun' })).toMatchObject({ day_of_week: 'sat-sun' });
      expect(await read({ day_of_week: '*/2' })).toMatchObject({ day_of_week: 'mon-sun/2' });
      const sunday = await read({ day_of_week: 'sun', hour: '12' });
      expect(new Date(sunday.next_run_time).getUTCDay()).toBe(0);
    });

    it('gets one job; an unknown or malformed id is 400 "Job not found: <id>"', async () => {
      const jobId = await addJob({ pub_args: ['a', { b: 1 }] });
      const one = await call('GET', `/api/v1/jobs/${jobId}`);
      expect(one.status).toBe(200);
      expect(one.body).toMatchObject({ job_id: jobId, job_class_string: AWESOME, pub_args: ['a', { b: 1 }], minute: '*/5', next_run_time: expect.stringMatching(ISO_UTC) });
      for (const id of ['0', 'ffffffffffffffffffffffffffffffff', crypto.randomUUID(), '..%2F..%2Fetc']) {
        for (const method of ['GET', 'DELETE', 'PATCH', 'OPTIONS']) {
          const answer = await call(method, `/api/v1/jobs/${id}`);
          expect([answer.status, answer.body], `${method} ${id}`).toEqual([400, { error: `Job not found: ${decodeURIComponent(id)}` }]);
        }
        const put = await call('PUT', `/api/v1/jobs/${id}`, { json: { name: 'x' } });
        expect([put.status, put.body]).toEqual([400, { error: `Job not found: ${decodeURIComponent(id)}` }]);
        const run = await call('POST', `/api/v1/executions/${id}`);
        expect([run.status, run.body]).toEqual([400, { error: `Job not found: ${decodeURIComponent(id)}` }]);
      }
    });

    it('PUT changes only the given fields; cron fields rebuild the trigger from only those; a paused job stays paused', async () => {
      const jobId = await addJob({ minute: '*/1', pub_args: ['x', 1] });
      expect(await call('PUT', `/api/v1/jobs/${jobId}`, { json: { name: `renamed-${seq}`, pub_args: ['y', 2] } })).toMatchObject({ status: 200, body: { job_id: jobId } });
      expect((await call('GET', `/api/v1/jobs/${jobId}`)).body).toMatchObject({ name: `renamed-${seq}`, pub_args: ['y', 2], minute: '*/1', hour: '*' });
      // The job's own script follows its name.
      const script = await server.gql('query($n: String!) { scripts(first: 1, filter: { name: $n }) { edges { node { jobClass jobArgs } } } }', { n: `renamed-${seq}` }, { cookie: server.adminCookie });
      expect(script.data.scripts.edges[0].node).toEqual({ jobClass: AWESOME, jobArgs: ['y', 2] });

      expect((await call('PATCH', `/api/v1/jobs/${jobId}`)).body).toEqual({ job_id: jobId });
      expect((await call('GET', `/api/v1/jobs/${jobId}`)).body.next_run_time).toBe('');
      expect((await call('PUT', `/api/v1/jobs/${jobId}`, { json: { hour: '3' } })).status).toBe(200);
      expect((await call('GET', `/api/v1/jobs/${jobId}`)).body).toMatchObject({ hour: '3', minute: '0', day: '*', next_run_time: '' });
      expect((await call('OPTIONS', `/api/v1/jobs/${jobId}`)).body).toEqual({ job_id: jobId });
      const resumed = (await call('GET', `/api/v1/jobs/${jobId}`)).body;
      expect(resumed.next_run_time).toMatch(/T03:00:00\.000\+00:00$/);
      // The class can change too.
      expect((await call('PUT', `/api/v1/jobs/${jobId}`, { json: { job_class_string: SHELL, pub_args: ['true'] } })).status).toBe(200);
      expect((await call('GET', `/api/v1/jobs/${jobId}`)).body).toMatchObject({ job_class_string: SHELL, pub_args: ['true'] });
    });

    it('DELETE removes the job and the script made for it', async () => {
      const name = `doomed-${++seq}`;
      const jobId = await addJob({ name });
      const deleted = await call('DELETE', `/api/v1/jobs/${jobId}`);
      expect([deleted.status, deleted.body]).toEqual([200, { job_id: jobId }]);
      expect((await call('GET', `/api/v1/jobs/${jobId}`)).body).toEqual({ error: `Job not found: ${jobId}` });
      const scripts = await server.gql('query($n: String!) { scripts(first: 1, filter: { name: $n }) { edges { node { id } } } }', { n: name }, { cookie: server.adminCookie });
      expect(scripts.data.scripts.edges).toEqual([]);
    });

    it("schedules one of Runboard's own scripts by name or id, and leaves the script alone", async () => {
      const made = await server.gql(
        `mutation($input: CreateScriptInput!) { createScript(input: $input) { ... on CreateScriptSuccess { data { id } } ... on Error { message } } }`,
        { input: { name: 'nightly-backup', body: 'echo backing up' } },
        { cookie: server.adminCookie },
      );
      const scriptId = made.data.createScript.data.id;
      const byName = await addJob({ job_class_string: 'nightly-backup', pub_args: [] });
      expect((await call('GET', `/api/v1/jobs/${byName}`)).body).toMatchObject({ job_class_string: 'nightly-backup', pub_args: [] });
      const byId = await addJob({ job_class_string: scriptId });
      expect((await call('GET', `/api/v1/jobs/${byId}`)).body.job_class_string).toBe('nightly-backup');
      // Job arguments do not apply to a script; changing which script it runs is a new job.
      expect((await call('POST', '/api/v1/jobs', { json: { name: `args-${++seq}`, job_class_string: 'nightly-backup', hour: '1', pub_args: ['x'] } })).status).toBe(400);
      expect((await call('PUT', `/api/v1/jobs/${byName}`, { json: { job_class_string: AWESOME } })).status).toBe(400);
      // It runs the script.
      const { execution_id: executionId } = (await call('POST', `/api/v1/executions/${byName}`)).body;
      expect(await finished(executionId)).toMatchObject({ state: 'succeeded', job: { job_id: byName, job_class_string: 'nightly-backup' } });
      expect((await call('DELETE', `/api/v1/jobs/${byName}`)).status).toBe(200);
      const still = await server.gql('query($id: ID!) { node(id: $id) { ... on Script { name } } }', { id: scriptId }, { cookie: server.adminCookie });
      expect(still.data.node).toEqual({ name: 'nightly-backup' });
    });

    it('answers a GET with a trailing slash with 301 to the path without it', async () => {
      const list = await call('GET', '/api/v1/jobs/');
      expect(list.status).toBe(301);
      expect(list.headers.get('location')).toBe('/api/v1/jobs');
      const logs = await call('GET', '/api/v1/logs/?time_range_start=2015-12-19T00:31:50.313Z');
      expect([logs.status, logs.headers.get('location')]).toEqual([301, '/api/v1/logs?time_range_start=2015-12-19T00%3A31%3A50.313Z']);
      const one = await call('GET', `/api/v1/jobs/${'c'.repeat(32)}/`);
      expect([one.status, one.headers.get('location')]).toEqual([301, `/api/v1/jobs/${'c'.repeat(32)}`]);
      const unknown = await call('GET', '/api/v1/jobs/x/y');
      expect([unknown.status, unknown.body]).toEqual([404, { error: expect.any(String) }]);
    });
  });

  describe('executions (real runs)', () => {
    it('runs an AwesomeJob now (POST /api/v1/executions/:job_id): it returns its two arguments', async () => {
      const jobId = await addJob({ pub_args: ['arg1', 2] });
      const started = await call('POST', `/api/v1/executions/${jobId}`);
      expect(started.status, started.text).toBe(200);
      expect(started.body).toEqual({ execution_id: expect.stringMatching(HEX32) });
      const execution = await finished(started.body.execution_id);
      expect(execution).toEqual({
        execution_id: started.body.execution_id,
        state: 'succeeded',
        hostname: expect.any(String),
        pid: -1,
        task_id: '',
        description: expect.any(String),
        result: '["arg1",2]',
        scheduled_time: expect.stringMatching(ISO_UTC),
        updated_time: expect.stringMatching(ISO_UTC),
        job: expect.objectContaining({ job_id: jobId, job_class_string: AWESOME, task_name: AWESOME, pub_args: ['arg1', 2], minute: '*/5', week: '*' }),
      });
    });

    it('runs a ShellJob without a shell (the seed\'s POST /api/v1/executions with {"job_id"}): result {"returncode": n}', async () => {
      const ok = await addJob({ job_class_string: SHELL, pub_args: ['sh', '-c', 'exit 0'] });
      const bad = await addJob({ job_class_string: SHELL, pub_args: ['sh', '-c', 'exit 3'] });
      const literal = await addJob({ job_class_string: SHELL, pub_args: ['echo', '$(rm -rf /)', '; false'] });
      const run = async (jobId: string) => {
        const started = await call('POST', '/api/v1/executions', { json: { job_id: jobId } });
        expect(started.status, started.text).toBe(200);
        return finished(started.body.execution_id);
      };
      expect(await run(ok)).toMatchObject({ state: 'succeeded', result: '{"returncode":0}' });
      expect(await run(bad)).toMatchObject({ state: 'failed', result: '{"returncode":3}' });
      const echoed = await run(literal);
      expect(echoed).toMatchObject({ state: 'succeeded', result: '{"returncode":0}' });
      expect(echoed.pid).toBeGreaterThan(0);
    });

    it('runs a CurlJob against a local server: the result is the response text', async () => {
      const jobId = await addJob({ job_class_string: CURL, pub_args: [targetUrl, 'POST'] });
      const started = await call('POST', `/api/v1/executions/${jobId}`);
      const execution = await finished(started.body.execution_id);
      expect(execution).toMatchObject({ state: 'succeeded', result: JSON.stringify('hello from POST /ping') });
    });

    it('shows a running execution as "running", and a cancelled one as "stopped"', async () => {
      const jobId = await addJob({ job_class_string: SHELL, pub_args: ['sleep', '30'] });
      const { execution_id: executionId } = (await call('POST', `/api/v1/executions/${jobId}`)).body;
      let state = '';
      for (let i = 0; i < 100 && state !== 'running'; i++) {
        state = (await call('GET', `/api/v1/executions/${executionId}`)).body.state;
        if (state !== 'running') await sleep(50);
      }
      expect(state).toBe('running');
      const uuid = executionId.replace(/^(.{8})(.{4})(.{4})(.{4})(.{12})$/, '$1-$2-$3-$4-$5');
      const cancelled = await server.gql('mutation($id: ID!) { cancelRun(id: $id) { __typename } }', { id: uuid }, { cookie: server.adminCookie });
      expect(cancelled.data.cancelRun.__typename).toBe('CancelRunSuccess');
      expect(await finished(executionId)).toMatchObject({ state: 'stopped' });
    });

    it('marks the execution of an unknown job class "scheduled error"', async () => {
      const jobId = await addJob({ job_class_string: 'simple_scheduler.jobs.nope.NopeJob' });
      const started = await call('POST', `/api/v1/executions/${jobId}`);
      const execution = await finished(started.body.execution_id);
      expect(execution).toMatchObject({ state: 'scheduled error', description: expect.stringContaining('unknown job class') });
    });

    it('lists executions of the last ten minutes by default, newest updated first; a time range filters them', async () => {
      const jobId = await addJob({});
      const first = (await call('POST', `/api/v1/executions/${jobId}`)).body.execution_id;
      await finished(first);
      const second = (await call('POST', `/api/v1/executions/${jobId}`)).body.execution_id;
      await finished(second);
      const list = await call('GET', '/api/v1/executions');
      expect(list.status).toBe(200);
      const ids = list.body.executions.map((e: { execution_id: string }) => e.execution_id);
      expect(ids.indexOf(second)).toBeGreaterThanOrEqual(0);
      expect(ids.indexOf(second)).toBeLessThan(ids.indexOf(first));
      const times = list.body.executions.map((e: { updated_time: string }) => Date.parse(e.updated_time));
      expect(times).toEqual([...times].sort((a, b) => b - a));
      // The seed's sample call: a range long ago holds none of them.
      const old = await call('GET', '/api/v1/executions?time_range_end=2015-12-19T01:31:50.313Z&time_range_start=2015-12-19T00:31:50.313Z');
      expect(old).toMatchObject({ status: 200, body: { executions: [] } });
      const unknown = await call('GET', `/api/v1/executions/${'a'.repeat(32)}`);
      expect([unknown.status, unknown.body]).toEqual([400, { error: `Execution not found: ${'a'.repeat(32)}` }]);
      const dummy = await call('GET', '/api/v1/executions/0');
      expect([dummy.status, dummy.body]).toEqual([400, { error: 'Execution not found: 0' }]);
      const bad = await call('GET', '/api/v1/executions?time_range_start=yesterday');
      expect([bad.status, bad.body]).toEqual([400, { error: expect.stringContaining('time_range_start') }]);
    });
  });

  it('keeps an audit log: added, modified, paused, resumed, custom_run (with the execution id), deleted — newest first', async () => {
    const since = new Date(Date.now() - 1000).toISOString();
    const name = `audited-${++seq}`;
    const jobId = await addJob({ name });
    await call('PUT', `/api/v1/jobs/${jobId}`, { json: { hour: '2' } });
    await call('PATCH', `/api/v1/jobs/${jobId}`);
    await call('OPTIONS', `/api/v1/jobs/${jobId}`);
    const executionId = (await call('POST', `/api/v1/executions/${jobId}`)).body.execution_id;
    await call('DELETE', `/api/v1/jobs/${jobId}`);
    const logs = await call('GET', `/api/v1/logs?time_range_start=${encodeURIComponent(since)}`);
    expect(logs.status).toBe(200);
    const mine = logs.body.logs.filter((log: { job_id: string }) => log.job_id === jobId);
    expect(mine.map((log: { event: string }) => log.event)).toEqual(['deleted', 'custom_run', 'resumed', 'paused', 'modified', 'added']);
    expect(mine.find((log: { event: string }) => log.event === 'custom_run')).toEqual({
      job_id: jobId,
      job_name: name,
      event: 'custom_run',
      user: 'admin',
      created_time: expect.stringMatching(ISO_UTC),
      description: executionId,
    });
    expect(mine.every((log: { user: string; job_name: string }) => log.user === 'admin' && log.job_name === name)).toBe(true);
    const old = await call('GET', '/api/v1/logs?time_range_end=2015-12-19T01:31:50.313Z&time_range_start=2015-12-19T00:31:50.313Z');
    expect(old).toMatchObject({ status: 200, body: { logs: [] } });
  });

  describe('refusals: {"error": …}, a 4xx, nothing written', () => {
    const valid = { name: 'refused', job_class_string: AWESOME, minute: '1' };
    const cases: Array<[string, { json?: unknown; body?: string; type?: string }, number, string | RegExp]> = [
      ['no content type', { body: JSON.stringify(valid) }, 415, /Content-Type: application\/json/],
      ['a form', { body: 'name=x', type: 'application/x-www-form-urlencoded' }, 415, /application\/json/],
      ['text/plain JSON', { body: JSON.stringify(valid), type: 'text/plain' }, 415, /application\/json/],
      ['broken JSON', { body: '{"name": ', type: 'application/json' }, 400, 'The request body is not valid JSON.'],
      ['an empty body', { body: '', type: 'application/json' }, 400, 'The request body is not valid JSON.'],
      ['a JSON list', { json: [valid] }, 400, 'The request body must be a JSON object.'],
      ['no job class', { json: { name: 'x', minute: '1' } }, 400, 'Require this parameter: job_class_string'],
      ['no name', { json: { job_class_string: AWESOME, minute: '1' } }, 400, 'Require this parameter: name'],
      ['a blank name', { json: { ...valid, name: '  ' } }, 400, 'Require this parameter: name'],
      ['no cron field', { json: { name: 'x', job_class_string: AWESOME, week: '*' } }, 400, "Require at least one of following parameters: ['month', 'day', 'hour', 'minute', 'day_of_week']"],
      ['a number for a name', { json: { ...valid, name: 5 } }, 400, /name must be a string/],
      ['pub_args not a list', { json: { ...valid, pub_args: 'arg1' } }, 400, /pub_args must be a JSON list/],
      ['a cron field of the wrong type', { json: { ...valid, minute: ['1'] } }, 400, /minute must be a string/],
      ['a cron field with spaces', { json: { ...valid, minute: '1 2 3' } }, 400, /minute: "1 2 3" is not a cron field/],
      ['a minute out of range', { json: { ...valid, minute: '75' } }, 400, /./],
      ['a weekday out of range', { json: { ...valid, day_of_week: '9' } }, 400, /day_of_week: "9" is not a weekday/],
      ['a weekday range that wraps', { json: { ...valid, day_of_week: 'fri-mon' } }, 400, /./],
      ['a week of the year', { json: { ...valid, week: '5' } }, 400, /no week-of-the-year/],
      ['huge pub_args', { json: { ...valid, pub_args: ['x'.repeat(70 * 1024)] } }, 400, /./],
    ];

    for (const [what, request, status, message] of cases) {
      it(`refuses ${what} with ${status}`, async () => {
        const before = await snapshot();
        const answer = await call('POST', '/api/v1/jobs', request);
        expect(answer.status, answer.text).toBe(status);
        expect(answer.body).toEqual({ error: typeof message === 'string' ? message : expect.stringMatching(message) });
        expect(await snapshot()).toBe(before);
      });
    }

    it('refuses a body over the limit with 413', async () => {
      const before = await snapshot();
      const answer = await call('POST', '/api/v1/jobs', { body: JSON.stringify({ ...valid, pub_args: ['x'.repeat(server.app.config.maxBodyBytes)] }), type: 'application/json' });
      expect(answer.status).toBe(413);
      expect(answer.body).toEqual({ error: expect.any(String) });
      expect(await snapshot()).toBe(before);
    });

    it('refuses a taken name without leaving a script behind (one transaction)', async () => {
      const script = await server.gql(
        `mutation($input: CreateScriptInput!) { createScript(input: $input) { ... on CreateScriptSuccess { data { id } } } }`,
        { input: { name: 'other-script' } },
        { cookie: server.adminCookie },
      );
      const schedule = await server.gql(
        `mutation($input: CreateScheduleInput!) { createSchedule(input: $input) { __typename } }`,
        { input: { name: 'taken-name', scriptId: script.data.createScript.data.id, when: { kind: 'CRON', cron: '0 1 * * *' } } },
        { cookie: server.adminCookie },
      );
      expect(schedule.data.createSchedule.__typename).toBe('CreateScheduleSuccess');
      const before = await snapshot();
      const answer = await call('POST', '/api/v1/jobs', { json: { ...valid, name: 'taken-name' } });
      expect([answer.status, answer.body]).toEqual([400, { error: expect.stringContaining('taken-name') }]);
      expect(await snapshot()).toBe(before);
    });

    it('refuses bad PUTs and bodies for run-now the same way', async () => {
      const jobId = await addJob({});
      const before = await snapshot();
      const put = (request: { json?: unknown; body?: string; type?: string }) => call('PUT', `/api/v1/jobs/${jobId}`, request);
      expect((await put({ body: '{}', type: 'text/plain' })).status).toBe(415);
      expect((await put({ body: '{', type: 'application/json' })).body).toEqual({ error: 'The request body is not valid JSON.' });
      expect((await put({ json: { name: '' } })).body).toEqual({ error: 'name cannot be empty.' });
      expect((await put({ json: { pub_args: { a: 1 } } })).status).toBe(400);
      expect((await put({ json: { minute: 'every' } })).status).toBe(400);
      const run = (request: { json?: unknown; body?: string; type?: string }) => call('POST', '/api/v1/executions', request);
      expect((await run({ json: {} })).body).toEqual({ error: 'Require this parameter: job_id' });
      expect((await run({ json: { job_id: 42 } })).status).toBe(400);
      expect((await run({ body: `job_id=${jobId}`, type: 'application/x-www-form-urlencoded' })).status).toBe(415);
      expect((await run({ json: { job_id: 'b'.repeat(32) } })).body).toEqual({ error: `Job not found: ${'b'.repeat(32)}` });
      expect(await snapshot()).toBe(before);
    });
  });
});
