/**
 * Checks: configuring them (admins), pausing and resuming (operators), and recording their pings
 * (operators over GraphQL, anyone holding the ping key over the ping URL). Configuration changes
 * are audited; pings are not (there are far too many), they are kept in their own table — but the
 * state flips they cause are (core/check-flip.ts).
 */
import {
  deleteCheckRow,
  findCheckById,
  insertCheck,
  lockCheck,
  rotateCheckPingKey,
  updateCheckRow,
  type Check,
  type CheckConfig,
} from '../db/check.repository';
import type { Db } from '../db/database';
import { findStartTime, insertPing, type Ping } from '../db/ping.repository';
import type { PingKind } from '../db/schema';
import { audited, diff, type ChangeDeps, type RecordChange } from './audit';
import { checkLabel as label, flipChange } from './check-flip';
import { applyPing, dueAt, lateAt, stateAt } from './check-state';
import { checkCron, checkTimezone } from './cron';
import { ConflictError, NotFoundError, ValidationError, type FieldProblem } from './errors';
import { isUuid } from './ids';
import { pgError, UNIQUE_VIOLATION } from '../db/postgres-error';

export const MAX_NAME = 140;
export const MAX_SERVER = 255;
export const MAX_DESCRIPTION = 10_000;
/** The longest period or grace: a year and a day. */
export const MAX_SECONDS = 366 * 86_400;
/** A check with neither a period nor a cron expects a ping a day (as healthchecks.io does). */
export const DEFAULT_PERIOD_SECONDS = 86_400;
export const DEFAULT_GRACE_SECONDS = 3_600;
/** A ping body is stored up to this many bytes of UTF-8; the rest is dropped, never refused. */
export const MAX_PING_BODY_BYTES = 100 * 1024;
/** How far ahead of the server's clock a ping's `at` may be (clocks drift). */
export const MAX_PING_SKEW_MS = 5 * 60_000;
const MAX_RUN_KEY = 140;

export interface CreateCheckInput {
  name: string;
  server?: string | null;
  description?: string | null;
  periodSeconds?: number | null;
  cron?: string | null;
  timezone?: string | null;
  graceSeconds?: number | null;
}

/** What the check fields of an input may hold: null and absent both mean "not given". */
type CheckFieldsInput = Omit<CreateCheckInput, 'name'> & { name?: string | null };

export interface UpdateCheckInput extends CheckFieldsInput {
  id: string;
}

function fail(problems: FieldProblem[]): void {
  if (problems.length > 0) throw new ValidationError(problems.map((p) => p.message).join(' '), problems);
}

const at = (field: string) => ['input', field];

function textProblems(field: string, label: string, value: string | undefined, max: number, required: boolean): FieldProblem[] {
  if (value === undefined) return [];
  if (required && value.length === 0) return [{ path: at(field), message: `Give the check a ${label}.` }];
  if (value.length > max) return [{ path: at(field), message: `The ${label} is ${value.length} characters long; the limit is ${max}.` }];
  if (value.includes('\0')) return [{ path: at(field), message: `The ${label} contains a NUL character; remove it.` }];
  return [];
}

function secondsProblems(field: string, label: string, value: number | undefined, min: number): FieldProblem[] {
  if (value === undefined || (Number.isInteger(value) && value >= min && value <= MAX_SECONDS)) return [];
  return [{ path: at(field), message: `The ${label} must be a whole number of seconds from ${min} to ${MAX_SECONDS} (a year and a day).` }];
}

/** The cron and timezone problems, as FieldProblems (checkCron throws one at a time). */
function cronProblems(cron: string | null, timezone: string, given: { cron: boolean; timezone: boolean }): FieldProblem[] {
  try {
    if (given.timezone) checkTimezone(timezone, 'input.timezone');
    if (cron !== null && given.cron) checkCron(cron, timezone, 'input.cron');
    return [];
  } catch (error) {
    if (error instanceof ValidationError) return error.fields;
    throw error;
  }
}

/** The summary kept in audit events (never the ping key). */
function summary(check: Check | CheckConfig): Record<string, unknown> {
  const { name, server, description, kind, periodSeconds, cron, timezone, graceSeconds } = check;
  return { name, server, description, kind, periodSeconds, cron, timezone, graceSeconds };
}

/** Maps the (name, server) unique index to a ConflictError. */
async function uniquely<T>(config: Pick<CheckConfig, 'name' | 'server'>, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    const { code, constraint } = pgError(error);
    if (code === UNIQUE_VIOLATION && constraint === 'checks_name_server_key') {
      throw new ConflictError(`A check named ${label(config)} already exists.`);
    }
    throw error;
  }
}

function notFound(id: string): NotFoundError {
  return new NotFoundError(`There is no check with id "${id}".`);
}

/** Reads and locks a check for a change, or says it is missing. */
async function existing(trx: Db, id: string): Promise<Check> {
  const check = isUuid(id) ? await lockCheck(trx, { id }) : undefined;
  if (!check) throw notFound(id);
  return check;
}

/** Validates and resolves a check's configuration from the input over `base` (the current one, on update). */
function resolveConfig(input: CheckFieldsInput, base: CheckConfig): CheckConfig {
  const name = input.name?.trim();
  const server = input.server === null ? undefined : input.server?.trim();
  const description = input.description ?? undefined;
  const periodSeconds = input.periodSeconds ?? undefined;
  const cron = input.cron?.trim() || undefined;
  const timezone = input.timezone ?? undefined;
  const graceSeconds = input.graceSeconds ?? undefined;
  const problems = [
    ...textProblems('name', 'name', name, MAX_NAME, true),
    ...textProblems('server', 'server', server, MAX_SERVER, false),
    ...textProblems('description', 'description', description, MAX_DESCRIPTION, false),
    ...secondsProblems('periodSeconds', 'period', periodSeconds, 1),
    ...secondsProblems('graceSeconds', 'grace period', graceSeconds, 0),
  ];
  if (input.cron !== undefined && input.cron !== null && cron === undefined) {
    problems.push({ path: at('cron'), message: 'The cron expression is empty: write one, or give periodSeconds instead.' });
  }
  if (periodSeconds !== undefined && cron !== undefined) {
    problems.push({ path: at('cron'), message: 'Give either periodSeconds or cron, not both.' });
  }
  const kind = cron !== undefined ? 'cron' : periodSeconds !== undefined ? 'period' : base.kind;
  const config: CheckConfig = {
    name: name ?? base.name,
    server: server ?? base.server,
    description: description ?? base.description,
    kind,
    // A check is either kind: switching clears the other's setting.
    periodSeconds: kind === 'period' ? (periodSeconds ?? base.periodSeconds) : null,
    cron: kind === 'cron' ? (cron ?? base.cron) : null,
    timezone: timezone ?? base.timezone,
    graceSeconds: graceSeconds ?? base.graceSeconds,
  };
  const timezoneGiven = timezone !== undefined;
  problems.push(...cronProblems(config.cron, config.timezone, { cron: cron !== undefined || timezoneGiven, timezone: timezoneGiven }));
  fail(problems);
  return config;
}

const NEW_CHECK: CheckConfig = {
  name: '',
  server: '',
  description: '',
  kind: 'period',
  periodSeconds: DEFAULT_PERIOD_SECONDS,
  cron: null,
  timezone: 'UTC',
  graceSeconds: DEFAULT_GRACE_SECONDS,
};

/** Inserts a check and records its creation. */
async function insertAudited(trx: Db, record: RecordChange, config: CheckConfig): Promise<Check> {
  const check = await insertCheck(trx, config);
  record({
    action: 'check.created',
    objectType: 'Check',
    objectId: check.id,
    objectName: check.name,
    summary: `Created check ${label(check)}`,
    details: { after: summary(check) },
  });
  return check;
}

export async function createCheck(deps: ChangeDeps, input: CreateCheckInput): Promise<Check> {
  const config = resolveConfig({ ...input, name: input.name ?? '' }, NEW_CHECK);
  return uniquely(config, () => audited(deps, (trx, record) => insertAudited(trx, record, config)));
}

export async function updateCheck(deps: ChangeDeps, input: UpdateCheckInput): Promise<Check> {
  // Validated before the lock, against what the check holds then; re-resolved under the lock.
  const before = isUuid(input.id) ? await findCheckById(deps.db, input.id) : undefined;
  if (!before) throw notFound(input.id);
  const config = resolveConfig(input, before);
  return uniquely(config, () =>
    audited(deps, async (trx, record) => {
      const current = await existing(trx, input.id);
      const next = resolveConfig(input, current);
      // New timing moves the due time, and with it maybe the state.
      const nextDueAt = dueAt(next, current);
      const state = stateAt({ ...current, ...next, nextDueAt }, new Date());
      const check = (await updateCheckRow(trx, current.id, { ...next, nextDueAt, state, lateAt: lateAt(next, { ...current, nextDueAt, state }) }))!;
      const changes = diff(summary(current), summary(check));
      record({
        action: 'check.updated',
        objectType: 'Check',
        objectId: check.id,
        objectName: check.name,
        summary: `Updated check ${label(check)}${Object.keys(changes.after).length ? `: ${Object.keys(changes.after).join(', ')}` : ' (no change)'}`,
        details: changes,
      });
      // New timing can flip it at once (a shorter period makes it late): alerting hears of that too.
      const flip = flipChange(check, current.state, check.state);
      if (flip) record(flip);
      return check;
    }),
  );
}

export async function deleteCheck(deps: ChangeDeps, id: string): Promise<Check> {
  return audited(deps, async (trx, record) => {
    const check = await existing(trx, id);
    await deleteCheckRow(trx, check.id);
    record({
      action: 'check.deleted',
      objectType: 'Check',
      objectId: check.id,
      objectName: check.name,
      summary: `Deleted check ${label(check)}`,
      details: { before: summary(check) },
    });
    return check;
  });
}

/** The outcome of pausing or resuming: `changed` is false when it already was so (nothing is written). */
export interface PauseResult {
  check: Check;
  changed: boolean;
}

/** Pauses a check: it stays `paused`, with no due time, whatever pings arrive, until resumed. */
export async function pauseCheck(deps: ChangeDeps, id: string): Promise<PauseResult> {
  return audited(deps, async (trx, record) => {
    const current = await existing(trx, id);
    if (current.state === 'paused') return { check: current, changed: false };
    const check = (await updateCheckRow(trx, current.id, { state: 'paused', nextDueAt: null, lateAt: null }))!;
    record({
      action: 'check.paused',
      objectType: 'Check',
      objectId: check.id,
      objectName: check.name,
      summary: `Paused check ${label(check)}`,
      details: { before: { state: current.state }, after: { state: 'paused' } },
    });
    return { check, changed: true };
  });
}

/** Resumes a paused check: it is `new`, with no due time, until its next ping. */
export async function resumeCheck(deps: ChangeDeps, id: string): Promise<PauseResult> {
  return audited(deps, async (trx, record) => {
    const current = await existing(trx, id);
    if (current.state !== 'paused') return { check: current, changed: false };
    // A run started before or during the pause is forgotten: it would otherwise be due at once.
    const check = (await updateCheckRow(trx, current.id, { state: 'new', nextDueAt: null, lateAt: null, lastStartAt: null }))!;
    record({
      action: 'check.resumed',
      objectType: 'Check',
      objectId: check.id,
      objectName: check.name,
      summary: `Resumed check ${label(check)}`,
      details: { before: { state: 'paused' }, after: { state: 'new' } },
    });
    return { check, changed: true };
  });
}

/** Gives a check a new ping key; the old ping URL stops working at once. */
export async function rotatePingKey(deps: ChangeDeps, id: string): Promise<Check> {
  return audited(deps, async (trx, record) => {
    const current = await existing(trx, id);
    const check = (await rotateCheckPingKey(trx, current.id))!;
    record({
      action: 'check.ping_key_rotated',
      objectType: 'Check',
      objectId: check.id,
      objectName: check.name,
      summary: `Rotated the ping key of check ${label(check)}`,
    });
    return check;
  });
}

export interface RecordPingInput {
  /** The check, by id or by its ping key: exactly one. */
  checkId?: string | null;
  pingKey?: string | null;
  kind: PingKind;
  /** With EXIT: 0 is a success, anything else a failure. Kept with the other kinds too. */
  exitCode?: number | null;
  body?: string | null;
  /** Pairs a START with its finish, so the run's duration is measured. */
  runKey?: string | null;
  /** When it happened; default now. No more than 5 minutes ahead of the server. */
  at?: Date | null;
  /** How it arrived: `graphql` (default), `http` (the ping URL), a REST dialect. */
  source?: string;
  remoteAddr?: string | null;
  userAgent?: string | null;
}

/** The first MAX_PING_BODY_BYTES bytes of `body`, cut on a character boundary. */
export function capBody(body: string): { body: string; truncated: boolean } {
  // PostgreSQL text cannot hold NUL: a body is output to keep, not input to refuse.
  const text = body.replaceAll('\0', '\uFFFD');
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= MAX_PING_BODY_BYTES) return { body: text, truncated: false };
  let end = MAX_PING_BODY_BYTES;
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--; // back off a continuation byte
  return { body: bytes.subarray(0, end).toString('utf8'), truncated: true };
}

function pingProblems(input: RecordPingInput, now: Date): FieldProblem[] {
  const problems: FieldProblem[] = [];
  if (!input.checkId === !input.pingKey) {
    problems.push({ path: at('checkId'), message: 'Name the check with either checkId or pingKey (exactly one).' });
  } else if (input.pingKey && !isUuid(input.pingKey)) {
    problems.push({ path: at('pingKey'), message: 'That is not a ping key: it is the UUID at the end of the check\'s ping URL.' });
  }
  if (input.kind === 'exit' && (input.exitCode === null || input.exitCode === undefined)) {
    problems.push({ path: at('exitCode'), message: 'An EXIT ping needs its exitCode (0 for success).' });
  }
  if (input.runKey && input.runKey.length > MAX_RUN_KEY) {
    problems.push({ path: at('runKey'), message: `The runKey is ${input.runKey.length} characters long; the limit is ${MAX_RUN_KEY}.` });
  } else if (input.runKey?.includes('\0')) {
    problems.push({ path: at('runKey'), message: 'The runKey contains a NUL character; remove it.' });
  }
  if (input.at && input.at.getTime() > now.getTime() + MAX_PING_SKEW_MS) {
    problems.push({ path: at('at'), message: `The time ${input.at.toISOString()} is in the future; a ping may be at most 5 minutes ahead of the server's clock.` });
  }
  return problems;
}

const clip = (value: string | null | undefined, max: number) => (value ? value.replaceAll('\0', '').slice(0, max) : null);

/**
 * Records one ping and applies it to its check, in one transaction with the check locked (pings
 * to one check never interleave). The ping itself is not audited (it is its own record), but a
 * state flip it causes is (`check.up`, `check.down`: see core/check-flip.ts), in the same
 * transaction. Returns the ping and the check after it.
 */
export async function recordPing(deps: ChangeDeps, input: RecordPingInput): Promise<{ ping: Ping; check: Check }> {
  const now = new Date();
  fail(pingProblems(input, now));
  const runKey = input.runKey || null;
  const receivedAt = input.at ?? now;
  const { body, truncated } = input.body ? capBody(input.body) : { body: null, truncated: false };
  return audited(deps, async (trx, record) => {
    const { checkId, pingKey } = input;
    const check = checkId
      ? isUuid(checkId) ? await lockCheck(trx, { id: checkId }) : undefined
      : await lockCheck(trx, { pingKey: pingKey!.toLowerCase() });
    if (!check) {
      throw input.checkId ? notFound(input.checkId) : new NotFoundError('No check has this ping key: it may have been rotated or the check deleted.');
    }
    return pingLocked(trx, record, check, input, { runKey, receivedAt, body, truncated });
  });
}

/** Records a ping for a check locked in this transaction, and applies it. */
async function pingLocked(
  trx: Db,
  record: RecordChange,
  check: Check,
  input: Pick<RecordPingInput, 'kind' | 'exitCode' | 'source' | 'remoteAddr' | 'userAgent'>,
  { runKey, receivedAt, body, truncated }: { runKey: string | null; receivedAt: Date; body: string | null; truncated: boolean },
): Promise<{ ping: Ping; check: Check }> {
  {
    const finish = input.kind !== 'start' && input.kind !== 'log';
    const pairedStartAt = !finish ? null : runKey ? ((await findStartTime(trx, check.id, runKey, receivedAt)) ?? null) : check.lastStartAt;
    const effect = applyPing(check, { kind: input.kind, exitCode: input.exitCode ?? null, at: receivedAt, runKey }, pairedStartAt);
    const ping = await insertPing(trx, {
      checkId: check.id,
      kind: input.kind,
      exitCode: input.exitCode ?? null,
      body,
      bodyTruncated: truncated,
      runKey,
      durationMs: effect.durationMs,
      source: input.source ?? 'graphql',
      remoteAddr: clip(input.remoteAddr, 100),
      userAgent: clip(input.userAgent, 1000),
      receivedAt,
    });
    if (input.kind === 'log') return { ping, check };
    const updated = (await updateCheckRow(trx, check.id, { ...effect.status, lateAt: lateAt(check, effect.status) }))!;
    const flip = flipChange(updated, check.state, updated.state);
    if (flip) record(flip);
    return { ping, check: updated };
  }
}

/** Scripto's words for a check's period. */
export const PERIODICITY_SECONDS = { hourly: 3_600, daily: 86_400, weekly: 7 * 86_400, monthly: 30 * 86_400 } as const;

export interface CheckInInput {
  /** The check's number; absent to create a check. */
  number?: number | null;
  name?: string | null;
  server?: string | null;
  periodSeconds?: number | null;
  /** The outcome reported; with `at`, a ping is recorded (absent: the check's last outcome, or success). */
  success?: boolean | null;
  /** When the script ran; default now. */
  at?: Date | null;
  source?: string;
  remoteAddr?: string | null;
  userAgent?: string | null;
}

/**
 * A script reporting in by itself (Scripto): creates the check, or changes the given fields of
 * the check with that number, and records the report as a ping — all in one transaction. A
 * report that changes nothing but the outcome costs one locked read, one insert and one update.
 */
export async function checkIn(deps: ChangeDeps, input: CheckInInput): Promise<Check> {
  const now = new Date();
  const reported = input.success != null || input.at != null;
  if (input.at && input.at.getTime() > now.getTime() + MAX_PING_SKEW_MS) {
    fail([{ path: at('at'), message: `The time ${input.at.toISOString()} is in the future; a report may be at most 5 minutes ahead of the server's clock.` }]);
  }
  const fields: CheckFieldsInput = { name: input.name, server: input.server, periodSeconds: input.periodSeconds };
  const ping = (check: Check) => ({
    kind: (input.success ?? check.lastSuccess ?? true) ? ('success' as const) : ('fail' as const),
    source: input.source ?? 'graphql',
    remoteAddr: input.remoteAddr,
    userAgent: input.userAgent,
  });
  const times = { runKey: null, receivedAt: input.at ?? now, body: null, truncated: false };
  if (input.number == null) {
    const config = resolveConfig({ ...fields, name: input.name ?? '' }, NEW_CHECK);
    return uniquely(config, () =>
      audited(deps, async (trx, record) => {
        const created = await insertAudited(trx, record, config);
        return reported ? (await pingLocked(trx, record, created, ping(created), times)).check : created;
      }),
    );
  }
  const number = input.number;
  const changes = Object.values(fields).some((value) => value != null);
  const run = () =>
    audited(deps, async (trx, record) => {
      let check = await lockCheck(trx, { number });
      if (!check) throw new NotFoundError(`There is no check number ${number}.`);
      if (changes) {
        const next = resolveConfig(fields, check);
        const changed = diff(summary(check), summary({ ...check, ...next }));
        if (Object.keys(changed.after).length > 0) {
          const nextDueAt = dueAt(next, check);
          const state = stateAt({ ...check, ...next, nextDueAt }, now);
          const before = check;
          check = (await updateCheckRow(trx, check.id, { ...next, nextDueAt, state, lateAt: lateAt(next, { ...check, nextDueAt, state }) }))!;
          record({
            action: 'check.updated',
            objectType: 'Check',
            objectId: check.id,
            objectName: check.name,
            summary: `Updated check ${label(check)}: ${Object.keys(changed.after).join(', ')}`,
            details: changed,
          });
          const flip = flipChange(check, before.state, check.state);
          if (flip) record(flip);
        }
      }
      return reported ? (await pingLocked(trx, record, check, ping(check), times)).check : check;
    });
  return changes ? uniquely({ name: input.name ?? '', server: input.server ?? '' }, run) : run();
}
