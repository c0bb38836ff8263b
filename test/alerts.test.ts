/**
 * Rules against the real server and alerter: a failing script run by the executor alerts once
 * and then recovers; N failures in a row; late/down/up check flips; a run slower than usual;
 * reminders while still failing; maintenance windows and snoozes silence alerts (and are
 * audited). Events are the ones the dispatcher writes, or written through the same audit path.
 */
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createChannel, createRule, deliveries, finishRun, flipCheck, insertRun, insertScript, TEST_ALERTS, until, webhookReceiver } from './support/alerts';
import { embeddedOnly, executing, startTestServer, type TestServer } from './support/server';
import { insertEvents } from '../db/event.repository';
import { decodeId, encodeGlobalID } from '../graphql/ids';

let server: TestServer;
let receiver: Awaited<ReturnType<typeof webhookReceiver>>;
let channelId: string;

beforeAll(async () => {
  server = await startTestServer({ ...executing(), alerts: TEST_ALERTS });
  receiver = await webhookReceiver();
  channelId = await createChannel(server, { name: 'receiver', webhook: { url: `${receiver.url}/alerts` } });
});
afterAll(async () => {
  await server?.close();
  await receiver?.close();
});

const bodiesFor = (subjectName: string) => receiver.received.map((r) => r.body).filter((b) => b.subject?.name === subjectName);

/** A script and a rule for it alone (a rule naming a subject replaces the defaults for it). */
async function scriptWithRule(name: string, rule: Record<string, unknown> = {}) {
  const id = await insertScript(server.app.db, name);
  const ruleId = await createRule(server, { name: `rule for ${name}`, subjectId: encodeGlobalID('Script', id), channelIds: [channelId], ...rule });
  return { id, name, ruleId };
}

async function deliveriesOf(subjectName: string) {
  return (await deliveries(server)).filter((d) => d.subjectName === subjectName);
}

async function waitForDeliveries(subjectName: string, count: number, states: string[] = ['DELIVERED', 'SILENCED']) {
  return until(`${count} deliveries about ${subjectName}`, async () => {
    const found = await deliveriesOf(subjectName);
    return found.length >= count && found.every((d) => states.includes(d.state)) ? found : undefined;
  });
}

describe('failure and recovery', () => {
  it('alerts a script the executor runs and fails (exit 3) once, then its recovery', async () => {
    const script = await scriptWithRule('exits-three');
    await server.app.db.updateTable('scripts').set({ body: '#!/bin/sh\nexit 3\n', executable: '/bin/sh' }).where('id', '=', script.id).execute();
    const START = `mutation($input: StartRunInput!) { startRun(input: $input) { __typename ... on StartRunSuccess { data { id } } ... on Error { message } } }`;
    const run = async () => {
      const result = await server.gql(START, { input: { scriptId: encodeGlobalID('Script', script.id) } }, { cookie: server.adminCookie });
      const id = decodeId('Run', result.data.startRun.data[0].id);
      return until(`run ${id} to finish`, async () => {
        const row = await server.app.db.selectFrom('runs').select(['state']).where('id', '=', id).executeTakeFirstOrThrow();
        return ['failed', 'succeeded'].includes(row.state) ? row.state : undefined;
      });
    };
    expect(await run()).toBe('failed');
    const [failure] = await waitForDeliveries('exits-three', 1);
    expect(failure).toMatchObject({ kind: 'FAILURE', state: 'DELIVERED', text: 'Runboard: "exits-three" failed on "local" (exit 3)', ruleName: 'rule for exits-three' });
    expect(await run()).toBe('failed');
    await server.app.db.updateTable('scripts').set({ body: '#!/bin/sh\nexit 0\n' }).where('id', '=', script.id).execute();
    expect(await run()).toBe('succeeded');
    const all = await waitForDeliveries('exits-three', 2);
    // The second failure raised nothing: the first alert stands until the recovery.
    expect(all.map((d) => d.kind)).toEqual(['FAILURE', 'RECOVERY']);
    expect(bodiesFor('exits-three').map((b) => b.kind)).toEqual(['failure', 'recovery']);
    expect(bodiesFor('exits-three')[1].text).toBe('Runboard: "exits-three" recovered: succeeded on "local" (exit 0)');
  });

  it('waits for N failures in a row; a success in between starts the count again', async () => {
    const script = await scriptWithRule('flaky', { afterFailures: 3, onRecovery: false });
    const events = [];
    for (const state of ['failed', 'timed_out', 'succeeded', 'failed', 'lost', 'failed'] as const) events.push(await finishRun(server, script, state));
    const [alert] = await waitForDeliveries('flaky', 1);
    expect(alert).toMatchObject({ kind: 'FAILURE', payload: { consecutiveFailures: 3, event: { id: events[5]!.id } } });
    expect(alert!.text).toBe('Runboard: "flaky" failed on "local" (exit 3), 3 failures in a row');
    // A later event about the same script has been evaluated, so nothing else is on its way.
    const after = await finishRun(server, script, 'failed');
    await until('the alerter to pass the last event', async () => {
      const state = await server.app.db.selectFrom('alert_states').select('consecutive_failures').where('rule_id', '=', decodeId('AlertRule', script.ruleId)).executeTakeFirst();
      return state?.consecutive_failures === 4;
    });
    expect(after).toBeDefined();
    expect((await deliveriesOf('flaky')).map((d) => d.kind)).toEqual(['FAILURE']);
  });
});

describe('event order', () => {
  // The embedded database serves one connection at a time: a transaction held open would stop
  // everything else, so there is no concurrent commit to race with.
  it.skipIf(embeddedOnly())('alerts an event whose transaction began first but committed last', async () => {
    const early = await scriptWithRule('committed-late');
    const later = await scriptWithRule('committed-first');
    const runId = await insertRun(server.app.db, early.id, early.name, 'failed');
    await server.app.db.transaction().execute(async (trx) => {
      // Written (and stamped) now, committed only after the other event has been alerted.
      await insertEvents(trx, [
        {
          action: 'run.finished',
          actorKind: 'system',
          actorId: null,
          actorName: 'runboard',
          objectType: 'Run',
          objectId: runId,
          objectName: early.name,
          summary: 'late commit',
          details: { state: 'failed', host: 'local', exitCode: 3 },
          ip: null,
        },
      ]);
      await finishRun(server, later, 'failed');
      // Held back: the open transaction is older than the horizon the alerter reads up to.
      await new Promise((resolve) => setTimeout(resolve, 5 * TEST_ALERTS.pollMs));
      expect(await deliveriesOf('committed-first')).toEqual([]);
    });
    server.execution!.eventsAdded();
    const [alert] = await waitForDeliveries('committed-late', 1);
    expect(alert).toMatchObject({ kind: 'FAILURE', state: 'DELIVERED' });
    expect((await waitForDeliveries('committed-first', 1))[0]!.kind).toBe('FAILURE');
  });
});

describe('subjects', () => {
  it('a schedule\'s rule alerts the runs it fired, not the script\'s other runs', async () => {
    const scriptId = await insertScript(server.app.db, 'report-builder');
    const schedule = await server.app.db
      .insertInto('schedules')
      .values({ name: 'hourly reports', script_id: scriptId, kind: 'interval', interval_seconds: 3600, enabled: false } as never)
      .returning('id')
      .executeTakeFirstOrThrow();
    const scheduleId = (schedule as { id: string }).id;
    await createRule(server, { name: 'hourly reports rule', subjectId: encodeGlobalID('Schedule', scheduleId), channelIds: [channelId] });
    const script = { id: scriptId, name: 'report-builder' };
    await finishRun(server, script, 'failed');
    const fired = await finishRun(server, script, 'failed', 1, scheduleId);
    const [alert] = await waitForDeliveries('hourly reports', 1);
    expect(alert).toMatchObject({ kind: 'FAILURE', text: 'Runboard: schedule "hourly reports" failed on "local" (exit 3)', payload: { event: { id: fired.id }, subject: { type: 'schedule', id: scheduleId } } });
    expect((await deliveries(server)).filter((d) => d.subjectName === 'report-builder')).toEqual([]);
  });

  it('answers bad rules with typed errors and writes nothing', async () => {
    const CREATE = `mutation($input: CreateAlertRuleInput!) { createAlertRule(input: $input) { __typename ... on ValidationError { fields { path } } ... on Error { message } } }`;
    const attempt = async (input: Record<string, unknown>) => (await server.gql(CREATE, { input }, { cookie: server.adminCookie })).data.createAlertRule;
    const before = (await server.app.db.selectFrom('alert_rules').select('id').execute()).length;
    expect(await attempt({ name: 'r', subjectId: encodeGlobalID('Script', '00000000-0000-4000-8000-000000000000') })).toMatchObject({ __typename: 'NotFoundError' });
    expect(await attempt({ name: 'r', afterFailures: 0 })).toMatchObject({ __typename: 'ValidationError', fields: [{ path: ['input', 'afterFailures'] }] });
    expect(await attempt({ name: 'r', subjectId: encodeGlobalID('Host', '00000000-0000-4000-8000-000000000000') })).toMatchObject({ __typename: 'ValidationError' });
    expect(await attempt({ name: 'r', channelIds: [encodeGlobalID('NotificationChannel', '00000000-0000-4000-8000-000000000000')] })).toMatchObject({ __typename: 'NotFoundError' });
    expect(await attempt({ name: 'r', onFailure: false, onRecovery: false })).toMatchObject({ __typename: 'ValidationError' });
    expect((await server.app.db.selectFrom('alert_rules').select('id').execute()).length).toBe(before);
  });
});

describe('checks', () => {
  it('alerts a late check, its going down and its coming up', async () => {
    const check = await server.app.db.insertInto('checks').values({ name: 'nightly-export', period_seconds: 3600, grace_seconds: 60 } as never).returning(['id', 'name']).executeTakeFirstOrThrow();
    await createRule(server, { name: 'nightly-export rule', subjectId: encodeGlobalID('Check', (check as { id: string }).id), onLate: true, channelIds: [channelId] });
    const subject = check as { id: string; name: string };
    await flipCheck(server, subject, 'late', 'up');
    await flipCheck(server, subject, 'down', 'late');
    await flipCheck(server, subject, 'up', 'down');
    const found = await waitForDeliveries('nightly-export', 3);
    expect(found.map((d) => [d.kind, d.text])).toEqual([
      ['LATE', 'Runboard: check "nightly-export" is late: no ping by its expected time'],
      ['FAILURE', 'Runboard: check "nightly-export" is down'],
      ['RECOVERY', 'Runboard: check "nightly-export" is up again'],
    ]);
    expect(found[1]!.payload.event).toMatchObject({ action: 'check.down', objectType: 'Check', details: { from: 'late', to: 'down' } });
  });
});

describe('slow runs', () => {
  it('alerts a run longer than the factor times the p95 of recent successful runs', async () => {
    const script = await scriptWithRule('nightly-backup', { onSlow: true, slowFactor: 2 });
    // Ten usual runs of a second, seeded without events (history, not news).
    for (let i = 0; i < 10; i++) await insertRun(server.app.db, script.id, script.name, 'succeeded', 1);
    const p95 = await sql<{ p95: number }>`select percentile_cont(0.95) within group (order by extract(epoch from finished_at - started_at))::float8 as p95 from runs where script_id = ${script.id}`.execute(server.app.db);
    expect(p95.rows[0]!.p95).toBeCloseTo(1, 3);
    await finishRun(server, script, 'succeeded', 1.5);
    const slowEvent = await finishRun(server, script, 'succeeded', 5);
    const [slow] = await waitForDeliveries('nightly-backup', 1);
    expect(slow).toMatchObject({ kind: 'SLOW', payload: { event: { id: slowEvent.id }, slow: { factor: 2 } } });
    expect(slow!.payload.slow.durationSeconds).toBeCloseTo(5, 1);
    expect(slow!.payload.slow.p95Seconds).toBeGreaterThan(0.99);
    expect(slow!.payload.slow.p95Seconds).toBeLessThan(1.5);
    expect(slow!.text).toMatch(/^Runboard: "nightly-backup" took 5\.0 s, more than 2× its usual 1\.\d s/);
    // The 1.5 s run was under 2 × p95: one slow alert only.
    expect((await deliveriesOf('nightly-backup')).map((d) => d.kind)).toEqual(['SLOW']);
  });
});

describe('reminders', () => {
  it('remind every interval while still failing, and stop after the recovery', async () => {
    const script = await scriptWithRule('stuck-sync', { remindEverySeconds: 60 });
    const ruleId = decodeId('AlertRule', script.ruleId);
    const failure = await finishRun(server, script, 'failed');
    await waitForDeliveries('stuck-sync', 1);
    // An interval passes: the last notice is moved back instead of waiting a minute.
    const passInterval = () =>
      sql`update alert_states set last_notified_at = now() - interval '61 seconds' where rule_id = ${ruleId}`.execute(server.app.db).then(() => server.execution!.eventsAdded());
    await passInterval();
    await waitForDeliveries('stuck-sync', 2);
    await passInterval();
    const found = await waitForDeliveries('stuck-sync', 3);
    expect(found.map((d) => [d.kind, d.reminder])).toEqual([['FAILURE', 0], ['REMINDER', 1], ['REMINDER', 2]]);
    expect(found[1]!.text).toMatch(/^Runboard reminder: "stuck-sync" is still failing since /);
    expect(found[1]!.payload).toMatchObject({ kind: 'reminder', reminder: 1, event: { id: failure.id } });
    await finishRun(server, script, 'succeeded');
    await waitForDeliveries('stuck-sync', 4);
    await passInterval();
    const state = await server.app.db.selectFrom('alert_states').selectAll().where('rule_id', '=', ruleId).executeTakeFirstOrThrow();
    expect(state.alerting).toBeNull();
    await new Promise((resolve) => setTimeout(resolve, 4 * TEST_ALERTS.pollMs));
    expect((await deliveriesOf('stuck-sync')).map((d) => d.kind)).toEqual(['FAILURE', 'REMINDER', 'REMINDER', 'RECOVERY']);
  });
});

describe('maintenance windows and snoozes', () => {
  const events = async (prefix: string) => {
    const result = await server.gql(`query($p: String) { events(filter: { actionPrefix: $p }) { edges { node { action objectId actorName } } } }`, { p: prefix }, { cookie: server.adminCookie });
    return (result.data.events.edges as { node: { action: string; objectId: string } }[]).map((e) => e.node);
  };

  it('a maintenance window records alerts as silenced; once it ends they go out again', async () => {
    const script = await scriptWithRule('db-migration');
    const other = await scriptWithRule('unrelated-job');
    const created = await server.gql(
      `mutation($input: CreateMaintenanceWindowInput!) { createMaintenanceWindow(input: $input) { __typename ... on CreateMaintenanceWindowSuccess { data { id active subjectId } } ... on Error { message } } }`,
      { input: { endsAt: new Date(Date.now() + 3_600_000).toISOString(), reason: 'upgrading PostgreSQL', subjectId: encodeGlobalID('Script', script.id) } },
      { cookie: server.adminCookie },
    );
    const window = created.data.createMaintenanceWindow.data;
    expect(window).toMatchObject({ active: true, subjectId: encodeGlobalID('Script', script.id) });
    await finishRun(server, script, 'failed');
    await finishRun(server, other, 'failed');
    const [silenced] = await waitForDeliveries('db-migration', 1);
    expect(silenced).toMatchObject({ kind: 'FAILURE', state: 'SILENCED', silencedBy: decodeId('MaintenanceWindow', window.id), attempts: 0 });
    // Only its subject is silenced.
    expect((await waitForDeliveries('unrelated-job', 1))[0]!.state).toBe('DELIVERED');

    const ended = await server.gql(`mutation($id: ID!) { endMaintenanceWindow(id: $id) { __typename ... on EndMaintenanceWindowSuccess { data { active endedAt } } } }`, { id: window.id }, { cookie: server.adminCookie });
    expect(ended.data.endMaintenanceWindow.data.active).toBe(false);
    await finishRun(server, script, 'succeeded');
    const after = await waitForDeliveries('db-migration', 2);
    expect(after.map((d) => [d.kind, d.state])).toEqual([['FAILURE', 'SILENCED'], ['RECOVERY', 'DELIVERED']]);
    expect(bodiesFor('db-migration').map((b) => b.kind)).toEqual(['recovery']);
    const audit = await events('maintenance_window.');
    expect(audit.map((e) => e.action).sort()).toEqual(['maintenance_window.created', 'maintenance_window.ended']);
    expect(audit.every((e) => e.objectId === window.id)).toBe(true);
  });

  it('a snooze of a rule silences it until it ends', async () => {
    const script = await scriptWithRule('noisy-crawler');
    const snoozed = await server.gql(
      `mutation($input: SnoozeInput!) { snooze(input: $input) { __typename ... on SnoozeSuccess { data { id active ruleId } } ... on Error { message } } }`,
      { input: { ruleId: script.ruleId, until: new Date(Date.now() + 3_600_000).toISOString() } },
      { cookie: server.adminCookie },
    );
    const snooze = snoozed.data.snooze.data;
    expect(snooze).toMatchObject({ active: true, ruleId: script.ruleId });
    await finishRun(server, script, 'failed');
    expect((await waitForDeliveries('noisy-crawler', 1))[0]).toMatchObject({ state: 'SILENCED', silencedBy: decodeId('Snooze', snooze.id) });
    await server.gql(`mutation($id: ID!) { endSnooze(id: $id) { __typename } }`, { id: snooze.id }, { cookie: server.adminCookie });
    await finishRun(server, script, 'succeeded');
    await finishRun(server, script, 'failed');
    const found = await waitForDeliveries('noisy-crawler', 3);
    expect(found.map((d) => [d.kind, d.state])).toEqual([['FAILURE', 'SILENCED'], ['RECOVERY', 'DELIVERED'], ['FAILURE', 'DELIVERED']]);
    expect((await events('snooze.')).map((e) => e.action).sort()).toEqual(['snooze.created', 'snooze.ended']);
  });

  it('refuses a window that ends before it starts, with a typed error', async () => {
    const result = await server.gql(
      `mutation($input: CreateMaintenanceWindowInput!) { createMaintenanceWindow(input: $input) { __typename ... on ValidationError { fields { path } } } }`,
      { input: { startsAt: new Date(Date.now() + 7_200_000).toISOString(), endsAt: new Date(Date.now() + 3_600_000).toISOString() } },
      { cookie: server.adminCookie },
    );
    expect(result.data.createMaintenanceWindow).toEqual({ __typename: 'ValidationError', fields: [{ path: ['input', 'endsAt'] }] });
  });
});
