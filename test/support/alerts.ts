/**
 * Helpers for the alert tests: a real HTTP receiver for webhooks, GraphQL shortcuts for channels
 * and rules, and audit events written the way Runboard writes them (run.finished, check flips).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { recordEvent, SYSTEM } from '../../core/audit';
import type { AlertConfig } from '../../core/config';
import type { Db } from '../../db/database';
import type { AuditEvent } from '../../db/event.repository';
import type { RunState } from '../../db/schema';
import type { TestServer } from './server';

/** Quick alerts for tests: poll often, retry after 150 ms (doubling), three attempts. */
export const TEST_ALERTS: AlertConfig = { pollMs: 100, maxAttempts: 3, retryDelayMs: 150, timeoutMs: 3_000 };

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `check` until it answers a value, or fails naming `what`. */
export async function until<T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs = 20_000): Promise<T> {
  const began = Date.now();
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() - began > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

export interface Received {
  at: number;
  headers: http.IncomingHttpHeaders;
  url: string;
  body: any;
}

/** A local HTTP server that records what is POSTed to it and answers `status()`. */
export async function webhookReceiver(status: () => number = () => 200) {
  const received: Received[] = [];
  const server = http.createServer((req, res) => {
    let text = '';
    req.on('data', (chunk) => (text += chunk));
    req.on('end', () => {
      received.push({ at: Date.now(), headers: req.headers, url: req.url ?? '', body: JSON.parse(text || 'null') });
      const code = status();
      res.writeHead(code, { 'content-type': 'text/plain' }).end(code >= 300 ? 'receiver says no' : 'ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, received, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

const CREATE_CHANNEL = `mutation($input: CreateNotificationChannelInput!) {
  createNotificationChannel(input: $input) {
    __typename
    ... on CreateNotificationChannelSuccess { data { id } }
    ... on Error { message }
  } }`;

export async function createChannel(server: TestServer, input: Record<string, unknown>): Promise<string> {
  const result = await server.gql(CREATE_CHANNEL, { input }, { cookie: server.adminCookie });
  const id = result.data?.createNotificationChannel?.data?.id;
  if (!id) throw new Error(`createNotificationChannel failed: ${JSON.stringify(result.data ?? result.errors)}`);
  return id;
}

const CREATE_RULE = `mutation($input: CreateAlertRuleInput!) {
  createAlertRule(input: $input) { __typename ... on CreateAlertRuleSuccess { data { id } } ... on Error { message } } }`;

export async function createRule(server: TestServer, input: Record<string, unknown>): Promise<string> {
  const result = await server.gql(CREATE_RULE, { input }, { cookie: server.adminCookie });
  const id = result.data?.createAlertRule?.data?.id;
  if (!id) throw new Error(`createAlertRule failed: ${JSON.stringify(result.data ?? result.errors)}`);
  return id;
}

export interface DeliveryView {
  id: string;
  kind: string;
  state: string;
  text: string;
  payload: any;
  reminder: number;
  attempts: number;
  lastError: string | null;
  subjectName: string | null;
  silencedBy: string | null;
  ruleName: string | null;
  channelName: string;
  createdAt: string;
  lastAttemptAt: string | null;
  deliveredAt: string | null;
}

const DELIVERIES = `query($filter: AlertDeliveryFilter) {
  deliveries(first: 60, filter: $filter) { edges { node {
    id kind state text payload reminder attempts lastError subjectName silencedBy ruleName channelName createdAt lastAttemptAt deliveredAt
  } } } }`;

/** Deliveries, oldest first (the latest 60: the query cost limit allows no more in one page). */
export async function deliveries(server: TestServer, filter: Record<string, unknown> = {}): Promise<DeliveryView[]> {
  const result = await server.gql(DELIVERIES, { filter }, { cookie: server.adminCookie });
  if (!result.data) throw new Error(`deliveries failed: ${JSON.stringify(result.errors)}`);
  return (result.data.deliveries.edges as { node: DeliveryView }[]).map((e) => e.node).reverse();
}

export async function insertScript(db: Db, name: string): Promise<string> {
  const row = await db.insertInto('scripts').values({ name, executable: '/bin/sh', body: 'true' }).returning('id').executeTakeFirstOrThrow();
  return row.id;
}

/** A finished run of `scriptId` that took `seconds`, ending now. */
export async function insertRun(db: Db, scriptId: string, scriptName: string, state: RunState, seconds = 1, scheduleId: string | null = null): Promise<string> {
  const finished = new Date();
  const row = await db
    .insertInto('runs')
    .values({
      script_id: scriptId,
      script_name: scriptName,
      schedule_id: scheduleId,
      host_name: 'local',
      state,
      trigger: 'manual',
      exit_code: state === 'succeeded' ? 0 : state === 'failed' ? 3 : null,
      started_at: new Date(finished.getTime() - seconds * 1000),
      finished_at: finished,
    } as never)
    .returning('id')
    .executeTakeFirstOrThrow();
  return (row as { id: string }).id;
}

function deps(server: TestServer) {
  return {
    db: server.app.db,
    actor: SYSTEM,
    onEvent: (event: AuditEvent) => server.app.pubsub.publish('eventAdded', { id: event.id, objectType: event.objectType }),
  };
}

/** A run that finished, with the event the dispatcher writes for it. */
export async function finishRun(server: TestServer, script: { id: string; name: string }, state: RunState, seconds = 1, scheduleId: string | null = null): Promise<AuditEvent> {
  const runId = await insertRun(server.app.db, script.id, script.name, state, seconds, scheduleId);
  return recordEvent(deps(server), {
    action: 'run.finished',
    objectType: 'Run',
    objectId: runId,
    objectName: script.name,
    summary: `"${script.name}" on "local" ${state}`,
    details: { state, host: 'local', exitCode: state === 'succeeded' ? 0 : state === 'failed' ? 3 : null },
  });
}

/** A check flip as the check sweeper records it: check.late, check.down or check.up. */
export async function flipCheck(server: TestServer, check: { id: string; name: string }, to: 'late' | 'down' | 'up', from: string): Promise<AuditEvent> {
  return recordEvent(deps(server), {
    action: `check.${to}`,
    objectType: 'Check',
    objectId: check.id,
    objectName: check.name,
    summary: `Check "${check.name}" is ${to}`,
    details: { from, to },
  });
}
