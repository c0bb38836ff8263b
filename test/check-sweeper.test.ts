/**
 * The check sweeper on the real server: checks go late, then down, on time; a START not finished
 * within the grace period is down; each flip is one audit event and one checkUpdated; two
 * instances sweeping one database flip each check once.
 */
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Check } from '../db/check.repository';
import { CheckSweeper, sweepFlip } from '../jobs/check-sweeper';
import { createTestDatabase, executing, needsSharedDatabase, startTestServer, type TestServer } from './support/server';
import { wsClient } from './support/ws';

const CREATE = `mutation($input: CreateCheckInput!) { createCheck(input: $input) { ... on CreateCheckSuccess { data { id pingKey } } ... on Error { message } } }`;
const PING = `mutation($input: RecordPingInput!) { recordPing(input: $input) { ... on RecordPingSuccess { data { receivedAt check { state nextDueAt } } } ... on Error { message } } }`;
const STATE = `query($id: ID!) { node(id: $id) { ... on Check { state } } }`;
const PAUSE = `mutation($id: ID!) { pauseCheck(id: $id) { __typename } }`;

const uuidOf = (globalId: string) => Buffer.from(globalId, 'base64').toString().split(':')[1]!;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface FlipRow {
  action: string;
  actor_kind: string;
  object_type: string;
  object_name: string;
  details: { from: string; to: string };
  at: Date;
}

async function flipsOf(server: TestServer, checkId: string): Promise<FlipRow[]> {
  const { rows } = await sql<FlipRow>`
    select action, actor_kind, object_type, object_name, details, at from events
    where object_id = ${uuidOf(checkId)} and action in ('check.late', 'check.down', 'check.up') order by at, action`.execute(server.app.db);
  return rows;
}

/** Polls until `done` holds, for at most `boundMs` (generous: the machine is shared). */
async function until(what: string, done: () => Promise<boolean>, boundMs = 15_000): Promise<void> {
  const end = Date.now() + boundMs;
  while (!(await done())) {
    if (Date.now() > end) throw new Error(`gave up waiting for ${what} after ${boundMs} ms`);
    await sleep(50);
  }
}

describe('sweepFlip (the rule the sweeper applies to each check it reads)', () => {
  const base: Check = {
    id: '00000000-0000-4000-8000-000000000001', number: 1, pingKey: '00000000-0000-4000-8000-000000000002', name: 'nightly', server: '',
    description: '', kind: 'period', periodSeconds: 60, cron: null, timezone: 'UTC', graceSeconds: 30, state: 'up',
    lastPingAt: new Date('2026-03-01T10:00:00Z'), lastPingKind: 'success', lastSuccess: true, lastStartAt: null, lastDurationMs: null,
    nextDueAt: new Date('2026-03-01T10:01:30Z'), lateAt: new Date('2026-03-01T10:01:00Z'), createdAt: new Date(), updatedAt: new Date(),
  };

  it('moves an up check late at its expected time and down at its due time, with the event of each', () => {
    expect(sweepFlip(base, new Date('2026-03-01T10:00:59Z'))).toBeNull();
    expect(sweepFlip(base, new Date('2026-03-01T10:01:00Z'))).toEqual({
      id: base.id, from: 'up', to: 'late', readDueAt: base.nextDueAt, lateAt: null,
      event: { action: 'check.late', summary: 'Check "nightly" is late (was up)', details: { from: 'up', to: 'late' } },
    });
    const late = { ...base, state: 'late' as const, lateAt: null };
    expect(sweepFlip(late, new Date('2026-03-01T10:01:29Z'))).toBeNull();
    expect(sweepFlip(late, new Date('2026-03-01T10:01:30Z'))).toMatchObject({ from: 'late', to: 'down', event: { action: 'check.down', details: { from: 'late', to: 'down' } } });
  });

  it('a run in progress past its START + grace is down; a late time that disagrees with the rule is refreshed, without an event', () => {
    const running = { ...base, lastStartAt: new Date('2026-03-01T10:00:50Z'), nextDueAt: new Date('2026-03-01T10:01:20Z'), lateAt: null };
    expect(sweepFlip(running, new Date('2026-03-01T10:01:10Z'))).toBeNull();
    expect(sweepFlip(running, new Date('2026-03-01T10:01:20Z'))).toMatchObject({ from: 'up', to: 'down', event: { action: 'check.down' } });
    const stale = { ...base, lateAt: new Date('2026-03-01T09:00:00Z') };
    expect(sweepFlip(stale, new Date('2026-03-01T10:00:10Z'))).toMatchObject({ from: 'up', to: 'up', lateAt: base.lateAt, event: null });
  });
});

describe('the check sweeper', () => {
  let server: TestServer;
  let seq = 0;

  beforeAll(async () => {
    server = await startTestServer(executing());
  });
  afterAll(() => server?.close());

  async function create(input: Record<string, unknown>, on = server): Promise<{ id: string; pingKey: string }> {
    const result = await on.gql(CREATE, { input: { name: `sweep-${++seq}`, ...input } }, { cookie: on.adminCookie });
    expect(result.data?.createCheck?.data, JSON.stringify(result)).toBeTruthy();
    return result.data.createCheck.data;
  }
  async function ping(checkId: string, kind: string, on = server): Promise<{ receivedAt: string; check: { state: string; nextDueAt: string | null } }> {
    const result = await on.gql(PING, { input: { checkId, kind } }, { cookie: on.adminCookie });
    expect(result.data?.recordPing?.data, JSON.stringify(result)).toBeTruthy();
    return result.data.recordPing.data;
  }
  const state = async (id: string) => (await server.gql(STATE, { id }, { cookie: server.adminCookie })).data.node.state;

  it('moves a check late at its expected time and down at its due time, each flip an event and a checkUpdated', async () => {
    const check = await create({ periodSeconds: 2, graceSeconds: 2 });
    const token = await server.createKey(server.adminCookie, 'sweep-ws', 'ADMIN');
    const client = wsClient(server.url, { apiKey: token });
    const changes: any[] = [];
    const added: any[] = [];
    client.subscribe(
      { query: `subscription($id: ID) { checkUpdated(id: $id) { kind check { state } } }`, variables: { id: check.id } },
      { next: (r) => void changes.push(r.data?.checkUpdated ?? r.errors), error: (e) => void changes.push({ e }), complete: () => undefined },
    );
    client.subscribe(
      { query: `subscription { eventAdded { action objectType objectId actorKind details } }` },
      { next: (r) => void added.push(r.data?.eventAdded ?? r.errors), error: (e) => void added.push({ e }), complete: () => undefined },
    );
    await sleep(300);

    const pinged = await ping(check.id, 'SUCCESS');
    const lateDeadline = new Date(pinged.receivedAt).getTime() + 2_000;
    const downDeadline = new Date(pinged.check.nextDueAt!).getTime();
    expect(downDeadline).toBe(lateDeadline + 2_000);
    expect(await state(check.id)).toBe('UP');
    await until('the check to go late', async () => (await state(check.id)) !== 'UP');
    expect(await state(check.id)).toBe('LATE');
    await until('the check to go down', async () => (await state(check.id)) === 'DOWN');
    await until('both flips to be published', async () => changes.length >= 3 && added.filter((e) => e.objectId === check.id).length >= 3);
    await client.dispose();

    const flips = await flipsOf(server, check.id);
    expect(flips.map(({ action, actor_kind, object_type, details }) => ({ action, actor_kind, object_type, details }))).toEqual([
      { action: 'check.up', actor_kind: 'user', object_type: 'Check', details: { from: 'new', to: 'up' } },
      { action: 'check.late', actor_kind: 'system', object_type: 'Check', details: { from: 'up', to: 'late' } },
      { action: 'check.down', actor_kind: 'system', object_type: 'Check', details: { from: 'late', to: 'down' } },
    ]);
    expect(flips[1]!.object_name).toBe(`sweep-${seq}`);
    // On time: not before the deadline, and well within a second after it (bounds generous for a shared machine).
    for (const [flip, deadline] of [[flips[1]!, lateDeadline], [flips[2]!, downDeadline]] as const) {
      const lateness = flip.at.getTime() - deadline;
      expect(lateness, flip.action).toBeGreaterThanOrEqual(-5);
      expect(lateness, flip.action).toBeLessThan(1_500);
    }
    expect(changes.map((c) => `${c.kind} ${c.check?.state}`)).toEqual(['PINGED UP', 'STATE_CHANGED LATE', 'STATE_CHANGED DOWN']);
    expect(added.filter((e) => e.objectId === check.id).map((e) => [e.action, e.actorKind, e.objectType])).toEqual([
      ['check.up', 'USER', 'Check'],
      ['check.late', 'SYSTEM', 'Check'],
      ['check.down', 'SYSTEM', 'Check'],
    ]);

    // A success brings it back up: recovery, its own event.
    expect((await ping(check.id, 'SUCCESS')).check.state).toBe('UP');
    expect((await flipsOf(server, check.id)).map((f) => f.action)).toEqual(['check.up', 'check.late', 'check.down', 'check.up']);
  });

  it('a START without a finish within the grace period is down (from up or new), never late meanwhile; one finished in time is not', async () => {
    const hour = { periodSeconds: 3600, graceSeconds: 2 };
    const fromUp = await create(hour);
    const fromNew = await create(hour);
    const finished = await create(hour);
    await ping(fromUp.id, 'SUCCESS');
    await ping(finished.id, 'SUCCESS');
    const started = await ping(fromUp.id, 'START');
    expect(started.check).toMatchObject({ state: 'UP', nextDueAt: new Date(new Date(started.receivedAt).getTime() + 2_000).toISOString() });
    await ping(fromNew.id, 'START');
    await ping(finished.id, 'START');
    await sleep(500);
    await ping(finished.id, 'SUCCESS');
    expect([await state(fromUp.id), await state(fromNew.id)]).toEqual(['UP', 'NEW']);

    await until('the unfinished runs to be down', async () => (await state(fromUp.id)) === 'DOWN' && (await state(fromNew.id)) === 'DOWN');
    expect((await flipsOf(server, fromUp.id)).map((f) => f.details)).toEqual([{ from: 'new', to: 'up' }, { from: 'up', to: 'down' }]);
    expect((await flipsOf(server, fromNew.id)).map((f) => f.details)).toEqual([{ from: 'new', to: 'down' }]);
    const downAt = (await flipsOf(server, fromUp.id))[1]!.at.getTime();
    expect(downAt - (new Date(started.receivedAt).getTime() + 2_000)).toBeLessThan(1_500);
    // The finished run's check is due an hour after its finish: nothing moves it.
    await sleep(1_000);
    expect(await state(finished.id)).toBe('UP');
    expect((await flipsOf(server, finished.id)).map((f) => f.action)).toEqual(['check.up']);
  });

  it('leaves paused, new and down checks alone', async () => {
    const paused = await create({ periodSeconds: 1, graceSeconds: 0 });
    const fresh = await create({ periodSeconds: 1, graceSeconds: 0 });
    const down = await create({ periodSeconds: 1, graceSeconds: 0 });
    await ping(paused.id, 'SUCCESS');
    expect((await server.gql(PAUSE, { id: paused.id }, { cookie: server.adminCookie })).data.pauseCheck.__typename).toBe('PauseCheckSuccess');
    await ping(down.id, 'FAIL');
    await sleep(2_500);
    expect([await state(paused.id), await state(fresh.id), await state(down.id)]).toEqual(['PAUSED', 'NEW', 'DOWN']);
    expect((await flipsOf(server, down.id)).map((f) => f.action)).toEqual(['check.down']);
    expect(await flipsOf(server, fresh.id)).toEqual([]);
  });
});

describe('CheckSweeper on its own (a server that does not execute, so nothing else sweeps)', () => {
  let server: TestServer;
  let seq = 0;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(() => server?.close());

  /** A check whose run started now with no grace: due at once. */
  async function dueNow(): Promise<string> {
    const created = await server.gql(CREATE, { input: { name: `own-${++seq}`, periodSeconds: 3600, graceSeconds: 0 } }, { cookie: server.adminCookie });
    const id = created.data.createCheck.data.id;
    const started = await server.gql(PING, { input: { checkId: id, kind: 'START' } }, { cookie: server.adminCookie });
    expect(started.data.recordPing.data.check.state).toBe('NEW');
    return id;
  }

  it('looks again soon after a change instead of sleeping out its second', async () => {
    const flipped: string[] = [];
    const sweeper = new CheckSweeper({ db: server.app.db, log: server.app.log, flipped: (flips) => flipped.push(...flips.map((f) => f.id)) });
    try {
      sweeper.start();
      await sleep(150); // its first pass found nothing due: it sleeps a second
      const id = await dueNow();
      const changedAt = Date.now();
      sweeper.changed();
      await until('the sweeper to flip the check', async () => flipped.includes(uuidOf(id)), 5_000);
      expect(Date.now() - changedAt).toBeLessThan(600);
    } finally {
      await sweeper.stop();
    }
  });

  it('two sweepers reading the same checks at once flip each once, with one event each', async () => {
    const ids = await Promise.all(Array.from({ length: 100 }, () => dueNow()));
    const log = server.app.log;
    const sweepers = [0, 1].map(() => new CheckSweeper({ db: server.app.db, log, flipped: () => undefined }));
    const results = await Promise.all(sweepers.map((sweeper) => sweeper.sweepBatch()));
    expect(results.map((r) => r.read)).toEqual([100, 100]);
    expect(results[0]!.applied + results[1]!.applied).toBe(100);
    const { rows } = await sql<{ n: number; checks: number }>`
      select count(*)::int as n, count(distinct object_id)::int as checks from events
      where action = 'check.down' and object_id = any(${ids.map(uuidOf)}::uuid[])`.execute(server.app.db);
    expect(rows[0]).toEqual({ n: 100, checks: 100 });
    expect((await sweepers[0]!.sweepBatch()).read).toBe(0);
  });
});

describe('two instances sweeping one database', () => {
  it('flip each check exactly once: one event per flip, one checkUpdated per flip on every instance', async (context) => {
    if (needsSharedDatabase()) return context.skip();
    const database = await createTestDatabase();
    const servers: TestServer[] = [];
    try {
      servers.push(await startTestServer(executing(), database));
      servers.push(await startTestServer(executing(), database));
      const [a, b] = servers as [TestServer, TestServer];
      const CHECKS = 60;
      const ids: string[] = [];
      for (let i = 0; i < CHECKS; i++) {
        const result = await a.gql(CREATE, { input: { name: `shared-${i}`, periodSeconds: 2, graceSeconds: 1 } }, { cookie: a.adminCookie });
        ids.push(result.data.createCheck.data.id);
      }
      const heard = servers.map(() => new Map<string, string[]>());
      const clients = await Promise.all(servers.map(async (server, i) => {
        const client = wsClient(server.url, { apiKey: await server.createKey(server.adminCookie, `shared-ws-${i}`, 'ADMIN') });
        client.subscribe(
          { query: `subscription { checkUpdated { kind checkId check { state } } }` },
          {
            next: (r) => {
              const change = (r.data as any)?.checkUpdated;
              if (change?.kind !== 'STATE_CHANGED') return;
              heard[i]!.set(change.checkId, [...(heard[i]!.get(change.checkId) ?? []), change.check.state]);
            },
            error: () => undefined,
            complete: () => undefined,
          },
        );
        return client;
      }));
      await sleep(300);
      // Pinged through both instances, so both have checks to wake for.
      await Promise.all(ids.map((id, i) => (i % 2 ? b : a).gql(PING, { input: { checkId: id, kind: 'SUCCESS' } }, { cookie: (i % 2 ? b : a).adminCookie })));

      const downCount = async () =>
        Number((await sql<{ n: string }>`select count(*) as n from checks where state = 'down'`.execute(a.app.db)).rows[0]!.n);
      await until('every check to be down', async () => (await downCount()) === CHECKS, 20_000);
      await until('every flip to be heard on both instances', async () => heard.every((m) => [...m.values()].filter((s) => s.length >= 2).length === CHECKS), 10_000);
      await sleep(1_000); // room for a second flip, were one to happen
      await Promise.all(clients.map((client) => client.dispose()));

      const { rows } = await sql<{ action: string; n: string }>`
        select action, count(*) as n, count(distinct object_id) as checks from events
        where action in ('check.late', 'check.down') group by action order by action`.execute(a.app.db);
      expect(rows).toEqual([
        { action: 'check.down', n: String(CHECKS), checks: String(CHECKS) },
        { action: 'check.late', n: String(CHECKS), checks: String(CHECKS) },
      ]);
      for (const map of heard) {
        expect(map.size).toBe(CHECKS);
        expect(new Set([...map.values()].map((states) => states.join(' ')))).toEqual(new Set(['LATE DOWN']));
      }
    } finally {
      for (const server of servers.reverse()) await server.stop();
      await database.drop();
    }
  });
});
