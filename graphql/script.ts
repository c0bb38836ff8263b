/**
 * Scripts in GraphQL: the Script type with its environment, attachments and groups, the
 * `scripts` list, and the admin mutations. Runs and schedules of a script are added by their
 * own files.
 */
import { ConflictError, NotFoundError, ValidationError } from '../core/errors';
import { createScript, deleteScript, setScriptGroups, updateScript, type ScriptInput } from '../core/script.service';
import { attachmentsOfScripts } from '../db/attachment.repository';
import { findScriptsByIds, groupsOfScripts, listScripts, type Script, type Step } from '../db/script.repository';
import { AttachmentRef } from './attachment';
import { builder } from './builder';
import { changeDeps } from './change';
import { pageArgs, toConnection } from './connection';
import { outcome } from './errors';
import { EnvVarInput, EnvVarRef, envVarOwner, loadEnvVars } from './environment';
import { GroupRef } from './group';
import { decodeId, decodeIds, encodeGlobalID } from './ids';

export const ScriptRef = builder.loadableNodeRef('Script', {
  id: { resolve: (value: Script) => value.id },
  load: (ids: string[], ctx) => findScriptsByIds(ctx.app.db, ids),
  sort: (value) => value.id,
});

const StepRef = builder.objectRef<Step>('ScriptStep').implement({
  description: 'One step of a multi-step script: a program run directly with its arguments (no shell), optionally given a body.',
  fields: (t) => ({
    name: t.exposeString('name', { nullable: true, description: 'A label for people and logs; null for none.' }),
    executable: t.exposeString('executable', { description: 'The program to run, e.g. /usr/bin/make.' }),
    args: t.exposeStringList('args', { description: 'Its arguments, passed as they are (no shell, no splitting, no globbing).' }),
    body: t.exposeString('body', {
      nullable: true,
      description: 'Text written to a file whose path is passed as the last argument (as with the script body); null for none.',
    }),
    template: t.boolean({
      description:
        'Whether `executable` is a command-line template (a Sloth CI action): `{name}` placeholders are replaced by the run\'s parameter values before it is split into words; a placeholder naming no parameter fails the step.',
      resolve: (step) => step.template === true,
    }),
  }),
});

const RetryRef = builder.objectRef<Script>('RetryPolicy').implement({
  description: 'How a failed run is retried: after `delaySeconds`, then each wait `backoff` times longer than the one before, up to `count` times.',
  fields: (t) => ({
    count: t.exposeInt('retryCount', { description: 'How many times to retry a failed run (0–100). Default 0: never.' }),
    delaySeconds: t.exposeInt('retryDelaySeconds', { description: 'Seconds to wait before the first retry. Default 0.' }),
    backoff: t.exposeFloat('retryBackoff', { description: 'Each wait is this many times the one before (1–100). Default 1: constant.' }),
  }),
});

const ParameterRef = builder.objectRef<{ name: string; default: string }>('ScriptParameter').implement({
  description: 'A parameter a run may set (given to it as an environment variable), with its default.',
  fields: (t) => ({
    name: t.exposeString('name', { description: 'Its name: letters, digits and _, not starting with a digit.' }),
    default: t.exposeString('default', { description: 'The value when a run does not set it.' }),
  }),
});

ScriptRef.implement({
  description: 'What to run: a program and its body, or ordered steps, with environment and policies.',
  fields: (t) => ({
    name: t.exposeString('name', { description: 'Unique (ignoring case), 1–140 characters.' }),
    description: t.exposeString('description', { description: 'Notes for people; may be empty.' }),
    enabled: t.exposeBoolean('enabled', { description: 'Whether it may run. A disabled script is not started by schedules, webhooks or people.' }),
    executable: t.exposeString('executable', { description: 'The interpreter or program the body is given to (as a script file). Default /bin/sh.' }),
    body: t.exposeString('body', { description: 'The script text (at most 1 MiB). Not used when there are steps.' }),
    steps: t.field({
      type: [StepRef],
      description: 'When not empty, these run in order instead of the executable and body.',
      resolve: (script) => script.steps,
    }),
    stopOnFirstFailure: t.exposeBoolean('stopOnFirstFailure', { description: 'With steps: stop at the first step that fails. Default true.' }),
    workingDir: t.exposeString('workingDir', { nullable: true, description: 'The absolute directory runs start in; null for a fresh temporary one.' }),
    runAsUid: t.exposeInt('runAsUid', { nullable: true, description: 'The user id runs have (when the runner is root); null for the runner\'s own.' }),
    runAsGid: t.exposeInt('runAsGid', { nullable: true, description: 'The group id runs have (when the runner is root); null for the runner\'s own.' }),
    timeoutSeconds: t.exposeInt('timeoutSeconds', { nullable: true, description: 'A run still going after this many seconds is killed (timed out); null for no limit.' }),
    maxConcurrent: t.exposeInt('maxConcurrent', { nullable: true, description: 'At most this many runs at once, over all hosts; null for no limit.' }),
    maxConcurrentPerHost: t.exposeInt('maxConcurrentPerHost', { nullable: true, description: 'At most this many runs at once on one host; null for no limit.' }),
    retry: t.field({ type: RetryRef, description: 'How failed runs are retried.', resolve: (script) => script }),
    parameters: t.field({
      type: [ParameterRef],
      description: 'The parameters a run may set, by name.',
      resolve: (script) =>
        Object.entries(script.parameters)
          .map(([name, value]) => ({ name, default: value }))
          .sort((a, b) => a.name.localeCompare(b.name)),
    }),
    afterExecution: t.exposeString('afterExecution', { nullable: true, description: 'Otto\'s AfterExecution: what to do once the script has run, as free text; null for nothing.' }),
    jobClass: t.exposeString('jobClass', {
      nullable: true,
      description: 'A built-in runner used instead of the executable (an ndscheduler job class, e.g. simple_scheduler.jobs.shell_job.ShellJob); null for none.',
    }),
    jobArgs: t.field({ type: 'JSON', description: 'The job class\'s positional arguments, a JSON list.', resolve: (script) => script.jobArgs }),
    listenPoint: t.exposeString('listenPoint', { nullable: true, description: 'The webhook path (Sloth CI listen point) that triggers a run, at /<listenPoint>; null for none.' }),
    webhookProvider: t.field({
      type: 'JSON',
      nullable: true,
      description: 'What a webhook must look like to trigger a run: {"github": {"repo", "branches"?}}, {"bitbucket": {"repo", "branches"?}} or {"dummy": {"message"}}; null: webhook calls are declined (as Sloth CI declines payloads for an app without a provider).',
      resolve: (script) => script.webhookProvider,
    }),
    configFile: t.exposeString('configFile', { nullable: true, description: 'The Sloth CI config file on the server this script is bound to; null for none.' }),
    configSource: t.exposeString('configSource', { nullable: true, description: 'The Sloth CI config (YAML) the script was made from, as given; null for none.' }),
    environment: t.loadableGroup({
      type: EnvVarRef,
      description: 'The script\'s own environment variables, in order (secret values are never shown).',
      load: loadEnvVars('script'),
      group: envVarOwner,
      resolve: (script) => script.id,
    }),
    attachments: t.loadableList({
      type: AttachmentRef,
      description: 'The files written on the host before each run, in the order they are written.',
      load: (ids: string[], ctx) => attachmentsOfScripts(ctx.app.db, ids),
      resolve: (script) => script.id,
    }),
    groups: t.loadableList({
      type: GroupRef,
      description: 'The groups whose hosts may run the script, by name.',
      load: (ids: string[], ctx) => groupsOfScripts(ctx.app.db, ids),
      resolve: (script) => script.id,
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime', description: 'When it was created.' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime', description: 'When it was last changed.' }),
  }),
});

const ScriptFilterInput = builder.inputType('ScriptFilter', {
  description: 'Narrows the list of scripts; every field given must match.',
  fields: (t) => ({
    enabled: t.boolean({ description: 'Only enabled (true) or disabled (false) scripts.' }),
    name: t.string({ description: 'Exactly this name, ignoring case.' }),
    listenPoint: t.string({ description: 'The script at exactly this listen point.' }),
    hasListenPoint: t.boolean({ description: 'Only scripts with (true) or without (false) a listen point.' }),
  }),
});

builder.queryFields((t) => ({
  scripts: t.connection({
    type: ScriptRef,
    description: 'Scripts, by name.',
    args: {
      search: t.arg.string({ description: 'Text in the name, ignoring case.' }),
      filter: t.arg({ type: ScriptFilterInput, description: 'Narrows the list.' }),
    },
    resolve: async (_root, args, ctx) => {
      const f = args.filter ?? {};
      const filter = {
        search: args.search ?? undefined,
        enabled: f.enabled ?? undefined,
        name: f.name ?? undefined,
        listenPoint: f.listenPoint ?? undefined,
        hasListenPoint: f.hasListenPoint ?? undefined,
      };
      return toConnection(await listScripts(ctx.app.db, filter, pageArgs(args)));
    },
  }),
}));

const StepInput = builder.inputType('ScriptStepInput', {
  description: 'One step of a multi-step script.',
  fields: (t) => ({
    name: t.string({ description: 'A label for people and logs (at most 140 characters).' }),
    executable: t.string({ required: true, description: 'The program to run, e.g. /usr/bin/make. Required.' }),
    args: t.stringList({ description: 'Its arguments, passed as they are: no shell, no splitting, no globbing. Default none.' }),
    body: t.string({ description: 'Text written to a file whose path is passed as the last argument (at most 1 MiB).' }),
    template: t.boolean({
      description: 'Treat `executable` as a command-line template: `{name}` is replaced by the run\'s parameter `name` (`{{` and `}}` for braces) before splitting into words. Default false.',
    }),
  }),
});

const RetryInput = builder.inputType('RetryPolicyInput', {
  description: 'How failed runs are retried. Giving it replaces the whole policy; parts left out take their defaults.',
  fields: (t) => ({
    count: t.int({ description: 'How many times to retry (0–100). Default 0.' }),
    delaySeconds: t.int({ description: 'Seconds before the first retry (0 or more). Default 0.' }),
    backoff: t.float({ description: 'Each wait is this many times the one before (1–100). Default 1.' }),
  }),
});

const ParameterInput = builder.inputType('ScriptParameterInput', {
  description: 'A parameter a run may set.',
  fields: (t) => ({
    name: t.string({ required: true, description: 'Letters, digits and _, not starting with a digit; unique in the script.' }),
    default: t.string({ description: 'The value when a run does not set it. Default "".' }),
  }),
});

/** The fields of both script inputs; `name` is required only to create. */

type SchemaTypes = typeof builder extends PothosSchemaTypes.SchemaBuilder<infer T> ? T : never;

function scriptInputFields(t: PothosSchemaTypes.InputFieldBuilder<SchemaTypes, 'InputObject'>) {
  return {
    description: t.string({ description: 'Notes for people (at most 10,000 characters).' }),
    enabled: t.boolean({ description: 'Whether it may run. Default true.' }),
    executable: t.string({ description: 'The interpreter or program the body is given to. Default /bin/sh; not empty.' }),
    body: t.string({ description: 'The script text (at most 1 MiB). Default empty.' }),
    steps: t.field({ type: [StepInput], description: 'Steps run in order instead of the body; an empty list (the default) uses the body.' }),
    stopOnFirstFailure: t.boolean({ description: 'With steps: stop at the first step that fails. Default true.' }),
    workingDir: t.string({ description: 'An absolute directory runs start in; null or "" for none.' }),
    runAsUid: t.int({ description: 'The user id runs have (0 or more); null for the runner\'s own.' }),
    runAsGid: t.int({ description: 'The group id runs have (0 or more); null for the runner\'s own.' }),
    timeoutSeconds: t.int({ description: 'Kill a run after this many seconds (more than 0); null for no limit.' }),
    maxConcurrent: t.int({ description: 'At most this many runs at once over all hosts (more than 0); null for no limit.' }),
    maxConcurrentPerHost: t.int({ description: 'At most this many runs at once on one host (more than 0); null for no limit.' }),
    retry: t.field({ type: RetryInput, description: 'How failed runs are retried. Default: never.' }),
    parameters: t.field({ type: [ParameterInput], description: 'The parameters a run may set (at most 100). Default none.' }),
    afterExecution: t.string({ description: 'Otto\'s AfterExecution, free text (at most 1000 characters); null or "" for none.' }),
    jobClass: t.string({ description: 'A built-in runner instead of the executable (an ndscheduler job class string); null or "" for none.' }),
    jobArgs: t.field({ type: 'JSON', description: 'The job class\'s positional arguments: a JSON list (at most 64 KiB). Default [].' }),
    listenPoint: t.string({
      description:
        'The webhook path that triggers a run: 1–200 of A–Z a–z 0–9 . _ ~ - /, no "/" at either end, no "..", not starting with one of Runboard\'s own routes (api, runs, scripts, …). Unique. null or "" for none.',
    }),
    webhookProvider: t.field({
      type: 'JSON',
      description: 'What a webhook must look like: {"github": {"repo": "owner/name", "branches"?: [...]}}, the same for "bitbucket", or {"dummy": {"message": "..."}}; null to decline every webhook call.',
    }),
    configFile: t.string({ description: 'The Sloth CI config file on the server the script is bound to; null or "" for none.' }),
    configSource: t.string({ description: 'The Sloth CI config (YAML) the script was made from, stored as given (at most 1 MiB).' }),
    environment: t.field({ type: [EnvVarInput], description: 'The script\'s environment variables, in order; replaces the whole set when given.' }),
    attachmentIds: t.idList({ description: 'The attachments written before each run, in order; replaces the list when given.' }),
    groupIds: t.idList({ description: 'The groups whose hosts may run the script; replaces the list when given.' }),
  };
}

const CreateScriptInput = builder.inputType('CreateScriptInput', {
  description: 'A new script. Only the name is required; everything else has a default.',
  fields: (t) => ({
    name: t.string({ required: true, description: 'Unique (ignoring case), 1–140 characters.' }),
    ...scriptInputFields(t),
  }),
});

const UpdateScriptInput = builder.inputType('UpdateScriptInput', {
  description: 'Changes to a script: only the fields given change; null clears the optional ones. Lists given replace the old ones.',
  fields: (t) => ({
    id: t.id({ required: true, description: 'The script to change.' }),
    name: t.string({ description: 'Unique (ignoring case), 1–140 characters.' }),
    ...scriptInputFields(t),
  }),
});

const SetScriptGroupsInput = builder.inputType('SetScriptGroupsInput', {
  description: 'Which groups may run a script.',
  fields: (t) => ({
    scriptId: t.id({ required: true, description: 'The script.' }),
    groupIds: t.idList({ required: true, description: 'All the groups whose hosts may run it (an empty list for none).' }),
  }),
});

type ScriptInputArgs = Omit<typeof UpdateScriptInput.$inferInput, 'id'>;

/** GraphQL's input as the service takes it: ids decoded, null meaning "unchanged" where a field cannot be null. */
function toScriptInput(input: ScriptInputArgs): ScriptInput {
  const keep = <T>(value: T | null | undefined): T | undefined => (value === null ? undefined : value);
  return {
    name: keep(input.name),
    description: keep(input.description),
    enabled: keep(input.enabled),
    executable: keep(input.executable),
    body: keep(input.body),
    steps: keep(input.steps),
    stopOnFirstFailure: keep(input.stopOnFirstFailure),
    workingDir: input.workingDir,
    runAsUid: input.runAsUid,
    runAsGid: input.runAsGid,
    timeoutSeconds: input.timeoutSeconds,
    maxConcurrent: input.maxConcurrent,
    maxConcurrentPerHost: input.maxConcurrentPerHost,
    retry: keep(input.retry),
    parameters: keep(input.parameters),
    afterExecution: input.afterExecution,
    jobClass: input.jobClass,
    jobArgs: input.jobArgs,
    listenPoint: input.listenPoint,
    webhookProvider: input.webhookProvider,
    configFile: input.configFile,
    configSource: input.configSource,
    environment: keep(input.environment),
    attachmentIds: input.attachmentIds ? decodeIds('Attachment', input.attachmentIds, 'input.attachmentIds') : undefined,
    groupIds: input.groupIds ? decodeIds('Group', input.groupIds, 'input.groupIds') : undefined,
  };
}

builder.mutationFields((t) => ({
  createScript: t.withAuth({ role: 'admin' }).field({
    type: ScriptRef,
    description: 'Creates a script. Admins only.',
    errors: outcome('the new script', [ValidationError, NotFoundError, ConflictError]),
    args: { input: t.arg({ type: CreateScriptInput, required: true, description: 'The new script.' }) },
    resolve: (_root, { input }, ctx) =>
      createScript(changeDeps(ctx), ctx.app.secrets, { ...toScriptInput(input), name: input.name }),
  }),
  updateScript: t.withAuth({ role: 'admin' }).field({
    type: ScriptRef,
    description: 'Changes a script. Admins only.',
    errors: outcome('the changed script', [ValidationError, NotFoundError, ConflictError]),
    args: { input: t.arg({ type: UpdateScriptInput, required: true, description: 'The script and the changes.' }) },
    resolve: (_root, { input }, ctx) =>
      updateScript(changeDeps(ctx), ctx.app.secrets, decodeId('Script', input.id, 'input.id'), toScriptInput(input)),
  }),
  setScriptGroups: t.withAuth({ role: 'admin' }).field({
    type: ScriptRef,
    description: 'Sets which groups may run a script (replacing the old set). Admins only.',
    errors: outcome('the script with its new groups', [ValidationError, NotFoundError]),
    args: { input: t.arg({ type: SetScriptGroupsInput, required: true, description: 'The script and its groups.' }) },
    resolve: (_root, { input }, ctx) =>
      setScriptGroups(
        changeDeps(ctx),
        decodeId('Script', input.scriptId, 'input.scriptId'),
        decodeIds('Group', input.groupIds, 'input.groupIds'),
      ),
  }),
  deleteScript: t.withAuth({ role: 'admin' }).field({
    type: 'ID',
    description:
      'Deletes a script together with its schedules, its environment, and the attachments no other script uses; returns its id. Its runs stay, keeping its name. Admins only.',
    errors: outcome('the id of the deleted script', [ValidationError, NotFoundError]),
    args: { id: t.arg.id({ required: true, description: 'The script to delete.' }) },
    resolve: async (_root, { id }, ctx) => {
      const script = await deleteScript(changeDeps(ctx), decodeId('Script', id, 'id'));
      return encodeGlobalID('Script', script.id);
    },
  }),
}));
