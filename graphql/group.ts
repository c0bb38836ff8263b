/** Groups in GraphQL: the Group type, `Host.groups`, the `groups` list and group management. */
import { ConflictError, NotFoundError, ValidationError } from '../core/errors';
import { changeGroupHosts, createGroup, deleteGroup, setGroupScripts, updateGroup, type GroupChange } from '../core/group.service';
import { countHostsOfGroups, findGroupsByIds, listGroups, listGroupsOfHosts, listScriptsOfGroups, type Group } from '../db/group.repository';
import { listHostsInGroup } from '../db/host.repository';
import { builder } from './builder';
import { changeDeps } from './change';
import { pageArgs, pageOf, toConnection } from './connection';
import { outcome } from './errors';
import type { Context } from './context';
import { EnvVarInput, EnvVarRef, envVarOwner, loadEnvVars } from './environment';
import { HostRef, publishHost } from './host';
import { decodeId, decodeIds, encodeGlobalID } from './ids';
import { ScriptRef } from './script';

export const GroupRef = builder.loadableNodeRef('Group', {
  id: { resolve: (value: Group) => value.id },
  load: (ids: string[], ctx) => findGroupsByIds(ctx.app.db, ids),
  sort: (value) => value.id,
});

GroupRef.implement({
  description: 'A named set of hosts, with environment variables and the scripts it may run.',
  fields: (t) => ({
    name: t.exposeString('name', { description: 'Unique (ignoring case), at most 140 characters.' }),
    description: t.exposeString('description', { description: 'Free text for people.' }),
    createdAt: t.expose('createdAt', { type: 'DateTime', description: 'When it was created.' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime', description: 'When its settings or members last changed.' }),
    hosts: t.connection({
      type: HostRef,
      description: 'Its hosts, by name.',
      args: { search: t.arg.string({ description: 'Text in the host name (case-insensitive).' }) },
      resolve: async (group, args, ctx) => toConnection(await listHostsInGroup(ctx.app.db, group.id, args.search ?? undefined, pageArgs(args))),
    }, ...pageOf("a group's hosts")),
    hostCount: t.loadable({
      type: 'Int',
      description: 'How many hosts it has.',
      load: (ids: string[], ctx) => countHostsOfGroups(ctx.app.db, ids),
      resolve: (group) => group.id,
    }),
    scripts: t.loadableList({
      type: ScriptRef,
      description: 'The scripts its hosts may run, by name.',
      load: (ids: string[], ctx) => listScriptsOfGroups(ctx.app.db, ids),
      resolve: (group) => group.id,
    }),
    environment: t.loadableGroup({
      type: EnvVarRef,
      description: "Variables given to runs on its hosts; they win over the script's, and the host's own win over them. Secret values are never shown.",
      load: loadEnvVars('group'),
      group: envVarOwner,
      resolve: (group) => group.id,
    }),
  }),
});

builder.objectField(HostRef, 'groups', (t) =>
  t.loadableList({
    type: GroupRef,
    description: 'The groups it is in, by name.',
    load: (ids: string[], ctx) => listGroupsOfHosts(ctx.app.db, ids),
    resolve: (host) => host.id,
  }),
);

builder.queryFields((t) => ({
  groups: t.connection({
    type: GroupRef,
    description: 'Every group, by name.',
    args: { search: t.arg.string({ description: 'Text in the name (case-insensitive).' }) },
    resolve: async (_root, args, ctx) => toConnection(await listGroups(ctx.app.db, args.search ?? undefined, pageArgs(args))),
  }, ...pageOf('groups')),
}));

const CreateGroupInput = builder.inputType('CreateGroupInput', {
  description: 'A new group.',
  fields: (t) => ({
    name: t.string({ required: true, description: 'Unique (ignoring case), 1–140 characters.' }),
    description: t.string({ description: 'Free text for people, at most 10,000 characters. Default empty.' }),
    hostIds: t.idList({ description: 'Its hosts. Default none.' }),
    scriptIds: t.idList({ description: 'The scripts its hosts may run. Default none.' }),
    environment: t.field({ type: [EnvVarInput], description: 'Variables for runs on its hosts. Default none.' }),
  }),
});

const UpdateGroupInput = builder.inputType('UpdateGroupInput', {
  description: 'Only the fields given change; lists given replace.',
  fields: (t) => ({
    id: t.id({ required: true, description: 'The group to change.' }),
    name: t.string({ description: 'Unique (ignoring case), 1–140 characters.' }),
    description: t.string({ description: 'At most 10,000 characters.' }),
    hostIds: t.idList({ description: 'Its hosts: replaces its members.' }),
    scriptIds: t.idList({ description: 'The scripts its hosts may run: replaces the list.' }),
    environment: t.field({ type: [EnvVarInput], description: 'Its variables: replaces them all (send a secret without a value to keep it).' }),
  }),
});

const GroupHostsInput = builder.inputType('GroupHostsInput', {
  description: 'A group and some hosts.',
  fields: (t) => ({
    groupId: t.id({ required: true, description: 'The group.' }),
    hostIds: t.idList({ required: true, description: 'The hosts.' }),
  }),
});

const GroupScriptsInput = builder.inputType('GroupScriptsInput', {
  description: 'A group and the scripts its hosts may run.',
  fields: (t) => ({
    groupId: t.id({ required: true, description: 'The group.' }),
    scriptIds: t.idList({ required: true, description: 'The scripts: replaces the list.' }),
  }),
});

/** Hosts that joined or left a group changed too: their `groups` field did. */
function published(ctx: Context, change: GroupChange): Group {
  for (const id of change.hostIds) publishHost(ctx, id);
  return change.group;
}

const hostIds = (ids: readonly (string | number)[]) => decodeIds('Host', ids, 'input.hostIds');
const scriptIds = (ids: readonly (string | number)[]) => decodeIds('Script', ids, 'input.scriptIds');
const groupId = (id: string | number) => decodeId('Group', id, 'input.groupId');

const allErrors = [ValidationError, NotFoundError, ConflictError];
const membershipErrors = [ValidationError, NotFoundError];

builder.mutationFields((t) => ({
  createGroup: t.withAuth({ role: 'admin' }).field({
    type: GroupRef,
    description: 'Creates a group. Admins only.',
    errors: outcome('the new group', allErrors),
    args: { input: t.arg({ type: CreateGroupInput, required: true, description: 'The new group.' }) },
    resolve: async (_root, { input }, ctx) => {
      const change = await createGroup(changeDeps(ctx), ctx.app.secrets, {
        name: input.name,
        description: input.description ?? undefined,
        hostIds: input.hostIds ? hostIds(input.hostIds) : undefined,
        scriptIds: input.scriptIds ? scriptIds(input.scriptIds) : undefined,
        environment: input.environment ?? undefined,
      });
      return published(ctx, change);
    },
  }),
  updateGroup: t.withAuth({ role: 'admin' }).field({
    type: GroupRef,
    description: 'Changes a group. Admins only.',
    errors: outcome('the changed group', allErrors),
    args: { input: t.arg({ type: UpdateGroupInput, required: true, description: 'The group and what changes.' }) },
    resolve: async (_root, { input }, ctx) => {
      const change = await updateGroup(changeDeps(ctx), ctx.app.secrets, decodeId('Group', input.id, 'input.id'), {
        name: input.name ?? undefined,
        description: input.description ?? undefined,
        hostIds: input.hostIds ? hostIds(input.hostIds) : undefined,
        scriptIds: input.scriptIds ? scriptIds(input.scriptIds) : undefined,
        environment: input.environment ?? undefined,
      });
      return published(ctx, change);
    },
  }),
  deleteGroup: t.withAuth({ role: 'admin' }).field({
    type: 'ID',
    description:
      'Deletes a group and returns its id. Refused while it has hosts, is the default group for agent registration, is used by a registration rule or is targeted by a schedule. Admins only.',
    errors: outcome('the id of the deleted group', allErrors),
    args: { id: t.arg.id({ required: true, description: 'The group to delete.' }) },
    resolve: async (_root, { id }, ctx) => encodeGlobalID('Group', (await deleteGroup(changeDeps(ctx), decodeId('Group', id, 'id'))).id),
  }),
  setGroupHosts: t.withAuth({ role: 'admin' }).field({
    type: GroupRef,
    description: "Replaces a group's hosts. Admins only.",
    errors: outcome('the group with its new hosts', membershipErrors),
    args: { input: t.arg({ type: GroupHostsInput, required: true, description: 'The group and all of its hosts.' }) },
    resolve: async (_root, { input }, ctx) =>
      published(ctx, await changeGroupHosts(changeDeps(ctx), groupId(input.groupId), { set: hostIds(input.hostIds) })),
  }),
  addHostsToGroup: t.withAuth({ role: 'admin' }).field({
    type: GroupRef,
    description: 'Adds hosts to a group; hosts already in it stay. Admins only.',
    errors: outcome('the group with its hosts', membershipErrors),
    args: { input: t.arg({ type: GroupHostsInput, required: true, description: 'The group and the hosts to add.' }) },
    resolve: async (_root, { input }, ctx) =>
      published(ctx, await changeGroupHosts(changeDeps(ctx), groupId(input.groupId), { add: hostIds(input.hostIds) })),
  }),
  removeHostsFromGroup: t.withAuth({ role: 'admin' }).field({
    type: GroupRef,
    description: 'Removes hosts from a group; hosts not in it are ignored. Admins only.',
    errors: outcome('the group with its remaining hosts', membershipErrors),
    args: { input: t.arg({ type: GroupHostsInput, required: true, description: 'The group and the hosts to remove.' }) },
    resolve: async (_root, { input }, ctx) =>
      published(ctx, await changeGroupHosts(changeDeps(ctx), groupId(input.groupId), { remove: hostIds(input.hostIds) })),
  }),
  setGroupScripts: t.withAuth({ role: 'admin' }).field({
    type: GroupRef,
    description: "Replaces the scripts a group's hosts may run. Admins only.",
    errors: outcome('the group with its new scripts', membershipErrors),
    args: { input: t.arg({ type: GroupScriptsInput, required: true, description: 'The group and all the scripts it may run.' }) },
    resolve: (_root, { input }, ctx) => setGroupScripts(changeDeps(ctx), groupId(input.groupId), scriptIds(input.scriptIds)),
  }),
}));
