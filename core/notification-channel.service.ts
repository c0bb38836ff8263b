/**
 * Notification channels (admins): a webhook, an SMTP mailbox or a command. Their secrets — the
 * webhook URL (its path or query often is the token) and header values, the SMTP password — are
 * sealed with the SecretBox and never returned: send one back without a value to keep it.
 * Every change is audited; a test alert is recorded as a delivery like any other.
 */
import { alertPayload, alertText } from './alert-message';
import { audited, diff, type ChangeDeps } from './audit';
import { ConflictError, NotFoundError, ValidationError, type FieldProblem } from './errors';
import { isUuid } from './ids';
import type { SecretBox } from './secrets';
import { insertDeliveries, type Delivery } from '../db/alert-delivery.repository';
import type { Db } from '../db/database';
import {
  deleteChannelRow,
  insertChannel,
  lockChannel,
  settingsOf,
  updateChannelRow,
  type ChannelSecrets,
  type ChannelSettings,
  type EmailTls,
  type NotificationChannel,
} from '../db/notification-channel.repository';
import { pgError, UNIQUE_VIOLATION } from '../db/postgres-error';

export const MAX_NAME = 140;
const MAX_URL = 2048;
const MAX_HEADERS = 20;
const MAX_HEADER_VALUE = 4096;
const MAX_RECIPIENTS = 50;
const MAX_ARGS = 100;
const MAX_ARG = 4096;
/** How long a test alert waits for the instance that recorded it before any instance's poll sends it. */
const TEST_SEND_GRACE_MS = 5_000;
const DEFAULT_PORTS: Record<EmailTls, number> = { none: 25, starttls: 587, tls: 465 };

export interface WebhookInput {
  /** Write-only. Omitted or null keeps the stored URL (required on create). */
  url?: string | null;
  /** Replaces the headers; a header without a value keeps its stored value. */
  headers?: readonly { name: string; value?: string | null }[] | null;
}

export interface EmailInput {
  host: string;
  port?: number | null;
  tls?: EmailTls | null;
  username?: string | null;
  /** Write-only. Omitted or null keeps the stored password; "" clears it. */
  password?: string | null;
  from: string;
  to: readonly string[];
}

export interface CommandInput {
  executable: string;
  args?: readonly string[] | null;
}

export interface ChannelInput {
  name?: string | null;
  enabled?: boolean | null;
  webhook?: WebhookInput | null;
  email?: EmailInput | null;
  command?: CommandInput | null;
}

const at = (...path: string[]) => ['input', ...path];

function fail(problems: FieldProblem[]): void {
  if (problems.length > 0) throw new ValidationError(problems.map((p) => p.message).join(' '), problems);
}

const hasControl = (value: string) => /[\0\r\n]/.test(value);
/** Good enough to catch typos; the SMTP server has the last word. */
const looksLikeAddress = (value: string) => /^[^\s@<>]+@[^\s@<>]+$/.test(value);

function nameProblems(name: string | undefined): FieldProblem[] {
  if (name === undefined) return [];
  if (name.length === 0) return [{ path: at('name'), message: 'Give the channel a name.' }];
  if (name.length > MAX_NAME) return [{ path: at('name'), message: `The name is ${name.length} characters long; the limit is ${MAX_NAME}.` }];
  if (hasControl(name)) return [{ path: at('name'), message: 'The name cannot contain a NUL or a line break.' }];
  return [];
}

function webhookSettings(input: WebhookInput, stored: ChannelSecrets | undefined): { settings: ChannelSettings; secrets: ChannelSecrets; problems: FieldProblem[] } {
  const problems: FieldProblem[] = [];
  const url = input.url ?? stored?.url;
  let origin = '';
  if (!url) {
    problems.push({ path: at('webhook', 'url'), message: 'Give the webhook URL (it is stored encrypted and never shown again).' });
  } else {
    let parsed: URL | undefined;
    try {
      parsed = new URL(url);
    } catch {
      parsed = undefined;
    }
    if (url.length > MAX_URL || !parsed || (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') || !parsed.hostname) {
      problems.push({ path: at('webhook', 'url'), message: `The webhook URL must be an absolute http:// or https:// URL of at most ${MAX_URL} characters.` });
    } else {
      origin = parsed.origin;
    }
  }
  const headers: Record<string, string> = {};
  const given: readonly { name: string; value?: string | null }[] = input.headers ?? Object.keys(stored?.headers ?? {}).map((name) => ({ name }));
  if (given.length > MAX_HEADERS) problems.push({ path: at('webhook', 'headers'), message: `At most ${MAX_HEADERS} headers.` });
  given.forEach((header, i) => {
    const path = at('webhook', 'headers', String(i));
    const value = header.value ?? stored?.headers?.[header.name];
    if (!/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$/.test(header.name)) problems.push({ path: [...path, 'name'], message: `"${header.name.slice(0, 80)}" is not a header name.` });
    else if (['content-type', 'content-length', 'host'].includes(header.name.toLowerCase())) problems.push({ path: [...path, 'name'], message: `Runboard sets ${header.name} itself.` });
    else if (value === undefined) problems.push({ path: [...path, 'value'], message: `Give a value for header ${header.name} (there is none stored to keep).` });
    else if (value.length > MAX_HEADER_VALUE || hasControl(value)) problems.push({ path: [...path, 'value'], message: `The value of header ${header.name} must be at most ${MAX_HEADER_VALUE} characters, without line breaks.` });
    else headers[header.name] = value;
  });
  return {
    settings: { kind: 'webhook', webhook: { urlOrigin: origin, headerNames: Object.keys(headers) } },
    secrets: { url: url ?? undefined, headers },
    problems,
  };
}

function emailSettings(input: EmailInput, stored: ChannelSecrets | undefined): { settings: ChannelSettings; secrets: ChannelSecrets; problems: FieldProblem[] } {
  const problems: FieldProblem[] = [];
  const host = input.host.trim();
  const tls = input.tls ?? 'starttls';
  const port = input.port ?? DEFAULT_PORTS[tls];
  if (!host || host.length > 255 || /\s/.test(host)) problems.push({ path: at('email', 'host'), message: 'Give the SMTP server\'s host name or address (at most 255 characters, no spaces).' });
  if (!Number.isInteger(port) || port < 1 || port > 65535) problems.push({ path: at('email', 'port'), message: 'The SMTP port is a whole number from 1 to 65535.' });
  const username = input.username?.trim() || null;
  if (username && (username.length > 255 || hasControl(username))) problems.push({ path: at('email', 'username'), message: 'The SMTP username is at most 255 characters, without line breaks.' });
  const password = input.password === undefined || input.password === null ? stored?.password : input.password || undefined;
  if (password && (password.length > 1024 || hasControl(password))) problems.push({ path: at('email', 'password'), message: 'The SMTP password is at most 1024 characters, without line breaks.' });
  if (password && !username) problems.push({ path: at('email', 'username'), message: 'A password needs a username to sign in with.' });
  const from = input.from.trim();
  if (!looksLikeAddress(from)) problems.push({ path: at('email', 'from'), message: `"${from.slice(0, 80)}" is not an email address, e.g. runboard@example.com.` });
  const to = [...new Set(input.to.map((a) => a.trim()))];
  if (to.length === 0 || to.length > MAX_RECIPIENTS) problems.push({ path: at('email', 'to'), message: `Give 1 to ${MAX_RECIPIENTS} recipients.` });
  to.forEach((address, i) => {
    if (!looksLikeAddress(address)) problems.push({ path: at('email', 'to', String(i)), message: `"${address.slice(0, 80)}" is not an email address.` });
  });
  return { settings: { kind: 'email', email: { host, port, tls, username, from, to } }, secrets: password ? { password } : {}, problems };
}

function commandSettings(input: CommandInput): { settings: ChannelSettings; secrets: ChannelSecrets; problems: FieldProblem[] } {
  const problems: FieldProblem[] = [];
  const executable = input.executable.trim();
  if (!executable.startsWith('/') || executable.length > 4096 || executable.includes('\0')) {
    problems.push({ path: at('command', 'executable'), message: 'Give the absolute path of the program to run, e.g. /usr/local/bin/page-oncall (it runs without a shell).' });
  }
  const args = [...(input.args ?? [])];
  if (args.length > MAX_ARGS) problems.push({ path: at('command', 'args'), message: `At most ${MAX_ARGS} arguments.` });
  args.forEach((arg, i) => {
    if (arg.length > MAX_ARG || arg.includes('\0')) problems.push({ path: at('command', 'args', String(i)), message: `Argument ${i + 1} must be at most ${MAX_ARG} characters, without NUL.` });
  });
  return { settings: { kind: 'command', command: { executable, args } }, secrets: {}, problems };
}

/** The settings and secrets an input describes, over what is stored (on update). */
function resolve(input: ChannelInput, existing: { channel: NotificationChannel; secrets: ChannelSecrets } | undefined) {
  const given = (['webhook', 'email', 'command'] as const).filter((kind) => input[kind]);
  if (given.length > 1) fail([{ path: at(given[1]!), message: 'Give one of webhook, email or command.' }]);
  if (given.length === 0 && !existing) fail([{ path: at('webhook'), message: 'Say what the channel is: give webhook, email or command.' }]);
  // Secrets of the stored channel are kept only within the same kind.
  const stored = existing && (given.length === 0 || given[0] === existing.channel.kind) ? existing.secrets : undefined;
  if (input.webhook) return webhookSettings(input.webhook, stored);
  if (input.email) return emailSettings(input.email, stored);
  if (input.command) return commandSettings(input.command);
  return { settings: existing!.channel as ChannelSettings, secrets: existing!.secrets, problems: [] };
}

function seal(secrets: SecretBox, values: ChannelSecrets): Buffer | null {
  const present = Object.entries(values).filter(([, v]) => v !== undefined && !(typeof v === 'object' && Object.keys(v).length === 0));
  return present.length ? secrets.seal(JSON.stringify(Object.fromEntries(present))) : null;
}

/** Opens a channel's sealed secrets (for sending, and for keeping them across an update). */
export function openSecrets(secrets: SecretBox, sealed: Buffer | null): ChannelSecrets {
  return sealed ? (JSON.parse(secrets.open(sealed)) as ChannelSecrets) : {};
}

/** What the audit log keeps: settings, and which secrets are set (never their values). */
function summary(channel: { name: string; enabled: boolean } & ChannelSettings, secrets: ChannelSecrets): Record<string, unknown> {
  return { name: channel.name, enabled: channel.enabled, kind: channel.kind, settings: settingsOf(channel), secretsSet: Object.keys(secrets).sort() };
}

async function uniquely<T>(name: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    const { code, constraint } = pgError(error);
    if (code === UNIQUE_VIOLATION && constraint === 'notification_channels_name_key') throw new ConflictError(`A channel named "${name}" already exists.`);
    throw error;
  }
}

async function existing(trx: Db, id: string) {
  const found = isUuid(id) ? await lockChannel(trx, id) : undefined;
  if (!found) throw new NotFoundError(`There is no notification channel with id "${id}".`);
  return found;
}

export async function createChannel(deps: ChangeDeps, secrets: SecretBox, input: ChannelInput & { name: string }): Promise<NotificationChannel> {
  const name = input.name.trim();
  const resolved = resolve(input, undefined);
  fail([...nameProblems(name), ...resolved.problems]);
  return uniquely(name, () =>
    audited(deps, async (trx, record) => {
      const channel = await insertChannel(trx, {
        name,
        kind: resolved.settings.kind,
        enabled: input.enabled ?? true,
        settings: settingsOf(resolved.settings),
        secretsSealed: seal(secrets, resolved.secrets),
      });
      record({
        action: 'notification_channel.created',
        objectType: 'NotificationChannel',
        objectId: channel.id,
        objectName: channel.name,
        summary: `Created ${channel.kind} channel "${channel.name}"`,
        details: { after: summary(channel, resolved.secrets) },
      });
      return channel;
    }),
  );
}

export async function updateChannel(deps: ChangeDeps, secrets: SecretBox, id: string, input: ChannelInput): Promise<NotificationChannel> {
  return audited(deps, async (trx, record) => {
    const found = await existing(trx, id);
    const storedSecrets = openSecrets(secrets, found.secretsSealed);
    const name = input.name?.trim() ?? found.channel.name;
    const resolved = resolve(input, { channel: found.channel, secrets: storedSecrets });
    fail([...nameProblems(input.name === undefined || input.name === null ? undefined : name), ...resolved.problems]);
    const channel = await uniquely(name, () =>
      updateChannelRow(trx, found.channel.id, {
        name,
        kind: resolved.settings.kind,
        enabled: input.enabled ?? found.channel.enabled,
        settings: settingsOf(resolved.settings),
        secretsSealed: seal(secrets, resolved.secrets),
      }),
    );
    const changes = diff(summary(found.channel, storedSecrets), summary(channel, resolved.secrets));
    // A replaced secret does not show in the summaries: say that it was given, not what.
    const secretsGiven = [...(input.webhook?.url ? ['url'] : []), ...(input.email?.password ? ['password'] : []), ...(input.webhook?.headers ?? []).filter((h) => h.value).map((h) => `header ${h.name}`)];
    record({
      action: 'notification_channel.updated',
      objectType: 'NotificationChannel',
      objectId: channel.id,
      objectName: channel.name,
      summary: `Updated channel "${channel.name}": ${[...Object.keys(changes.after), ...(secretsGiven.length ? ['secrets'] : [])].join(', ') || 'nothing changed'}`,
      details: { ...changes, ...(secretsGiven.length && { secretsGiven }) },
    });
    return channel;
  });
}

export async function deleteChannel(deps: ChangeDeps, id: string): Promise<NotificationChannel> {
  return audited(deps, async (trx, record) => {
    const { channel } = await existing(trx, id);
    await deleteChannelRow(trx, channel.id);
    record({
      action: 'notification_channel.deleted',
      objectType: 'NotificationChannel',
      objectId: channel.id,
      objectName: channel.name,
      summary: `Deleted channel "${channel.name}" (rules stop sending to it; its deliveries are deleted)`,
      details: { before: { name: channel.name, kind: channel.kind } },
    });
    return channel;
  });
}

/** Records a test alert for a channel, to be sent at once (the delivery shows how it went). */
export async function testChannel(deps: ChangeDeps, id: string): Promise<Delivery> {
  return audited(deps, async (trx, record) => {
    const { channel } = await existing(trx, id);
    const facts = { kind: 'test' as const, rule: null, subject: null, event: null, channelName: channel.name };
    const [delivery] = await insertDeliveries(trx, [
      {
        ruleId: null,
        ruleName: null,
        channelId: channel.id,
        channelName: channel.name,
        eventId: null,
        reminder: 0,
        kind: 'test',
        subjectType: null,
        subjectId: null,
        subjectName: null,
        text: alertText(facts),
        payload: alertPayload(facts),
        silencedBy: null,
        // The mutation sends it at once; the poll of any executing instance only if that fails to.
        notBefore: new Date(Date.now() + TEST_SEND_GRACE_MS),
      },
    ]);
    record({
      action: 'notification_channel.tested',
      objectType: 'NotificationChannel',
      objectId: channel.id,
      objectName: channel.name,
      summary: `Sent a test alert through channel "${channel.name}"`,
      details: { deliveryId: delivery!.id },
    });
    return delivery!;
  });
}
