/**
 * Server options in GraphQL: the `options` query (any signed-in user; the registration key is
 * write-only, so only whether one is set is shown) and `updateOptions` (admins).
 */
import { NotFoundError, ValidationError } from '../core/errors';
import { updateOptions } from '../core/options.service';
import { listEnvVars } from '../db/env-var.repository';
import { getOptions, listRegistrationRules, type RegistrationRule, type ServerOptions } from '../db/options.repository';
import { builder } from './builder';
import { changeDeps } from './change';
import { EnvVarInput, EnvVarRef } from './environment';
import { GroupRef } from './group';
import { decodeId } from './ids';

const RegistrationPropertyEnum = builder.enumType('RegistrationProperty', {
  description: 'What a registration rule tests about a registering host.',
  values: {
    UNAME: { value: 'uname', description: 'The host\'s `uname -a` output (system, kernel, architecture).' },
    HOSTNAME: { value: 'hostname', description: 'The host\'s name as it reports it.' },
  } as const,
});

const RegistrationRuleRef = builder.objectRef<RegistrationRule>('RegistrationRule').implement({
  description: 'Puts a registering host whose property matches the pattern into a group. Rules are tried in order; the first match wins.',
  fields: (t) => ({
    property: t.field({ type: RegistrationPropertyEnum, description: 'What the pattern is tested against.', resolve: (rule) => rule.property }),
    pattern: t.exposeString('pattern', { description: 'A JavaScript regular expression; it matches anywhere unless anchored with ^ and $.' }),
    group: t.field({ type: GroupRef, description: 'The group a matching host joins.', resolve: (rule) => rule.groupId }),
  }),
});

const RegistrationOptionsRef = builder.objectRef<ServerOptions['registration']>('RegistrationOptions').implement({
  description: 'Whether and how agents may register themselves with the pre-shared key (Otto\'s `PUT /api/register`).',
  fields: (t) => ({
    enabled: t.exposeBoolean('enabled', { description: 'Whether hosts may register themselves. Off by default.' }),
    pskSet: t.exposeBoolean('pskSet', { description: 'Whether a pre-shared key is set. The key itself is write-only and never shown.' }),
    defaultGroup: t.field({
      type: GroupRef,
      nullable: true,
      description: 'The group a registered host joins when no rule matches; null for none.',
      resolve: (registration) => registration.defaultGroupId,
    }),
    rules: t.field({
      type: [RegistrationRuleRef],
      description: 'The rules, in the order they are tried.',
      resolve: (_registration, _args, ctx) => listRegistrationRules(ctx.app.db),
    }),
  }),
});

const OptionsRef = builder.objectRef<ServerOptions>('Options').implement({
  description: 'Settings of the whole server: its address, networking, host registration, anonymous check-ins and the global environment.',
  fields: (t) => ({
    serverUrl: t.exposeString('serverUrl', {
      nullable: true,
      description: 'The absolute http(s) URL at which agents and people reach this server; null when unset.',
    }),
    forceIpVersion: t.exposeInt('forceIpVersion', {
      nullable: true,
      description: 'Use only IPv4 (4) or only IPv6 (6) for outgoing connections; null for either.',
    }),
    networkTimeoutSeconds: t.exposeInt('networkTimeoutSeconds', { description: 'How long a connection to a host may take before it fails, in seconds. Default 30.' }),
    heartbeatSeconds: t.exposeInt('heartbeatSeconds', { description: 'How often hosts send a heartbeat, in seconds. Default 30.' }),
    hostOfflineAfterSeconds: t.exposeInt('hostOfflineAfterSeconds', {
      description: 'A host with no heartbeat for this long is shown offline, in seconds. Default 60; always more than the heartbeat interval.',
    }),
    includePskEnv: t.exposeBoolean('includePskEnv', {
      description: 'Whether runs get their host\'s key in the environment (Otto\'s OTTO_HOST_PSK). Default false.',
    }),
    anonymousCheckinNetworks: t.exposeStringList('anonymousCheckinNetworks', {
      description: 'Networks (CIDR) from which check-in writes (Scripto and VirtShell reports) need no credentials. Empty (the default) means none.',
    }),
    registration: t.field({ type: RegistrationOptionsRef, description: 'Agent self-registration.', resolve: (options) => options.registration }),
    globalEnvironment: t.field({
      type: [EnvVarRef],
      description: 'Variables every run gets, before script, group and host variables (later ones win). Secret values are never shown.',
      resolve: (_options, _args, ctx) => listEnvVars(ctx.app.db, { kind: 'global' }),
    }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime', description: 'When the options last changed.' }),
  }),
});

const RegistrationRuleInput = builder.inputType('RegistrationRuleInput', {
  description: 'One registration rule.',
  fields: (t) => ({
    property: t.field({ type: RegistrationPropertyEnum, required: true, description: 'What the pattern is tested against.' }),
    pattern: t.string({ required: true, description: 'A JavaScript regular expression, at most 500 characters.' }),
    groupId: t.id({ required: true, description: 'The group a matching host joins.' }),
  }),
});

const RegistrationOptionsInput = builder.inputType('RegistrationOptionsInput', {
  description: 'Changes to agent self-registration; only the fields given change.',
  fields: (t) => ({
    enabled: t.boolean({ description: 'Whether hosts may register themselves. Enabling needs a pre-shared key.' }),
    psk: t.string({
      description: 'The new pre-shared key (write-only; at most 1024 characters). Omit to keep the stored one; an empty string clears it.',
    }),
    defaultGroupId: t.id({ description: 'The group a registered host joins when no rule matches; null for none.' }),
    rules: t.field({ type: [RegistrationRuleInput], description: 'Replaces every rule (at most 100), in the order they are tried.' }),
  }),
});

const UpdateOptionsInput = builder.inputType('UpdateOptionsInput', {
  description: 'Changes to the server options; only the fields given change.',
  fields: (t) => ({
    serverUrl: t.string({ description: 'An absolute http:// or https:// URL, e.g. https://runboard.example.com; null or empty to unset.' }),
    forceIpVersion: t.int({ description: '4 or 6 to use only that IP version; null for either.' }),
    networkTimeoutSeconds: t.int({ description: 'Seconds, 1–86400.' }),
    heartbeatSeconds: t.int({ description: 'Seconds, 1–86400, less than hostOfflineAfterSeconds.' }),
    hostOfflineAfterSeconds: t.int({ description: 'Seconds, 1–86400, more than heartbeatSeconds.' }),
    includePskEnv: t.boolean({ description: 'Whether runs get their host\'s key in the environment.' }),
    anonymousCheckinNetworks: t.stringList({
      description: 'Replaces the list (at most 100): IPv4 or IPv6 networks in CIDR form, e.g. 10.0.0.0/8 or fd00::/8; a bare address means that one host.',
    }),
    registration: t.field({ type: RegistrationOptionsInput, description: 'Agent self-registration settings.' }),
    globalEnvironment: t.field({ type: [EnvVarInput], description: 'Replaces the global variables (send secrets without a value to keep them).' }),
  }),
});

builder.queryFields((t) => ({
  options: t.field({
    type: OptionsRef,
    description: 'The server options. Any signed-in user may read them; secret values are never returned.',
    resolve: (_root, _args, ctx) => getOptions(ctx.app.db),
  }),
}));

builder.mutationFields((t) => ({
  updateOptions: t.withAuth({ role: 'admin' }).field({
    type: OptionsRef,
    description: 'Changes the server options (only the fields given) and returns them. Admins only.',
    errors: { types: [ValidationError, NotFoundError] },
    args: { input: t.arg({ type: UpdateOptionsInput, required: true, description: 'What to change.' }) },
    resolve: async (_root, { input }, ctx) => {
      const registration = input.registration;
      await updateOptions(changeDeps(ctx), ctx.app.secrets, {
        ...input,
        registration: registration && {
          ...registration,
          defaultGroupId:
            registration.defaultGroupId === undefined || registration.defaultGroupId === null
              ? registration.defaultGroupId
              : decodeId('Group', registration.defaultGroupId, 'input.registration.defaultGroupId'),
          rules: registration.rules?.map((rule, i) => ({
            property: rule.property,
            pattern: rule.pattern,
            groupId: decodeId('Group', rule.groupId, `input.registration.rules.${i}.groupId`),
          })),
        },
      });
      return getOptions(ctx.app.db);
    },
  }),
}));
