/**
 * Managing scripts: validating what to run and how, and creating, changing and deleting scripts
 * with their environment, attachments and groups — each change and its audit record in one
 * transaction.
 */
import { createHash } from 'node:crypto';
import { attachmentsOfScripts, deleteAttachmentsOnlyUsedBy, existingAttachmentIds } from '../db/attachment.repository';
import type { Db } from '../db/database';
import { listEnvVars } from '../db/env-var.repository';
import { findGroupsByIds } from '../db/group.repository';
import {
  deleteScriptRow,
  findScriptById,
  groupsOfScripts,
  insertScript,
  scheduleNamesOfScript,
  setScriptAttachments,
  setScriptGroupRows,
  updateScriptRow,
  type Script,
  type ScriptValues,
  type Step,
} from '../db/script.repository';
import { audited, diff, type ChangeDeps, type RecordChange } from './audit';
import { ENV_KEY, envProblems, envSummary, saveEnvironment, type EnvVarInput } from './environment';
import { ConflictError, NotFoundError, ValidationError, type FieldProblem } from './errors';
import type { SecretBox } from './secrets';
import { FOREIGN_KEY_VIOLATION, pgError, UNIQUE_VIOLATION } from '../db/postgres-error';

/**
 * First path segments a listen point may not start with: Runboard's own routes (API, console
 * pages, pings, assets). A Sloth CI webhook at `/<listen point>` must never shadow them.
 */
export const RESERVED_ROUTE_SEGMENTS = [
  'api', '_next', 'ping', 'graphiql', 'sign-in', 'login', 'logout', 'static', 'favicon.ico', 'health', 'metrics',
  'runs', 'scripts', 'schedules', 'hosts', 'groups', 'checks', 'events', 'settings', 'users', 'virtshell', 'icon.svg',
] as const;

export const NAME_MAX = 140;
export const DESCRIPTION_MAX = 10_000;
/** The largest script body (and the largest set of steps, as stored), in bytes of UTF-8. */
export const BODY_MAX_BYTES = 1024 * 1024;
export const PATH_MAX = 1024;
export const STEPS_MAX = 100;
export const STEP_ARGS_MAX = 1000;
export const PARAMETERS_MAX = 100;
export const ATTACHMENTS_PER_SCRIPT_MAX = 100;
export const AFTER_EXECUTION_MAX = 1000;
export const RETRY_COUNT_MAX = 100;
export const RETRY_BACKOFF_MAX = 100;
/** The largest job argument list, as JSON. */
export const JOB_ARGS_MAX_BYTES = 64 * 1024;
const LISTEN_POINT = /^[A-Za-z0-9._~/-]{1,200}$/;
const PROVIDERS = ['github', 'bitbucket', 'dummy'] as const;

export interface StepInput {
  name?: string | null;
  executable: string;
  args?: string[] | null;
  body?: string | null;
  template?: boolean | null;
}

/** What a create or update may set; fields left undefined are not touched (defaults on create). */
export interface ScriptInput {
  name?: string;
  description?: string;
  enabled?: boolean;
  executable?: string;
  body?: string;
  steps?: StepInput[];
  stopOnFirstFailure?: boolean;
  workingDir?: string | null;
  runAsUid?: number | null;
  runAsGid?: number | null;
  timeoutSeconds?: number | null;
  maxConcurrent?: number | null;
  maxConcurrentPerHost?: number | null;
  /** Replaces the whole retry policy; missing parts take their defaults (0, 0, 1). */
  retry?: { count?: number | null; delaySeconds?: number | null; backoff?: number | null };
  parameters?: { name: string; default?: string | null }[];
  afterExecution?: string | null;
  jobClass?: string | null;
  jobArgs?: unknown;
  listenPoint?: string | null;
  webhookProvider?: unknown;
  configFile?: string | null;
  configSource?: string | null;
  environment?: EnvVarInput[];
  /** Attachment UUIDs, in the order they are written. */
  attachmentIds?: string[];
  /** UUIDs of the groups whose hosts may run the script. */
  groupIds?: string[];
}

const hasNul = (value: string) => value.includes('\0');
const MIB = 1024 * 1024;
/** "1 MiB", "64 KiB". */
const bytesInWords = (n: number) => (n >= MIB && n % MIB === 0 ? `${n / MIB} MiB` : `${Math.ceil(n / 1024)} KiB`);

/** Checks a piece of text; `null`/`undefined` pass (the caller decides whether they may). */
function checkText(
  problems: FieldProblem[],
  path: string[],
  label: string,
  value: string | null | undefined,
  limits: { max?: number; maxBytes?: number },
): void {
  if (value === null || value === undefined) return;
  const at = (message: string) => problems.push({ path, message: `${label}: ${message}` });
  if (limits.max !== undefined && value.length > limits.max) at(`at most ${limits.max} characters (this is ${value.length}).`);
  else if (limits.maxBytes !== undefined && Buffer.byteLength(value) > limits.maxBytes) {
    at(`at most ${bytesInWords(limits.maxBytes)} (this is ${bytesInWords(Buffer.byteLength(value))}).`);
  }
  if (hasNul(value)) at('cannot contain a NUL character.');
}

function checkInteger(problems: FieldProblem[], path: string[], label: string, value: number | null | undefined, min: number, max?: number): void {
  if (value === null || value === undefined) return;
  if (!Number.isInteger(value) || value < min || (max !== undefined && value > max)) {
    const range = max === undefined ? (min === 0 ? 'zero or more' : `at least ${min}`) : `between ${min} and ${max}`;
    problems.push({ path, message: `${label}: ${range} (got ${value}).` });
  }
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

function stepProblems(steps: StepInput[]): FieldProblem[] {
  const problems: FieldProblem[] = [];
  if (steps.length > STEPS_MAX) problems.push({ path: ['input', 'steps'], message: `Steps: at most ${STEPS_MAX}.` });
  steps.forEach((step, i) => {
    const path = ['input', 'steps', String(i)];
    const label = `Step ${i + 1}${step.name ? ` (${step.name.slice(0, 40)})` : ''}`;
    checkText(problems, [...path, 'name'], `${label} name`, step.name, { max: NAME_MAX });
    if (!step.executable || step.executable.trim() === '') {
      problems.push({ path: [...path, 'executable'], message: `${label}: give the program to run, e.g. /usr/bin/make.` });
    } else checkText(problems, [...path, 'executable'], `${label} executable`, step.executable, { max: PATH_MAX });
    const args = step.args ?? [];
    if (args.length > STEP_ARGS_MAX) problems.push({ path: [...path, 'args'], message: `${label}: at most ${STEP_ARGS_MAX} arguments.` });
    args.forEach((arg, j) => checkText(problems, [...path, 'args', String(j)], `${label} argument ${j + 1}`, arg, { maxBytes: 64 * 1024 }));
    checkText(problems, [...path, 'body'], `${label} body`, step.body, { maxBytes: BODY_MAX_BYTES });
  });
  if (problems.length === 0 && Buffer.byteLength(JSON.stringify(steps)) > BODY_MAX_BYTES) {
    problems.push({ path: ['input', 'steps'], message: `Steps: together at most ${bytesInWords(BODY_MAX_BYTES)}.` });
  }
  return problems;
}

/** Problems with a listen point (a Sloth CI webhook path), or none. */
export function listenPointProblems(value: string, path: string[]): FieldProblem[] {
  const problem = (message: string) => [{ path, message: `Listen point: ${message}` }];
  if (!LISTEN_POINT.test(value)) return problem('1–200 characters of letters, digits, ".", "_", "~", "-" and "/".');
  if (value.startsWith('/') || value.endsWith('/')) return problem(`no "/" at the start or end; write it like "deploy/site".`);
  if (value.includes('..')) return problem('cannot contain "..".');
  if (value.includes('//')) return problem('cannot contain an empty segment ("//").');
  const first = value.split('/')[0]!.toLowerCase();
  if ((RESERVED_ROUTE_SEGMENTS as readonly string[]).includes(first)) {
    return problem(`"${first}" is one of Runboard's own routes (/${first}); start it with something else.`);
  }
  // The console's framework serves its own files under "_"-prefixed paths (/_next, /__nextjs…).
  if (first.startsWith('_')) return problem(`"${first}" starts with "_", which Runboard keeps for its console's own files; start it with something else.`);
  return [];
}

/** Problems with a Sloth CI webhook provider: `{ github: { repo } }`, `{ bitbucket: { repo } }` or `{ dummy: { message } }`. */
export function providerProblems(value: unknown, path: string[]): FieldProblem[] {
  const problem = (message: string) => [{ path, message: `Webhook provider: ${message}` }];
  const example = 'e.g. {"github": {"repo": "owner/name"}}';
  if (!isObject(value) || Object.keys(value).length !== 1) return problem(`give an object with exactly one of ${PROVIDERS.join(', ')}, ${example}.`);
  const [kind, settings] = Object.entries(value)[0]!;
  if (!(PROVIDERS as readonly string[]).includes(kind)) return problem(`"${kind.slice(0, 40)}" is not one of ${PROVIDERS.join(', ')}.`);
  const required = kind === 'dummy' ? 'message' : 'repo';
  const allowed = kind === 'dummy' ? ['message'] : ['repo', 'branches'];
  if (!isObject(settings)) return problem(`${kind} takes an object with "${required}", ${kind === 'dummy' ? '{"dummy": {"message": "go"}}' : example}.`);
  const unknown = Object.keys(settings).filter((key) => !allowed.includes(key));
  if (unknown.length) return problem(`${kind} does not take ${unknown.map((k) => `"${k.slice(0, 40)}"`).join(', ')}; it takes ${allowed.join(' and ')}.`);
  const main = settings[required];
  if (typeof main !== 'string' || main.trim() === '' || main.length > 200 || hasNul(main)) {
    return problem(`${kind}.${required} must be a non-empty string of at most 200 characters.`);
  }
  const branches = settings.branches;
  if (branches !== undefined && (!Array.isArray(branches) || branches.length > 100 || !branches.every((b) => typeof b === 'string' && b !== '' && b.length <= 200 && !hasNul(b)))) {
    return problem(`${kind}.branches must be a list of branch names.`);
  }
  return [];
}

/** An empty string clears an optional text field. */
const optional = (value: string | null | undefined) => (value === '' ? null : value);

/** Validates `input` and returns the stored values it sets. Throws one ValidationError naming every problem. */
function validate(input: ScriptInput): Partial<ScriptValues> {
  const problems: FieldProblem[] = [];
  const at = (field: string) => ['input', field];
  if (input.name !== undefined) {
    if (input.name.trim() === '') problems.push({ path: at('name'), message: 'Name: give the script a name.' });
    else checkText(problems, at('name'), 'Name', input.name.trim(), { max: NAME_MAX });
  }
  checkText(problems, at('description'), 'Description', input.description, { max: DESCRIPTION_MAX });
  if (input.executable !== undefined) {
    if (input.executable.trim() === '') problems.push({ path: at('executable'), message: 'Executable: give the program to run the body with, e.g. /bin/sh.' });
    else checkText(problems, at('executable'), 'Executable', input.executable, { max: PATH_MAX });
  }
  checkText(problems, at('body'), 'Body', input.body, { maxBytes: BODY_MAX_BYTES });
  if (input.steps) problems.push(...stepProblems(input.steps));
  const workingDir = optional(input.workingDir);
  if (workingDir && !workingDir.startsWith('/')) problems.push({ path: at('workingDir'), message: `Working directory: write an absolute path, starting with "/".` });
  checkText(problems, at('workingDir'), 'Working directory', workingDir, { max: PATH_MAX });
  checkInteger(problems, at('runAsUid'), 'Run as uid', input.runAsUid, 0);
  checkInteger(problems, at('runAsGid'), 'Run as gid', input.runAsGid, 0);
  checkInteger(problems, at('timeoutSeconds'), 'Timeout', input.timeoutSeconds, 1);
  checkInteger(problems, at('maxConcurrent'), 'Most concurrent runs', input.maxConcurrent, 1);
  checkInteger(problems, at('maxConcurrentPerHost'), 'Most concurrent runs per host', input.maxConcurrentPerHost, 1);
  const retry = input.retry && { count: input.retry.count ?? 0, delaySeconds: input.retry.delaySeconds ?? 0, backoff: input.retry.backoff ?? 1 };
  if (retry) {
    checkInteger(problems, ['input', 'retry', 'count'], 'Retries', retry.count, 0, RETRY_COUNT_MAX);
    checkInteger(problems, ['input', 'retry', 'delaySeconds'], 'Retry delay', retry.delaySeconds, 0);
    if (!Number.isFinite(retry.backoff) || retry.backoff < 1 || retry.backoff > RETRY_BACKOFF_MAX) {
      problems.push({ path: ['input', 'retry', 'backoff'], message: `Retry backoff: between 1 and ${RETRY_BACKOFF_MAX} (got ${retry.backoff}).` });
    }
  }
  const parameters = input.parameters?.map((p) => ({ name: p.name, default: p.default ?? '' }));
  if (parameters) {
    if (parameters.length > PARAMETERS_MAX) problems.push({ path: at('parameters'), message: `Parameters: at most ${PARAMETERS_MAX}.` });
    const seen = new Set<string>();
    parameters.forEach((p, i) => {
      const path = ['input', 'parameters', String(i)];
      if (!ENV_KEY.test(p.name) || p.name.length > 256) {
        problems.push({ path: [...path, 'name'], message: `Parameter "${p.name.slice(0, 60)}": use letters, digits and _, not starting with a digit.` });
      } else if (seen.has(p.name)) problems.push({ path: [...path, 'name'], message: `Parameter ${p.name} is given twice.` });
      seen.add(p.name);
      checkText(problems, [...path, 'default'], `Parameter ${p.name.slice(0, 60)} default`, p.default, { maxBytes: 64 * 1024 });
    });
  }
  checkText(problems, at('afterExecution'), 'After execution', input.afterExecution, { max: AFTER_EXECUTION_MAX });
  checkText(problems, at('jobClass'), 'Job class', input.jobClass, { max: 500 });
  if (input.jobArgs !== undefined && input.jobArgs !== null) {
    const json = JSON.stringify(input.jobArgs);
    if (!Array.isArray(input.jobArgs)) problems.push({ path: at('jobArgs'), message: 'Job arguments: give a JSON list, e.g. ["/bin/echo", "hello"].' });
    else if (Buffer.byteLength(json) > JOB_ARGS_MAX_BYTES) problems.push({ path: at('jobArgs'), message: `Job arguments: at most ${bytesInWords(JOB_ARGS_MAX_BYTES)} of JSON.` });
    else if (json.includes('\\u0000')) problems.push({ path: at('jobArgs'), message: 'Job arguments: cannot contain a NUL character.' });
  }
  const listenPoint = optional(input.listenPoint);
  if (listenPoint) problems.push(...listenPointProblems(listenPoint, at('listenPoint')));
  if (input.webhookProvider !== undefined && input.webhookProvider !== null) problems.push(...providerProblems(input.webhookProvider, at('webhookProvider')));
  checkText(problems, at('configFile'), 'Config file', optional(input.configFile), { max: PATH_MAX });
  checkText(problems, at('configSource'), 'Config source', input.configSource, { maxBytes: BODY_MAX_BYTES });
  if (input.environment) problems.push(...envProblems(input.environment, at('environment')));
  if ((input.attachmentIds?.length ?? 0) > ATTACHMENTS_PER_SCRIPT_MAX) {
    problems.push({ path: at('attachmentIds'), message: `Attachments: at most ${ATTACHMENTS_PER_SCRIPT_MAX} per script.` });
  }
  if (problems.length) throw new ValidationError(problems.map((p) => p.message).join(' '), problems);

  return {
    name: input.name?.trim(),
    description: input.description,
    enabled: input.enabled,
    executable: input.executable,
    body: input.body,
    steps: input.steps?.map((s): Step => ({
      name: optional(s.name) ?? null,
      executable: s.executable,
      args: s.args ?? [],
      body: s.body ?? null,
      ...(s.template ? { template: true } : {}),
    })),
    stopOnFirstFailure: input.stopOnFirstFailure,
    workingDir,
    runAsUid: input.runAsUid,
    runAsGid: input.runAsGid,
    timeoutSeconds: input.timeoutSeconds,
    maxConcurrent: input.maxConcurrent,
    maxConcurrentPerHost: input.maxConcurrentPerHost,
    ...(retry && { retryCount: retry.count, retryDelaySeconds: retry.delaySeconds, retryBackoff: retry.backoff }),
    parameters: parameters && Object.fromEntries(parameters.map((p) => [p.name, p.default])),
    afterExecution: optional(input.afterExecution),
    jobClass: optional(input.jobClass),
    jobArgs: input.jobArgs === null ? [] : (input.jobArgs as unknown[] | undefined),
    listenPoint,
    webhookProvider: input.webhookProvider as Record<string, unknown> | null | undefined,
    configFile: optional(input.configFile),
    configSource: input.configSource,
  };
}

/** Throws NotFoundError unless every attachment and group named exists. */
async function checkReferences(db: Db, input: ScriptInput): Promise<void> {
  if (input.attachmentIds?.length) {
    const found = await existingAttachmentIds(db, input.attachmentIds);
    const missing = input.attachmentIds.filter((id) => !found.has(id));
    if (missing.length) throw new NotFoundError(`There is no attachment with id ${missing.map((id) => `"${id}"`).join(', ')}.`);
  }
  if (input.groupIds?.length) {
    const found = new Set((await findGroupsByIds(db, input.groupIds)).map((group) => group.id));
    const missing = input.groupIds.filter((id) => !found.has(id));
    if (missing.length) throw new NotFoundError(`There is no group with id ${missing.map((id) => `"${id}"`).join(', ')}.`);
  }
}

/** Turns PostgreSQL's unique and foreign-key violations into messages a person can act on. */
function conflict(error: unknown, input: ScriptInput): unknown {
  const pg = pgError(error);
  if (pg.code === UNIQUE_VIOLATION && pg.constraint === 'scripts_listen_point_key') {
    return new ConflictError(`Listen point "${input.listenPoint}" is already taken by another script.`);
  }
  if (pg.code === UNIQUE_VIOLATION && pg.constraint === 'scripts_name_key') return new ConflictError(`A script named "${input.name?.trim()}" already exists.`);
  if (pg.code === FOREIGN_KEY_VIOLATION) return new NotFoundError('An attachment or group given was deleted while the script was being saved. Try again.');
  return error;
}

/** A short, stable stand-in for a long text in the audit log: its size and hash. */
function digest(text: string | null): string | null {
  if (text === null) return null;
  return `${Buffer.byteLength(text)} bytes, sha256 ${createHash('sha256').update(text).digest('hex').slice(0, 16)}`;
}

/** What the audit log keeps of a script: every setting, long texts as digests, never a secret value. */
async function summarize(db: Db, script: Script): Promise<Record<string, unknown>> {
  const [environment, [attachments], [groups]] = await Promise.all([
    listEnvVars(db, { kind: 'script', id: script.id }),
    attachmentsOfScripts(db, [script.id]),
    groupsOfScripts(db, [script.id]),
  ]);
  const { id: _id, createdAt: _c, updatedAt: _u, body, steps, configSource, ...settings } = script;
  return {
    ...settings,
    body: digest(body),
    steps: steps.map((step) => ({ ...step, body: digest(step.body) })),
    configSource: digest(configSource),
    environment: envSummary(environment),
    attachments: attachments!.map((a) => a.path),
    groups: groups!.map((g) => g.name),
  };
}

/** Saves the environment, attachments and groups the input gives. */
async function saveRelations(trx: Db, secrets: SecretBox, id: string, input: ScriptInput): Promise<void> {
  if (input.environment) await saveEnvironment(trx, secrets, { kind: 'script', id }, input.environment, ['input', 'environment']);
  if (input.attachmentIds) await setScriptAttachments(trx, id, input.attachmentIds);
  if (input.groupIds) await setScriptGroupRows(trx, id, input.groupIds);
}

export async function createScript(deps: ChangeDeps, secrets: SecretBox, input: ScriptInput & { name: string }): Promise<Script> {
  const values = validate(input);
  try {
    return await audited(deps, async (trx, record) => {
      await checkReferences(trx, input);
      const script = await insertScript(trx, values as ScriptValues);
      await saveRelations(trx, secrets, script.id, input);
      record({
        action: 'script.created',
        objectType: 'Script',
        objectId: script.id,
        objectName: script.name,
        summary: `Created script "${script.name}"`,
        details: { after: await summarize(trx, script) },
      });
      return script;
    });
  } catch (error) {
    throw conflict(error, input);
  }
}

async function lockedScript(trx: Db, id: string): Promise<Script> {
  const script = await findScriptById(trx, id, { lock: true });
  if (!script) throw new NotFoundError(`There is no script with id "${id}".`);
  return script;
}

/** Changes the fields given; environment, attachments and groups are replaced when given. */
export async function updateScript(deps: ChangeDeps, secrets: SecretBox, id: string, input: ScriptInput): Promise<Script> {
  const values = validate(input);
  try {
    return await audited(deps, async (trx, record) => {
      const before = await summarize(trx, await lockedScript(trx, id));
      await checkReferences(trx, input);
      const script = (await updateScriptRow(trx, id, values))!;
      await saveRelations(trx, secrets, id, input);
      recordUpdate(record, script, before, await summarize(trx, script));
      return script;
    });
  } catch (error) {
    throw conflict(error, input);
  }
}

function recordUpdate(record: RecordChange, script: Script, before: Record<string, unknown>, after: Record<string, unknown>): void {
  record({
    action: 'script.updated',
    objectType: 'Script',
    objectId: script.id,
    objectName: script.name,
    summary: `Updated script "${script.name}"`,
    details: diff(before, after),
  });
}

/** Makes `groupIds` the groups whose hosts may run the script (Otto's `POST …/:id/groups`). */
export async function setScriptGroups(deps: ChangeDeps, id: string, groupIds: string[]): Promise<Script> {
  try {
    return await audited(deps, async (trx, record) => {
      const script = await lockedScript(trx, id);
      const before = await summarize(trx, script);
      await checkReferences(trx, { groupIds });
      await setScriptGroupRows(trx, id, groupIds);
      const updated = (await updateScriptRow(trx, id, {}))!;
      recordUpdate(record, updated, before, await summarize(trx, updated));
      return updated;
    });
  } catch (error) {
    throw conflict(error, { groupIds });
  }
}

/**
 * Deletes a script with its schedules (ON DELETE CASCADE), its variables, and the attachments
 * no other script uses (as Otto does). Its runs stay, keeping the script's name.
 */
export async function deleteScript(deps: ChangeDeps, id: string): Promise<Script> {
  return audited(deps, async (trx, record) => {
    const script = await lockedScript(trx, id);
    const before = await summarize(trx, script);
    const schedules = await scheduleNamesOfScript(trx, id);
    const attachments = await deleteAttachmentsOnlyUsedBy(trx, id);
    await deleteScriptRow(trx, id);
    for (const attachment of attachments) {
      record({
        action: 'attachment.deleted',
        objectType: 'Attachment',
        objectId: attachment.id,
        objectName: attachment.name,
        summary: `Deleted attachment "${attachment.name}" with script "${script.name}"`,
        details: { before: { name: attachment.name, path: attachment.path, size: attachment.size, sha256: attachment.sha256 } },
      });
    }
    record({
      action: 'script.deleted',
      objectType: 'Script',
      objectId: script.id,
      objectName: script.name,
      summary: `Deleted script "${script.name}"`,
      details: { before, schedulesDeleted: schedules, attachmentsDeleted: attachments.map((a) => a.path) },
    });
    return script;
  });
}
