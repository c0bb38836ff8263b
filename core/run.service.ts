/**
 * Runs: starting them (queued, one per target host), cancelling, recording runs that happened
 * outside Runboard and correcting them, deleting, and appending output. Every change by a person
 * is audited in its own transaction; listeners hear of it (`RunNotifier`) only after the commit.
 */
import { findChecksByIds } from '../db/check.repository';
import type { Db } from '../db/database';
import { findGroupsByIds } from '../db/group.repository';
import { findHostsByIds, type Host } from '../db/host.repository';
import { agentOutputSeq, appendChunks, type OutputChunk, type OutputStream } from '../db/run-output.repository';
import {
  deleteRunUnless,
  findGroupHosts,
  findHostByName,
  findLocalHost,
  findRunById,
  findScriptByName,
  insertRuns,
  lockRun,
  transitionRun,
  type NewRun,
  type Run,
  type RunPatch,
  type Stamp,
} from '../db/run.repository';
import type { RunState } from '../db/schema';
import { findSchedulesByIds } from '../db/schedule.repository';
import { findScriptsByIds, type Script } from '../db/script.repository';
import { audited, diff, type ChangeDeps } from './audit';
import { ConflictError, NotFoundError, ValidationError, type FieldProblem } from './errors';
import { ACTIVE_STATES, isActive, isTerminal, statesBefore } from './run-state';
import { FOREIGN_KEY_VIOLATION, pgError } from '../db/postgres-error';

export const NAME_MAX = 140;
export const SUMMARY_MAX = 10_000;
export const PARAMETER_VALUE_MAX = 10_000;
/** `external` as JSON text. */
export const EXTERNAL_MAX = 100_000;

/** What subscribers hear about a run: plain JSON, so it can cross NOTIFY between instances. */
export interface RunUpdatedMessage {
  id: string;
  state: RunState;
  scriptId: string | null;
  hostId: string | null;
  scheduleId: string | null;
  deleted: boolean;
}

/** One chunk of output as subscribers hear it (`createdAt` as ISO text). */
export interface RunOutputMessage {
  runId: string;
  seq: number;
  stream: OutputStream;
  offset: number;
  data: string;
  createdAt: string;
}

/** Tells subscribers about runs; called only after the change has committed. */
export interface RunNotifier {
  runUpdated(run: Run, deleted?: boolean): void;
  runOutput(chunk: OutputChunk): void;
}

export function runUpdatedMessage(run: Run, deleted = false): RunUpdatedMessage {
  return { id: run.id, state: run.state, scriptId: run.scriptId, hostId: run.hostId, scheduleId: run.scheduleId, deleted };
}

export function runOutputMessage(chunk: OutputChunk): RunOutputMessage {
  return { ...chunk, createdAt: chunk.createdAt.toISOString() };
}

/** Who asked for a run. */
export interface Caller {
  userId: string | null;
  username: string;
  /** An API key was used: the run's trigger is `api` rather than `manual`. */
  viaApiKey: boolean;
}

function check(problems: FieldProblem[]): void {
  if (problems.length > 0) throw new ValidationError(problems.map((p) => p.message).join(' '), problems);
}

function textProblems(value: string | null | undefined, path: string[], label: string, max: number, required = false): FieldProblem[] {
  if (value === null || value === undefined) return required ? [{ path, message: `Give ${label}.` }] : [];
  if (required && value.trim() === '') return [{ path, message: `${capitalize(label)} cannot be empty.` }];
  if (value.length > max) return [{ path, message: `${capitalize(label)} is at most ${max} characters.` }];
  if (value.includes('\0')) return [{ path, message: `${capitalize(label)} cannot contain a NUL character.` }];
  return [];
}

const capitalize = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

/** "the run of "backup" on "web-1"" — how messages name a run. */
export function describeRun(run: Run): string {
  return `the run of "${run.scriptName}"${run.hostName ? ` on "${run.hostName}"` : ''}`;
}

/** What the audit log keeps of a run. */
function runSummary(run: Run): Record<string, unknown> {
  return {
    script: run.scriptName,
    host: run.hostName,
    state: run.state,
    trigger: run.trigger,
    parameters: run.parameters,
    exitCode: run.exitCode,
    summary: run.summary,
    startedAt: run.startedAt?.toISOString() ?? null,
    finishedAt: run.finishedAt?.toISOString() ?? null,
  };
}

async function existing<T>(load: Promise<T[]>, what: string, id: string): Promise<T> {
  const [found] = await load;
  if (!found) throw new NotFoundError(`There is no ${what} with id "${id}".`);
  return found;
}

/** Inserts runs; a script, host or check deleted since it was looked up is a NotFoundError. */
async function insertRunsOf(db: Db, runs: NewRun[]): Promise<Run[]> {
  try {
    return await insertRuns(db, runs);
  } catch (error) {
    if (pgError(error).code === FOREIGN_KEY_VIOLATION) {
      throw new NotFoundError('The script, host or check of this run was deleted a moment ago; check it and try again.');
    }
    throw error;
  }
}

async function existingRun(db: Db, id: string): Promise<Run> {
  const run = await findRunById(db, id);
  if (!run) throw new NotFoundError(`There is no run with id "${id}".`);
  return run;
}

// Starting runs

export interface StartRunInput {
  /** The script; it may be left out when scheduleId is given (then it is the schedule's). */
  scriptId?: string | null;
  /** One host; or */
  hostId?: string | null;
  /** every host of a group (one run each). Neither: the local host. */
  groupId?: string | null;
  parameters?: { name: string; value: string }[] | null;
  /** Runs it for this schedule of the script, now (ndscheduler's "run a job"): the runs link to it. */
  scheduleId?: string | null;
}

function parameterProblems(given: readonly { name: string; value: string }[]): FieldProblem[] {
  const problems: FieldProblem[] = [];
  const seen = new Set<string>();
  given.forEach((p, i) => {
    const path = ['input', 'parameters', String(i)];
    problems.push(...textProblems(p.name, [...path, 'name'], 'a parameter name', NAME_MAX, true));
    problems.push(...textProblems(p.value, [...path, 'value'], `the value of parameter "${p.name.slice(0, 40)}"`, PARAMETER_VALUE_MAX));
    if (seen.has(p.name)) problems.push({ path: [...path, 'name'], message: `Parameter "${p.name}" is given twice.` });
    seen.add(p.name);
  });
  return problems;
}

/** The script's parameters with the given values over its defaults; unknown names are errors. */
function runParameters(script: Script, given: readonly { name: string; value: string }[]): Record<string, string> {
  const declared = Object.keys(script.parameters);
  const problems: FieldProblem[] = [];
  given.forEach((p, i) => {
    if (!Object.hasOwn(script.parameters, p.name)) {
      const known = declared.length ? `its parameters are ${declared.map((n) => `"${n}"`).join(', ')}` : 'it takes no parameters';
      problems.push({ path: ['input', 'parameters', String(i), 'name'], message: `Script "${script.name}" has no parameter "${p.name}": ${known}.` });
    }
  });
  check(problems);
  const values: Record<string, string> = {};
  for (const [name, value] of Object.entries(script.parameters)) values[name] = String(value ?? '');
  for (const p of given) values[p.name] = p.value;
  return values;
}

async function targetHosts(db: Db, input: StartRunInput): Promise<Host[]> {
  if (input.hostId) {
    const host = await existing(findHostsByIds(db, [input.hostId]), 'host', input.hostId);
    if (!host.enabled) throw new ConflictError(`Host "${host.name}" is disabled; enable it to run scripts on it.`);
    return [host];
  }
  if (input.groupId) {
    const group = await existing(findGroupsByIds(db, [input.groupId]), 'group', input.groupId);
    const hosts = (await findGroupHosts(db, group.id)).filter((host) => host.enabled);
    if (hosts.length === 0) throw new ConflictError(`Group "${group.name}" has no enabled hosts to run on.`);
    return hosts;
  }
  const local = await findLocalHost(db);
  if (!local) throw new NotFoundError('The local host is missing; give a hostId or a groupId.');
  if (!local.enabled) throw new ConflictError(`Host "${local.name}" is disabled; enable it or give another host.`);
  return [local];
}

/** Queues a run of a script on one host, on every enabled host of a group, or on the local host. */
export async function startRun(deps: ChangeDeps, caller: Caller, input: StartRunInput): Promise<Run[]> {
  const given = input.parameters ?? [];
  const problems = parameterProblems(given);
  if (input.hostId && input.groupId) {
    problems.push({ path: ['input', 'groupId'], message: 'Give a hostId or a groupId, not both.' });
  }
  if (!input.scriptId && !input.scheduleId) problems.push({ path: ['input', 'scriptId'], message: 'Give the script to run (or a schedule of it).' });
  check(problems);
  return audited(deps, async (trx, record) => {
    const schedule = input.scheduleId ? await existing(findSchedulesByIds(trx, [input.scheduleId]), 'schedule', input.scheduleId) : null;
    const scriptId = input.scriptId ?? schedule!.scriptId;
    const script = await existing(findScriptsByIds(trx, [scriptId]), 'script', scriptId);
    if (schedule && schedule.scriptId !== script.id) {
      const message = `Schedule "${schedule.name}" runs another script than "${script.name}".`;
      throw new ValidationError(message, [{ path: ['input', 'scheduleId'], message }]);
    }
    if (!script.enabled) throw new ConflictError(`Script "${script.name}" is disabled; enable it to run it.`);
    const parameters = runParameters(script, given);
    const hosts = await targetHosts(trx, input);
    const runs = await insertRunsOf(
      trx,
      hosts.map((host) => ({
        scriptId: script.id,
        scriptName: script.name,
        hostId: host.id,
        hostName: host.name,
        trigger: caller.viaApiKey ? 'api' : 'manual',
        triggeredByUserId: caller.userId,
        triggeredBy: caller.username,
        parameters,
        scheduleId: schedule?.id ?? null,
      })),
    );
    for (const run of runs) {
      record({
        action: 'run.started',
        objectType: 'Run',
        objectId: run.id,
        objectName: run.scriptName,
        summary: `Started "${run.scriptName}" on "${run.hostName}"${schedule ? ` for schedule "${schedule.name}"` : ''}`,
        details: { after: runSummary(run), ...(schedule && { scheduleId: schedule.id, schedule: schedule.name }) },
      });
    }
    return runs;
  });
}

/**
 * Queues one run of a script on the local host with parameters that need not be declared (a
 * Sloth CI trigger or webhook: every value given is available to template steps and, when its
 * name can be one, as an environment variable). The caller has already checked the names.
 */
export async function queueLocalRun(
  deps: ChangeDeps,
  script: Script,
  input: { trigger: 'manual' | 'api' | 'webhook'; triggeredBy: string; userId: string | null; parameters: Record<string, string> },
): Promise<Run> {
  return audited(deps, async (trx, record) => {
    if (!script.enabled) throw new ConflictError(`Script "${script.name}" is disabled; enable it to run it.`);
    const [host] = await targetHosts(trx, { scriptId: script.id });
    const parameters: Record<string, string> = {};
    for (const [name, value] of Object.entries(script.parameters)) parameters[name] = String(value ?? '');
    Object.assign(parameters, input.parameters);
    const [run] = await insertRunsOf(trx, [
      {
        scriptId: script.id,
        scriptName: script.name,
        hostId: host!.id,
        hostName: host!.name,
        trigger: input.trigger,
        triggeredByUserId: input.userId,
        triggeredBy: input.triggeredBy,
        parameters,
      },
    ]);
    record({
      action: 'run.started',
      objectType: 'Run',
      objectId: run!.id,
      objectName: run!.scriptName,
      summary: `Started "${run!.scriptName}" on "${run!.hostName}" (${input.triggeredBy})`,
      details: { after: runSummary(run!) },
    });
    return run!;
  });
}

// Cancelling and deleting

/** Cancels a run that has not finished. Of two racing cancels, one wins; the other is told it finished. */
export async function cancelRun(deps: ChangeDeps, id: string): Promise<Run> {
  return audited(deps, async (trx, record) => {
    const run = await transitionRun(trx, id, statesBefore('cancelled'), 'cancelled', { finishedAt: 'now' });
    if (!run) {
      const current = await existingRun(trx, id);
      throw new ConflictError(`${capitalize(describeRun(current))} already finished (${current.state}); there is nothing to cancel.`);
    }
    record({
      action: 'run.cancelled',
      objectType: 'Run',
      objectId: run.id,
      objectName: run.scriptName,
      summary: `Cancelled ${describeRun(run)}`,
      details: { after: { state: run.state, finishedAt: run.finishedAt?.toISOString() ?? null } },
    });
    return run;
  });
}

/** Deletes a finished run and its output. */
export async function deleteRun(deps: ChangeDeps, id: string): Promise<Run> {
  return audited(deps, async (trx, record) => {
    const run = await deleteRunUnless(trx, id, ACTIVE_STATES);
    if (!run) {
      const current = await existingRun(trx, id);
      throw new ConflictError(`${capitalize(describeRun(current))} is ${current.state}; cancel it before deleting it.`);
    }
    record({
      action: 'run.deleted',
      objectType: 'Run',
      objectId: run.id,
      objectName: run.scriptName,
      summary: `Deleted ${describeRun(run)}`,
      details: { before: runSummary(run) },
    });
    return run;
  });
}

// Runs reported from outside (VirtShell tasks, Sloth builds, other tools)

interface ReportedFields {
  state?: RunState | null;
  exitCode?: number | null;
  summary?: string | null;
  startedAt?: Date | null;
  finishedAt?: Date | null;
  external?: unknown;
}

export interface ReportRunInput extends ReportedFields {
  scriptId?: string | null;
  scriptName?: string | null;
  hostName?: string | null;
  checkId?: string | null;
  state: RunState;
  /** The outside tool reporting it, for tools whose runs are listed apart (`virtshell`). */
  reporter?: string | null;
  /**
   * Link the script and host Runboard has of those names (default true). False for reports whose
   * names describe outside work (a VirtShell task's description), which no Runboard script did.
   */
  linkByName?: boolean;
}

export interface UpdateReportedRunInput extends ReportedFields {
  id: string;
}

/** More changes, computed from the run as it is (locked) when the update is applied. */
export type ReportedRunAmendment = (run: Run) => ReportedFields;

function reportedProblems(input: ReportedFields): FieldProblem[] {
  const problems = textProblems(input.summary, ['input', 'summary'], 'the summary', SUMMARY_MAX);
  const external = input.external;
  if (external !== undefined && external !== null) {
    const text = JSON.stringify(external);
    if (typeof external !== 'object' || Array.isArray(external)) {
      problems.push({ path: ['input', 'external'], message: 'external must be a JSON object, e.g. {"status": "in progress"}.' });
    } else if (text.length > EXTERNAL_MAX) {
      problems.push({ path: ['input', 'external'], message: `external is at most ${EXTERNAL_MAX} characters of JSON.` });
    } else if (text.includes('\\u0000')) {
      problems.push({ path: ['input', 'external'], message: 'external cannot contain a NUL character.' });
    }
  }
  return problems;
}

/** Start and finish times that make sense for `state`; `finishGiven` says the caller set the finish. */
function timeProblems(state: RunState, start: Date | null, finish: Date | null, finishGiven: boolean): FieldProblem[] {
  if (finishGiven && isActive(state)) {
    return [{ path: ['input', 'finishedAt'], message: `A ${state} run has not finished: leave finishedAt out, or give a finished state.` }];
  }
  if (start && finish && finish < start) {
    return [{
      path: ['input', finishGiven ? 'finishedAt' : 'startedAt'],
      message: `The run cannot finish (${finish.toISOString()}) before it starts (${start.toISOString()}).`,
    }];
  }
  return [];
}

/** What a stamp will be once stored, for checking: 'now' is about now; undefined keeps `current`. */
function effective(stamp: Stamp | undefined, current: Date | null): Date | null {
  if (stamp === undefined) return current;
  return stamp === 'now' ? (current ?? new Date()) : stamp;
}

/** Records a run that happened outside Runboard (trigger `report`). */
export async function reportRun(deps: ChangeDeps, caller: Caller, input: ReportRunInput): Promise<Run> {
  const problems = reportedProblems(input);
  if (!input.scriptId && !input.scriptName) problems.push({ path: ['input', 'scriptName'], message: 'Give a scriptName or a scriptId.' });
  if (input.scriptId && input.scriptName) problems.push({ path: ['input', 'scriptName'], message: 'Give a scriptName or a scriptId, not both.' });
  if (input.scriptName !== undefined && input.scriptName !== null) {
    problems.push(...textProblems(input.scriptName, ['input', 'scriptName'], 'the script name', NAME_MAX, true));
  }
  problems.push(...textProblems(input.hostName, ['input', 'hostName'], 'the host name', NAME_MAX));
  // A finished run without a finish time finished now; a running one without a start started now.
  const finishedAt = input.finishedAt ?? (isTerminal(input.state) ? new Date() : null);
  const startedAt = input.startedAt ?? (input.state === 'running' ? new Date() : null);
  problems.push(...timeProblems(input.state, startedAt, finishedAt, Boolean(input.finishedAt)));
  check(problems);
  return audited(deps, async (trx, record) => {
    const linkByName = input.linkByName ?? true;
    const script = input.scriptId
      ? await existing(findScriptsByIds(trx, [input.scriptId]), 'script', input.scriptId)
      : linkByName ? await findScriptByName(trx, input.scriptName!.trim()) : undefined;
    const hostName = input.hostName?.trim() || null;
    const host = hostName && linkByName ? await findHostByName(trx, hostName) : undefined;
    if (input.checkId) await existing(findChecksByIds(trx, [input.checkId]), 'check', input.checkId);
    const run: NewRun = {
      scriptId: script?.id ?? null,
      scriptName: script?.name ?? input.scriptName!.trim(),
      hostId: host?.id ?? null,
      hostName: host?.name ?? hostName,
      checkId: input.checkId ?? null,
      state: input.state,
      trigger: 'report',
      triggeredByUserId: caller.userId,
      triggeredBy: caller.username,
      exitCode: input.exitCode ?? null,
      summary: input.summary ?? null,
      external: (input.external as Record<string, unknown> | null | undefined) ?? {},
      startedAt,
      finishedAt,
      reporter: input.reporter ?? null,
    };
    const [created] = await insertRunsOf(trx, [run]);
    record({
      action: 'run.reported',
      objectType: 'Run',
      objectId: created!.id,
      objectName: created!.scriptName,
      summary: `Recorded ${describeRun(created!)} (${created!.state}), reported by ${caller.username}`,
      details: { after: runSummary(created!) },
    });
    return created!;
  });
}

/**
 * Changes a reported run. Its reporter is the authority on it, so any state may follow any
 * other (a tool may retry a failed task); the update still expects the state it read, so two
 * concurrent updates cannot silently overwrite each other. `external` is merged key by key.
 * The run is locked while it is read, so concurrent updates apply one after another; `amend`
 * adds changes computed from what it holds then (a reporter's history of its own fields).
 */
export async function updateReportedRun(deps: ChangeDeps, given: UpdateReportedRunInput, amend?: ReportedRunAmendment): Promise<Run> {
  check(reportedProblems(given));
  return audited(deps, async (trx, record) => {
    const run = await lockRun(trx, given.id);
    if (!run) throw new NotFoundError(`There is no run with id "${given.id}".`);
    const input: UpdateReportedRunInput = amend ? { ...given, ...amend(run) } : given;
    if (amend) check(reportedProblems(input));
    if (run.trigger !== 'report') {
      throw new ConflictError(
        `${capitalize(describeRun(run))} was started by Runboard (${run.trigger}), not reported; only reported runs can be changed with updateReportedRun.`,
      );
    }
    const state = input.state ?? run.state;
    let finishedAt: Stamp | undefined = input.finishedAt ?? undefined;
    if (finishedAt === undefined && isTerminal(state) && !run.finishedAt) finishedAt = 'now';
    if (finishedAt === undefined && isActive(state) && run.finishedAt) finishedAt = null; // reopened
    let startedAt: Stamp | undefined = input.startedAt ?? undefined;
    if (startedAt === undefined && state === 'running' && !run.startedAt) startedAt = 'now';
    check(timeProblems(state, effective(startedAt, run.startedAt), effective(finishedAt, run.finishedAt), Boolean(input.finishedAt)));
    const patch: RunPatch = {
      ...(input.exitCode !== undefined && { exitCode: input.exitCode }),
      ...(input.summary !== undefined && { summary: input.summary }),
      ...(input.external !== undefined && input.external !== null && { external: input.external as Record<string, unknown> }),
      ...(startedAt !== undefined && { startedAt }),
      ...(finishedAt !== undefined && { finishedAt }),
    };
    const updated = await transitionRun(trx, run.id, [run.state], state, patch);
    if (!updated) throw new ConflictError(`${capitalize(describeRun(run))} changed while it was being updated; try again.`);
    record({
      action: 'run.updated',
      objectType: 'Run',
      objectId: updated.id,
      objectName: updated.scriptName,
      summary: `Updated reported ${describeRun(updated)} (${updated.state})`,
      details: diff(runSummary(run), { ...runSummary(updated), ...(input.external ? { external: input.external } : {}) }),
    });
    return updated;
  });
}

// For the executor: output (not audited: Runboard itself writes it). Its state moves are batched: db/run-queue.repository.ts

export interface RunDeps {
  db: Db;
  notify: RunNotifier;
}

/**
 * Appends output to an active run and tells subscribers of each chunk after the commit. NUL
 * characters (which PostgreSQL text cannot hold) become U+FFFD; empty chunks are dropped.
 *
 * `agentSeq` numbers a chunk from an agent (1, 2, 3… per run), which sends a chunk again when its
 * acknowledgement was lost: a number already stored is a duplicate and stores nothing (answers
 * []); one that skips ahead is refused, so the agent resends from the last one acknowledged.
 */
export async function appendOutput(
  deps: RunDeps,
  runId: string,
  chunks: readonly { stream: OutputStream; data: string }[],
  options: { agentSeq?: number } = {},
): Promise<OutputChunk[]> {
  const { agentSeq } = options;
  const clean = chunks.filter((chunk) => chunk.data.length > 0).map((chunk) => ({ stream: chunk.stream, data: chunk.data.replaceAll('\0', '\uFFFD') }));
  const appended = await deps.db.transaction().execute(async (trx) => {
    const result = await appendChunks(trx, runId, clean, ACTIVE_STATES, agentSeq);
    if (result) return result;
    const run = await existingRun(trx, runId);
    if (!isActive(run.state)) throw new ConflictError(`${capitalize(describeRun(run))} has finished (${run.state}); its output is closed.`);
    const stored = (await agentOutputSeq(trx, runId)) ?? 0;
    if (agentSeq !== undefined && agentSeq <= stored) return [];
    throw new ValidationError(`Output chunk ${agentSeq} of ${describeRun(run)} came before chunk ${stored + 1}: send chunk ${stored + 1} first.`, [
      { path: ['seq'], message: `The next chunk is number ${stored + 1}.` },
    ]);
  });
  for (const chunk of appended) deps.notify.runOutput(chunk);
  return appended;
}
