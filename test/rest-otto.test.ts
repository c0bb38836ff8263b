/**
 * Otto's resource API over real HTTP (COMPAT.md "Otto", seeds/otto-api.md): login and the
 * otto-session cookie, hosts, groups, scripts, schedules and their reports, users, state,
 * options and events — Otto's envelope, its messages and status codes, case-insensitive keys,
 * full-replace edits — and malformed input, each refused in Otto's format with nothing written.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toReports, type ReportRunData } from '../graphql/rest/otto-models';
import { ADMIN_PASSWORD, basic, startTestServer, type TestServer } from './support/server';

const MAX_BODY = 64 * 1024;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

interface Answer {
  status: number;
  headers: Headers;
  body: any;
}

describe('Otto REST: resources', () => {
  let server: TestServer;
  let cookie: string;
  let seq = 0;
  const unique = (prefix: string) => `${prefix}-${++seq}`;

  /** Calls Otto's API: JSON body (a string is sent as is), the admin's otto-session cookie unless told otherwise. */
  async function otto(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Answer> {
    const response = await fetch(`${server.url}${path}`, {
      method,
      headers: {
        ...(body !== undefined && { 'content-type': 'application/json' }),
        ...(headers.authorization || 'cookie' in headers ? {} : { cookie }),
        ...headers,
      },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await response.text();
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new Error(`Not JSON (${response.status}): ${text.slice(0, 300)}`);
    }
    return { status: response.status, headers: response.headers, body: parsed };
  }
  /** The data of a successful answer (and that it was one). */
  async function data(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<any> {
    const answer = await otto(method, path, body, headers);
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    expect(answer.body).toMatchObject({ code: 200, error: {} });
    expect(answer.headers.get('content-type')).toBe('application/json');
    return answer.body.data;
  }
  /** That an answer is Otto's error envelope with this status and message. */
  function refused(answer: Answer, status: number, message?: string | RegExp): void {
    expect(answer.status, JSON.stringify(answer.body)).toBe(status);
    expect(answer.body).toEqual({ code: status, error: { code: status, message: expect.any(String) } });
    if (typeof message === 'string') expect(answer.body.error.message).toBe(message);
    else if (message) expect(answer.body.error.message).toMatch(message);
  }
  async function login(username: string, password: string): Promise<string> {
    const answer = await otto('POST', '/api/login', { Username: username, Password: password }, { cookie: '' });
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    return answer.headers.getSetCookie()[0]!.split(';')[0]!;
  }
  const newHost = (body: Record<string, unknown> = {}) => data('PUT', '/api/hosts/host', { Name: unique('host'), Address: `${unique('10.0.0')}.example`, Port: 12444, ...body });
  const newGroup = (body: Record<string, unknown> = {}) => data('PUT', '/api/groups/group', { Name: unique('group'), ...body });
  const newScript = (body: Record<string, unknown> = {}) => data('PUT', '/api/scripts/script', { Name: unique('script'), Executable: '/bin/sh', Script: 'echo hi', ...body });
  const hostCount = async () => (await data('GET', '/api/hosts')).length;

  beforeAll(async () => {
    server = await startTestServer({ maxBodyBytes: MAX_BODY, pubsub: 'memory' });
    cookie = await login('admin', ADMIN_PASSWORD);
  });
  afterAll(() => server?.close());

  describe('login, logout and credentials', () => {
    it('POST /api/login answers {ID, Username, Expires} and sets the otto-session cookie (Path=/, SameSite=Strict, HttpOnly)', async () => {
      const before = Math.floor(Date.now() / 1000);
      const answer = await otto('POST', '/api/login', { Username: 'admin', Password: ADMIN_PASSWORD }, { cookie: '' });
      expect(answer.status).toBe(200);
      expect(answer.body.code).toBe(200);
      expect(answer.body.error).toEqual({});
      expect(answer.body.data).toEqual({ ID: expect.stringMatching(UUID), Username: 'admin', Expires: expect.any(Number) });
      // The session slides: it expires an idle period (RUNBOARD_SESSION_IDLE, 1 h by default) after the last request.
      expect(answer.body.data.Expires).toBeGreaterThanOrEqual(before + 3600);
      expect(answer.body.data.Expires).toBeLessThanOrEqual(before + 3602);
      const cookies = answer.headers.getSetCookie();
      expect(cookies).toHaveLength(1);
      expect(cookies[0]).toMatch(/^otto-session=[^;]+; Path=\/; SameSite=Strict; HttpOnly$/);
      const session = cookies[0]!.split(';')[0]!;
      expect((await data('GET', '/api/state', undefined, { cookie: session })).User.Username).toBe('admin');
    });

    it('matches body keys case-insensitively and ignores unknown keys', async () => {
      const answer = await otto('POST', '/api/login', { username: 'ADMIN', PASSWORD: ADMIN_PASSWORD, Remember: true }, { cookie: '' });
      expect(answer.status).toBe(200);
      expect(answer.body.data.Username).toBe('admin');
    });

    it('refuses wrong credentials and disabled users with 403 "Unauthorized", and sets no cookie', async () => {
      const wrong = await otto('POST', '/api/login', { Username: 'admin', Password: 'not-the-password' }, { cookie: '' });
      refused(wrong, 403, 'Unauthorized');
      expect(wrong.headers.getSetCookie()).toEqual([]);
      refused(await otto('POST', '/api/login', { Username: 'nobody-here', Password: 'whatever-it-is' }, { cookie: '' }), 403, 'Unauthorized');
      await server.createUser('otto-disabled', 'viewer', 'otto-disabled-password');
      await data('POST', '/api/users/user/otto-disabled', { Email: '', Enabled: false });
      refused(await otto('POST', '/api/login', { Username: 'otto-disabled', Password: 'otto-disabled-password' }, { cookie: '' }), 403, 'Unauthorized');
    });

    it('takes the login body whatever its content type (curl -d sends a form type)', async () => {
      const answer = await otto('POST', '/api/login', JSON.stringify({ Username: 'admin', Password: ADMIN_PASSWORD }), {
        cookie: '',
        'content-type': 'application/x-www-form-urlencoded',
      });
      expect(answer.status).toBe(200);
      expect(answer.headers.getSetCookie()[0]).toMatch(/^otto-session=/);
    });

    it('refuses a cookie request from another site\'s page (Origin), whatever the content type is otherwise', async () => {
      const group = await newGroup();
      const body = JSON.stringify({ Name: group.Name });
      expect((await otto('POST', `/api/groups/group/${group.ID}`, body, { 'content-type': 'text/plain' })).status).toBe(200);
      refused(await otto('POST', `/api/groups/group/${group.ID}`, body, { origin: 'https://evil.example' }), 403, /Cross-site/);
      refused(await otto('DELETE', `/api/groups/group/${group.ID}`, undefined, { origin: 'https://evil.example' }), 403, /Cross-site/);
      expect(await data('GET', `/api/groups/group/${group.ID}`)).toEqual(group);
    });

    it('refuses a login body that is not JSON, or empty, with 400 "Bad Request"', async () => {
      refused(await otto('POST', '/api/login', '{"Username":', { cookie: '' }), 400, 'Bad Request');
      refused(await otto('POST', '/api/login', '', { cookie: '' }), 400, 'Bad Request');
      refused(await otto('POST', '/api/login', '["admin"]', { cookie: '' }), 400, 'Bad Request');
      refused(await otto('POST', '/api/login', { Username: 5, Password: 'x' }, { cookie: '' }), 400, /Username/);
    });

    it('POST /api/logout ends the session: the cookie is cleared and no longer works', async () => {
      const session = await login('admin', ADMIN_PASSWORD);
      // No body is needed.
      const answer = await otto('POST', '/api/logout', undefined, { cookie: session });
      expect(answer.status).toBe(200);
      expect(answer.body).toEqual({ code: 200, error: {} });
      expect(answer.headers.getSetCookie()[0]).toMatch(/^otto-session=; Path=\/; SameSite=Strict; HttpOnly; Max-Age=0$/);
      refused(await otto('GET', '/api/hosts', undefined, { cookie: session }), 403, 'unauthorized');
    });

    it('refuses anonymous requests with 403 "unauthorized"; takes Basic and Bearer too', async () => {
      const anonymous = await otto('GET', '/api/hosts', undefined, { cookie: '' });
      expect(anonymous.status).toBe(403);
      expect(anonymous.body).toEqual({ code: 403, error: { code: 403, message: 'unauthorized' } });
      refused(await otto('GET', '/api/hosts', undefined, { cookie: 'otto-session=not-a-session' }), 403, 'unauthorized');
      expect(await data('GET', '/api/hosts', undefined, { authorization: basic('admin', ADMIN_PASSWORD) })).toEqual(expect.any(Array));
      const key = await server.createKey(server.adminCookie, 'otto-key');
      expect(await data('GET', '/api/hosts', undefined, { authorization: `Bearer ${key}` })).toEqual(expect.any(Array));
      refused(await otto('GET', '/api/hosts', undefined, { authorization: basic('admin', 'wrong-password') }), 403, 'unauthorized');
    });

    it('holds viewers to reading: a write is 403', async () => {
      await server.createUser('otto-viewer', 'viewer', 'otto-viewer-password');
      const viewer = await login('otto-viewer', 'otto-viewer-password');
      expect(await data('GET', '/api/hosts', undefined, { cookie: viewer })).toEqual(expect.any(Array));
      const before = await hostCount();
      refused(await otto('PUT', '/api/hosts/host', { Name: 'by-viewer', Address: 'by-viewer.example' }, { cookie: viewer }), 403);
      // Refused for the role before the body is read: a broken body is still a 403.
      refused(await otto('PUT', '/api/hosts/host', '{broken', { cookie: viewer }), 403, /needs the admin role/);
      refused(await otto('DELETE', `/api/groups/group/${randomUUID()}`, undefined, { cookie: viewer }), 403);
      refused(await otto('GET', '/api/users', undefined, { cookie: viewer }), 403);
      expect(await hostCount()).toBe(before);
    });
  });

  describe('hosts', () => {
    it('PUT /api/hosts/host creates a host: Otto\'s model, UUID ids, the issued agent key as PSK (shown once)', async () => {
      const group = await newGroup();
      const host = await data('PUT', '/api/hosts/host', {
        name: 'web-1',
        ADDRESS: 'web-1.example',
        Port: 12444,
        PSK: 'ignored: Runboard issues the key',
        GroupIDs: [group.ID],
        Environment: [{ Key: 'ROLE', Value: 'web', Secret: false }],
      });
      expect(host).toEqual({
        ID: expect.stringMatching(UUID),
        Name: 'web-1',
        Address: 'web-1.example',
        Port: 12444,
        PSK: expect.stringMatching(/^rbh_/),
        Enabled: true,
        GroupIDs: [group.ID],
        Environment: [{ Key: 'ROLE', Value: 'web', Secret: false }],
      });
      const again = await data('GET', `/api/hosts/host/${host.ID}`);
      expect(again).toEqual({ ...host, PSK: '' });
    });

    it('refuses a taken name or address with 400 "Name or Address already in use"', async () => {
      const host = await newHost();
      const before = await hostCount();
      refused(await otto('PUT', '/api/hosts/host', { Name: host.Name, Address: 'elsewhere.example' }), 400, 'Name or Address already in use');
      refused(await otto('PUT', '/api/hosts/host', { Name: unique('other'), Address: host.Address }), 400, 'Name or Address already in use');
      expect(await hostCount()).toBe(before);
    });

    it('refuses Otto\'s reserved variables with 400 "Key is reserved by the Otto system"', async () => {
      const before = await hostCount();
      refused(
        await otto('PUT', '/api/hosts/host', { Name: unique('h'), Environment: [{ Key: 'OTTO_HOST_PSK', Value: 'x' }] }),
        400,
        'Key is reserved by the Otto system',
      );
      expect(await hostCount()).toBe(before);
    });

    it('GET /api/hosts lists hosts newest first', async () => {
      const first = await newHost();
      const second = await newHost();
      const ids = (await data('GET', '/api/hosts')).map((h: { ID: string }) => h.ID);
      expect(ids.indexOf(second.ID)).toBeLessThan(ids.indexOf(first.ID));
    });

    it('GET /api/hosts/host/:id of an unknown or malformed id is 400 "No host with ID <id>"', async () => {
      const id = randomUUID();
      refused(await otto('GET', `/api/hosts/host/${id}`), 400, `No host with ID ${id}`);
      refused(await otto('GET', '/api/hosts/host/0'), 400, 'No host with ID 0');
      refused(await otto('GET', '/api/hosts/host/0/scripts'), 400, 'No host with ID 0');
      refused(await otto('POST', `/api/hosts/host/${id}`, { Name: 'x' }), 400, `No host with ID ${id}`);
      refused(await otto('DELETE', `/api/hosts/host/${id}`), 400, `No host with ID ${id}`);
    });

    it('GET …/:id/scripts, /groups and /schedules: what the host runs, through its groups', async () => {
      const script = await newScript();
      const group = await newGroup({ ScriptIDs: [script.ID] });
      const host = await newHost({ GroupIDs: [group.ID] });
      expect(await data('GET', `/api/hosts/host/${host.ID}/scripts`)).toEqual([{ ScriptID: script.ID, ScriptName: script.Name, GroupID: group.ID, GroupName: group.Name }]);
      expect(await data('GET', `/api/hosts/host/${host.ID}/groups`)).toEqual([group]);
      const schedule = await data('PUT', '/api/schedules/schedule', { ScriptID: script.ID, Name: unique('s'), Scope: { GroupIDs: [group.ID] }, Pattern: '0 * * * *' });
      expect(await data('GET', `/api/hosts/host/${host.ID}/schedules`)).toEqual([schedule]);
    });

    it('POST /api/hosts/host/:id replaces the whole host (what is left out is cleared), DELETE answers true', async () => {
      const group = await newGroup();
      const host = await newHost({ GroupIDs: [group.ID], Environment: [{ Key: 'A', Value: '1' }] });
      const edited = await data('POST', `/api/hosts/host/${host.ID}`, { Name: `${host.Name}-renamed`, Address: host.Address, Port: 22, Enabled: false });
      expect(edited).toEqual({ ...host, PSK: '', Name: `${host.Name}-renamed`, Port: 22, Enabled: false, GroupIDs: [], Environment: [] });
      expect(await data('DELETE', `/api/hosts/host/${host.ID}`)).toBe(true);
      refused(await otto('GET', `/api/hosts/host/${host.ID}`), 400, `No host with ID ${host.ID}`);
    });
  });

  describe('groups', () => {
    it('PUT /api/groups/group creates a group; a taken name is 400 "Name already in use"', async () => {
      const script = await newScript();
      const group = await data('PUT', '/api/groups/group', { Name: 'otto-web', ScriptIDs: [script.ID], Environment: [{ Key: 'TIER', Value: 'web' }] });
      expect(group).toEqual({ ID: expect.stringMatching(UUID), Name: 'otto-web', ScriptIDs: [script.ID], Environment: [{ Key: 'TIER', Value: 'web', Secret: false }] });
      refused(await otto('PUT', '/api/groups/group', { Name: 'OTTO-WEB' }), 400, 'Name already in use');
      expect(await data('GET', `/api/groups/group/${group.ID}`)).toEqual(group);
      expect((await data('GET', '/api/groups')).map((g: { ID: string }) => g.ID)).toContain(group.ID);
      expect(await data('GET', `/api/groups/group/${group.ID}/scripts`)).toEqual([script]);
    });

    it('POST …/:id/hosts sets the members and answers the group\'s hosts; membership maps groups to host ids', async () => {
      const group = await newGroup();
      const a = await newHost();
      const b = await newHost();
      const hosts = await data('POST', `/api/groups/group/${group.ID}/hosts`, { hosts: [a.ID, b.ID] });
      expect(hosts.map((h: { ID: string }) => h.ID).sort()).toEqual([a.ID, b.ID].sort());
      expect(hosts[0].GroupIDs).toEqual([group.ID]);
      expect((await data('GET', `/api/groups/group/${group.ID}/hosts`)).length).toBe(2);
      const membership = await data('GET', '/api/groups/membership');
      expect(membership[group.ID].sort()).toEqual([a.ID, b.ID].sort());
      // An unknown host id is a 400, and changes nothing.
      const unknown = randomUUID();
      refused(await otto('POST', `/api/groups/group/${group.ID}/hosts`, { Hosts: [a.ID, unknown] }), 400, `No host with ID ${unknown}`);
      refused(await otto('POST', `/api/groups/group/${group.ID}/hosts`, { Hosts: ['nope'] }), 400, 'No host with ID nope');
      expect((await data('GET', '/api/groups/membership'))[group.ID].length).toBe(2);
      // A group with hosts cannot be deleted.
      refused(await otto('DELETE', `/api/groups/group/${group.ID}`), 400, /cannot be deleted/);
      expect(await data('POST', `/api/groups/group/${group.ID}/hosts`, { Hosts: [] })).toEqual([]);
      expect(await data('DELETE', `/api/groups/group/${group.ID}`)).toBe(true);
      refused(await otto('GET', `/api/groups/group/${group.ID}`), 400, `No group with ID ${group.ID}`);
    });

    it('refuses to delete the last group, as Otto does', async () => {
      const other = await startTestServer({ pubsub: 'memory' });
      try {
        const session = (await fetch(`${other.url}/api/login`, { method: 'POST', body: JSON.stringify({ Username: 'admin', Password: ADMIN_PASSWORD }) })).headers
          .getSetCookie()[0]!
          .split(';')[0]!;
        const call = async (method: string, path: string, body?: unknown) =>
          (await fetch(`${other.url}${path}`, { method, headers: { cookie: session, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) })).json();
        const existing = (await call('GET', '/api/groups')).data as Array<{ ID: string }>;
        for (const group of existing.slice(1)) expect((await call('DELETE', `/api/groups/group/${group.ID}`)).data).toBe(true);
        const last = existing[0] ?? (await call('PUT', '/api/groups/group', { Name: 'only' })).data;
        expect(await call('DELETE', `/api/groups/group/${last.ID}`)).toEqual({ code: 400, error: { code: 400, message: 'Cannot delete the last group' } });
        expect((await call('GET', '/api/groups')).data).toHaveLength(1);
      } finally {
        await other.close();
      }
    });

    it('POST /api/groups/group/:id replaces name, scripts and variables; GET …/schedules lists the schedules naming it', async () => {
      const script = await newScript();
      const group = await newGroup({ ScriptIDs: [script.ID], Environment: [{ Key: 'X', Value: '1' }] });
      const edited = await data('POST', `/api/groups/group/${group.ID}`, { Name: `${group.Name}-2` });
      expect(edited).toEqual({ ID: group.ID, Name: `${group.Name}-2`, ScriptIDs: [], Environment: [] });
      const schedule = await data('PUT', '/api/schedules/schedule', { ScriptID: script.ID, Name: unique('s'), Scope: { GroupIDs: [group.ID] }, Pattern: '5 4 * * *' });
      expect(await data('GET', `/api/groups/group/${group.ID}/schedules`)).toEqual([schedule]);
      refused(await otto('DELETE', `/api/groups/group/${group.ID}`), 400, /schedule/i);
    });
  });

  describe('scripts', () => {
    it('PUT /api/scripts/script creates a script; a taken name is 400 "Script with name \'<n>\' already exists"', async () => {
      const script = await data('PUT', '/api/scripts/script', {
        Name: 'otto-backup',
        Executable: '/bin/bash',
        Script: 'tar czf /tmp/b.tgz /etc',
        Environment: [{ Key: 'TARGET', Value: '/tmp' }],
        UID: 1000,
        GID: 1000,
        WorkingDirectory: '/tmp',
        AfterExecution: 'reboot',
      });
      expect(script).toEqual({
        ID: expect.stringMatching(UUID),
        Name: 'otto-backup',
        Enabled: true,
        Executable: '/bin/bash',
        Script: 'tar czf /tmp/b.tgz /etc',
        Environment: [{ Key: 'TARGET', Value: '/tmp', Secret: false }],
        UID: 1000,
        GID: 1000,
        WorkingDirectory: '/tmp',
        AfterExecution: 'reboot',
        AttachmentIDs: [],
      });
      refused(await otto('PUT', '/api/scripts/script', { Name: 'otto-backup', Executable: '/bin/sh', Script: 'true' }), 400, "Script with name 'otto-backup' already exists");
      expect(await data('GET', `/api/scripts/script/${script.ID}`)).toEqual(script);
      expect((await data('GET', '/api/scripts')).map((s: { ID: string }) => s.ID)).toContain(script.ID);
      expect(await data('GET', `/api/scripts/script/${script.ID}/attachments`)).toEqual([]);
    });

    it('GET …/:id/attachments lists its attachments in Otto\'s model (Mode in decimal)', async () => {
      const created = await server.gql(
        `mutation($input: CreateAttachmentInput!) { createAttachment(input: $input) { ... on CreateAttachmentSuccess { data { id } } ... on Error { message } } }`,
        { input: { name: 'motd', path: '/etc/motd', contentBase64: Buffer.from('hello\n').toString('base64'), mimeType: 'text/plain', mode: 0o644, uid: 0, gid: 0 } },
        { cookie: server.adminCookie },
      );
      const attachmentId = Buffer.from(created.data.createAttachment.data.id, 'base64').toString().split(':')[1]!;
      const script = await newScript({ AttachmentIDs: [attachmentId] });
      expect(script.AttachmentIDs).toEqual([attachmentId]);
      expect(await data('GET', `/api/scripts/script/${script.ID}/attachments`)).toEqual([
        { ID: attachmentId, Path: '/etc/motd', Name: 'motd', MimeType: 'text/plain', UID: 0, GID: 0, Created: expect.any(String), Modified: expect.any(String), Mode: 420, Size: 6 },
      ]);
      const unknown = randomUUID();
      refused(await otto('PUT', '/api/scripts/script', { Name: unique('s'), Executable: '/bin/sh', Script: 'x', AttachmentIDs: [unknown] }), 400, `No attachment with ID ${unknown}`);
    });

    it('keeps a secret variable write-only: shown without its value, kept when sent back without one', async () => {
      const host = await newHost({ Environment: [{ Key: 'TOKEN', Value: 's3cret', Secret: true }] });
      expect(host.Environment).toEqual([{ Key: 'TOKEN', Value: '', Secret: true }]);
      const edited = await data('POST', `/api/hosts/host/${host.ID}`, { Name: host.Name, Address: host.Address, Enabled: true, Environment: host.Environment });
      expect(edited.Environment).toEqual([{ Key: 'TOKEN', Value: '', Secret: true }]);
      expect(JSON.stringify(await data('GET', '/api/hosts'))).not.toContain('s3cret');
    });

    it('refuses a script without Executable or Script, or with a name over 140 characters', async () => {
      const before = (await data('GET', '/api/scripts')).length;
      refused(await otto('PUT', '/api/scripts/script', { Name: unique('s'), Script: 'true' }), 400, 'Executable is required');
      refused(await otto('PUT', '/api/scripts/script', { Name: unique('s'), Executable: '/bin/sh' }), 400, 'Script is required');
      refused(await otto('PUT', '/api/scripts/script', { Name: 'x'.repeat(141), Executable: '/bin/sh', Script: 'true' }), 400);
      refused(await otto('PUT', '/api/scripts/script', { Name: unique('s'), Executable: '/bin/sh', Script: 'true', UID: 'root' }), 400, /UID/);
      expect((await data('GET', '/api/scripts')).length).toBe(before);
    });

    it('POST …/:id/groups sets its groups and answers where it may run; GET …/hosts, /groups, /schedules', async () => {
      const script = await newScript();
      const group = await newGroup();
      const host = await newHost({ GroupIDs: [group.ID] });
      const rows = [{ ScriptID: script.ID, ScriptName: script.Name, GroupID: group.ID, GroupName: group.Name, HostID: host.ID, HostName: host.Name }];
      expect(await data('POST', `/api/scripts/script/${script.ID}/groups`, { Groups: [group.ID] })).toEqual(rows);
      expect(await data('GET', `/api/scripts/script/${script.ID}/hosts`)).toEqual(rows);
      expect(await data('GET', `/api/scripts/script/${script.ID}/groups`)).toEqual([{ ...group, ScriptIDs: [script.ID] }]);
      const schedule = await data('PUT', '/api/schedules/schedule', { ScriptID: script.ID, Name: unique('s'), Scope: { HostIDs: [host.ID] }, Pattern: '*/5 * * * *' });
      expect(await data('GET', `/api/scripts/script/${script.ID}/schedules`)).toEqual([schedule]);
      const unknown = randomUUID();
      refused(await otto('POST', `/api/scripts/script/${script.ID}/groups`, { Groups: [unknown] }), 400, `No group with ID ${unknown}`);
    });

    it('POST /api/scripts/script/:id replaces the script (Enabled included); DELETE answers true', async () => {
      const script = await newScript({ Environment: [{ Key: 'A', Value: '1' }], UID: 5 });
      const edited = await data('POST', `/api/scripts/script/${script.ID}`, { Name: script.Name, Executable: '/bin/sh', Script: 'echo two', Enabled: false });
      expect(edited).toEqual({ ...script, Script: 'echo two', Enabled: false, Environment: [], UID: 0 });
      expect(await data('DELETE', `/api/scripts/script/${script.ID}`)).toBe(true);
      refused(await otto('GET', `/api/scripts/script/${script.ID}`), 400, `No script with ID ${script.ID}`);
    });
  });

  describe('schedules', () => {
    it('PUT /api/schedules/schedule creates one: hosts or groups, exactly one of them; unknown ids are 400', async () => {
      const script = await newScript();
      const host = await newHost();
      const schedule = await data('PUT', '/api/schedules/schedule', { ScriptID: script.ID, Name: 'otto-nightly', Scope: { HostIDs: [host.ID] }, Pattern: '0 3 * * *' });
      expect(schedule).toEqual({
        ID: expect.stringMatching(UUID),
        Name: 'otto-nightly',
        ScriptID: script.ID,
        Scope: { HostIDs: [host.ID], GroupIDs: [] },
        Pattern: '0 3 * * *',
        Enabled: true,
        LastRunTime: '0001-01-01T00:00:00Z',
      });
      const group = await newGroup();
      const before = (await data('GET', '/api/schedules')).length;
      const base = { ScriptID: script.ID, Name: unique('s'), Pattern: '0 3 * * *' };
      refused(await otto('PUT', '/api/schedules/schedule', { ...base, Scope: { HostIDs: [host.ID], GroupIDs: [group.ID] } }), 400, /either hosts/);
      refused(await otto('PUT', '/api/schedules/schedule', { ...base, Scope: {} }), 400, /either hosts/);
      refused(await otto('PUT', '/api/schedules/schedule', { ...base, Name: 'otto-nightly', Scope: { HostIDs: [host.ID] } }), 400, /already exists/);
      const unknown = randomUUID();
      refused(await otto('PUT', '/api/schedules/schedule', { ...base, ScriptID: unknown, Scope: { HostIDs: [host.ID] } }), 400, `No script with ID ${unknown}`);
      refused(await otto('PUT', '/api/schedules/schedule', { ...base, Scope: { GroupIDs: [unknown] } }), 400, `No group with ID ${unknown}`);
      refused(await otto('PUT', '/api/schedules/schedule', { ...base, Scope: { HostIDs: [host.ID] }, Pattern: 'every day' }), 400, /5 fields/);
      expect((await data('GET', '/api/schedules')).length).toBe(before);
    });

    it('GET …/:id, /hosts, /groups, /script, /reports; POST …/:id replaces it; DELETE answers true', async () => {
      const script = await newScript();
      const group = await newGroup();
      const host = await newHost({ GroupIDs: [group.ID] });
      const schedule = await data('PUT', '/api/schedules/schedule', { ScriptID: script.ID, Name: unique('s'), Scope: { GroupIDs: [group.ID] }, Pattern: '0 3 * * *' });
      expect(await data('GET', `/api/schedules/schedule/${schedule.ID}`)).toEqual(schedule);
      expect((await data('GET', `/api/schedules/schedule/${schedule.ID}/hosts`)).map((h: { ID: string }) => h.ID)).toEqual([host.ID]);
      expect(await data('GET', `/api/schedules/schedule/${schedule.ID}/groups`)).toEqual([group]);
      expect(await data('GET', `/api/schedules/schedule/${schedule.ID}/script`)).toEqual(script);
      expect(await data('GET', `/api/schedules/schedule/${schedule.ID}/reports`)).toEqual([]);
      const edited = await data('POST', `/api/schedules/schedule/${schedule.ID}`, { Name: `${schedule.Name}-b`, Scope: { HostIDs: [host.ID] }, Pattern: '30 2 * * 1', Enabled: false });
      expect(edited).toEqual({ ...schedule, Name: `${schedule.Name}-b`, Scope: { HostIDs: [host.ID], GroupIDs: [] }, Pattern: '30 2 * * 1', Enabled: false });
      expect(await data('DELETE', `/api/schedules/schedule/${schedule.ID}`)).toBe(true);
      refused(await otto('GET', `/api/schedules/schedule/${schedule.ID}/reports`), 400, `No schedule with ID ${schedule.ID}`);
    });

    it('GET …/:id/reports: one report per finished occurrence, from its runs (one per host)', async () => {
      const script = await newScript();
      const [a, b] = [await newHost(), await newHost()];
      const schedule = await data('PUT', '/api/schedules/schedule', { ScriptID: script.ID, Name: unique('s'), Scope: { HostIDs: [a.ID, b.ID] }, Pattern: '0 1 * * *' });
      // Runs of two firings, as the dispatcher leaves them (execution is off in this file).
      const db = server.app.db;
      const fire = async (at: string, outcomes: Array<[string, 'succeeded' | 'failed', number]>) => {
        const occurrence = await db.insertInto('schedule_occurrences').values({ schedule_id: schedule.ID, scheduled_for: new Date(at) }).returning('id').executeTakeFirstOrThrow();
        for (const [hostId, state, exitCode] of outcomes) {
          await db
            .insertInto('runs')
            .values({
              script_id: script.ID,
              script_name: script.Name,
              host_id: hostId,
              host_name: 'h',
              schedule_id: schedule.ID,
              occurrence_id: occurrence.id,
              attempt: 1,
              state,
              trigger: 'schedule',
              triggered_by_user_id: null,
              triggered_by: schedule.Name,
              parameters: JSON.stringify({}),
              exit_code: exitCode,
              summary: null,
              pid: null,
              output_bytes: 0,
              external: JSON.stringify({}),
              check_id: null,
              retry_of: null,
              instance_id: null,
              not_before: null,
              scheduled_for: new Date(at),
              created_at: new Date(at),
              started_at: new Date(at),
              finished_at: new Date(Date.parse(at) + 1500),
              dispatched_at: null,
            } as never)
            .execute();
        }
        return occurrence.id;
      };
      const first = await fire('2026-02-01T01:00:00.000Z', [[a.ID, 'succeeded', 0], [b.ID, 'failed', 2]]);
      const second = await fire('2026-02-02T01:00:00.000Z', [[a.ID, 'succeeded', 0], [b.ID, 'succeeded', 0]]);
      const reports = await data('GET', `/api/schedules/schedule/${schedule.ID}/reports`);
      expect(reports).toEqual([
        {
          ID: first,
          ScheduleID: schedule.ID,
          HostIDs: expect.arrayContaining([a.ID, b.ID]),
          Time: { Start: '2026-02-01T01:00:00.000Z', Finished: '2026-02-01T01:00:01.500Z', ElapsedSeconds: 1.5 },
          Result: 1,
          HostResult: { [a.ID]: 0, [b.ID]: 2 },
        },
        expect.objectContaining({ ID: second, Result: 0, HostResult: { [a.ID]: 0, [b.ID]: 0 } }),
      ]);
    });

    it('builds ScheduleReports from the runs of each occurrence, oldest first, once all have finished', () => {
      const run = (over: Partial<ReportRunData>): ReportRunData => ({
        id: randomUUID(),
        occurrenceId: null,
        active: false,
        state: 'SUCCEEDED',
        exitCode: 0,
        createdAt: '2026-01-01T00:00:00.000Z',
        startedAt: '2026-01-01T00:00:00.000Z',
        finishedAt: '2026-01-01T00:00:02.000Z',
        host: { id: randomUUID() },
        ...over,
      });
      const [early, late, running] = [randomUUID(), randomUUID(), randomUUID()];
      const runs = [
        run({ occurrenceId: running, active: true, state: 'RUNNING', startedAt: '2026-01-03T00:00:00.000Z', finishedAt: null }),
        run({ occurrenceId: late, startedAt: '2026-01-02T00:00:00.000Z', finishedAt: '2026-01-02T00:00:04.000Z', state: 'FAILED', exitCode: 3 }),
        run({ occurrenceId: late, startedAt: '2026-01-02T00:00:01.000Z', finishedAt: '2026-01-02T00:00:02.000Z', state: 'LOST', exitCode: null }),
        run({ occurrenceId: early }),
        run({ occurrenceId: early, state: 'FAILED', exitCode: 1 }),
      ];
      const reports = toReports('sched', runs);
      expect(reports.map((r) => r.ID)).toEqual([early, late]);
      expect(reports[0]).toMatchObject({ ScheduleID: 'sched', Result: 1, Time: { Start: '2026-01-01T00:00:00.000Z', Finished: '2026-01-01T00:00:02.000Z', ElapsedSeconds: 2 } });
      expect(reports[1]).toMatchObject({ Result: 2, Time: { ElapsedSeconds: 4 } });
      expect(Object.values(reports[1]!.HostResult).sort()).toEqual([-1, 3]);
      expect(reports[1]!.HostIDs).toHaveLength(2);
    });
  });

  describe('users', () => {
    it('PUT /api/users/user, GET (list and by username, any case), POST edits, DELETE', async () => {
      const created = await data('PUT', '/api/users/user', { Username: 'otto-ops', Email: 'ops@example.com', Password: 'otto-ops-password' });
      expect(created).toEqual({ Username: 'otto-ops', Email: 'ops@example.com', Enabled: true });
      expect(await data('GET', '/api/users/user/OTTO-OPS')).toEqual(created);
      expect((await data('GET', '/api/users')).map((u: { Username: string }) => u.Username)).toContain('otto-ops');
      const session = await login('otto-ops', 'otto-ops-password');
      // A missing Password leaves it; the session lives on.
      expect(await data('POST', '/api/users/user/otto-ops', { Email: 'ops2@example.com', Enabled: true })).toEqual({ ...created, Email: 'ops2@example.com' });
      expect(await data('GET', '/api/state', undefined, { cookie: session })).toBeTruthy();
      // A new password ends that user's sessions.
      await data('POST', '/api/users/user/otto-ops', { Email: 'ops2@example.com', Enabled: true, Password: 'otto-ops-new-password' });
      refused(await otto('GET', '/api/state', undefined, { cookie: session }), 403, 'unauthorized');
      await login('otto-ops', 'otto-ops-new-password');
      expect(await data('DELETE', '/api/users/user/otto-ops')).toBe(true);
      refused(await otto('GET', '/api/users/user/otto-ops'), 400, 'No user with ID otto-ops');
    });

    it('refuses deleting yourself with 400 "Cannot delete own user"; unknown users are 400', async () => {
      refused(await otto('DELETE', '/api/users/user/admin'), 400, 'Cannot delete own user');
      refused(await otto('DELETE', '/api/users/user/nobody'), 400, 'No user with ID nobody');
      refused(await otto('POST', '/api/users/user/nobody', { Email: '' }), 400, 'No user with ID nobody');
      expect(await data('GET', '/api/users/user/admin')).toMatchObject({ Username: 'admin', Enabled: true });
    });
  });

  describe('state, options and events', () => {
    it('GET /api/state: runtime, the current user and the options', async () => {
      const state = await data('GET', '/api/state');
      expect(state).toEqual({
        Runtime: { ServerFQDN: expect.any(String), Version: expect.stringMatching(/^\d+\.\d+\.\d+/), Config: `${process.platform}_${process.arch}` },
        User: { Username: 'admin', Email: expect.any(String), Enabled: true },
        Warnings: [],
        Options: expect.objectContaining({ General: expect.any(Object), Network: expect.any(Object), Register: expect.any(Object), Security: expect.any(Object) }),
      });
    });

    it('GET and POST /api/options: the full options, replaced; a ServerURL without protocol is 400', async () => {
      const group = await newGroup();
      const options = await data('GET', '/api/options');
      expect(options).toMatchObject({ Network: { ForceIPVersion: 'auto' }, Register: { Enabled: false, PSK: '' }, Security: { IncludePSKEnv: false } });
      const next = {
        General: { ServerURL: 'https://otto.example.com', GlobalEnvironment: [{ Key: 'DC', Value: 'east' }] },
        Network: { ForceIPVersion: 'ipv4', Timeout: 20, HeartbeatFrequency: 10 },
        Register: { Enabled: true, PSK: 'register-me', Rules: [{ Property: 'hostname', Pattern: '^web', GroupID: group.ID }], DefaultGroupID: group.ID },
        Security: { IncludePSKEnv: true },
      };
      const saved = await data('POST', '/api/options', next);
      expect(saved).toEqual({
        General: { ServerURL: 'https://otto.example.com', GlobalEnvironment: [{ Key: 'DC', Value: 'east', Secret: false }] },
        Network: { ForceIPVersion: 'ipv4', Timeout: 20, HeartbeatFrequency: 10 },
        Register: { Enabled: true, PSK: '', Rules: [{ Property: 'hostname', Pattern: '^web', GroupID: group.ID }], DefaultGroupID: group.ID },
        Security: { IncludePSKEnv: true },
      });
      expect(await data('GET', '/api/options')).toEqual(saved);
      refused(await otto('POST', '/api/options', { ...next, General: { ServerURL: 'otto.example.com' } }), 400, /protocol/);
      expect(await data('GET', '/api/options')).toEqual(saved);
      // Put registration back the way the other tests expect it.
      await data('POST', '/api/options', { ...next, General: {}, Register: { Enabled: false }, Security: {} });
    });

    it('GET /api/events?c=n: the last n events, newest first, with Otto\'s names; c is required and an integer', async () => {
      const host = await newHost();
      await data('DELETE', `/api/hosts/host/${host.ID}`);
      const events = await data('GET', '/api/events?c=2');
      expect(events).toHaveLength(2);
      expect(events[0]).toEqual({
        ID: expect.stringMatching(UUID),
        Event: 'HostDeleted',
        Time: expect.any(String),
        Details: expect.objectContaining({ host_id: host.ID, name: host.Name, deleted_by: 'admin' }),
      });
      expect(events[1]).toMatchObject({ Event: 'HostAdded', Details: { host_id: host.ID, added_by: 'admin' } });
      expect(Date.parse(events[0].Time)).toBeGreaterThanOrEqual(Date.parse(events[1].Time));
      const many = await data('GET', '/api/events?c=1000');
      expect(many.map((e: { Event: string }) => e.Event)).toEqual(expect.arrayContaining(['UserLoggedIn', 'UserIncorrectPassword', 'GroupAdded', 'ScriptAdded', 'ScheduleAdded']));
      expect(many.every((e: { Event: string }) => /^[A-Z][A-Za-z]+$/.test(e.Event))).toBe(true);
      refused(await otto('GET', '/api/events'), 400, 'Must specify max number of events');
      refused(await otto('GET', '/api/events?c=ten'), 400, 'Invalid count');
      refused(await otto('GET', '/api/events?c=-1'), 400, 'Invalid count');
      expect(await data('GET', '/api/events?c=0')).toEqual([]);
    });
  });

  describe('malformed input', () => {
    it('refuses broken, empty, non-object and wrongly typed bodies with 400, writing nothing', async () => {
      const before = await hostCount();
      refused(await otto('PUT', '/api/hosts/host', '{"Name": "x"'), 400, 'Bad Request');
      refused(await otto('PUT', '/api/hosts/host', ''), 400, 'Bad Request');
      refused(await otto('PUT', '/api/hosts/host', 'null'), 400, 'Bad Request');
      refused(await otto('PUT', '/api/hosts/host', '"a string"'), 400, 'Bad Request');
      refused(await otto('PUT', '/api/hosts/host', { Name: 5 }), 400, /Name/);
      refused(await otto('PUT', '/api/hosts/host', { Name: unique('h'), Port: 'x' }), 400, /Port/);
      refused(await otto('PUT', '/api/hosts/host', { Name: unique('h'), Port: 70000 }), 400, /Port/);
      refused(await otto('PUT', '/api/hosts/host', { Name: unique('h'), GroupIDs: 'all' }), 400, /GroupIDs/);
      refused(await otto('PUT', '/api/hosts/host', { Name: unique('h'), Environment: [{ Key: 'BAD KEY', Value: 'x' }] }), 400);
      refused(await otto('PUT', '/api/hosts/host', { Name: '' }), 400);
      // Some other content type: still read as JSON (Otto never looked), broken all the same.
      refused(await otto('PUT', '/api/hosts/host', 'Name=x', { 'content-type': 'text/plain' }), 400, 'Bad Request');
      expect(await hostCount()).toBe(before);
    });

    it('refuses a body over the limit with 400', async () => {
      const before = await hostCount();
      const answer = await otto('PUT', '/api/hosts/host', { Name: unique('h'), Environment: [{ Key: 'BIG', Value: 'x'.repeat(MAX_BODY) }] });
      refused(answer, 400, /larger than/);
      expect(await hostCount()).toBe(before);
    });

    it('answers paths and methods it does not have with Otto errors, never a 500', async () => {
      refused(await otto('GET', '/api/hosts/nope'), 404, 'Not Found');
      refused(await otto('PATCH', '/api/hosts/host/0', {}), 400);
      refused(await otto('GET', '/api/hosts/host/..%2F..%2Fetc%2Fpasswd'), 400, 'No host with ID ../../etc/passwd');
      refused(await otto('GET', '/api/users/user/..%2Fadmin'), 400, 'No user with ID ../admin');
    });

    it('answers every :id route with a dummy id (0, a random UUID) with a 4xx in Otto\'s format', async () => {
      const routes: Array<[string, string, unknown?]> = [
        ['GET', '/api/hosts/host/:id'],
        ['GET', '/api/hosts/host/:id/scripts'],
        ['GET', '/api/hosts/host/:id/groups'],
        ['GET', '/api/hosts/host/:id/schedules'],
        ['POST', '/api/hosts/host/:id', { Name: 'x' }],
        ['DELETE', '/api/hosts/host/:id'],
        ['GET', '/api/groups/group/:id'],
        ['GET', '/api/groups/group/:id/scripts'],
        ['GET', '/api/groups/group/:id/hosts'],
        ['GET', '/api/groups/group/:id/schedules'],
        ['POST', '/api/groups/group/:id/hosts', { Hosts: [] }],
        ['POST', '/api/groups/group/:id', { Name: 'x' }],
        ['DELETE', '/api/groups/group/:id'],
        ['GET', '/api/scripts/script/:id'],
        ['GET', '/api/scripts/script/:id/hosts'],
        ['GET', '/api/scripts/script/:id/groups'],
        ['GET', '/api/scripts/script/:id/schedules'],
        ['GET', '/api/scripts/script/:id/attachments'],
        ['POST', '/api/scripts/script/:id/groups', { Groups: [] }],
        ['POST', '/api/scripts/script/:id', { Name: 'x', Executable: '/bin/sh', Script: 'x' }],
        ['DELETE', '/api/scripts/script/:id'],
        ['GET', '/api/schedules/schedule/:id'],
        ['GET', '/api/schedules/schedule/:id/reports'],
        ['GET', '/api/schedules/schedule/:id/hosts'],
        ['GET', '/api/schedules/schedule/:id/groups'],
        ['GET', '/api/schedules/schedule/:id/script'],
        ['POST', '/api/schedules/schedule/:id', { Name: 'x', Scope: { HostIDs: [randomUUID()] }, Pattern: '* * * * *' }],
        ['DELETE', '/api/schedules/schedule/:id'],
        ['GET', '/api/users/user/:id'],
        ['POST', '/api/users/user/:id', { Email: '' }],
        ['DELETE', '/api/users/user/:id'],
      ];
      for (const [method, path, body] of routes) {
        for (const id of ['0', randomUUID()]) {
          const answer = await otto(method, path.replace(':id', id), body);
          expect(answer.status, `${method} ${path} ${id}: ${JSON.stringify(answer.body)}`).toBe(400);
          refused(answer, 400, /^No (host|group|script|schedule|user) with ID /);
        }
      }
    });
  });
});
