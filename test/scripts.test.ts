import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RESERVED_ROUTE_SEGMENTS } from '../core/script.service';
import { startTestServer, type TestServer } from './support/server';

const SCRIPT_FIELDS = `id name description enabled executable body steps { name executable args body } stopOnFirstFailure
  workingDir runAsUid runAsGid timeoutSeconds maxConcurrent maxConcurrentPerHost retry { count delaySeconds backoff }
  parameters { name default } afterExecution jobClass jobArgs listenPoint webhookProvider configFile configSource
  environment { key value secret displayValue } attachments { id name } groups { id name } createdAt updatedAt`;
const RESULT = (name: string) =>
  `__typename ... on ${name}Success { data { ${SCRIPT_FIELDS} } } ... on Error { message } ... on ValidationError { fields { path message } }`;
const CREATE = `mutation($input: CreateScriptInput!) { createScript(input: $input) { ${RESULT('CreateScript')} } }`;
const UPDATE = `mutation($input: UpdateScriptInput!) { updateScript(input: $input) { ${RESULT('UpdateScript')} } }`;
const SET_GROUPS = `mutation($input: SetScriptGroupsInput!) { setScriptGroups(input: $input) { ${RESULT('SetScriptGroups')} } }`;
const DELETE = `mutation($id: ID!) { deleteScript(id: $id) { __typename ... on DeleteScriptSuccess { data } ... on Error { message } } }`;
const NODE = `query($id: ID!) { node(id: $id) { ... on Script { ${SCRIPT_FIELDS} } } }`;
const LIST = `query($first: Int, $after: String, $search: String, $filter: ScriptFilter) {
  scripts(first: $first, after: $after, search: $search, filter: $filter) {
    edges { cursor node { name } } pageInfo { hasNextPage endCursor } totalCount } }`;
const EVENTS = `query($id: ID!) { events(filter: { objectId: $id }) { edges { node { action summary details actorName } } } }`;
const CREATE_ATTACHMENT = `mutation($input: CreateAttachmentInput!) { createAttachment(input: $input) { ... on CreateAttachmentSuccess { data { id } } } }`;

describe('scripts', () => {
  let server: TestServer;
  let operator: string;
  let viewer: string;
  const admin = (query: string, variables?: Record<string, unknown>) => server.gql(query, variables, { cookie: server.adminCookie });
  const counts = async () => {
    const db = server.app.db;
    const [scripts, events, envVars] = await Promise.all(
      (['scripts', 'events', 'env_vars'] as const).map((table) =>
        db.selectFrom(table).select(db.fn.countAll<string>().as('n')).executeTakeFirstOrThrow(),
      ),
    );
    return { scripts: scripts!.n, events: events!.n, envVars: envVars!.n };
  };
  const createGroup = async (name: string) =>
    (await server.app.db.insertInto('groups').values({ name }).returning('id').executeTakeFirstOrThrow()).id;
  const createAttachment = async (name: string) => {
    const result = await admin(CREATE_ATTACHMENT, { input: { name, path: `/opt/${name}`, contentBase64: Buffer.from(name).toString('base64') } });
    return result.data.createAttachment.data.id as string;
  };
  const create = async (input: Record<string, unknown>) => {
    const result = await admin(CREATE, { input });
    expect(result.data?.createScript.__typename, JSON.stringify(result)).toBe('CreateScriptSuccess');
    return result.data.createScript.data;
  };

  beforeAll(async () => {
    // Room for the 1 MiB body limit test.
    server = await startTestServer({ maxBodyBytes: 8 * 1024 * 1024 });
    await server.createUser('script-operator', 'operator');
    await server.createUser('script-viewer', 'viewer');
    operator = await server.signIn('script-operator', 'script-operator-password-123');
    viewer = await server.signIn('script-viewer', 'script-viewer-password-123');
  });
  afterAll(() => server?.close());

  it('creates a script with every field, and a viewer reads it back without secret values', async () => {
    const web = await createGroup('web');
    const [first, second] = [await createAttachment('b.conf'), await createAttachment('a.conf')];
    const script = await create({
      name: 'Deploy site',
      description: 'Pulls and restarts.',
      executable: '/bin/bash',
      body: 'echo hi',
      steps: [{ name: 'pull', executable: '/usr/bin/git', args: ['pull', '--ff-only'] }, { executable: '/bin/sh', body: 'echo done' }],
      stopOnFirstFailure: false,
      workingDir: '/srv/site',
      runAsUid: 1000,
      runAsGid: 0,
      timeoutSeconds: 60,
      maxConcurrent: 2,
      maxConcurrentPerHost: 1,
      retry: { count: 3, delaySeconds: 10, backoff: 2 },
      parameters: [{ name: 'BRANCH', default: 'main' }, { name: 'DRY_RUN' }],
      afterExecution: 'reboot',
      jobClass: 'simple_scheduler.jobs.shell_job.ShellJob',
      jobArgs: ['/bin/echo', 'hello', 3],
      listenPoint: 'deploy/site',
      webhookProvider: { github: { repo: 'acme/site', branches: ['main'] } },
      configFile: '/etc/sloth/site.yml',
      configSource: 'listen_point: deploy/site\n',
      environment: [{ key: 'PLAIN', value: 'visible' }, { key: 'TOKEN', value: 'hunter2-secret', secret: true }],
      attachmentIds: [first, second],
      groupIds: [web],
    });
    expect(script).toMatchObject({
      name: 'Deploy site',
      enabled: true,
      executable: '/bin/bash',
      steps: [
        { name: 'pull', executable: '/usr/bin/git', args: ['pull', '--ff-only'], body: null },
        { name: null, executable: '/bin/sh', args: [], body: 'echo done' },
      ],
      stopOnFirstFailure: false,
      workingDir: '/srv/site',
      runAsUid: 1000,
      runAsGid: 0,
      retry: { count: 3, delaySeconds: 10, backoff: 2 },
      parameters: [{ name: 'BRANCH', default: 'main' }, { name: 'DRY_RUN', default: '' }],
      jobArgs: ['/bin/echo', 'hello', 3],
      listenPoint: 'deploy/site',
      webhookProvider: { github: { repo: 'acme/site', branches: ['main'] } },
      environment: [
        { key: 'PLAIN', value: 'visible', secret: false, displayValue: 'visible' },
        { key: 'TOKEN', value: null, secret: true, displayValue: '••••••••' },
      ],
      // In the order given, not by name.
      attachments: [{ id: first, name: 'b.conf' }, { id: second, name: 'a.conf' }],
      groups: [{ name: 'web' }],
    });
    const read = await server.gql(NODE, { id: script.id }, { cookie: viewer });
    expect(read.data.node).toEqual(script);
    // The secret is stored sealed, and is nowhere in what a reader or the audit log gets.
    const stored = await server.app.db.selectFrom('env_vars').selectAll().where('key', '=', 'TOKEN').executeTakeFirstOrThrow();
    expect(stored.value).toBeNull();
    expect(stored.value_encrypted).not.toBeNull();
    const events = await server.gql(EVENTS, { id: script.id }, { cookie: viewer });
    expect(JSON.stringify(read) + JSON.stringify(events)).not.toContain('hunter2');
    expect(events.data.events.edges[0].node).toMatchObject({ action: 'script.created', summary: 'Created script "Deploy site"', actorName: 'admin' });
    expect(events.data.events.edges[0].node.details.after).toMatchObject({ environment: ['PLAIN', 'TOKEN (secret)'], groups: ['web'], attachments: ['/opt/b.conf', '/opt/a.conf'] });
  });

  it('defaults what is not given, and only admins may create', async () => {
    const script = await create({ name: 'minimal' });
    expect(script).toMatchObject({ executable: '/bin/sh', body: '', steps: [], enabled: true, stopOnFirstFailure: true, timeoutSeconds: null, retry: { count: 0, delaySeconds: 0, backoff: 1 }, jobArgs: [], environment: [], attachments: [], groups: [] });
    const before = await counts();
    for (const cookie of [operator, viewer]) {
      const refused = await server.gql(CREATE, { input: { name: 'not allowed' } }, { cookie });
      expect(refused.status).toBe(403);
      expect(refused.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    }
    expect(await counts()).toEqual(before);
  });

  it('refuses a taken name (ignoring case) and a taken listen point', async () => {
    await create({ name: 'Backup', listenPoint: 'hooks/backup' });
    const before = await counts();
    expect((await admin(CREATE, { input: { name: 'backup' } })).data.createScript).toEqual({ __typename: 'ConflictError', message: 'A script named "backup" already exists.' });
    expect((await admin(CREATE, { input: { name: 'Backup 2', listenPoint: 'hooks/backup' } })).data.createScript).toEqual({
      __typename: 'ConflictError',
      message: 'Listen point "hooks/backup" is already taken by another script.',
    });
    expect(await counts()).toEqual(before);
  });

  const invalid: [string, Record<string, unknown>, string, RegExp][] = [
    ['an empty name', { name: '  ' }, 'input.name', /Name: give the script a name/],
    ['a long name', { name: 'x'.repeat(141) }, 'input.name', /at most 140 characters/],
    ['a NUL in the body', { body: 'echo \0' }, 'input.body', /Body: cannot contain a NUL/],
    ['a body over 1 MiB', { body: 'x'.repeat(1024 * 1024 + 1) }, 'input.body', /Body: at most 1 MiB \(this is 1025 KiB\)/],
    ['an empty executable', { executable: '' }, 'input.executable', /Executable: give the program/],
    ['a step without an executable', { steps: [{ name: 'build', executable: ' ' }] }, 'input.steps.0.executable', /Step 1 \(build\): give the program to run/],
    ['a NUL in a step argument', { steps: [{ executable: '/bin/echo', args: ['ok', 'b\0d'] }] }, 'input.steps.0.args.1', /Step 1 argument 2: cannot contain a NUL/],
    ['too many steps', { steps: Array.from({ length: 101 }, () => ({ executable: '/bin/true' })) }, 'input.steps', /Steps: at most 100/],
    ['a relative working directory', { workingDir: 'srv' }, 'input.workingDir', /absolute path/],
    ['a negative uid', { runAsUid: -1 }, 'input.runAsUid', /Run as uid: zero or more/],
    ['a zero timeout', { timeoutSeconds: 0 }, 'input.timeoutSeconds', /Timeout: at least 1/],
    ['a zero concurrency', { maxConcurrentPerHost: 0 }, 'input.maxConcurrentPerHost', /at least 1/],
    ['too many retries', { retry: { count: 101 } }, 'input.retry.count', /Retries: between 0 and 100/],
    ['a backoff under 1', { retry: { backoff: 0.5 } }, 'input.retry.backoff', /Retry backoff: between 1 and 100/],
    ['a bad parameter name', { parameters: [{ name: '1st' }] }, 'input.parameters.0.name', /letters, digits and _/],
    ['a parameter twice', { parameters: [{ name: 'A' }, { name: 'A' }] }, 'input.parameters.1.name', /given twice/],
    ['job arguments that are not a list', { jobArgs: { a: 1 } }, 'input.jobArgs', /give a JSON list/],
    ['a long after-execution', { afterExecution: 'x'.repeat(1001) }, 'input.afterExecution', /at most 1000/],
    ['a listen point shadowing the API', { listenPoint: 'api/hook' }, 'input.listenPoint', /"api" is one of Runboard's own routes/],
    ['a listen point shadowing runs (any case)', { listenPoint: 'Runs' }, 'input.listenPoint', /"runs" is one of Runboard's own routes/],
    ['a listen point with a leading slash', { listenPoint: '/hook' }, 'input.listenPoint', /no "\/" at the start or end/],
    ['a listen point with ..', { listenPoint: 'a/../b' }, 'input.listenPoint', /cannot contain "\.\."/],
    ['a listen point with a space', { listenPoint: 'my hook' }, 'input.listenPoint', /1–200 characters/],
    ['two providers', { webhookProvider: { github: { repo: 'a/b' }, dummy: { message: 'x' } } }, 'input.webhookProvider', /exactly one of github, bitbucket, dummy/],
    ['an unknown provider', { webhookProvider: { gitlab: { repo: 'a/b' } } }, 'input.webhookProvider', /"gitlab" is not one of/],
    ['github without a repo', { webhookProvider: { github: {} } }, 'input.webhookProvider', /github.repo must be a non-empty string/],
    ['dummy with a repo', { webhookProvider: { dummy: { repo: 'x' } } }, 'input.webhookProvider', /dummy does not take "repo"/],
    ['a bad variable name', { environment: [{ key: 'BAD-KEY', value: 'x' }] }, 'input.environment.0.key', /not a variable name/],
    ['a new secret without a value', { environment: [{ key: 'S', secret: true }] }, 'input.environment.0.value', /a new secret needs a value/],
  ];
  for (const [what, input, path, message] of invalid) {
    it(`refuses ${what} and writes nothing`, async () => {
      const before = await counts();
      const result = await admin(CREATE, { input: { name: 'invalid script', ...input } });
      expect(result.data?.createScript.__typename, JSON.stringify(result).slice(0, 400)).toBe('ValidationError');
      expect(result.data.createScript.message).toMatch(message);
      expect(result.data.createScript.fields.map((f: { path: string[] }) => f.path.join('.'))).toContain(path);
      expect(await counts()).toEqual(before);
    });
  }

  it('keeps the list of reserved routes in one named constant', () => {
    expect(RESERVED_ROUTE_SEGMENTS).toEqual(expect.arrayContaining(['api', '_next', 'graphiql', 'runs', 'users', 'favicon.ico']));
  });

  it('names unknown attachments and groups, and writes nothing', async () => {
    const before = await counts();
    const missing = '00000000-0000-4000-8000-000000000001';
    expect((await admin(CREATE, { input: { name: 'refs', attachmentIds: [missing] } })).data.createScript).toEqual({
      __typename: 'NotFoundError',
      message: `There is no attachment with id "${missing}".`,
    });
    expect((await admin(CREATE, { input: { name: 'refs', groupIds: [missing] } })).data.createScript).toEqual({
      __typename: 'NotFoundError',
      message: `There is no group with id "${missing}".`,
    });
    const wrongType = await admin(CREATE, { input: { name: 'refs', groupIds: [Buffer.from(`Host:${missing}`).toString('base64')] } });
    expect(wrongType.data.createScript).toMatchObject({ __typename: 'ValidationError', message: 'input.groupIds: that id belongs to a Host, not a Group.' });
    expect(await counts()).toEqual(before);
  });

  it('updates only the fields given, keeps secrets, clears with null, and audits the difference', async () => {
    const group = await createGroup('update-group');
    const attachment = await createAttachment('u.txt');
    const script = await create({
      name: 'to update',
      timeoutSeconds: 30,
      workingDir: '/tmp',
      environment: [{ key: 'KEEP_ME', value: 'kept-secret-value', secret: true }],
    });
    const updated = await admin(UPDATE, {
      input: {
        id: script.id,
        body: 'echo changed',
        timeoutSeconds: null,
        workingDir: null,
        enabled: false,
        environment: [{ key: 'KEEP_ME', secret: true }, { key: 'NEW', value: '1' }],
        attachmentIds: [attachment],
        groupIds: [group],
      },
    });
    expect(updated.data.updateScript.data).toMatchObject({
      name: 'to update',
      body: 'echo changed',
      timeoutSeconds: null,
      workingDir: null,
      enabled: false,
      environment: [{ key: 'KEEP_ME', secret: true, value: null }, { key: 'NEW', value: '1' }],
      attachments: [{ id: attachment }],
      groups: [{ name: 'update-group' }],
    });
    // The secret kept its sealed value.
    const sealed = await server.app.db.selectFrom('env_vars').select('value_encrypted').where('key', '=', 'KEEP_ME').executeTakeFirstOrThrow();
    expect(server.app.secrets.open(sealed.value_encrypted!)).toBe('kept-secret-value');
    const events = (await admin(EVENTS, { id: script.id })).data.events.edges.map((e: any) => e.node);
    expect(events[0].action).toBe('script.updated');
    expect(events[0].details.before).toMatchObject({ timeoutSeconds: 30, workingDir: '/tmp', enabled: true, groups: [] });
    expect(events[0].details.after).toMatchObject({ timeoutSeconds: null, workingDir: null, enabled: false, groups: ['update-group'], environment: ['KEEP_ME (secret)', 'NEW'] });
    expect(events[0].details.after).not.toHaveProperty('name');
    expect(JSON.stringify(events)).not.toContain('kept-secret-value');

    const operatorTry = await server.gql(UPDATE, { input: { id: script.id, name: 'renamed' } }, { cookie: operator });
    expect(operatorTry.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const missing = await admin(UPDATE, { input: { id: '00000000-0000-4000-8000-000000000002', name: 'x' } });
    expect(missing.data.updateScript).toEqual({ __typename: 'NotFoundError', message: 'There is no script with id "00000000-0000-4000-8000-000000000002".' });
    const badId = await admin(UPDATE, { input: { id: 'nope' } });
    expect(badId.data.updateScript.__typename).toBe('ValidationError');
    const invalid = await admin(UPDATE, { input: { id: script.id, name: 'renamed', listenPoint: 'graphiql' } });
    expect(invalid.data.updateScript.__typename).toBe('ValidationError');
    expect((await server.gql(NODE, { id: script.id }, { cookie: viewer })).data.node.name).toBe('to update');
  });

  it('sets the groups that may run a script', async () => {
    const [a, b] = [await createGroup('set-a'), await createGroup('set-b')];
    const script = await create({ name: 'grouped', groupIds: [a] });
    const set = await admin(SET_GROUPS, { input: { scriptId: script.id, groupIds: [b, a] } });
    expect(set.data.setScriptGroups.data.groups.map((g: { name: string }) => g.name)).toEqual(['set-a', 'set-b']);
    const cleared = await admin(SET_GROUPS, { input: { scriptId: script.id, groupIds: [] } });
    expect(cleared.data.setScriptGroups.data.groups).toEqual([]);
    const missing = await admin(SET_GROUPS, { input: { scriptId: script.id, groupIds: ['00000000-0000-4000-8000-000000000003'] } });
    expect(missing.data.setScriptGroups.__typename).toBe('NotFoundError');
    const events = (await admin(EVENTS, { id: script.id })).data.events.edges.map((e: any) => e.node);
    expect(events.slice(0, 2).map((e: any) => e.details.after.groups)).toEqual([[], ['set-a', 'set-b']]);
    const refused = await server.gql(SET_GROUPS, { input: { scriptId: script.id, groupIds: [] } }, { cookie: operator });
    expect(refused.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
  });

  it('lists by name with search, filters and cursors', async () => {
    for (const name of ['list-c', 'LIST-a', 'list-b', 'list-d']) await create({ name, enabled: name !== 'list-d', listenPoint: name === 'list-b' ? 'lp/list-b' : null });
    const names: string[] = [];
    let after: string | null = null;
    let pages = 0;
    do {
      const page: any = (await server.gql(LIST, { first: 2, after, search: 'list-' }, { cookie: viewer })).data.scripts;
      expect(page.totalCount).toBe(4);
      names.push(...page.edges.map((e: any) => e.node.name));
      after = page.pageInfo.hasNextPage ? page.pageInfo.endCursor : null;
      pages += 1;
    } while (after);
    expect(names).toEqual(['LIST-a', 'list-b', 'list-c', 'list-d']);
    expect(pages).toBe(2);
    const list = async (filter: Record<string, unknown>) =>
      (await server.gql(LIST, { search: 'list-', filter }, { cookie: viewer })).data.scripts.edges.map((e: any) => e.node.name);
    expect(await list({ enabled: false })).toEqual(['list-d']);
    expect(await list({ name: 'list-A' })).toEqual(['LIST-a']);
    expect(await list({ listenPoint: 'lp/list-b' })).toEqual(['list-b']);
    expect(await list({ hasListenPoint: true })).toEqual(['list-b']);
  });

  it('loads environment, attachments and groups of a whole page in a fixed number of queries', async () => {
    const group = await createGroup('batch-group');
    const attachment = await createAttachment('batch.txt');
    for (let i = 0; i < 6; i++) {
      await create({ name: `batch-${i}`, groupIds: [group], attachmentIds: [attachment], environment: [{ key: 'N', value: String(i) }] });
    }
    const query = `query($first: Int) { scripts(first: $first, search: "batch-") { edges { node { name environment { value } attachments { name scripts { name } } groups { name } } } } }`;
    const queriesFor = async (first: number) => {
      let queries = 0;
      const original = pg.Client.prototype.query;
      pg.Client.prototype.query = function (this: pg.Client, ...args: any[]) {
        queries += 1;
        return (original as any).apply(this, args);
      } as any;
      try {
        const result = await server.gql(query, { first }, { cookie: viewer });
        expect(result.data.scripts.edges).toHaveLength(first);
        for (const [i, edge] of result.data.scripts.edges.entries()) {
          expect(edge.node).toMatchObject({ name: `batch-${i}`, environment: [{ value: String(i) }], attachments: [{ name: 'batch.txt' }], groups: [{ name: 'batch-group' }] });
          expect(edge.node.attachments[0].scripts).toHaveLength(6);
        }
      } finally {
        pg.Client.prototype.query = original;
      }
      return queries;
    };
    const few = await queriesFor(2);
    expect(few).toBeGreaterThan(3);
    expect(await queriesFor(6)).toBe(few);
  });

  it('deletes a script with its schedules and the attachments only it used; runs keep its name', async () => {
    const own = await createAttachment('own.sh');
    const shared = await createAttachment('shared.sh');
    const script = await create({ name: 'doomed', attachmentIds: [own, shared], environment: [{ key: 'X', value: '1' }] });
    await create({ name: 'survivor', attachmentIds: [shared] });
    const scriptId = Buffer.from(script.id, 'base64').toString().split(':')[1]!;
    await server.app.db.insertInto('schedules').values({ name: 'nightly doomed', script_id: scriptId, kind: 'cron', cron: '0 3 * * *' }).execute();
    const run = await server.app.db
      .insertInto('runs')
      .values({ script_id: scriptId, script_name: 'doomed', trigger: 'manual', parameters: '{}', external: '{}' })
      .returning('id')
      .executeTakeFirstOrThrow();

    const refused = await server.gql(DELETE, { id: script.id }, { cookie: operator });
    expect(refused.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const deleted = await admin(DELETE, { id: script.id });
    expect(deleted.data.deleteScript).toEqual({ __typename: 'DeleteScriptSuccess', data: script.id });

    expect((await server.gql(NODE, { id: script.id }, { cookie: viewer })).data.node).toBeNull();
    const db = server.app.db;
    expect(await db.selectFrom('schedules').select('id').where('script_id', '=', scriptId).execute()).toEqual([]);
    expect(await db.selectFrom('env_vars').select('id').where('script_id', '=', scriptId).execute()).toEqual([]);
    const ids = (await db.selectFrom('attachments').select('name').execute()).map((a) => a.name);
    expect(ids).not.toContain('own.sh');
    expect(ids).toContain('shared.sh');
    expect(await db.selectFrom('runs').select(['script_id', 'script_name']).where('id', '=', run.id).executeTakeFirstOrThrow()).toEqual({ script_id: null, script_name: 'doomed' });

    const event = (await admin(EVENTS, { id: script.id })).data.events.edges[0].node;
    expect(event).toMatchObject({ action: 'script.deleted', summary: 'Deleted script "doomed"' });
    expect(event.details).toMatchObject({ schedulesDeleted: ['nightly doomed'], attachmentsDeleted: ['/opt/own.sh'] });
    expect((await admin(EVENTS, { id: own })).data.events.edges[0].node.action).toBe('attachment.deleted');

    expect((await admin(DELETE, { id: script.id })).data.deleteScript.__typename).toBe('NotFoundError');
  });
});
