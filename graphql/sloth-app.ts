/**
 * Sloth CI apps in GraphQL (core/sloth-app.service.ts): creating a script from a Sloth YAML
 * config, binding it to a config file on the server, triggering a build at a listen point with
 * free parameters, and delivering a webhook call to a listen point. The app itself is read as a
 * Script (`scripts(filter: { listenPoint })`), its builds as the script's runs.
 */
import { ConflictError, NotFoundError, ValidationError } from '../core/errors';
import { bindSlothConfigFile, createSlothApp, deliverWebhook, reloadSlothApps, triggerListenPoint, type Reload } from '../core/sloth-app.service';
import type { Run } from '../db/run.repository';
import { builder } from './builder';
import { changeDeps } from './change';
import type { Context } from './context';
import { outcome } from './errors';
import { encodeGlobalID } from './ids';
import { RunRef } from './run';
import { runNotifier } from './run-output';
import { ScriptRef } from './script';

const BindInput = builder.inputType('BindSlothConfigFileInput', {
  description: 'An app and the config file on the server to bind it to.',
  fields: (t) => ({
    listenPoint: t.string({ required: true, description: 'The app (script) at this listen point.' }),
    configFile: t.string({ required: true, description: 'An absolute path on the Runboard server; the file must hold the app\'s own config.' }),
  }),
});

const TriggerInput = builder.inputType('TriggerListenPointInput', {
  description: 'A build of the app at a listen point, with parameters.',
  fields: (t) => ({
    listenPoint: t.string({ required: true, description: 'The app (script) at this listen point.' }),
    parameters: t.field({
      type: 'JSON',
      description:
        'A JSON object of text values laid over the script\'s parameters; names need not be declared (at most 100; not PATH, LD_*, RUNBOARD_* and the like). Default {}.',
    }),
  }),
});

const WebhookInput = builder.inputType('DeliverWebhookInput', {
  description: 'A call that arrived at /<listenPoint>.',
  fields: (t) => ({
    listenPoint: t.string({ required: true, description: 'The path it arrived at, without the leading "/".' }),
    method: t.string({ required: true, description: 'Its HTTP method.' }),
    fields: t.field({ type: 'JSON', description: 'Its query and form fields, a JSON object of texts (form fields win). Default {}.' }),
  }),
});

const ReloadRef = builder.objectRef<Reload>('SlothAppReload').implement({
  description: 'What re-reading one bound app\'s config file did.',
  fields: (t) => ({
    listenPoint: t.exposeString('listenPoint', { description: 'The app.' }),
    outcome: t.exposeString('outcome', { description: '"unchanged", "reloaded", or "not reloaded: <why>".' }),
  }),
});

/** A JSON object of texts, or a ValidationError naming the field. */
function textObject(value: unknown, field: string): Record<string, string> {
  if (value === null || value === undefined) return {};
  if (typeof value !== 'object' || Array.isArray(value) || !Object.values(value).every((v) => typeof v === 'string')) {
    throw new ValidationError(`${field} must be a JSON object of texts.`, [{ path: ['input', field], message: 'A JSON object of texts.' }]);
  }
  return value as Record<string, string>;
}

/** Tells listeners of a queued run and wakes this instance's dispatcher. */
function announce(ctx: Context, run: Run): Run {
  runNotifier(ctx.app.pubsub).runUpdated(run);
  ctx.app.execution?.wake();
  return run;
}

builder.mutationFields((t) => ({
  createSlothApp: t.withAuth({ role: 'admin' }).field({
    type: ScriptRef,
    description:
      'Creates a script from a Sloth CI app config (YAML: listen_point, actions, work_dir, exec_timeout, stop_on_first_fail, params, provider). ' +
      'A problem with the YAML itself has the path ["configString"] (["configString", "<key>"] for one key); a listen point in use is a ConflictError. Admins only.',
    errors: outcome('the new script', [ValidationError, ConflictError]),
    args: { configString: t.arg.string({ required: true, description: 'The YAML config, at most 1 MiB.' }) },
    resolve: (_root, { configString }, ctx) => createSlothApp(changeDeps(ctx), ctx.app.secrets, configString),
  }),
  bindSlothConfigFile: t.withAuth({ role: 'admin' }).field({
    type: ScriptRef,
    description:
      'Binds a Sloth CI app to a config file on the server (its configFile): the file must hold the same config as the app (else a ConflictError "Config mismatch"); a missing file is a NotFoundError. Admins only.',
    errors: outcome('the bound script', [ValidationError, NotFoundError, ConflictError]),
    args: { input: t.arg({ type: BindInput, required: true, description: 'The app and the file.' }) },
    resolve: (_root, { input }, ctx) => bindSlothConfigFile(changeDeps(ctx), ctx.app.secrets, input.listenPoint, input.configFile),
  }),
  reloadSlothApps: t.withAuth({ role: 'admin' }).field({
    type: [ReloadRef],
    description: 'Re-reads the config file of every bound Sloth CI app and updates the apps whose file changed (Sloth CI\'s restart). Admins only.',
    errors: outcome('what happened to each bound app', [ValidationError]),
    resolve: (_root, _args, ctx) => reloadSlothApps(changeDeps(ctx), ctx.app.secrets),
  }),
  triggerListenPoint: t.withAuth({ role: 'operator' }).field({
    type: RunRef,
    description: 'Queues a run of the script at a listen point on the local host, with parameters laid over its own (Sloth CI\'s trigger). Operators and admins.',
    errors: outcome('the queued run', [ValidationError, NotFoundError, ConflictError]),
    args: { input: t.arg({ type: TriggerInput, required: true, description: 'The listen point and the parameters.' }) },
    resolve: async (_root, { input }, ctx) => {
      const caller = { userId: ctx.viewer.user.id, username: ctx.viewer.user.username, viaApiKey: ctx.viewer.via === 'apiKey' };
      return announce(ctx, await triggerListenPoint(changeDeps(ctx), caller, input.listenPoint, textObject(input.parameters, 'parameters')));
    },
  }),
  deliverWebhook: t.field({
    type: 'ID',
    skipTypeScopes: true,
    description:
      'Delivers a webhook call to the script at a listen point: its webhook provider\'s validator (github, bitbucket: a POST with a "payload" form field, the repository must match, ' +
      'the branch becomes parameter "branch"; dummy: a GET whose "message" equals the configured one) decides, then a run is queued. Returns the run\'s id. Needs no credentials: the provider check is the guard.',
    errors: outcome('the id of the queued run', [ValidationError, NotFoundError, ConflictError]),
    args: { input: t.arg({ type: WebhookInput, required: true, description: 'The call.' }) },
    resolve: async (_root, { input }, ctx) => {
      const run = await deliverWebhook(changeDeps(ctx), input.listenPoint, { method: input.method.toUpperCase(), fields: textObject(input.fields, 'fields') });
      return encodeGlobalID('Run', announce(ctx, run).id);
    },
  }),
}));
