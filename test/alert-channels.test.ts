/**
 * Each channel against a real receiver: a local HTTP server for webhooks (body, Slack `text`,
 * headers; a failing receiver retried with doubling waits, then recorded failed), a local SMTP
 * server (smtp-server) for email, and a real program for commands. Secrets are sealed and never
 * returned; bad input is a typed error.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createChannel, createRule, deliveries, finishRun, insertScript, TEST_ALERTS, until, webhookReceiver } from './support/alerts';
import { executing, startTestServer, type TestServer } from './support/server';

let server: TestServer;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rb-alert-channels-'));

beforeAll(async () => {
  server = await startTestServer({ ...executing(), alerts: TEST_ALERTS });
});
afterAll(async () => {
  await server?.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

const TEST_CHANNEL = `mutation($id: ID!) { testChannel(id: $id) {
  __typename ... on TestChannelSuccess { data { state kind text attempts lastError payload } } ... on Error { message } } }`;

async function test(id: string) {
  const result = await server.gql(TEST_CHANNEL, { id }, { cookie: server.adminCookie });
  const data = result.data?.testChannel?.data;
  if (!data) throw new Error(`testChannel failed: ${JSON.stringify(result.data ?? result.errors)}`);
  return data as { state: string; kind: string; text: string; attempts: number; lastError: string | null; payload: any };
}

describe('webhook channels', () => {
  it('post the alert as JSON with a Slack-compatible text and the secret headers, and never show the secrets', async () => {
    const receiver = await webhookReceiver();
    try {
      const id = await createChannel(server, {
        name: 'hook',
        webhook: { url: `${receiver.url}/hooks/T0K3N-in-path?sig=s3cr3t`, headers: [{ name: 'Authorization', value: 'Bearer hdr-s3cr3t' }] },
      });
      const delivery = await test(id);
      expect(delivery).toMatchObject({ state: 'DELIVERED', kind: 'TEST', attempts: 1, lastError: null });
      expect(receiver.received).toHaveLength(1);
      const [request] = receiver.received;
      expect(request!.url).toBe('/hooks/T0K3N-in-path?sig=s3cr3t');
      expect(request!.headers.authorization).toBe('Bearer hdr-s3cr3t');
      expect(request!.headers['content-type']).toBe('application/json');
      expect(request!.body).toMatchObject({ kind: 'test', test: true, text: expect.stringContaining('test alert through channel "hook"') });

      const shown = await server.gql(
        `query { notificationChannels { edges { node { name kind webhook { urlOrigin headerNames } } } } events(filter: { actionPrefix: "notification_channel." }) { edges { node { action details } } } }`,
        {},
        { cookie: server.adminCookie },
      );
      const text = JSON.stringify(shown.data);
      expect(shown.data.notificationChannels.edges[0].node).toEqual({ name: 'hook', kind: 'WEBHOOK', webhook: { urlOrigin: receiver.url, headerNames: ['Authorization'] } });
      expect(shown.data.events.edges.map((e: any) => e.node.action).sort()).toEqual(['notification_channel.created', 'notification_channel.tested']);
      for (const secret of ['T0K3N', 's3cr3t']) expect(text).not.toContain(secret);
      const stored = await server.app.db.selectFrom('notification_channels').select(['secrets_sealed', 'settings']).executeTakeFirstOrThrow();
      expect(stored.secrets_sealed!.toString('latin1')).not.toContain('T0K3N');
      expect(JSON.stringify(stored.settings)).not.toContain('T0K3N');

      // Renaming keeps the stored URL and header.
      const renamed = await server.gql(
        `mutation($input: UpdateNotificationChannelInput!) { updateNotificationChannel(input: $input) { __typename } }`,
        { input: { id, name: 'hook-renamed', webhook: { headers: [{ name: 'Authorization' }] } } },
        { cookie: server.adminCookie },
      );
      expect(renamed.data.updateNotificationChannel.__typename).toBe('UpdateNotificationChannelSuccess');
      expect((await test(id)).state).toBe('DELIVERED');
      expect(receiver.received[1]!.headers.authorization).toBe('Bearer hdr-s3cr3t');
      expect(receiver.received[1]!.url).toBe('/hooks/T0K3N-in-path?sig=s3cr3t');
    } finally {
      await receiver.close();
    }
  });

  it('retry a failing receiver with doubling waits, then record the delivery failed with the reason', async () => {
    const receiver = await webhookReceiver(() => 503);
    try {
      const channelId = await createChannel(server, { name: 'failing-hook', webhook: { url: `${receiver.url}/down` } });
      await createRule(server, { name: 'all failures to the failing hook', channelIds: [channelId] });
      const scriptId = await insertScript(server.app.db, 'flaky-report');
      const event = await finishRun(server, { id: scriptId, name: 'flaky-report' }, 'failed');
      const [failed] = await until('the delivery to fail for good', async () => {
        const found = (await deliveries(server, { channelId })).filter((d) => d.state === 'FAILED');
        return found.length ? found : undefined;
      });
      expect(failed).toMatchObject({ kind: 'FAILURE', attempts: TEST_ALERTS.maxAttempts, subjectName: 'flaky-report', lastError: expect.stringContaining('503') });
      expect(receiver.received).toHaveLength(TEST_ALERTS.maxAttempts);
      expect(receiver.received[0]!.body).toMatchObject({
        kind: 'failure',
        text: 'Runboard: "flaky-report" failed on "local" (exit 3)',
        event: { id: event.id, action: 'run.finished', objectType: 'Run' },
        subject: { type: 'script', id: scriptId, name: 'flaky-report' },
      });
      const gaps = receiver.received.slice(1).map((r, i) => r.at - receiver.received[i]!.at);
      expect(gaps[0]).toBeGreaterThanOrEqual(TEST_ALERTS.retryDelayMs - 20);
      expect(gaps[1]).toBeGreaterThanOrEqual(2 * TEST_ALERTS.retryDelayMs - 20);
      // Same alert each time: the payload is fixed when the delivery is recorded.
      expect(new Set(receiver.received.map((r) => JSON.stringify(r.body))).size).toBe(1);
    } finally {
      await receiver.close();
    }
  });
});

/** The Subject header of a raw message, its RFC 2047 encoded words (Q encoding) decoded. */
function subjectOf(message: string): string {
  const header = /^Subject: (.*(?:\r\n[ \t].*)*)/m.exec(message)?.[1] ?? '';
  return header
    .replace(/\r\n[ \t]/g, '')
    .replace(/=\?UTF-8\?Q\?(.*?)\?=/gi, (_, word: string) =>
      Buffer.from(word.replace(/_/g, ' ').replace(/=([0-9A-F]{2})/gi, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16))), 'latin1').toString('utf8'),
    );
}

describe('email channels', () => {
  it('send through a real SMTP server, signing in with the sealed password', async () => {
    const messages: string[] = [];
    const logins: { username?: string; password?: string }[] = [];
    const smtp = new SMTPServer({
      disabledCommands: ['STARTTLS'],
      allowInsecureAuth: true,
      onAuth(auth, _session, callback) {
        logins.push({ username: auth.username, password: auth.password ?? undefined });
        if (auth.username === 'alerts' && auth.password === 'smtp-pa55') callback(null, { user: 'alerts' });
        else callback(new Error('Invalid username or password'));
      },
      onData(stream, _session, callback) {
        let text = '';
        stream.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
        stream.on('end', () => {
          messages.push(text);
          callback();
        });
      },
    });
    await new Promise<void>((resolve) => smtp.listen(0, '127.0.0.1', resolve));
    const port = (smtp.server.address() as AddressInfo).port;
    try {
      const email = { host: '127.0.0.1', port, tls: 'NONE', username: 'alerts', from: 'runboard@example.com', to: ['ops@example.com', 'oncall@example.com'] };
      const good = await createChannel(server, { name: 'mail', email: { ...email, password: 'smtp-pa55' } });
      expect(await test(good)).toMatchObject({ state: 'DELIVERED', attempts: 1 });
      expect(logins.at(-1)).toEqual({ username: 'alerts', password: 'smtp-pa55' });
      expect(messages).toHaveLength(1);
      expect(subjectOf(messages[0]!)).toBe('Runboard: a test alert through channel "mail". If you can read this, the channel works.');
      expect(messages[0]).toContain('To: ops@example.com, oncall@example.com');
      expect(messages[0]).toContain('"kind": "test"');

      const shown = await server.gql(`query { notificationChannels(search: "mail") { edges { node { email { host port tls username from to } } } } }`, {}, { cookie: server.adminCookie });
      expect(shown.data.notificationChannels.edges[0].node.email).toEqual({ ...email, tls: 'NONE' });
      expect(JSON.stringify(shown.data)).not.toContain('smtp-pa55');

      const bad = await createChannel(server, { name: 'mail-wrong-password', email: { ...email, password: 'wrong' } });
      const refused = await test(bad);
      expect(refused.state).toBe('FAILED');
      expect(refused.lastError).toContain(`127.0.0.1:${port}`);
      expect(messages).toHaveLength(1);
    } finally {
      await new Promise<void>((resolve) => smtp.close(() => resolve()));
    }
  });
});

describe('command channels', () => {
  it('run the program without a shell, the alert on stdin and in the environment', async () => {
    const program = path.join(tmp, 'alert-hook.sh');
    fs.writeFileSync(program, '#!/bin/sh\ncat > "$1"\nprintf "%s|%s" "$RUNBOARD_ALERT_KIND" "$RUNBOARD_ALERT_TEXT" > "$1.env"\n', { mode: 0o755 });
    const out = path.join(tmp, 'out with space; $(touch pwned).json');
    const id = await createChannel(server, { name: 'cmd', command: { executable: program, args: [out] } });
    expect((await test(id)).state).toBe('DELIVERED');
    expect(JSON.parse(fs.readFileSync(out, 'utf8'))).toMatchObject({ kind: 'test', text: expect.stringContaining('channel "cmd"') });
    expect(fs.readFileSync(`${out}.env`, 'utf8')).toMatch(/^test\|Runboard: a test alert/);
    // The argument was one argument, not shell syntax.
    expect(fs.existsSync(path.join(process.cwd(), 'pwned'))).toBe(false);
  });

  it('record a failing command with its exit code and stderr, and kill one that runs too long', async () => {
    const failing = path.join(tmp, 'fails.sh');
    fs.writeFileSync(failing, '#!/bin/sh\necho "pager service unreachable" >&2\nexit 2\n', { mode: 0o755 });
    const slow = path.join(tmp, 'slow.sh');
    fs.writeFileSync(slow, '#!/bin/sh\nsleep 30\n', { mode: 0o755 });
    const a = await test(await createChannel(server, { name: 'cmd-fails', command: { executable: failing } }));
    expect(a).toMatchObject({ state: 'FAILED', lastError: expect.stringContaining('exited with 2: pager service unreachable') });
    const began = Date.now();
    const b = await test(await createChannel(server, { name: 'cmd-slow', command: { executable: slow } }));
    expect(b).toMatchObject({ state: 'FAILED', lastError: expect.stringContaining(`did not finish within ${TEST_ALERTS.timeoutMs} ms`) });
    expect(Date.now() - began).toBeLessThan(TEST_ALERTS.timeoutMs + 2_000);
    const missing = await test(await createChannel(server, { name: 'cmd-missing', command: { executable: '/nonexistent/page-me' } }));
    expect(missing.lastError).toContain('there is no such program');
  });
});

describe('channel input', () => {
  const CREATE = `mutation($input: CreateNotificationChannelInput!) { createNotificationChannel(input: $input) {
    __typename ... on Error { message } ... on ValidationError { fields { path message } } } }`;

  it('answers bad input with typed errors and writes nothing', async () => {
    const before = await server.app.db.selectFrom('notification_channels').select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow();
    const attempt = (input: Record<string, unknown>) => server.gql(CREATE, { input }, { cookie: server.adminCookie }).then((r) => r.data.createNotificationChannel);
    expect(await attempt({ name: 'x' })).toMatchObject({ __typename: 'ValidationError' });
    expect(await attempt({ name: 'x', webhook: { url: 'ftp://example.com' } })).toMatchObject({
      __typename: 'ValidationError',
      fields: [{ path: ['input', 'webhook', 'url'] }],
    });
    expect(await attempt({ name: 'x', webhook: { url: 'https://example.com' }, command: { executable: '/bin/true' } })).toMatchObject({ __typename: 'ValidationError' });
    expect(await attempt({ name: 'x', email: { host: 'smtp', from: 'nobody', to: [] } })).toMatchObject({ __typename: 'ValidationError' });
    expect(await attempt({ name: 'x', command: { executable: 'page-me' } })).toMatchObject({ __typename: 'ValidationError', fields: [{ path: ['input', 'command', 'executable'] }] });
    const after = await server.app.db.selectFrom('notification_channels').select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow();
    expect(after.n).toBe(before.n);
    await createChannel(server, { name: 'Unique-Name', command: { executable: '/bin/true' } });
    expect(await attempt({ name: 'unique-name', command: { executable: '/bin/true' } })).toMatchObject({ __typename: 'ConflictError' });
  });
});
