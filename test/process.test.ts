/** Runboard as a real process: configuration errors, graceful shutdown, several instances. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_PASSWORD, createTestDatabase, needsSharedDatabase, startTestServer, TEST_SECRET, type TestDatabase } from './support/server';
import { spawn } from 'node:child_process';
import { MIGRATIONS } from '../db/migrate';
import { ROOT, spawnServer } from './support/process';
import { wsClient } from './support/ws';

describe('configuration', () => {
  it('exits with a message naming every bad variable', async () => {
    const server = spawnServer({ PORT: 'eighty', RUNBOARD_SESSION_IDLE: 'soon', DATABASE_URL: 'mysql://x', RUNBOARD_LOG_LEVEL: 'loud' });
    expect(await server.exited).toBe(2);
    const output = server.output();
    expect(output).toContain('Runboard cannot start: its configuration is invalid.');
    expect(output).toContain('PORT="eighty": write a port number from 0 to 65535');
    expect(output).toContain('RUNBOARD_SESSION_IDLE="soon": "soon" is not a duration; write a number of seconds or e.g. 45s, 30m, 1h, 2d');
    expect(output).toContain('DATABASE_URL="mysql://x": write a postgres:// or postgresql:// URL');
    expect(output).toContain('RUNBOARD_LOG_LEVEL="loud"');
    expect(output).not.toMatch(/at .*\.ts:\d+/); // no stack trace
  });

  it('asks for RUNBOARD_SECRET with an external database', async () => {
    const server = spawnServer({ DATABASE_URL: 'postgres://postgres@127.0.0.1:1/none' });
    expect(await server.exited).toBe(2);
    expect(server.output()).toContain('RUNBOARD_SECRET: set it when DATABASE_URL is set');
  });

  it('says when the database cannot be reached', async () => {
    const server = spawnServer({ DATABASE_URL: 'postgres://postgres@127.0.0.1:1/none', RUNBOARD_SECRET: TEST_SECRET });
    expect(await server.exited).toBe(1);
    expect(server.output()).toMatch(/Runboard could not start: Cannot reach the database at DATABASE_URL: .*ECONNREFUSED/);
  });
});

describe('first start', () => {
  it('creates the admin with a generated password, printed once, that signs in', async () => {
    const database = await createTestDatabase();
    try {
      const env = { DATABASE_URL: database.url, RUNBOARD_DATA_DIR: database.dataDir, RUNBOARD_SECRET: TEST_SECRET };
      const first = spawnServer(env);
      const url = await first.ready;
      const password = /with the password:\s+(\S+)/.exec(first.output())?.[1];
      expect(password).toMatch(/^[A-Za-z0-9_-]{24}$/);
      const auth = `Basic ${Buffer.from(`admin:${password}`).toString('base64')}`;
      const response = await fetch(`${url}/api/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: auth },
        body: JSON.stringify({ query: '{ viewer { role } }' }),
      });
      expect(((await response.json()) as any).data.viewer.role).toBe('ADMIN');
      first.child.kill('SIGTERM');
      expect(await first.exited).toBe(0);
      // The logs never carry it, and a second start prints nothing.
      const second = spawnServer(env);
      await second.ready;
      second.child.kill('SIGTERM');
      await second.exited;
      expect(second.output()).not.toContain('with the password');
      expect(first.output().split(password!).length - 1).toBe(1);
    } finally {
      await database.drop();
    }
  });
});

describe('graceful shutdown', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(() => database?.drop());

  it.each(['SIGTERM', 'SIGINT'] as const)('on %s closes sockets and exits 0 well within 10 s', async (signal) => {
    const server = spawnServer({
      DATABASE_URL: database.url,
      RUNBOARD_DATA_DIR: database.dataDir,
      RUNBOARD_SECRET: TEST_SECRET,
      RUNBOARD_ADMIN_PASSWORD: ADMIN_PASSWORD,
    });
    const url = await server.ready;
    const key = await (async () => {
      const auth = `Basic ${Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64')}`;
      const response = await fetch(`${url}/api/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: auth },
        body: JSON.stringify({ query: `mutation { createApiKey(input: { name: "${signal}" }) { ... on CreateApiKeySuccess { data { token } } } }` }),
      });
      return ((await response.json()) as any).data.createApiKey.data.token as string;
    })();
    const client = wsClient(url, { apiKey: key });
    const closed = new Promise<number>((resolve) => {
      client.on('closed', (event) => resolve((event as { code: number }).code));
    });
    const subscribed = new Promise<void>((resolve) => {
      client.on('connected', () => resolve());
      client.subscribe({ query: `subscription { userChanged { kind } }` }, { next: () => undefined, error: () => undefined, complete: () => undefined });
    });
    await subscribed;
    const began = Date.now();
    server.child.kill(signal);
    expect(await server.exited).toBe(0);
    expect(Date.now() - began).toBeLessThan(10_000);
    expect(await closed).toBe(1001);
    await client.dispose();
  });
});

describe('npm start', () => {
  it('passes SIGTERM from npm to the server, which shuts down gracefully', async () => {
    const database = await createTestDatabase();
    try {
      const child = spawn('npm', ['start', '--silent'], {
        cwd: ROOT,
        env: {
          NODE_ENV: 'production',
          PATH: process.env.PATH,
          HOME: process.env.HOME,
          PORT: '0',
          HOST: '127.0.0.1',
          RUNBOARD_CONSOLE: 'false',
          RUNBOARD_LOG_LEVEL: 'warn',
          DATABASE_URL: database.url,
          RUNBOARD_DATA_DIR: database.dataDir,
          RUNBOARD_SECRET: TEST_SECRET,
        },
      });
      let output = '';
      child.stdout.on('data', (chunk) => (output += chunk));
      child.stderr.on('data', (chunk) => (output += chunk));
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      for (let waited = 0; !output.includes('Runboard is running at') && waited < 30_000; waited += 100) {
        await new Promise((r) => setTimeout(r, 100));
      }
      const url = /Runboard is running at (\S+)/.exec(output)![1]!;
      child.kill('SIGTERM'); // npm itself, as a process manager would
      expect(await exited).toBe(0);
      expect(output).toContain('SIGTERM: shutting down');
      // The server is gone, not orphaned.
      await expect(fetch(`${url}/api/graphql`)).rejects.toThrow();
    } finally {
      await database.drop();
    }
  });
});

describe('migrations', () => {
  it('`npm run db:migrate` applies them once and then says the database is up to date', async () => {
    const database = await createTestDatabase({ empty: true });
    try {
      const run = () => {
        const child = spawn(process.execPath, ['--import', 'tsx', 'db/migrate-cli.ts'], {
          cwd: ROOT,
          env: { NODE_ENV: 'production', PATH: process.env.PATH, DATABASE_URL: database.url, RUNBOARD_DATA_DIR: database.dataDir },
        });
        let output = '';
        child.stdout.on('data', (chunk) => (output += chunk));
        child.stderr.on('data', (chunk) => (output += chunk));
        return new Promise<{ code: number | null; output: string }>((resolve) => child.on('exit', (code) => resolve({ code, output })));
      };
      const first = await run();
      expect(first).toEqual({ code: 0, output: `Applied: ${Object.keys(MIGRATIONS).join(', ')}\n` });
      expect(await run()).toEqual({ code: 0, output: 'The database is up to date.\n' });
    } finally {
      await database.drop();
    }
  });
});

describe('several instances on one database', () => {
  it('start together on an empty database: one migrates, one admin is created', async (context) => {
    if (needsSharedDatabase()) return context.skip();
    const database = await createTestDatabase({ empty: true });
    try {
      const [a, b] = await Promise.all([startTestServer({}, database), startTestServer({}, database)]);
      try {
        const users = await a.gql(`{ users { edges { node { username } } } }`, {}, { cookie: b.adminCookie });
        expect(users.data.users.edges).toEqual([{ node: { username: 'admin' } }]);
        const applied = await a.app.db.selectFrom('kysely_migration' as never).selectAll().execute();
        expect(applied).toHaveLength(Object.keys(MIGRATIONS).length);
      } finally {
        await Promise.all([a.close(), b.close()]);
      }
    } finally {
      await database.drop();
    }
  });

  it('share sessions and users', async (context) => {
    if (needsSharedDatabase()) return context.skip();
    const a = await startTestServer();
    const b = await startTestServer({}, a.database);
    try {
      // A session opened on one instance is valid on the other, and so is a user made there.
      const viewer = await b.gql(`{ viewer { user { username } } }`, {}, { cookie: a.adminCookie });
      expect(viewer.data.viewer.user.username).toBe('admin');
      await a.createUser('made-on-a', 'viewer');
      await expect(b.signIn('made-on-a', 'made-on-a-password-123')).resolves.toMatch(/^runboard_session=/);
    } finally {
      await b.close();
      await a.close();
    }
  });
});
