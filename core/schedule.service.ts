/**
 * Schedules: when (a cron in a timezone, an interval, or one moment) and where (hosts or groups;
 * none means the server's own `local` host) a script runs. Every save validates the whole
 * schedule and stores its next run (`nextRunAt`), which the scheduler reads.
 */
import type { Db } from '../db/database';
import {
  deleteSchedule as deleteScheduleRow,
  findLocalHostId,
  findMissingIds,
  findScheduleTargetIds,
  insertSchedule,
  lockSchedule,
  setScheduleTargets,
  updateSchedule as updateScheduleRow,
  type Schedule,
  type ScheduleValues,
} from '../db/schedule.repository';
import { findScriptsByIds, type Script } from '../db/script.repository';
import type { MissedPolicy, OverlapPolicy, ScheduleKind, TargetMode, TargetStrategy } from '../db/schema';
import { withdrawEarlyRuns } from '../db/firing.repository';
import type { Run } from '../db/run.repository';
import { audited, diff, type ChangeDeps, type RecordChange } from './audit';
import { canonicalTimezone, checkCron, checkTimezone } from './cron';
import { ConflictError, NotFoundError, ValidationError, type FieldProblem } from './errors';
import { computeNextRun, type WhenColumns } from './schedule-timing';
import { FOREIGN_KEY_VIOLATION, pgError, UNIQUE_VIOLATION } from '../db/postgres-error';

export const NAME_MAX = 140;
export const DESCRIPTION_MAX = 10_000;
/** Longest interval: a year (longer gaps are a cron's or a one-shot's job). */
export const INTERVAL_MAX_SECONDS = 366 * 86_400;
/** Longest stagger between hosts, and longest missed-run window. */
export const STAGGER_MAX_SECONDS = 86_400;
export const MISSED_WINDOW_MAX_SECONDS = 366 * 86_400;
export const PARAMETERS_MAX = 100;
export const PARAMETER_VALUE_MAX = 10_000;

/** When a schedule fires; give exactly the fields of its kind. */
export interface ScheduleWhen {
  kind: ScheduleKind;
  /** CRON: 5 fields, or 6 with seconds first. */
  cron?: string | null;
  /** CRON: the IANA zone the cron is read in. Default UTC. */
  timezone?: string | null;
  /** INTERVAL: seconds between runs, at least 1. */
  intervalSeconds?: number | null;
  /** ONCE: the moment, in the future. */
  runAt?: Date | null;
}

export interface ScheduleParameter {
  name: string;
  value: string;
}

/** Settings shared by create and update; on update, only those given change. */
export interface ScheduleSettings {
  name?: string;
  description?: string;
  when?: ScheduleWhen;
  /** Hosts to run on (decoded ids). Give hosts or groups, not both; neither means `local`. */
  hostIds?: string[];
  groupIds?: string[];
  targetMode?: TargetMode;
  targetStrategy?: TargetStrategy;
  staggerSeconds?: number;
  enabled?: boolean;
  missedPolicy?: MissedPolicy;
  missedWindowSeconds?: number;
  overlapPolicy?: OverlapPolicy;
  parameters?: ScheduleParameter[];
}

export interface CreateScheduleInput extends ScheduleSettings {
  name: string;
  scriptId: string;
  when: ScheduleWhen;
  /** The script was made for this schedule alone (an ndscheduler job, core/job.service.ts). Default false. */
  ownsScript?: boolean;
}

export interface UpdateScheduleInput extends ScheduleSettings {
  id: string;
  /** Accepted only when it is the schedule's own script: a schedule cannot change script. */
  scriptId?: string;
}

// ---------------------------------------------------------------------------------------------
// Validation

const at = (...path: string[]) => ['input', ...path];

/** Runs a check that throws a ValidationError, adding its problems to `problems` instead. */
function collect(problems: FieldProblem[], check: () => void): void {
  try {
    check();
  } catch (error) {
    if (!(error instanceof ValidationError)) throw error;
    problems.push(...error.fields);
  }
}

function throwIfAny(problems: FieldProblem[]): void {
  if (problems.length > 0) throw new ValidationError(problems.map((p) => p.message).join(' '), problems);
}

function textProblems(value: string | undefined, field: string, label: string, max: number, required: boolean): FieldProblem[] {
  if (value === undefined) return [];
  const path = at(field);
  if (required && value.trim().length === 0) return [{ path, message: `Give the schedule a ${label}.` }];
  if (value.length > max) return [{ path, message: `A schedule ${label} is at most ${max.toLocaleString('en')} characters.` }];
  if (value.includes('\0')) return [{ path, message: `A schedule ${label} cannot contain a NUL character.` }];
  return [];
}

function rangeProblems(value: number | undefined, field: string, min: number, max: number, unit = 'seconds'): FieldProblem[] {
  if (value === undefined || (Number.isInteger(value) && value >= min && value <= max)) return [];
  return [{ path: at(field), message: `${field} must be a whole number of ${unit} from ${min} to ${max.toLocaleString('en')}.` }];
}

const KIND_FIELDS: Record<ScheduleKind, (keyof ScheduleWhen)[]> = {
  cron: ['cron', 'timezone'],
  interval: ['intervalSeconds'],
  once: ['runAt'],
};
const KIND_NAMES: Record<ScheduleKind, string> = { cron: 'CRON', interval: 'INTERVAL', once: 'ONCE' };

/** Checks `when` and returns its columns (cron tidied, timezone spelled canonically). */
function resolveWhen(when: ScheduleWhen, now: Date, problems: FieldProblem[]): WhenColumns | undefined {
  const kind = KIND_NAMES[when.kind];
  const before = problems.length;
  const given = (field: keyof ScheduleWhen) => when[field] !== undefined && when[field] !== null;
  const extra = (['cron', 'timezone', 'intervalSeconds', 'runAt'] as const).filter((f) => given(f) && !KIND_FIELDS[when.kind].includes(f));
  if (extra.length > 0) {
    const wanted = KIND_FIELDS[when.kind].join(' and ');
    problems.push({
      path: at('when', extra[0]!),
      message: `${kind} schedules take only ${wanted}: leave out ${extra.join(' and ')}.`,
    });
  }
  const columns: WhenColumns = { kind: when.kind, cron: null, timezone: 'UTC', intervalSeconds: null, runAt: null };
  if (when.kind === 'cron') {
    const timezone = when.timezone ?? 'UTC';
    const canonical = canonicalTimezone(timezone);
    collect(problems, () => checkTimezone(timezone, 'input.when.timezone'));
    if (!given('cron')) problems.push({ path: at('when', 'cron'), message: 'A CRON schedule needs a cron expression, e.g. "0 9 * * 1-5".' });
    else if (canonical) collect(problems, () => checkCron(when.cron!, canonical, 'input.when.cron'));
    columns.cron = when.cron?.trim().split(/\s+/).join(' ') ?? null;
    columns.timezone = canonical ?? timezone;
  } else if (when.kind === 'interval') {
    if (!given('intervalSeconds')) problems.push({ path: at('when', 'intervalSeconds'), message: 'An INTERVAL schedule needs intervalSeconds.' });
    else problems.push(...rangeProblems(when.intervalSeconds!, 'intervalSeconds', 1, INTERVAL_MAX_SECONDS).map((p) => ({ ...p, path: at('when', 'intervalSeconds') })));
    columns.intervalSeconds = when.intervalSeconds ?? null;
  } else {
    if (!given('runAt')) problems.push({ path: at('when', 'runAt'), message: 'A ONCE schedule needs runAt, the moment to run.' });
    else if (when.runAt! <= now) {
      problems.push({ path: at('when', 'runAt'), message: `runAt (${when.runAt!.toISOString()}) is in the past: give a moment in the future.` });
    }
    columns.runAt = when.runAt ?? null;
  }
  return problems.length === before ? columns : undefined;
}

function parameterProblems(parameters: ScheduleParameter[] | undefined): FieldProblem[] {
  if (parameters === undefined) return [];
  const problems: FieldProblem[] = [];
  if (parameters.length > PARAMETERS_MAX) problems.push({ path: at('parameters'), message: `A schedule has at most ${PARAMETERS_MAX} parameters.` });
  const seen = new Set<string>();
  parameters.forEach((p, i) => {
    const path = at('parameters', String(i));
    if (p.name.trim().length === 0) problems.push({ path: [...path, 'name'], message: `Parameter ${i + 1} needs a name.` });
    else if (p.name.length > NAME_MAX || p.name.includes('\0')) {
      problems.push({ path: [...path, 'name'], message: `Parameter ${i + 1}: a name is at most ${NAME_MAX} characters, without NUL characters.` });
    } else if (seen.has(p.name)) problems.push({ path: [...path, 'name'], message: `The parameter "${p.name}" is given twice.` });
    seen.add(p.name);
    if (p.value.length > PARAMETER_VALUE_MAX || p.value.includes('\0')) {
      problems.push({
        path: [...path, 'value'],
        message: `Parameter "${p.name.slice(0, 40)}": a value is at most ${PARAMETER_VALUE_MAX.toLocaleString('en')} characters, without NUL characters.`,
      });
    }
  });
  return problems;
}

/** Problems that need no database: everything but ids that may not exist. */
function settingsProblems(input: ScheduleSettings, now: Date): { problems: FieldProblem[]; when?: WhenColumns } {
  const problems = [
    ...textProblems(input.name, 'name', 'name', NAME_MAX, true),
    ...textProblems(input.description, 'description', 'description', DESCRIPTION_MAX, false),
  ];
  const when = input.when && resolveWhen(input.when, now, problems);
  if (input.hostIds?.length && input.groupIds?.length) {
    problems.push({ path: at('groupIds'), message: 'Give hosts or groups, not both.' });
  }
  problems.push(
    ...rangeProblems(input.staggerSeconds, 'staggerSeconds', 0, STAGGER_MAX_SECONDS),
    ...rangeProblems(input.missedWindowSeconds, 'missedWindowSeconds', 0, MISSED_WINDOW_MAX_SECONDS),
    ...parameterProblems(input.parameters),
  );
  return { problems, when };
}

/** Stagger spaces out the starts of ALL the hosts; with ONE host it means nothing. */
function staggerProblems(mode: TargetMode, stagger: number): FieldProblem[] {
  if (mode === 'all' || stagger <= 0) return []; // a negative one is reported as out of range
  return [{ path: at('staggerSeconds'), message: 'staggerSeconds applies only when targetMode is ALL: leave it out (or 0) with ONE.' }];
}

// ---------------------------------------------------------------------------------------------
// Changes

/** What the audit log keeps of a schedule. */
function summary(s: Schedule, targets: { hostIds: string[]; groupIds: string[] }): Record<string, unknown> {
  return {
    name: s.name,
    description: s.description,
    scriptId: s.scriptId,
    kind: s.kind,
    cron: s.cron,
    timezone: s.timezone,
    intervalSeconds: s.intervalSeconds,
    runAt: s.runAt?.toISOString() ?? null,
    hostIds: targets.hostIds,
    groupIds: targets.groupIds,
    targetMode: s.targetMode,
    targetStrategy: s.targetStrategy,
    staggerSeconds: s.staggerSeconds,
    enabled: s.enabled,
    missedPolicy: s.missedPolicy,
    missedWindowSeconds: s.missedWindowSeconds,
    overlapPolicy: s.overlapPolicy,
    parameters: s.parameters,
    nextRunAt: s.nextRunAt?.toISOString() ?? null,
  };
}

const toObject = (parameters: ScheduleParameter[]) => Object.fromEntries(parameters.map((p) => [p.name, p.value]));

function listIds(ids: string[]): string {
  return ids.map((id) => `"${id}"`).join(', ');
}

/** The hosts and groups to store, after checking they exist. No targets means the local host. */
async function resolveTargets(db: Db, hostIds: string[], groupIds: string[]): Promise<{ hostIds: string[]; groupIds: string[] }> {
  const [missingHosts, missingGroups] = await Promise.all([findMissingIds(db, 'hosts', hostIds), findMissingIds(db, 'groups', groupIds)]);
  const missing = [
    ...(missingHosts.length ? [`${missingHosts.length === 1 ? 'host' : 'hosts'} ${listIds(missingHosts)}`] : []),
    ...(missingGroups.length ? [`${missingGroups.length === 1 ? 'group' : 'groups'} ${listIds(missingGroups)}`] : []),
  ];
  if (missing.length > 0) throw new NotFoundError(`These do not exist: ${missing.join('; ')}.`);
  if (hostIds.length === 0 && groupIds.length === 0) return { hostIds: [await findLocalHostId(db)], groupIds: [] };
  return { hostIds: [...hostIds].sort(), groupIds: [...groupIds].sort() };
}

/** Turns the database's refusals into domain errors a person can act on. */
function translate(error: unknown, name: string | undefined): unknown {
  const { code } = pgError(error);
  if (code === UNIQUE_VIOLATION) return new ConflictError(`A schedule named "${name}" already exists.`);
  if (code === FOREIGN_KEY_VIOLATION) return new NotFoundError('A script, host or group this schedule names was deleted meanwhile; reload and try again.');
  return error;
}

async function findScript(db: Db, id: string): Promise<Script> {
  const [script] = await findScriptsByIds(db, [id]);
  if (!script) throw new NotFoundError(`There is no script with id "${id}".`);
  return script;
}

/** A schedule's runs get its parameters, so each must be one the script declares. */
function checkDeclared(script: Script, parameters: ScheduleParameter[] | undefined): void {
  const declared = Object.keys(script.parameters);
  const known = declared.length ? `its parameters are ${declared.map((n) => `"${n}"`).join(', ')}` : 'it takes no parameters';
  throwIfAny(
    (parameters ?? []).flatMap((p, i) =>
      Object.hasOwn(script.parameters, p.name)
        ? []
        : [{ path: at('parameters', String(i), 'name'), message: `Script "${script.name}" has no parameter "${p.name.slice(0, 60)}": ${known}.` }],
    ),
  );
}

async function existing(trx: Db, id: string): Promise<Schedule> {
  const schedule = await lockSchedule(trx, id);
  if (!schedule) throw new NotFoundError(`There is no schedule with id "${id}".`);
  return schedule;
}

export async function createSchedule(deps: ChangeDeps, input: CreateScheduleInput): Promise<Schedule> {
  const now = new Date();
  const { problems, when } = settingsProblems(input, now);
  const targetMode = input.targetMode ?? 'one';
  const staggerSeconds = input.staggerSeconds ?? 0;
  problems.push(...staggerProblems(targetMode, staggerSeconds));
  throwIfAny(problems);
  try {
    return await audited(deps, async (trx, record) => {
      checkDeclared(await findScript(trx, input.scriptId), input.parameters);
      const targets = await resolveTargets(trx, input.hostIds ?? [], input.groupIds ?? []);
      const enabled = input.enabled ?? true;
      const values: ScheduleValues = {
        name: input.name.trim(),
        description: input.description ?? '',
        scriptId: input.scriptId,
        ...when!,
        targetMode,
        targetStrategy: input.targetStrategy ?? 'random',
        staggerSeconds,
        enabled,
        missedPolicy: input.missedPolicy ?? 'none',
        missedWindowSeconds: input.missedWindowSeconds ?? 3600,
        overlapPolicy: input.overlapPolicy ?? 'allow',
        parameters: toObject(input.parameters ?? []),
        ownsScript: input.ownsScript ?? false,
        nextRunAt: computeNextRun({ ...when!, enabled, lastRunAt: null }, now),
      };
      const schedule = await insertSchedule(trx, values);
      await setScheduleTargets(trx, schedule.id, targets.hostIds, targets.groupIds);
      record({
        action: 'schedule.created',
        objectType: 'Schedule',
        objectId: schedule.id,
        objectName: schedule.name,
        summary: `Created schedule "${schedule.name}"`,
        details: { after: summary(schedule, targets) },
      });
      return schedule;
    });
  } catch (error) {
    throw translate(error, input.name.trim());
  }
}

export async function updateSchedule(deps: ChangeDeps, input: UpdateScheduleInput): Promise<Schedule> {
  const now = new Date();
  const { problems, when } = settingsProblems(input, now);
  throwIfAny(problems);
  const name = input.name?.trim();
  let withdrawn: Run[] = [];
  try {
    const updated = await audited(deps, async (trx, record) => {
      const before = await existing(trx, input.id);
      if (input.scriptId !== undefined && input.scriptId !== before.scriptId) {
        const message = 'A schedule cannot change its script (as in Otto): create a new schedule for the other script.';
        throw new ValidationError(message, [{ path: at('scriptId'), message }]);
      }
      const targetMode = input.targetMode ?? before.targetMode;
      // Switching to ONE drops a stagger that no longer means anything.
      const staggerSeconds = input.staggerSeconds ?? (targetMode === 'one' ? 0 : before.staggerSeconds);
      throwIfAny(staggerProblems(targetMode, staggerSeconds));
      if (input.parameters) checkDeclared(await findScript(trx, before.scriptId), input.parameters);

      const beforeTargets = await findScheduleTargetIds(trx, before.id);
      let targets = beforeTargets;
      const retarget = input.hostIds !== undefined || input.groupIds !== undefined;
      if (retarget) {
        targets = await resolveTargets(trx, input.hostIds ?? [], input.groupIds ?? []);
        await setScheduleTargets(trx, before.id, targets.hostIds, targets.groupIds);
      }
      const whenColumns = when ?? before;
      const enabled = input.enabled ?? before.enabled;
      const retime = when !== undefined || retarget || input.enabled !== undefined;
      if (retime) withdrawn = await withdrawEarlyRuns(trx, before.id);
      const after = await updateScheduleRow(trx, before.id, {
        name,
        description: input.description,
        ...(when ?? {}),
        targetMode,
        targetStrategy: input.targetStrategy,
        staggerSeconds,
        enabled,
        missedPolicy: input.missedPolicy,
        missedWindowSeconds: input.missedWindowSeconds,
        overlapPolicy: input.overlapPolicy,
        parameters: input.parameters && toObject(input.parameters),
        nextRunAt: retime ? computeNextRun({ ...whenColumns, enabled, lastRunAt: before.lastRunAt }, now) : undefined,
      });
      record({
        action: 'schedule.updated',
        objectType: 'Schedule',
        objectId: after!.id,
        objectName: after!.name,
        summary: `Changed schedule "${after!.name}"`,
        details: diff(summary(before, beforeTargets), summary(after!, targets)),
      });
      return after!;
    });
    if (withdrawn.length > 0) deps.onRunsDeleted?.(withdrawn);
    return updated;
  } catch (error) {
    throw translate(error, name);
  }
}

export async function deleteSchedule(deps: ChangeDeps, id: string): Promise<Schedule> {
  let withdrawn: Run[] = [];
  const deleted = await audited(deps, async (trx, record) => {
    const schedule = await existing(trx, id);
    const targets = await findScheduleTargetIds(trx, id);
    withdrawn = await withdrawEarlyRuns(trx, id);
    await deleteScheduleRow(trx, id); // its targets and occurrences go with it; its runs keep a null schedule
    record({
      action: 'schedule.deleted',
      objectType: 'Schedule',
      objectId: schedule.id,
      objectName: schedule.name,
      summary: `Deleted schedule "${schedule.name}"`,
      details: { before: summary(schedule, targets) },
    });
    return schedule;
  });
  if (withdrawn.length > 0) deps.onRunsDeleted?.(withdrawn);
  return deleted;
}

/** Pauses (enabled = false) or resumes a schedule. Already in that state: unchanged, no event. */
export async function setScheduleEnabled(deps: ChangeDeps, id: string, enabled: boolean): Promise<Schedule> {
  let withdrawn: Run[] = [];
  const changed = await audited(deps, async (trx, record: RecordChange) => {
    const before = await existing(trx, id);
    if (before.enabled === enabled) return before;
    withdrawn = await withdrawEarlyRuns(trx, id);
    const after = (await updateScheduleRow(trx, id, { enabled, nextRunAt: computeNextRun({ ...before, enabled }) }))!;
    const verb = enabled ? 'resumed' : 'paused';
    record({
      action: `schedule.${verb}`,
      objectType: 'Schedule',
      objectId: after.id,
      objectName: after.name,
      summary: `${enabled ? 'Resumed' : 'Paused'} schedule "${after.name}"`,
      details: diff({ enabled: before.enabled, nextRunAt: before.nextRunAt?.toISOString() ?? null }, { enabled, nextRunAt: after.nextRunAt?.toISOString() ?? null }),
    });
    return after;
  });
  if (withdrawn.length > 0) deps.onRunsDeleted?.(withdrawn);
  return changed;
}
