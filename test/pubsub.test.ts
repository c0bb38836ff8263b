/**
 * The pubsub: with PostgreSQL, events cross instances through LISTEN/NOTIFY exactly once and in
 * order, large payloads by reference; the listening connection comes back after it is killed; and
 * shutting down leaves nothing running. The memory backing passes payloads as plain JSON too.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { sql } from 'kysely';
import type { Client } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, parseConfig, pubsubBacking } from '../core/config';
import type { Db } from '../db/database';
import { insertEvents } from '../db/event.repository';
import { deleteOldPayloads, LISTENER_APPLICATION_NAME } from '../db/notify';
import { encodeGlobalID } from '../graphql/ids';
import { createMemoryPubSub, type PubSub } from '../graphql/pubsub';
import { ADMIN_PASSWORD, createTestDatabase, embeddedOnly, needsSharedDatabase, startTestServer, TEST_SECRET, type TestServer } from './support/server';
import { ROOT, spawnServer } from './support/process';
import { wsClient } from './support/ws';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `check` until it holds, or fails naming `what`. */
async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  for (const began = Date.now(); Date.now() - began < timeoutMs; await sleep(25)) {
    if (await check()) return;
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Subscribes in-process and collects what arrives (the listener is in place when this returns). */
async function stored(runboard: { app: { db: Db } }): Promise<number> {
  return Number((await sql<{ n: string }>`select count(*) as n from pubsub_payloads`.execute(runboard.app.db)).rows[0]!.n);
}

function collect(pubsub: PubSub, topic: string) {
  const items: unknown[] = [];
  const repeater = pubsub.subscribe(topic);
  void (async () => {
    for await (const item of repeater) items.push(item);
  })();
  return { items, stop: () => void repeater.return() };
}

describe('settings', () => {
  it('RUNBOARD_PUBSUB auto means postgres with DATABASE_URL and memory with the embedded database', () => {
    const url = 'postgres://x@db/runboard';
    expect(pubsubBacking(parseConfig({ DATABASE_URL: url }))).toBe('postgres');
    expect(pubsubBacking(parseConfig({}))).toBe('memory');
    expect(pubsubBacking(parseConfig({ DATABASE_URL: url, RUNBOARD_PUBSUB: 'memory' }))).toBe('memory');
    expect(pubsubBacking(parseConfig({ DATABASE_URL: url, RUNBOARD_PUBSUB: 'postgres' }))).toBe('postgres');
    expect(() => parseConfig({ RUNBOARD_PUBSUB: 'redis' })).toThrow('RUNBOARD_PUBSUB="redis": write auto, memory or postgres');
  });

  it('postgres with the embedded database stops the server at start with a clear message', async () => {
    expect(() => pubsubBacking(parseConfig({ RUNBOARD_PUBSUB: 'postgres' }))).toThrow(ConfigError);
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rb-pubsub-'));
    try {
      const server = spawnServer({ RUNBOARD_PUBSUB: 'postgres', RUNBOARD_DATA_DIR: dataDir });
      expect(await server.exited).toBe(2);
      expect(server.output()).toContain('RUNBOARD_PUBSUB="postgres": needs DATABASE_URL; the embedded database cannot deliver LISTEN/NOTIFY');
      expect(fs.readdirSync(dataDir)).toEqual([]); // refused before opening anything
    } finally {
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe('memory backing', () => {
  it('delivers payloads as plain JSON: Dates become strings, undefined fields vanish', async () => {
    const pubsub = createMemoryPubSub();
    const got = collect(pubsub, 'test.memory');
    const payload = { at: new Date('2026-01-31T12:00:00Z'), gone: undefined, n: 1 };
    pubsub.publish('test.memory', payload);
    payload.n = 2; // a later change does not reach the subscriber
    await until('the event', () => got.items.length === 1);
    expect(got.items).toEqual([{ at: '2026-01-31T12:00:00.000Z', n: 1 }]);
    got.stop();
  });
});

describe('PostgreSQL LISTEN/NOTIFY with two instances', () => {
  let a: TestServer;
  let b: TestServer;
  const clients: Client[] = [];

  beforeAll(async () => {
    if (embeddedOnly()) return;
    a = await startTestServer();
    b = await startTestServer({}, a.database);
  });
  afterAll(async () => {
    await Promise.all(clients.map((client) => client.dispose()));
    await b?.close();
    await a?.close();
  });

  /** An `eventAdded` subscription over graphql-ws, ready once a probe event has come through. */
  async function subscribeToEvents(server: TestServer) {
    const client = wsClient(server.url, { cookie: server.adminCookie });
    clients.push(client);
    const events: Array<{ id: string; action: string; objectName: string | null }> = [];
    client.subscribe(
      { query: 'subscription { eventAdded { id action objectName } }' },
      { next: (result) => void events.push((result.data as any).eventAdded), error: (error) => void events.push({ id: 'error', action: String(error), objectName: null }), complete: () => undefined },
    );
    // graphql-ws does not say when the server has subscribed: publish a probe until it arrives.
    const [probe] = await insertEvents(server.app.db, [
      { action: 'test.probe', actorKind: 'system', actorId: null, actorName: 'runboard', objectType: null, objectId: null, objectName: null, summary: 'probe', details: {}, ip: null },
    ]);
    await until('the probe event', async () => {
      server.app.pubsub.publish('eventAdded', { id: probe!.id });
      await sleep(100);
      return events.some((e) => e.id === encodeGlobalID('Event', probe!.id));
    });
    return events;
  }

  const createKeyOn = async (server: TestServer, name: string) => {
    const result = await server.gql(`mutation($input: CreateApiKeyInput!) { createApiKey(input: $input) { __typename } }`, { input: { name } }, { cookie: server.adminCookie });
    expect(result.data?.createApiKey.__typename).toBe('CreateApiKeySuccess');
  };

  const listeners = async (db: Db) =>
    (
      await sql<{ pid: number; state: string | null; query: string }>`
        select pid, state, query from pg_stat_activity where datname = current_database() and application_name = ${LISTENER_APPLICATION_NAME}`.execute(db)
    ).rows;

  it('a subscriber on one instance receives, once, the audit event of a mutation on the other', async (context) => {
    if (needsSharedDatabase()) return context.skip();
    const onA = await subscribeToEvents(a);
    await createKeyOn(b, 'made-on-b');
    await until('the event from B', () => onA.some((e) => e.objectName === 'made-on-b'));
    // A second mutation, then: the first arrived exactly once.
    await createKeyOn(b, 'second-on-b');
    await until('the second event', () => onA.some((e) => e.objectName === 'second-on-b'));
    expect(onA.filter((e) => e.objectName === 'made-on-b')).toEqual([{ id: expect.any(String), action: 'api_key.created', objectName: 'made-on-b' }]);
  });

  it('every instance, the publisher included, gets each event exactly once and in order', async (context) => {
    if (needsSharedDatabase()) return context.skip();
    const onA = collect(a.app.pubsub, 'test.order');
    const onB = collect(b.app.pubsub, 'test.order');
    const sent = [...Array.from({ length: 150 }, (_, i) => ({ i })), { same: true }, { same: true }, { done: true }];
    for (const payload of sent) a.app.pubsub.publish('test.order', payload);
    await until('the last event on both', () => onA.items.length >= sent.length && onB.items.length >= sent.length);
    await sleep(200); // no duplicates arrive late
    expect(onA.items).toEqual(sent);
    expect(onB.items).toEqual(sent);
    onA.stop();
    onB.stop();
  });

  it("delivers to the publisher's own subscribers at once, without the database, and only once", async (context) => {
    if (needsSharedDatabase()) return context.skip();
    const onA = collect(a.app.pubsub, 'test.local');
    const onB = collect(b.app.pubsub, 'test.local');
    await new Promise((resolve) => setTimeout(resolve, 50));
    const before = await stored(a);
    a.app.pubsub.publish('test.local', { id: 'x', text: '€'.repeat(3000) });
    // A few turns of the event loop, far less than a NOTIFY round trip and a payload fetch.
    for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
    expect(onA.items).toHaveLength(1);
    await until('the other instance to hear it', () => onB.items.length === 1);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(onA.items).toHaveLength(1); // its own NOTIFY, when it comes back, is skipped
    expect(await stored(a)).toBe(before + 1); // the other instance still needed the reference
    onA.stop();
    onB.stop();
  });

  it('carries a payload over the NOTIFY limit by reference, intact', async (context) => {
    if (needsSharedDatabase()) return context.skip();
    const stored = async () => Number((await sql<{ n: string }>`select count(*) as n from pubsub_payloads`.execute(a.app.db)).rows[0]!.n);
    const before = await stored();
    const onA = collect(a.app.pubsub, 'test.large');
    // 3,000 characters but 9,000 bytes: the limit is counted in bytes.
    const large = { id: 'big', text: '€'.repeat(3000), nul: 'a\u0000b', list: [1, 'two', null, { three: 3 }] };
    const small = { id: 'small' };
    b.app.pubsub.publish('test.large', large);
    b.app.pubsub.publish('test.large', small);
    await until('both events', () => onA.items.length === 2);
    expect(onA.items).toEqual([large, small]); // in order, although the first needed a fetch
    expect(await stored()).toBe(before + 1);
    onA.stop();

    // Stored payloads are swept once they are a few minutes old, and only then.
    expect(await deleteOldPayloads(a.app.db, 300)).toBe(0);
    await sql`update pubsub_payloads set created_at = now() - interval '10 minutes'`.execute(a.app.db);
    expect(await deleteOldPayloads(a.app.db, 300)).toBe(before + 1);
  });

  it('reconnects the LISTEN connection after it is killed, and delivery resumes', async (context) => {
    if (needsSharedDatabase()) return context.skip();
    const onA = await subscribeToEvents(a);
    const killed = await listeners(a.app.db);
    expect(killed).toHaveLength(2); // one per instance
    await sql`select pg_terminate_backend(pid) from pg_stat_activity where datname = current_database() and application_name = ${LISTENER_APPLICATION_NAME}`.execute(a.app.db);
    await until('both instances to listen again', async () => {
      const now = await listeners(a.app.db);
      return now.length === 2 && now.every((l) => !killed.some((k) => k.pid === l.pid) && l.state === 'idle' && /^listen/i.test(l.query));
    });
    await createKeyOn(b, 'after-reconnect');
    await until('the event after the reconnect', () => onA.some((e) => e.objectName === 'after-reconnect'));
  });
});

describe('shutdown', () => {
  it('closes the LISTEN connection and leaves nothing running: the process exits by itself', async (context) => {
    if (needsSharedDatabase()) return context.skip();
    const database = await createTestDatabase();
    try {
      const serverModule = pathToFileURL(path.join(ROOT, 'server.ts')).href;
      // No process.exit(): the process ends only if every connection, timer and socket is closed.
      const script = `
        const { start } = await import(${JSON.stringify(serverModule)});
        const runboard = await start({ port: 0, host: '127.0.0.1', console: false, logLevel: 'silent', databaseUrl: ${JSON.stringify(database.url)},
          dataDir: ${JSON.stringify(database.dataDir)}, secret: ${JSON.stringify(TEST_SECRET)}, admin: { username: 'admin', password: ${JSON.stringify(ADMIN_PASSWORD)} } });
        const repeater = runboard.app.pubsub.subscribe('test.exit');
        const iterator = repeater[Symbol.asyncIterator]();
        const first = iterator.next();
        runboard.app.pubsub.publish('test.exit', { text: 'x'.repeat(9000) });
        console.log('received', (await first).value.text.length);
        await iterator.return();
        await runboard.stop();
        console.log('stopped');
      `;
      const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '--eval', script], {
        cwd: ROOT,
        env: { PATH: process.env.PATH, HOME: process.env.HOME, NODE_ENV: 'production' },
      });
      let output = '';
      child.stdout.on('data', (chunk) => (output += chunk));
      child.stderr.on('data', (chunk) => (output += chunk));
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      const code = await exited;
      clearTimeout(timer);
      expect(output).toContain('received 9000');
      expect(output).toContain('stopped');
      expect(code, `the process kept running after stop():\n${output}`).toBe(0);
    } finally {
      await database.drop();
    }
  });
});
