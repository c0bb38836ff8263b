/**
 * The VirtShell task API over real HTTP (seeds/virtshell-tasks-api.md, COMPAT.md "VirtShell"):
 * every seed example with a real signature, both prefixes, status lists, history, the errors,
 * signature refusals and malformed input — each answered in VirtShell's format.
 */
import { createHash, createHmac, randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basic, startTestServer, type TestServer } from './support/server';

const V1 = '/api/virtshell/v1';
const ALT = '/virtshell/api/v1';
const uuidOf = (globalId: string) => Buffer.from(globalId, 'base64').toString().split(':')[1]!;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const CREATE_KEY = `mutation($input: CreateAccessKeyInput!) { createAccessKey(input: $input) {
  __typename ... on Error { message } ... on CreateAccessKeySuccess { data { accessKeyId secret accessKey { id accessKeyId role } } } } }`;
const REVOKE_KEY = `mutation($id: ID!) { revokeAccessKey(id: $id) { __typename ... on RevokeAccessKeySuccess { data { revokedAt } } } }`;
const RUN = `query($id: ID!) { run(id: $id) { state trigger reporter scriptName summary triggeredBy startedAt finishedAt } }`;

interface AccessKey {
  id: string;
  accessKeyId: string;
  secret: string;
}

interface Answer {
  status: number;
  type: string | null;
  body: any;
}

describe('VirtShell tasks', () => {
  let server: TestServer;
  let host: string;
  /** The operator's user id (a UUID, as VirtShell's created.by is). */
  let operatorId: string;
  let operatorCookie: string;
  let key: AccessKey;

  async function createAccessKey(cookie: string, name: string, role?: string): Promise<AccessKey> {
    const result = await server.gql(CREATE_KEY, { input: { name, role } }, { cookie });
    const created = result.data?.createAccessKey.data;
    if (!created) throw new Error(`createAccessKey failed: ${JSON.stringify(result.data ?? result.errors)}`);
    expect(created.accessKey.accessKeyId).toBe(created.accessKeyId);
    return { id: created.accessKey.id, accessKeyId: created.accessKeyId, secret: created.secret };
  }

  /** The signature a VirtShell client computes, over the same string the server builds. */
  function sign(secret: string, parts: { method: string; md5?: string; type?: string; date: string; path: string }): string {
    const stringToSign = [parts.method, host, parts.md5 ?? '', parts.type ?? '', parts.date, parts.path].join('\n');
    return createHmac('sha1', secret).update(stringToSign).digest('base64');
  }

  interface Send {
    body?: string;
    /** Content-Type; curl's `-d` sends application/x-www-form-urlencoded. */
    type?: string;
    md5?: string;
    /** The key that signs (default the operator's); null sends no signature. */
    as?: AccessKey | null;
    /** Sign with this secret instead of the key's own. */
    secret?: string;
    date?: string | null;
    /** Sign this path instead of the one requested. */
    signedPath?: string;
    headers?: Record<string, string>;
  }

  async function call(method: string, path: string, options: Send = {}): Promise<Answer> {
    const headers: Record<string, string> = { accept: 'application/json', ...options.headers };
    const date = options.date === undefined ? new Date().toUTCString() : options.date;
    if (date !== null) headers.date = date;
    if (options.type) headers['content-type'] = options.type;
    if (options.md5) headers['content-md5'] = options.md5;
    const signer = options.as === undefined ? key : options.as;
    if (signer) {
      const signature = sign(options.secret ?? signer.secret, {
        method,
        md5: options.md5,
        type: options.type,
        date: date ?? '',
        // As the client sends it: fetch normalizes the path (`%2E%2E` is `..`).
        path: options.signedPath ?? new URL(`${server.url}${path}`).pathname,
      });
      headers['x-virtshell-authorization'] = `${signer.accessKeyId}:${signature}`;
    }
    const response = await fetch(`${server.url}${path}`, { method, headers, body: options.body });
    const text = await response.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // left as text
    }
    return { status: response.status, type: response.headers.get('content-type'), body };
  }

  const taskCount = async () =>
    Number((await sql<{ n: string }>`select count(*) as n from runs where reporter = 'virtshell'`.execute(server.app.db)).rows[0]!.n);

  async function create(fields: Record<string, unknown>): Promise<string> {
    const answer = await call('POST', `${V1}/tasks`, { body: JSON.stringify(fields), type: 'application/json' });
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    return answer.body.task_id;
  }

  const runOf = async (uuid: string) => (await server.gql(RUN, { id: uuid }, { cookie: server.adminCookie })).data.run;

  beforeAll(async () => {
    server = await startTestServer({ maxBodyBytes: 512 * 1024, logLevel: 'error' } as never);
    host = new URL(server.url).host;
    operatorId = uuidOf(await server.createUser('vs-operator', 'operator'));
    operatorCookie = await server.signIn('vs-operator', 'vs-operator-password-123');
    key = await createAccessKey(operatorCookie, 'virtshell client');
  });
  afterAll(() => server?.close());

  describe('the seed examples, signed', () => {
    let cloneId: string;
    let webserverId: string;

    it('POST /api/virtshell/v1/tasks (curl -d, so form-encoded) → 200 {"create":"success","task_id"}', async () => {
      const answer = await call('POST', `${V1}/tasks`, {
        body: `{ "description": "clone virtual machine database_01",
        "status" : "in progress"}`,
        type: 'application/x-www-form-urlencoded',
      });
      expect(answer.status).toBe(200);
      expect(answer.type).toBe('application/json');
      expect(answer.body).toEqual({ create: 'success', task_id: expect.stringMatching(UUID) });
      cloneId = answer.body.task_id;
      webserverId = await create({ description: 'create container webserver_09', status: 'sucess', log: 'summary of the task' });
      // Reported runs: the state follows the status; the task's own string is kept.
      expect(await runOf(cloneId)).toMatchObject({ state: 'RUNNING', trigger: 'REPORT', reporter: 'virtshell', scriptName: 'clone virtual machine database_01', triggeredBy: 'vs-operator' });
      expect(await runOf(webserverId)).toMatchObject({ state: 'SUCCEEDED', summary: 'summary of the task' });
    });

    it('GET /api/virtshell/v1/tasks/ → {"tasks":[…]} newest first, each with uuid, created {at, by} and last_update', async () => {
      const answer = await call('GET', `${V1}/tasks/`);
      expect(answer.status).toBe(200);
      expect(answer.type).toBe('application/json');
      const tasks = answer.body.tasks.filter((task: { uuid: string }) => [cloneId, webserverId].includes(task.uuid));
      expect(tasks.map((task: { uuid: string }) => task.uuid)).toEqual([webserverId, cloneId]);
      expect(tasks[1]).toEqual({
        uuid: cloneId,
        description: 'clone virtual machine database_01',
        status: 'in progress',
        type: null,
        object_uuid: null,
        created: { at: expect.stringMatching(/^\d{10}$/), by: operatorId },
        last_update: tasks[1].created.at,
        log: null,
        status_history: [],
      });
      expect(Math.abs(Number(tasks[1].created.at) - Date.now() / 1000)).toBeLessThan(60);
      // Without the slash too.
      expect((await call('GET', `${V1}/tasks`)).body).toEqual(answer.body);
    });

    it('GET /api/virtshell/v1/tasks/:id → the task', async () => {
      const answer = await call('GET', `${V1}/tasks/${webserverId}`);
      expect(answer.status).toBe(200);
      expect(answer.body).toMatchObject({ uuid: webserverId, description: 'create container webserver_09', status: 'sucess', log: 'summary of the task' });
      // Upper-case uuids name the same task.
      expect((await call('GET', `${V1}/tasks/${webserverId.toUpperCase()}`)).body.uuid).toBe(webserverId);
    });

    it('GET /api/virtshell/v1/tasks/sucess (the seed example) and /tasks/status/sucess → the tasks with that status', async () => {
      for (const path of [`${V1}/tasks/sucess`, `${V1}/tasks/status/sucess`]) {
        const answer = await call('GET', path);
        expect(answer.status, path).toBe(200);
        expect(answer.body.tasks.map((task: { uuid: string }) => task.uuid), path).toEqual([webserverId]);
      }
      const running = await call('GET', `${V1}/tasks/status/in%20progress`);
      expect(running.body.tasks.map((task: { uuid: string }) => task.uuid)).toEqual([cloneId]);
    });

    it('PUT /api/virtshell/v1/tasks/:id → {"update":"success"}; the previous status, time and log join status_history', async () => {
      const before = (await call('GET', `${V1}/tasks/${cloneId}`)).body;
      // The seed's example PUTs to …/hosts/:id (a copy of the hosts page); tasks live under /tasks.
      const wrongPage = await call('PUT', `${V1}/hosts/${cloneId}`, { body: '{"status": "sucess"}', type: 'application/x-www-form-urlencoded' });
      expect(wrongPage.status).toBe(404);
      expect(wrongPage.body).toEqual({ error: expect.stringContaining('Nothing at') });
      const answer = await call('PUT', `${V1}/tasks/${cloneId}`, {
        body: `{"status": "sucess",
     "log": "....."}`,
        type: 'application/x-www-form-urlencoded',
      });
      expect(answer.status).toBe(200);
      expect(answer.type).toBe('application/json');
      expect(answer.body).toEqual({ update: 'success' });
      const after = (await call('GET', `${V1}/tasks/${cloneId}`)).body;
      expect(after).toMatchObject({
        uuid: cloneId,
        description: 'clone virtual machine database_01',
        status: 'sucess',
        log: '.....',
        created: before.created,
        status_history: [['in progress', before.last_update, null]],
      });
      expect(Number(after.last_update)).toBeGreaterThanOrEqual(Number(before.last_update));
      expect(await runOf(cloneId)).toMatchObject({ state: 'SUCCEEDED', summary: '.....', finishedAt: expect.any(String) });
    });
  });

  it('serves the same tasks under /virtshell/api/v1/tasks', async () => {
    const id = await create({ description: 'both prefixes', status: 'pending' });
    const one = await call('GET', `${ALT}/tasks/${id}`);
    expect(one.status).toBe(200);
    expect(one.body).toEqual((await call('GET', `${V1}/tasks/${id}`)).body);
    expect((await call('GET', `${ALT}/tasks/`)).body).toEqual((await call('GET', `${V1}/tasks/`)).body);
    expect((await call('GET', `${ALT}/tasks/status/pending`)).body.tasks.map((t: { uuid: string }) => t.uuid)).toContain(id);
    const created = await call('POST', `${ALT}/tasks/`, { body: '{"description":"posted under the other prefix"}', type: 'application/json' });
    expect(created.body).toEqual({ create: 'success', task_id: expect.stringMatching(UUID) });
    expect(await call('PUT', `${ALT}/tasks/${created.body.task_id}`, { body: '{"status":"failed"}', type: 'application/json' })).toMatchObject({
      status: 200,
      body: { update: 'success' },
    });
    expect((await call('GET', `${V1}/tasks/${created.body.task_id}`)).body.status).toBe('failed');
  });

  it('maps statuses onto run states (ignoring case) and echoes the task\'s own string', async () => {
    const cases: Array<[string, string]> = [
      ['pending', 'QUEUED'],
      ['in progress', 'RUNNING'],
      ['sucess', 'SUCCEEDED'],
      ['Success', 'SUCCEEDED'],
      ['failed', 'FAILED'],
      ['cloning disk 3/4', 'RUNNING'],
    ];
    for (const [status, state] of cases) {
      const id = await create({ description: `status ${status}`, status });
      expect((await runOf(id)).state, status).toBe(state);
      expect((await call('GET', `${V1}/tasks/${id}`)).body.status).toBe(status);
    }
    // An unknown status leaves the state as it was; a known one moves it, both ways.
    const id = await create({ status: 'failed' });
    await call('PUT', `${V1}/tasks/${id}`, { body: '{"status":"retrying"}', type: 'application/json' });
    expect((await runOf(id)).state).toBe('FAILED');
    await call('PUT', `${V1}/tasks/${id}`, { body: '{"status":"in progress"}', type: 'application/json' });
    expect(await runOf(id)).toMatchObject({ state: 'RUNNING', finishedAt: null });
    // Status lists match exactly: case and spaces count.
    const exact = await call('GET', `${V1}/tasks/status/Success`);
    expect(exact.body.tasks.map((t: { status: string }) => t.status)).toEqual(['Success']);
    expect((await call('GET', `${V1}/tasks/status/no-such-status`)).body).toEqual({ tasks: [] });
  });

  it('keeps every earlier version in status_history, echoes other fields, and keeps the server\'s own fields', async () => {
    const id = await create({
      description: 'restart instance web_1',
      status: 'pending',
      type: 'restart_instance',
      object_uuid: 'e8b3a6c2-0000-4000-8000-000000000001',
      log: 'queued',
      priority: 3,
      tags: ['web'],
      // The server's fields: ignored when sent.
      uuid: 'not-mine',
      created: { at: '1', by: 'someone' },
      status_history: [['forged', '1', null]],
    });
    const first = (await call('GET', `${V1}/tasks/${id}`)).body;
    expect(first).toMatchObject({ uuid: id, type: 'restart_instance', object_uuid: 'e8b3a6c2-0000-4000-8000-000000000001', priority: 3, tags: ['web'], status_history: [] });
    expect(first.created.by).toBe(operatorId);
    await call('PUT', `${V1}/tasks/${id}`, { body: JSON.stringify({ status: 'in progress', log: 'stopping', last_update: '2', uuid: 'x' }), type: 'application/json' });
    await call('PUT', `${V1}/tasks/${id}`, { body: JSON.stringify({ status: 'sucess', log: 'done', extra: { ok: true } }), type: 'application/json' });
    const last = (await call('GET', `${V1}/tasks/${id}`)).body;
    expect(last).toMatchObject({ uuid: id, status: 'sucess', log: 'done', priority: 3, extra: { ok: true }, created: first.created });
    expect(last.status_history).toEqual([
      ['pending', first.last_update, 'queued'],
      ['in progress', expect.stringMatching(/^\d{10}$/), 'stopping'],
    ]);
    expect(last.last_update).not.toBe('2');
    // Concurrent updates each keep their predecessor: none is lost.
    await Promise.all(['a', 'b', 'c', 'd'].map((log) => call('PUT', `${V1}/tasks/${id}`, { body: JSON.stringify({ log }), type: 'application/json' })));
    expect((await call('GET', `${V1}/tasks/${id}`)).body.status_history).toHaveLength(6);
  });

  it('does not link a task to a Runboard script that shares its description', async () => {
    const script = await server.gql(
      `mutation { createScript(input: { name: "deploy web" }) { ... on CreateScriptSuccess { data { id } } ... on Error { message } } }`,
      {},
      { cookie: server.adminCookie },
    );
    expect(script.data.createScript.data?.id, JSON.stringify(script)).toBeTruthy();
    const id = await create({ description: 'deploy web', status: 'in progress' });
    const run = await server.gql(`query($id: ID!) { run(id: $id) { scriptName script { id } } }`, { id }, { cookie: server.adminCookie });
    expect(run.data.run).toEqual({ scriptName: 'deploy web', script: null });
  });

  describe('COMPAT errors', () => {
    it('an unknown task is 404 {"error":"document not found"}; an unknown update 404 {"update":"error","reason":"document not found"}', async () => {
      for (const path of [`${V1}/tasks/${randomUUID()}`, `${V1}/tasks/0`, `${ALT}/tasks/${randomUUID()}`, `${V1}/tasks/status`]) {
        expect(await call('GET', path), path).toEqual({ status: 404, type: 'application/json', body: { error: 'document not found' } });
      }
      const before = await taskCount();
      for (const path of [`${V1}/tasks/${randomUUID()}`, `${V1}/tasks/0`]) {
        expect(await call('PUT', path, { body: '{"status":"failed"}', type: 'application/json' }), path).toEqual({
          status: 404,
          type: 'application/json',
          body: { update: 'error', reason: 'document not found' },
        });
      }
      expect(await taskCount()).toBe(before);
    });

    it('a run that is not a task is not found either, by GET or PUT', async () => {
      const reported = await server.gql(
        `mutation { reportRun(input: { scriptName: "nightly backup", state: RUNNING }) { ... on ReportRunSuccess { data { id } } } }`,
        {},
        { cookie: server.adminCookie },
      );
      const uuid = uuidOf(reported.data.reportRun.data.id);
      expect((await call('GET', `${V1}/tasks/${uuid}`)).body).toEqual({ error: 'document not found' });
      expect(await call('PUT', `${V1}/tasks/${uuid}`, { body: '{"status":"failed"}', type: 'application/json' })).toMatchObject({
        status: 404,
        body: { update: 'error', reason: 'document not found' },
      });
      expect((await runOf(uuid)).state).toBe('RUNNING');
    });

    it('unknown paths and methods answer in the same format', async () => {
      expect(await call('GET', `${V1}/instances`)).toMatchObject({ status: 404, body: { error: expect.stringContaining('Nothing at') } });
      const deleted = await call('DELETE', `${V1}/tasks/${randomUUID()}`);
      expect(deleted).toMatchObject({ status: 405, body: { error: expect.stringContaining('DELETE is not allowed') } });
    });
  });

  describe('signatures', () => {
    it('refuses an unknown key id, a wrong secret, a malformed header, and a signature over another request', async () => {
      const unknown = await call('GET', `${V1}/tasks/`, { as: { id: '', accessKeyId: 'RBAK0000000000000000', secret: 'x' } });
      expect(unknown).toEqual({ status: 401, type: 'application/json', body: { error: 'Unknown access key id "RBAK0000000000000000".' } });
      const wrong = await call('GET', `${V1}/tasks/`, { secret: 'not-the-secret' });
      expect(wrong.status).toBe(401);
      expect(wrong.body.error).toMatch(/^The signature does not match: sign, with the secret of RBAK[0-9A-F]{16}, exactly this string: "GET\\n/);
      const otherPath = await call('GET', `${V1}/tasks/`, { signedPath: `${ALT}/tasks/` });
      expect(otherPath.body.error).toContain('The signature does not match');
      const otherMethod = await call('POST', `${V1}/tasks`, { body: '{}', type: 'application/json', signedPath: `${V1}/tasks/` });
      expect(otherMethod.status).toBe(401);
      for (const value of ['no-colon', `${key.accessKeyId}:`, ':sig', 'a b:c']) {
        const malformed = await call('GET', `${V1}/tasks/`, { as: null, headers: { 'x-virtshell-authorization': value } });
        expect(malformed, value).toEqual({ status: 401, type: 'application/json', body: { error: 'x-virtshell-authorization must be "<AccessKeyId>:<Signature>".' } });
      }
    });

    it('needs a Date within 15 minutes of the server\'s time', async () => {
      const missing = await call('GET', `${V1}/tasks/`, { date: null });
      expect(missing).toMatchObject({ status: 401, body: { error: expect.stringMatching(/^A signed request needs a Date header/) } });
      const skewed = await call('GET', `${V1}/tasks/`, { date: new Date(Date.now() - 20 * 60_000).toUTCString() });
      expect(skewed).toMatchObject({ status: 401, body: { error: expect.stringMatching(/is 20 minutes from the server's time .*within 15 minutes/) } });
      const ahead = await call('GET', `${V1}/tasks/`, { date: new Date(Date.now() + 16 * 60_000).toUTCString() });
      expect(ahead.status).toBe(401);
      const garbage = await call('GET', `${V1}/tasks/`, { date: 'yesterday' });
      expect(garbage).toMatchObject({ status: 401, body: { error: expect.stringContaining('"yesterday" is not a date') } });
      // Fourteen minutes off is fine.
      expect((await call('GET', `${V1}/tasks/`, { date: new Date(Date.now() - 14 * 60_000).toUTCString() })).status).toBe(200);
    });

    it('signs Content-MD5 and Content-Type too, and refuses a Content-MD5 that does not match the body', async () => {
      const body = '{"description":"with md5"}';
      const md5 = createHash('md5').update(body).digest('base64');
      const signed = await call('POST', `${V1}/tasks`, { body, type: 'application/json', md5 });
      expect(signed).toMatchObject({ status: 200, body: { create: 'success' } });
      const before = await taskCount();
      const mismatch = await call('POST', `${V1}/tasks`, { body: '{"description":"tampered"}', type: 'application/json', md5 });
      expect(mismatch).toMatchObject({ status: 400, body: { error: expect.stringContaining('Content-MD5 header does not match the body') } });
      expect(await taskCount()).toBe(before);
    });

    it('refuses a revoked key, and holds a key to its role ceiling', async () => {
      const spare = await createAccessKey(operatorCookie, 'to revoke');
      expect((await call('GET', `${V1}/tasks/`, { as: spare })).status).toBe(200);
      const revoked = await server.gql(REVOKE_KEY, { id: spare.id }, { cookie: operatorCookie });
      expect(revoked.data.revokeAccessKey.data.revokedAt).toBeTruthy();
      const refused = await call('GET', `${V1}/tasks/`, { as: spare });
      expect(refused).toEqual({ status: 401, type: 'application/json', body: { error: `The access key "to revoke" (${spare.accessKeyId}) was revoked.` } });

      const readOnly = await createAccessKey(operatorCookie, 'read only', 'VIEWER');
      expect((await call('GET', `${V1}/tasks/`, { as: readOnly })).status).toBe(200);
      const before = await taskCount();
      const write = await call('POST', `${V1}/tasks`, { as: readOnly, body: '{"description":"x"}', type: 'application/json' });
      expect(write).toMatchObject({ status: 403, body: { error: expect.stringMatching(/Your role \(viewer\) does not allow .*operator/) } });
      // The role is checked before the input: a viewer learns nothing about ids or bodies.
      for (const path of [`${V1}/tasks/0`, `${V1}/tasks/${randomUUID()}`]) {
        const update = await call('PUT', path, { as: readOnly, body: '[]', type: 'application/json' });
        expect(update, path).toMatchObject({ status: 403, body: { error: expect.stringMatching(/does not allow .*operator/) } });
      }
      expect(await taskCount()).toBe(before);
      // Nobody creates a key above their own role.
      await server.createUser('vs-viewer', 'viewer');
      const viewerCookie = await server.signIn('vs-viewer', 'vs-viewer-password-123');
      const tooHigh = await server.gql(CREATE_KEY, { input: { name: 'too high', role: 'ADMIN' } }, { cookie: viewerCookie });
      expect(tooHigh.data.createAccessKey).toMatchObject({ __typename: 'ValidationError', message: expect.stringContaining('cannot do more than you') });
    });

    it('is a REST credential only: /api/graphql ignores the header', async () => {
      const date = new Date().toUTCString();
      const signature = sign(key.secret, { method: 'POST', type: 'application/json', date, path: '/api/graphql' });
      const answer = await server.gql(`{ viewer { role } }`, {}, { headers: { date, 'x-virtshell-authorization': `${key.accessKeyId}:${signature}` } });
      expect(answer.data.viewer).toBeNull();
    });

    it('shows the secret once, lists keys without it, and keeps it only sealed', async () => {
      const listed = await server.gql(`{ accessKeys { edges { node { name accessKeyId role revokedAt lastUsedAt } } } }`, {}, { cookie: operatorCookie });
      const mine = listed.data.accessKeys.edges.map((edge: { node: { name: string } }) => edge.node);
      expect(mine.find((node: { name: string }) => node.name === 'virtshell client')).toMatchObject({ accessKeyId: key.accessKeyId, role: 'OPERATOR', revokedAt: null, lastUsedAt: expect.any(String) });
      expect(JSON.stringify(listed)).not.toContain(key.secret);
      const row = await server.app.db.selectFrom('access_keys').selectAll().where('key_id', '=', key.accessKeyId).executeTakeFirstOrThrow();
      expect(row.secret_sealed.includes(Buffer.from(key.secret))).toBe(false);
      expect(server.app.secrets.open(row.secret_sealed)).toBe(key.secret);
      // Another person sees none of them.
      const others = await server.gql(`{ accessKeys { edges { node { accessKeyId } } } }`, {}, { cookie: server.adminCookie });
      expect(others.data.accessKeys.edges).toEqual([]);
    });
  });

  describe('other credentials', () => {
    it('accepts HTTP Basic (password or API key) and Bearer; refuses anonymous callers and wrong passwords', async () => {
      const apiKey = await server.createKey(operatorCookie, 'virtshell basic');
      const password = basic('vs-operator', 'vs-operator-password-123');
      for (const authorization of [password, basic('vs-operator', apiKey), `Bearer ${apiKey}`]) {
        const listed = await call('GET', `${V1}/tasks/`, { as: null, headers: { authorization } });
        expect(listed.status, authorization).toBe(200);
        const created = await call('POST', `${V1}/tasks`, { as: null, headers: { authorization }, body: '{"description":"via basic or bearer"}', type: 'application/json' });
        expect(created.body, authorization).toEqual({ create: 'success', task_id: expect.stringMatching(UUID) });
      }
      const anonymous = await call('GET', `${V1}/tasks/`, { as: null });
      expect(anonymous).toEqual({
        status: 401,
        type: 'application/json',
        body: { error: 'Send credentials: "x-virtshell-authorization: <AccessKeyId>:<Signature>", HTTP Basic, or "Authorization: Bearer <api key>".' },
      });
      const wrongPassword = await call('GET', `${V1}/tasks/`, { as: null, headers: { authorization: basic('vs-operator', 'nope-nope-nope') } });
      expect(wrongPassword).toMatchObject({ status: 401, body: { error: 'Wrong username or password.' } });
    });

    it('lets anonymous check-ins create and update tasks from listed networks, and nothing else', async () => {
      const before = await taskCount();
      expect((await call('POST', `${V1}/tasks`, { as: null, body: '{"description":"anonymous"}', type: 'application/json' })).status).toBe(401);
      expect(await taskCount()).toBe(before);
      const NETWORKS = `mutation($n: [String!]) { updateOptions(input: { anonymousCheckinNetworks: $n }) { __typename } }`;
      const set = await server.gql(NETWORKS, { n: ['127.0.0.0/8', '::1/128'] }, { cookie: server.adminCookie });
      expect(set.data?.updateOptions.__typename, JSON.stringify(set)).toBe('UpdateOptionsSuccess');
      await new Promise((resolve) => setTimeout(resolve, 1_100));
      try {
        const created = await call('POST', `${V1}/tasks`, { as: null, body: '{"description":"anonymous","status":"pending"}', type: 'application/json' });
        expect(created.body).toEqual({ create: 'success', task_id: expect.stringMatching(UUID) });
        const updated = await call('PUT', `${V1}/tasks/${created.body.task_id}`, { as: null, body: '{"status":"sucess"}', type: 'application/json' });
        expect(updated.body).toEqual({ update: 'success' });
        // Reading still needs credentials.
        expect((await call('GET', `${V1}/tasks/${created.body.task_id}`, { as: null })).status).toBe(401);
        const task = (await call('GET', `${V1}/tasks/${created.body.task_id}`)).body;
        expect(task).toMatchObject({ status: 'sucess', created: { by: null } });
        expect((await runOf(created.body.task_id)).triggeredBy).toBe('anonymous');
        // A bad signature is still refused, not taken as anonymous.
        expect((await call('POST', `${V1}/tasks`, { secret: 'wrong', body: '{}', type: 'application/json' })).status).toBe(401);
      } finally {
        await server.gql(NETWORKS, { n: [] }, { cookie: server.adminCookie });
        await new Promise((resolve) => setTimeout(resolve, 1_100));
      }
    });
  });

  describe('malformed input: VirtShell\'s format, a 4xx, nothing written', () => {
    it('refuses broken JSON, non-objects, empty bodies, wrong content types and huge bodies', async () => {
      const id = await create({ description: 'target', status: 'pending' });
      const before = await taskCount();
      const snapshot = (await call('GET', `${V1}/tasks/${id}`)).body;
      const cases: Array<{ body: string; type?: string; status: number; error: string | RegExp }> = [
        { body: '{"description": ', type: 'application/json', status: 400, error: 'The request body is not valid JSON: send the task as a JSON object.' },
        { body: '[1,2]', type: 'application/json', status: 400, error: /^A task( update)? must be a JSON object, e\.g\. .*; got an array\.$/ },
        { body: '"text"', type: 'application/json', status: 400, error: /must be a JSON object.*; got a string\.$/ },
        { body: 'null', type: 'application/json', status: 400, error: /must be a JSON object.*; got null\.$/ },
        { body: '', type: 'application/json', status: 400, error: /must be a JSON object.*; got nothing\.$/ },
        { body: '<task/>', type: 'application/xml', status: 415, error: 'Send the task as JSON ("Content-Type: application/json"), not application/xml.' },
        { body: '--x--', type: 'multipart/form-data; boundary=x', status: 415, error: /not multipart\/form-data/ },
        { body: JSON.stringify({ description: 'x'.repeat(2 * 1024 * 1024) }), type: 'application/json', status: 413, error: /larger than the limit/ },
        { body: JSON.stringify({ description: 'big but allowed', log: 'y'.repeat(200_000) }), type: 'application/json', status: 400, error: /at most 100000 characters/ },
      ];
      for (const { body, type, status, error } of cases) {
        for (const [method, path] of [['POST', `${V1}/tasks`], ['PUT', `${V1}/tasks/${id}`]] as const) {
          const answer = await call(method, path, { body, type });
          expect(answer.status, `${method} ${type} ${body.slice(0, 30)}`).toBe(status);
          expect(answer.type).toBe('application/json');
          expect(Object.keys(answer.body)).toEqual(['error']);
          if (typeof error === 'string') expect(answer.body.error).toBe(error);
          else expect(answer.body.error).toMatch(error);
        }
      }
      expect(await taskCount()).toBe(before);
      expect((await call('GET', `${V1}/tasks/${id}`)).body).toEqual(snapshot);
    });

    it('answers path traversal and odd ids as unknown documents', async () => {
      for (const path of [`${V1}/tasks/..%2F..%2Fetc%2Fpasswd`, `${V1}/tasks/%00`, `${V1}/tasks/${'9'.repeat(5000)}`, `${V1}/tasks/status/..%2F..`]) {
        const answer = await call('GET', path);
        expect(answer.status, path).toBeLessThan(500);
        expect(answer.status, path).toBeGreaterThanOrEqual(200);
        expect(answer.type, path).toBe('application/json');
      }
      expect((await call('GET', `${V1}/tasks/..%2F..%2Fetc%2Fpasswd`)).body).toEqual({ error: 'document not found' });
      expect((await call('GET', `${V1}/tasks/status/..%2F..`)).body).toEqual({ tasks: [] });
      expect((await call('GET', `${V1}/tasks/../tasks/`)).status).toBe(200);
    });
  });
});
