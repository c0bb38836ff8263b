/** The embedded database: no DATABASE_URL, data kept in RUNBOARD_DATA_DIR across restarts. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { start } from '../server';
import { ADMIN_PASSWORD, basic } from './support/server';
import { spawnServer } from './support/process';

describe('the embedded database', () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rb-embedded-'));
  afterAll(() => fs.rmSync(dataDir, { recursive: true, force: true }));
  const options = { port: 0, host: '127.0.0.1', console: false, logLevel: 'silent' as const, databaseUrl: undefined, dataDir, secret: undefined, admin: { username: 'admin', password: ADMIN_PASSWORD } };

  async function gql(url: string, query: string) {
    const response = await fetch(`${url}/api/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: basic('admin', ADMIN_PASSWORD) },
      body: JSON.stringify({ query }),
    });
    return (await response.json()) as { data: any };
  }

  it('keeps users across a restart, with a generated secret key kept in the data dir', async () => {
    const first = await start(options);
    try {
      const created = await gql(first.url, `mutation { createUser(input: { username: "kept", password: "kept-password-123", role: VIEWER }) { __typename } }`);
      expect(created.data.createUser.__typename).toBe('CreateUserSuccess');
    } finally {
      await first.stop();
    }
    const key = fs.readFileSync(path.join(dataDir, 'secret.key'), 'utf8');
    expect(fs.statSync(path.join(dataDir, 'secret.key')).mode & 0o777).toBe(0o600);

    const second = await start(options);
    try {
      const users = await gql(second.url, `{ users { edges { node { username } } } }`);
      expect(users.data.users.edges.map((e: { node: { username: string } }) => e.node.username)).toEqual(['admin', 'kept']);
      expect(second.app.secret).toBe(key.trim());
    } finally {
      await second.stop();
    }
  });

  it('refuses a second process on the same data dir with a clear message', async () => {
    const running = await start(options);
    try {
      await expect(start(options)).rejects.toThrow(/is in use by another Runboard process \(pid \d+\)/);
      const other = spawnServer({ RUNBOARD_DATA_DIR: dataDir });
      expect(await other.exited).toBe(1);
      expect(other.output()).toContain(`Runboard could not start: The embedded database in ${dataDir} is in use by another Runboard process (pid ${process.pid}).`);
      // The running one is unharmed.
      expect((await gql(running.url, `{ viewer { role } }`)).data.viewer.role).toBe('ADMIN');
    } finally {
      await running.stop();
    }
  });

  it('takes over a lock left by a process that died', async () => {
    fs.writeFileSync(path.join(dataDir, 'runboard.lock'), '999999');
    const runboard = await start(options);
    await runboard.stop();
    expect(fs.existsSync(path.join(dataDir, 'runboard.lock'))).toBe(false);
  });
});
