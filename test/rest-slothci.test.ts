/**
 * The Sloth CI dialect over real HTTP with real execution: every example of
 * seeds/slothci-api.rst, the error cases of COMPAT.md "Sloth CI", webhooks through each provider,
 * and malformed input (bad YAML, traversal in listen points, wrong bodies) refused in Sloth's
 * format without writing anything.
 */
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_PASSWORD, basic, executing, startTestServer, type TestServer } from './support/server';

const ADMIN = basic('admin', ADMIN_PASSWORD);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Answer {
  status: number;
  type: string | null;
  text: string;
  headers: Headers;
}

describe('Sloth CI API', () => {
  let server: TestServer;
  let work: string;
  let viewer: string;
  let operator: string;

  beforeAll(async () => {
    server = await startTestServer(executing());
    work = await mkdtemp(path.join(tmpdir(), 'sloth-test-'));
    await server.createUser('sloth-viewer', 'viewer', 'viewer-password-123');
    await server.createUser('sloth-operator', 'operator', 'operator-password-123');
    viewer = basic('sloth-viewer', 'viewer-password-123');
    operator = basic('sloth-operator', 'operator-password-123');
  });
  afterAll(async () => {
    await server?.close();
    if (work) await rm(work, { recursive: true, force: true });
  });

  async function hit(pathAndQuery: string, init: RequestInit & { auth?: string | null } = {}): Promise<Answer> {
    const { auth = ADMIN, ...rest } = init;
    const headers = new Headers(rest.headers);
    if (auth) headers.set('authorization', auth);
    const response = await fetch(`${server.url}${pathAndQuery}`, { ...rest, headers });
    return { status: response.status, type: response.headers.get('content-type'), text: await response.text(), headers: response.headers };
  }
  const api = (params: Record<string, string | string[]>, init: RequestInit & { auth?: string | null } = {}) => {
    const query = new URLSearchParams();
    for (const [name, value] of Object.entries(params)) for (const v of [value].flat()) query.append(name, v);
    return hit(`/?${query}`, init);
  };
  const json = (answer: Answer) => JSON.parse(answer.text) as unknown;

  let seq = 0;
  /** A work directory of its own and a config for it. */
  async function config(lines: string[], listenPoint = `app-${++seq}`): Promise<{ listenPoint: string; dir: string; yaml: string }> {
    const dir = await mkdtemp(path.join(work, 'app-'));
    const yaml = [`listen_point: ${listenPoint}`, `work_dir: ${dir}`, ...lines].join('\n');
    return { listenPoint, dir, yaml };
  }
  async function create(lines: string[], listenPoint?: string) {
    const app = await config(lines, listenPoint);
    const created = await api({ action: 'create', config_string: app.yaml });
    expect(created, created.text).toMatchObject({ status: 201, text: JSON.stringify(app.listenPoint) });
    return app;
  }
  async function info(listenPoint: string) {
    const answer = await api({ action: 'info', listen_points: listenPoint });
    expect(answer.status, answer.text).toBe(200);
    return (json(answer) as Array<Record<string, unknown>>)[0]!;
  }
  /** Waits for the app's builds to reach `count` finished builds. */
  async function builds(listenPoint: string, count = 1): Promise<Array<Record<string, unknown>>> {
    for (let i = 0; i < 200; i++) {
      const history = json(await api({ action: 'history', listen_point: listenPoint, per_page: '50' })) as Array<Record<string, unknown>>;
      if (history.length >= count) return history;
      await sleep(100);
    }
    throw new Error(`${listenPoint}: fewer than ${count} builds finished`);
  }
  async function appCount(): Promise<number> {
    return (json(await api({ action: 'info' })) as unknown[]).length;
  }

  describe('the seed examples', () => {
    it('create: 201 with the listen point as JSON (GET, the config url-encoded)', async () => {
      const dir = await mkdtemp(path.join(work, 'seed-'));
      const configString = `listen_point: test\r\n\r\nwork_dir: ${dir}\r\nactions:\r\n  - touch created-{spam}\r\nparams:\r\n  spam: ham\r\n`;
      const answer = await hit(`/?action=create&config_string=${encodeURIComponent(configString).replace(/%20/g, '+')}`);
      expect(answer).toMatchObject({ status: 201, type: 'application/json', text: '"test"' });
      const [app] = json(await api({ action: 'info', listen_points: 'test' })) as Array<Record<string, unknown>>;
      expect(app).toEqual({ listen_point: 'test', config_file: null, last_build_status: 'Never triggered', last_build_timestamp: 0 });
      // The app is a Runboard script with template steps.
      const script = await server.gql(`{ scripts(filter: { listenPoint: "test" }) { edges { node { name listenPoint workingDir stopOnFirstFailure steps { executable template } parameters { name default } configSource } } } }`, {}, { cookie: server.adminCookie });
      expect(script.data.scripts.edges[0].node).toEqual({
        name: 'sloth:test',
        listenPoint: 'test',
        workingDir: dir,
        stopOnFirstFailure: false,
        steps: [{ executable: 'touch created-{spam}', template: true }],
        parameters: [{ name: 'spam', default: 'ham' }],
        configSource: configString,
      });
    });

    it('trigger: 202 null, runs the actions in work_dir with the parameters merged in', async () => {
      const answer = await hit('/?action=trigger&listen_point=test&spam=eggs');
      expect(answer).toMatchObject({ status: 202, type: 'application/json', text: 'null' });
      const [build] = await builds('test');
      expect(build).toMatchObject({ logger_name: 'test.build', level_name: 'INFO', level_number: 20, message: 'Complete (1/1)' });
      const [app] = json(await api({ action: 'info', listen_points: 'test' })) as Array<Record<string, unknown>>;
      expect(app!.last_build_status).toBe('Complete (1/1)');
      expect(typeof app!.last_build_timestamp).toBe('number');
      expect(Math.abs((app!.last_build_timestamp as number) - Date.now() / 1000)).toBeLessThan(60);
      const { text: dir } = { text: String((await server.gql(`{ scripts(filter: { listenPoint: "test" }) { edges { node { workingDir } } } }`, {}, { cookie: server.adminCookie })).data.scripts.edges[0].node.workingDir) };
      expect(await readdir(dir)).toEqual(['created-eggs']);
    });

    it('bind: 200 null for a file with the same config; info shows it', async () => {
      const script = await server.gql(`{ scripts(filter: { listenPoint: "test" }) { edges { node { configSource } } } }`, {}, { cookie: server.adminCookie });
      const file = path.join(work, 'bar.yml');
      // The same settings, written differently.
      const same = `# bound\n${String(script.data.scripts.edges[0].node.configSource).replace(/\r\n/g, '\n')}`;
      await writeFile(file, same);
      const answer = await hit(`/?action=bind&listen_point=test&config_file=${encodeURIComponent(file)}`);
      expect(answer).toMatchObject({ status: 200, type: 'application/json', text: 'null' });
      expect((await info('test')).config_file).toBe(file);
    });

    it('info: the listen points asked for, in order; all of them without any', async () => {
      await create(['actions: []'], 'spam');
      await create(['actions: []'], 'eggs');
      const answer = await hit('/?action=info&listen_points=spam&listen_points=eggs');
      expect(answer.status).toBe(200);
      expect(json(answer)).toEqual([
        { listen_point: 'spam', config_file: null, last_build_status: 'Never triggered', last_build_timestamp: 0 },
        { listen_point: 'eggs', config_file: null, last_build_status: 'Never triggered', last_build_timestamp: 0 },
      ]);
      const all = json(await api({ action: 'info' })) as Array<{ listen_point: string }>;
      expect(all.map((a) => a.listen_point)).toEqual([...all.map((a) => a.listen_point)].sort());
      expect(all.map((a) => a.listen_point)).toEqual(expect.arrayContaining(['eggs', 'spam', 'test']));
    });

    it('logs: pages of records newest first, filtered by level; history: the build records', async () => {
      const answer = await hit('/?action=logs&listen_point=spam&from_page=2&per_page=20&level=40');
      expect(answer).toMatchObject({ status: 200, type: 'application/json' });
      expect(json(answer)).toEqual([]);

      const logs = json(await api({ action: 'logs', listen_point: 'test' })) as Array<Record<string, unknown>>;
      // Bound (an update of the script) after the build.
      expect(logs.map((r) => [r.logger_name, r.level_name, r.message])).toEqual([
        ['test', 'INFO', expect.stringMatching(/^Updated script "sloth:test"/)],
        ['test.build', 'INFO', 'Complete (1/1)'],
        ['test.processing', 'INFO', 'Finished'],
        ['test.processing', 'INFO', 'Executing action: touch created-eggs'],
        ['test', 'INFO', 'Build triggered by admin'],
        ['test', 'INFO', expect.stringMatching(/^Created script "sloth:test"/)],
      ]);
      for (const row of logs) expect(Object.keys(row).sort()).toEqual(['level_name', 'level_number', 'logger_name', 'message', 'timestamp']);
      const stamps = logs.map((r) => r.timestamp as number);
      expect(stamps).toEqual([...stamps].sort((a, b) => b - a));

      const debug = json(await api({ action: 'logs', listen_point: 'test', level: '10', per_page: '3', from_page: '2' })) as Array<Record<string, unknown>>;
      expect(debug.map((r) => [r.level_name, r.message])).toEqual([
        ['DEBUG', 'stderr: '],
        ['DEBUG', 'stdout: '],
        ['INFO', 'Executing action: touch created-eggs'],
      ]);
      const both = json(await api({ action: 'logs', listen_point: 'test', level: '10', per_page: '3', from_page: '1', to_page: '2' })) as Array<Record<string, unknown>>;
      expect(both.map((r) => r.message)).toEqual([expect.stringMatching(/^Updated/), 'Complete (1/1)', 'Finished', 'stderr: ', 'stdout: ', 'Executing action: touch created-eggs']);

      const history = await hit('/?action=history&listen_point=test&from_page=1&per_page=20');
      expect(json(history)).toEqual([{ timestamp: expect.any(Number), logger_name: 'test.build', level_name: 'INFO', level_number: 20, message: 'Complete (1/1)' }]);
      expect(json(await hit('/?action=history&listen_point=spam&from_page=2&per_page=20'))).toEqual([]);
    });

    it('restart: 202 null, re-reading bound config files', async () => {
      const file = path.join(work, 'bar.yml');
      const text = await readFile(file, 'utf8');
      await writeFile(file, text.replace('touch created-{spam}', 'touch restarted-{spam}'));
      expect(await hit('/?action=restart')).toMatchObject({ status: 202, text: 'null' });
      const script = await server.gql(`{ scripts(filter: { listenPoint: "test" }) { edges { node { steps { executable } configFile } } } }`, {}, { cookie: server.adminCookie });
      expect(script.data.scripts.edges[0].node).toEqual({ steps: [{ executable: 'touch restarted-{spam}' }], configFile: file });
    });

    it('stop: 202 null, and Runboard keeps running', async () => {
      expect(await hit('/?action=stop')).toMatchObject({ status: 202, text: 'null' });
      expect((await hit('/?action=info&listen_points=test')).status).toBe(200);
    });

    it('remove: 204 empty; the app is gone', async () => {
      const answer = await hit('/?action=remove&listen_point=test');
      expect(answer).toMatchObject({ status: 204, text: '' });
      expect(await api({ action: 'info', listen_points: 'test' })).toMatchObject({ status: 404, text: "Listen point 'test' not found" });
    });
  });

  describe('builds', () => {
    it('splits actions on whitespace without a shell, and logs their output at DEBUG', async () => {
      const app = await create(['actions:', '  - echo hello {who} $HOME;', '  - sh -c exit', "  - 'echo {{braces}} {who}'", "  - 'echo {unclosed'", 'params:', '  who: world']);
      expect((await api({ action: 'trigger', listen_point: app.listenPoint })).status).toBe(202);
      expect((await builds(app.listenPoint))[0]!.message).toBe('Complete (3/4)');
      const logs = json(await api({ action: 'logs', listen_point: app.listenPoint, level: '10', per_page: '50' })) as Array<{ logger_name: string; message: string }>;
      // No shell: $HOME and ; are words like any other.
      expect(logs.map((r) => r.message)).toContain('stdout: hello world $HOME;\n');
      expect(logs.map((r) => r.message)).toContain('Executing action: echo hello world $HOME;');
      expect(logs.map((r) => r.message)).toContain('stdout: {braces} world\n');
      expect(logs.map((r) => r.message)).toContain('Execution failed: unmatched "{" at character 6 of the command (template: echo {unclosed)');
      expect(logs.filter((r) => r.logger_name === `${app.listenPoint}.processing`).map((r) => r.message)).toContain('Executing action: sh -c exit');
    });

    it('an unknown placeholder fails that action; the others still run', async () => {
      const app = await create(['actions:', '  - touch one', '  - touch {nope}', '  - touch three']);
      await api({ action: 'trigger', listen_point: app.listenPoint });
      const [build] = await builds(app.listenPoint);
      expect(build).toMatchObject({ level_name: 'WARNING', message: 'Complete (2/3)' });
      expect((await readdir(app.dir)).sort()).toEqual(['one', 'three']);
      const logs = json(await api({ action: 'logs', listen_point: app.listenPoint, level: '40' })) as Array<{ message: string }>;
      expect(logs.map((r) => r.message)).toEqual([expect.stringMatching(/^Execution failed: missing parameter "nope"/)]);
      expect((await info(app.listenPoint)).last_build_status).toBe('Complete (2/3)');
    });

    it('stop_on_first_fail stops at the first failing action: Failed (n/m)', async () => {
      const app = await create(['stop_on_first_fail: true', 'actions:', '  - touch one', '  - false', '  - touch three']);
      await api({ action: 'trigger', listen_point: app.listenPoint });
      expect((await builds(app.listenPoint))[0]).toMatchObject({ level_name: 'ERROR', level_number: 40, message: 'Failed (1/3)' });
      expect(await readdir(app.dir)).toEqual(['one']);
      const failed = json(await api({ action: 'logs', listen_point: app.listenPoint, level: '40' })) as Array<{ logger_name: string; message: string }>;
      expect(failed.map((r) => [r.logger_name, r.message])).toEqual([
        [`${app.listenPoint}.build`, 'Failed (1/3)'],
        [`${app.listenPoint}.processing`, 'Execution failed: failed with exit code 1'],
      ]);
    });

    it('a build whose only action cannot be formatted fails without running anything', async () => {
      const app = await create(['stop_on_first_fail: true', 'actions:', '  - touch {nope}']);
      await api({ action: 'trigger', listen_point: app.listenPoint });
      expect((await builds(app.listenPoint))[0]).toMatchObject({ message: 'Failed (0/1)' });
      expect(await readdir(app.dir)).toEqual([]);
    });

    it('exec_timeout interrupts a build: Interrupted (n/m)', async () => {
      const app = await create(['exec_timeout: 1', 'actions:', '  - touch one', '  - sleep 30', '  - touch three']);
      await api({ action: 'trigger', listen_point: app.listenPoint });
      expect((await builds(app.listenPoint))[0]).toMatchObject({ level_name: 'WARNING', message: 'Interrupted (1/3)' });
    });

    it('each trigger is a build; the history is newest first', async () => {
      const app = await create(['actions:', '  - touch {name}']);
      await api({ action: 'trigger', listen_point: app.listenPoint, name: 'first' });
      await builds(app.listenPoint, 1);
      await api({ action: 'trigger', listen_point: app.listenPoint }, { auth: operator });
      const history = await builds(app.listenPoint, 2);
      expect(history.map((r) => r.message)).toEqual(['Complete (0/1)', 'Complete (1/1)']);
      const logs = json(await api({ action: 'logs', listen_point: app.listenPoint, per_page: '50' })) as Array<{ message: string }>;
      expect(logs.map((r) => r.message)).toContain('Build triggered by sloth-operator');
    });
  });

  describe('webhooks at /<listen point>', () => {
    it('dummy: a GET with the configured message queues a build (200, empty); another message is refused', async () => {
      const app = await create(['provider:', '  dummy:', '    message: go', 'actions:', '  - touch got-{message}'], `hooks/dummy-${++seq}`);
      const refused = await hit(`/${app.listenPoint}?message=stop`, { auth: null });
      expect(refused).toMatchObject({ status: 400, type: 'text/plain; charset=utf-8', text: 'Payload validation failed. Message: stop' });
      expect(await hit(`/${app.listenPoint}?message=go`, { method: 'POST', auth: null })).toMatchObject({ status: 400 });
      const answer = await hit(`/${app.listenPoint}?message=go`, { auth: null });
      expect(answer).toMatchObject({ status: 200, text: '' });
      await builds(app.listenPoint);
      expect(await readdir(app.dir)).toEqual(['got-go']);
      const logs = json(await api({ action: 'logs', listen_point: app.listenPoint })) as Array<{ message: string }>;
      expect(logs.map((r) => r.message)).toContain('Valid payload received, build queued');
    });

    it('github: a POST with a form payload for the repo queues a build with its branch', async () => {
      const app = await create(['provider:', '  github:', '    repo: acme/site', 'actions:', '  - touch branch-{branch}']);
      const payload = (repo: string) => JSON.stringify({ ref: 'refs/heads/main', repository: { name: repo.split('/')[1], owner: { name: repo.split('/')[0] } } });
      const form = (repo: string) => new URLSearchParams({ payload: payload(repo) });
      expect(await hit(`/${app.listenPoint}`, { method: 'POST', body: form('other/site'), auth: null })).toMatchObject({
        status: 400,
        text: 'Payload validation failed: repo mismatch. Repo: other/site',
      });
      expect(await hit(`/${app.listenPoint}`, { auth: null })).toMatchObject({ status: 400, text: 'Payload validation failed: wrong method, POST expected, got GET.' });
      expect(await hit(`/${app.listenPoint}`, { method: 'POST', body: new URLSearchParams({ payload: '{not json' }), auth: null })).toMatchObject({
        status: 400,
        text: 'Payload validation failed: the payload is not JSON.',
      });
      expect(await hit(`/${app.listenPoint}`, { method: 'POST', body: form('acme/site'), auth: null })).toMatchObject({ status: 200, text: '' });
      await builds(app.listenPoint);
      expect(await readdir(app.dir)).toEqual(['branch-main']);
    });

    it('bitbucket: the repo is owner/slug and the branch the last commit\'s', async () => {
      const app = await create(['provider:', '  bitbucket:', '    repo: acme/site', 'actions:', '  - touch bb-{branch}']);
      const body = new FormData();
      body.set('payload', JSON.stringify({ repository: { owner: 'acme', slug: 'site' }, commits: [{ branch: 'old' }, { branch: 'dev' }] }));
      expect(await hit(`/${app.listenPoint}`, { method: 'POST', body, auth: null })).toMatchObject({ status: 200, text: '' });
      await builds(app.listenPoint);
      expect(await readdir(app.dir)).toEqual(['bb-dev']);
    });

    it('an app without a provider declines every call', async () => {
      const app = await create(['actions:', '  - touch never']);
      expect(await hit(`/${app.listenPoint}`, { method: 'POST', auth: null })).toMatchObject({ status: 400, text: 'No provider set, declining all payloads' });
      expect(await hit(`/${app.listenPoint}?x=1`, { auth: ADMIN })).toMatchObject({ status: 400 });
      expect((await info(app.listenPoint)).last_build_status).toBe('Never triggered');
      const runs = await server.gql(`{ scripts(filter: { listenPoint: "${app.listenPoint}" }) { edges { node { runs { edges { node { id } } } } } } }`, {}, { cookie: server.adminCookie });
      expect(runs.data.scripts.edges[0].node.runs.edges).toEqual([]);
    });

    it('an unknown listen point is 404 in Sloth\'s words; a GET of one is left to the console; the console\'s paths are not webhooks', async () => {
      for (const method of ['POST', 'PUT', 'DELETE']) {
        expect(await hit('/no/such/app', { method, auth: null }), method).toMatchObject({ status: 404, text: "Listen point 'no/such/app' not found" });
      }
      // A GET (a mistyped console address, most likely) gets the console's 404, not Sloth's.
      const get = await hit('/no/such/app', { auth: null });
      expect(get.status).toBe(404);
      expect(get.text).not.toMatch(/Listen point/);
      for (const notOurs of ['/', '/sign-in', '/_next/static/x.js', '/api/nothing', '/..%2Fetc', '/a%2F..%2F..%2Fetc', '/a//b', '/a/']) {
        const answer = await hit(notOurs, { auth: null });
        expect(answer.text, notOurs).not.toMatch(/Listen point|Missing parameter/);
      }
    });
  });

  describe('errors (COMPAT.md)', () => {
    it('asks for credentials: 401 with WWW-Authenticate Basic realm="sloth-ci"', async () => {
      for (const auth of [null, basic('admin', 'wrong'), 'Bearer not-a-key']) {
        const answer = await api({ action: 'info' }, { auth });
        expect(answer.status, String(auth)).toBe(401);
        expect(answer.headers.get('www-authenticate')).toBe('Basic realm="sloth-ci"');
        expect(answer.type).toBe('text/plain; charset=utf-8');
      }
    });

    it('takes an API key by Basic or Bearer', async () => {
      const key = await server.createKey(server.adminCookie, 'sloth-key', 'VIEWER');
      expect((await api({ action: 'info' }, { auth: `Bearer ${key}` })).status).toBe(200);
      expect((await api({ action: 'info' }, { auth: basic('admin', key) })).status).toBe(200);
    });

    it('holds each action to its role: viewers read, operators trigger, admins change apps', async () => {
      const app = await create(['actions: []']);
      const before = await appCount();
      expect(await api({ action: 'create', config_string: 'listen_point: by-viewer' }, { auth: viewer })).toMatchObject({ status: 403 });
      expect(await api({ action: 'create', config_string: 'listen_point: by-operator' }, { auth: operator })).toMatchObject({ status: 403 });
      expect(await api({ action: 'remove', listen_point: app.listenPoint }, { auth: operator })).toMatchObject({ status: 403 });
      expect(await api({ action: 'trigger', listen_point: app.listenPoint }, { auth: viewer })).toMatchObject({ status: 403 });
      expect(await api({ action: 'restart' }, { auth: operator })).toMatchObject({ status: 403 });
      expect((await api({ action: 'info' }, { auth: viewer })).status).toBe(200);
      expect((await api({ action: 'logs', listen_point: app.listenPoint }, { auth: viewer })).status).toBe(200);
      expect(await appCount()).toBe(before);
    });

    it('missing parameters: 400 with the message', async () => {
      expect(await api({ action: 'create' })).toMatchObject({ status: 400, text: 'Missing parameter config_string' });
      for (const action of ['remove', 'trigger', 'logs', 'history']) {
        expect(await api({ action }), action).toMatchObject({ status: 400, text: 'Missing parameter listen_point' });
      }
      expect(await api({ action: 'bind', listen_point: 'x' })).toMatchObject({ status: 400, text: 'Missing parameter config_file' });
      expect(await hit('/', { method: 'POST' })).toMatchObject({ status: 400, text: 'Missing parameter action' });
    });

    it('unknown actions and listen points: 404', async () => {
      expect(await api({ action: 'fly' })).toMatchObject({ status: 404, text: 'Action fly not found' });
      expect(await api({ action: 'toString' })).toMatchObject({ status: 404, text: 'Action toString not found' });
      for (const action of ['remove', 'trigger', 'logs', 'history']) {
        expect(await api({ action, listen_point: 'ghost' }), action).toMatchObject({ status: 404, text: "Listen point 'ghost' not found" });
      }
      expect(await api({ action: 'info', listen_points: ['spam', 'ghost'] })).toMatchObject({ status: 404, text: "Listen point 'ghost' not found" });
      expect(await api({ action: 'bind', listen_point: 'ghost', config_file: '/etc/hostname' })).toMatchObject({ status: 404, text: "Listen point 'ghost' not found" });
    });

    it('create: a taken listen point is 409; a config without one, or not a config at all, 400', async () => {
      const before = await appCount();
      expect(await api({ action: 'create', config_string: 'listen_point: spam' })).toMatchObject({ status: 409, text: 'Listen point spam is already taken' });
      expect(await api({ action: 'create', config_string: 'actions:\n  - make' })).toMatchObject({ status: 400, text: "The 'listen_point' param is missing in the config" });
      for (const bad of ['just words', '- a\n- list', 'listen_point: [unclosed', 'a: b: c', ': : :', 'listen_point: x\nactions: make']) {
        const answer = await api({ action: 'create', config_string: bad });
        expect(answer, bad).toMatchObject({ status: 400, type: 'text/plain; charset=utf-8' });
        if (!bad.includes('actions')) expect(answer.text).toBe(`${bad} is not a valid config string`);
      }
      expect(await appCount()).toBe(before);
    });

    it('bind: a missing file is 404, another config 409 Config mismatch, a relative path 400', async () => {
      const app = await create(['actions:', '  - touch x']);
      expect(await api({ action: 'bind', listen_point: app.listenPoint, config_file: path.join(work, 'nope.yml') })).toMatchObject({
        status: 404,
        text: `File ${path.join(work, 'nope.yml')} not found`,
      });
      const other = path.join(work, 'other.yml');
      await writeFile(other, `${app.yaml}\nstop_on_first_fail: true\n`);
      expect(await api({ action: 'bind', listen_point: app.listenPoint, config_file: other })).toMatchObject({ status: 409, text: 'Config mismatch' });
      expect(await api({ action: 'bind', listen_point: app.listenPoint, config_file: 'relative.yml' })).toMatchObject({ status: 400 });
      expect((await info(app.listenPoint)).config_file).toBeNull();
    });
  });

  describe('malformed input', () => {
    it('refuses listen points that would shadow Runboard or climb out of the root', async () => {
      const before = await appCount();
      for (const listenPoint of ['../etc', 'a/../b', 'api/hook', 'ping', 'sign-in', 'login/x', 'logout', 'virtshell/api', '_next/static', '__nextjs_x', '/abs', 'a//b', 'has space', '..']) {
        const answer = await api({ action: 'create', config_string: `listen_point: "${listenPoint}"` });
        expect(answer.status, `${listenPoint}: ${answer.text}`).toBe(400);
        expect(answer.text).toMatch(/Listen point/);
      }
      expect(await appCount()).toBe(before);
    });

    it('refuses wrong YAML types, bad parameter names and control variables', async () => {
      const before = await appCount();
      const cases: Array<[string, RegExp]> = [
        ['listen_point: t1\nexec_timeout: soon', /exec_timeout/],
        ['listen_point: t2\nstop_on_first_fail: maybe', /stop_on_first_fail/],
        ['listen_point: t3\nparams: [a, b]', /params/],
        ['listen_point: t4\nparams:\n  bad-name: x', /bad-name/],
        ['listen_point: t5\nprovider:\n  gitlab:\n    repo: a/b', /gitlab/],
        ['listen_point: t6\nwork_dir: [x]', /work_dir/],
      ];
      for (const [yaml, message] of cases) {
        const answer = await api({ action: 'create', config_string: yaml });
        expect(answer.status, yaml).toBe(400);
        expect(answer.text).toMatch(message);
      }
      expect(await appCount()).toBe(before);
      expect(await api({ action: 'trigger', listen_point: 'spam', LD_PRELOAD: '/tmp/x.so' })).toMatchObject({ status: 400, text: expect.stringMatching(/LD_PRELOAD/) });
      expect(await api({ action: 'logs', listen_point: 'spam', from_page: 'two' })).toMatchObject({ status: 400, text: expect.stringMatching(/from_page/) });
      expect(await api({ action: 'logs', listen_point: 'spam', per_page: '0' })).toMatchObject({ status: 400 });
      expect(await api({ action: 'logs', listen_point: 'spam', from_page: '1', to_page: '1000', per_page: '500' })).toMatchObject({ status: 400 });
    });

    it('takes its parameters from a url-encoded or multipart POST body, and refuses JSON', async () => {
      const dir = await mkdtemp(path.join(work, 'post-'));
      const formApp = `listen_point: posted\nwork_dir: ${dir}\nactions:\n  - touch {x}`;
      expect(await hit('/', { method: 'POST', body: new URLSearchParams({ action: 'create', config_string: formApp }) })).toMatchObject({ status: 201, text: '"posted"' });
      const multipart = new FormData();
      multipart.set('action', 'trigger');
      multipart.set('listen_point', 'posted');
      multipart.set('x', 'from-multipart');
      expect(await hit('/', { method: 'POST', body: multipart })).toMatchObject({ status: 202, text: 'null' });
      await builds('posted');
      expect(await readdir(dir)).toEqual(['from-multipart']);

      const before = await appCount();
      const asJson = await hit('/?action=create', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ config_string: 'listen_point: j' }) });
      expect(asJson).toMatchObject({ status: 415, type: 'text/plain; charset=utf-8' });
      const broken = await hit('/', { method: 'POST', headers: { 'content-type': 'multipart/form-data; boundary=x' }, body: 'not multipart' });
      expect(broken.status).toBe(400);
      const big = await hit('/', { method: 'POST', body: new URLSearchParams({ action: 'create', config_string: `listen_point: big\n#${'x'.repeat(2 * 1024 * 1024)}` }) });
      expect(big.status).toBe(400);
      expect(big.text.length).toBeLessThan(1100);
      const huge = await hit('/', { method: 'POST', body: new URLSearchParams({ action: 'create', config_string: `listen_point: huge\n#${'x'.repeat(25 * 1024 * 1024)}` }) });
      expect(huge).toMatchObject({ status: 413, type: 'text/plain; charset=utf-8' });
      expect(await appCount()).toBe(before);
    });
  });
});
