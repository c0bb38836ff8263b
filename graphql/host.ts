/** Hosts in GraphQL: the Host type, the `hosts` list, host management and `hostUpdated`. */
import { ConflictError, NotFoundError, ValidationError } from '../core/errors';
import { createHost, deleteHost, revokeHostKey, rotateHostKey, updateHost } from '../core/host.service';
import { findHostsByIds, listHosts, runningRunCounts, type Host } from '../db/host.repository';
import { builder } from './builder';
import { changeDeps } from './change';
import { pageArgs, pageOf, toConnection } from './connection';
import { outcome } from './errors';
import type { Context } from './context';
import { EnvVarInput, EnvVarRef, envVarOwner, loadEnvVars } from './environment';
import { decodeId, decodeIds, encodeGlobalID } from './ids';

export const HostRef = builder.loadableNodeRef('Host', {
  id: { resolve: (value: Host) => value.id },
  load: (ids: string[], ctx) => findHostsByIds(ctx.app.db, ids),
  sort: (value) => value.id,
});

const HostKindEnum = builder.enumType('HostKind', {
  description: 'Whether a host is the server itself or a machine with an agent.',
  values: {
    LOCAL: { value: 'local', description: 'The machine the Runboard server runs on; there is exactly one.' },
    AGENT: { value: 'agent', description: 'A machine whose agent connects to Runboard with its agent key.' },
  } as const,
});

HostRef.implement({
  description: 'A machine that runs scripts: the server itself (`local`) or one with an agent.',
  fields: (t) => ({
    name: t.exposeString('name', { description: 'Unique (ignoring case), at most 140 characters.' }),
    kind: t.field({ type: HostKindEnum, description: 'The server itself, or an agent.', resolve: (host) => host.kind }),
    description: t.exposeString('description', { description: 'Free text for people.' }),
    address: t.exposeString('address', { nullable: true, description: 'The hostname or IP address it is known by (unique, ignoring case); null when none.' }),
    port: t.exposeInt('port', { nullable: true, description: 'The port that goes with the address (1–65535); null when none.' }),
    enabled: t.exposeBoolean('enabled', { description: 'Whether runs are sent to it. A disabled host stays connected but gets no runs.' }),
    hasAgentKey: t.boolean({
      description: 'Whether an agent key is issued; the key itself is shown only when issued.',
      resolve: (host) => host.agentKeyPrefix !== null,
    }),
    agentKeyPrefix: t.exposeString('agentKeyPrefix', {
      nullable: true,
      description: 'The public part of the agent key (`rbh_<prefix>_…`), to tell keys apart; null when none.',
    }),
    agentKeyCreatedAt: t.expose('agentKeyCreatedAt', { type: 'DateTime', nullable: true, description: 'When the current agent key was issued.' }),
    hostname: t.exposeString('hostname', { nullable: true, description: 'The hostname its agent reported.' }),
    os: t.exposeString('os', { nullable: true, description: 'The operating system its agent reported (e.g. `uname -a`).' }),
    agentVersion: t.exposeString('agentVersion', { nullable: true, description: 'The Runboard version of its agent.' }),
    online: t.exposeBoolean('online', { description: 'Whether it is connected now (the local host always is).' }),
    lastSeenAt: t.expose('lastSeenAt', { type: 'DateTime', nullable: true, description: 'When its agent was last heard from.' }),
    runningRuns: t.loadable({
      type: 'Int',
      description: 'How many of its runs are dispatched or running now (follow `runUpdated` to see them change).',
      load: async (ids: string[], ctx) => {
        const counts = await runningRunCounts(ctx.app.db, ids);
        return ids.map((id) => counts.get(id) ?? 0);
      },
      resolve: (host) => host.id,
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime', description: 'When it was added.' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime', description: 'When its settings last changed.' }),
    environment: t.loadableGroup({
      type: EnvVarRef,
      description: "Variables given to every run on this host; they win over its groups' and the script's. Secret values are never shown.",
      load: loadEnvVars('host'),
      group: envVarOwner,
      resolve: (host) => host.id,
    }),
  }),
});

const HostFilterInput = builder.inputType('HostFilter', {
  description: 'Narrows the host list; every field given must match.',
  fields: (t) => ({
    online: t.boolean({ description: 'Only hosts that are (true) or are not (false) connected.' }),
    enabled: t.boolean({ description: 'Only enabled (true) or disabled (false) hosts.' }),
    kind: t.field({ type: HostKindEnum, description: 'Only the local host, or only agents.' }),
  }),
});



builder.queryFields((t) => ({
  hosts: t.connection({
    type: HostRef,
    description: 'Every host, by name.',
    args: {
      search: t.arg.string({ description: 'Text in the name (case-insensitive).' }),
      filter: t.arg({ type: HostFilterInput, description: 'Only hosts that match.' }),
    },
    resolve: async (_root, args, ctx) => {
      const f = args.filter ?? {};
      const filter = { search: args.search ?? undefined, online: f.online ?? undefined, enabled: f.enabled ?? undefined, kind: f.kind ?? undefined };
      return toConnection(await listHosts(ctx.app.db, filter, pageArgs(args)));
    },
  }, ...pageOf('hosts')),
}));

const CreateHostInput = builder.inputType('CreateHostInput', {
  description: 'A new agent host. Its agent key is issued with it and shown once.',
  fields: (t) => ({
    name: t.string({ required: true, description: 'Unique (ignoring case), 1–140 characters.' }),
    description: t.string({ description: 'Free text for people, at most 10,000 characters. Default empty.' }),
    address: t.string({ description: 'Hostname or IP address, unique (ignoring case). Default none.' }),
    port: t.int({ description: 'Port, 1–65535. Default none.' }),
    enabled: t.boolean({ description: 'Whether runs are sent to it. Default true.' }),
    groupIds: t.idList({ description: 'The groups it joins. Default none.' }),
    environment: t.field({ type: [EnvVarInput], description: 'Variables for every run on it. Default none.' }),
  }),
});

const UpdateHostInput = builder.inputType('UpdateHostInput', {
  description: 'Only the fields given change; lists given replace. The local host keeps its name and has no address.',
  fields: (t) => ({
    id: t.id({ required: true, description: 'The host to change.' }),
    name: t.string({ description: 'Unique (ignoring case), 1–140 characters.' }),
    description: t.string({ description: 'At most 10,000 characters.' }),
    address: t.string({ description: 'Hostname or IP address; null or "" removes it.' }),
    port: t.int({ description: 'Port, 1–65535; null removes it.' }),
    enabled: t.boolean({ description: 'Whether runs are sent to it.' }),
    groupIds: t.idList({ description: 'Its groups: replaces the ones it is in.' }),
    environment: t.field({ type: [EnvVarInput], description: 'Its variables: replaces them all (send a secret without a value to keep it).' }),
  }),
});

export const HostAgentKeyRef = builder.objectRef<{ host: Host; agentKey: string }>('HostAgentKey').implement({
  description: 'A host and its newly issued agent key.',
  fields: (t) => ({
    host: t.field({ type: HostRef, description: 'The host.', resolve: (result) => result.host }),
    agentKey: t.exposeString('agentKey', {
      description: 'The agent key (`rbh_<prefix>_<secret>`), for `runboard agent --key`. Shown only now: it is stored hashed and cannot be shown again.',
    }),
  }),
});

/** Tells `hostUpdated` subscribers; call after the change has committed. */
export function publishHost(ctx: Context, id: string, change: { deleted?: boolean; created?: boolean } = {}): void {
  ctx.app.pubsub.publish('hostUpdated', { id, deleted: change.deleted ?? false, ...(change.created && { created: true }) });
}

builder.mutationFields((t) => ({
  createHost: t.withAuth({ role: 'admin' }).field({
    type: HostAgentKeyRef,
    description: 'Adds an agent host and issues its agent key, which is shown only in this answer. Admins only.',
    errors: outcome('the new host and its agent key', [ValidationError, NotFoundError, ConflictError]),
    args: { input: t.arg({ type: CreateHostInput, required: true, description: 'The new host.' }) },
    resolve: async (_root, { input }, ctx) => {
      const created = await createHost(changeDeps(ctx), ctx.app.secrets, {
        name: input.name,
        description: input.description ?? undefined,
        address: input.address,
        port: input.port,
        enabled: input.enabled ?? undefined,
        groupIds: input.groupIds ? decodeIds('Group', input.groupIds, 'input.groupIds') : undefined,
        environment: input.environment ?? undefined,
      });
      publishHost(ctx, created.host.id, { created: true });
      return created;
    },
  }),
  updateHost: t.withAuth({ role: 'admin' }).field({
    type: HostRef,
    description: 'Changes a host. Admins only.',
    errors: outcome('the changed host', [ValidationError, NotFoundError, ConflictError]),
    args: { input: t.arg({ type: UpdateHostInput, required: true, description: 'The host and what changes.' }) },
    resolve: async (_root, { input }, ctx) => {
      const host = await updateHost(changeDeps(ctx), ctx.app.secrets, decodeId('Host', input.id, 'input.id'), {
        name: input.name ?? undefined,
        description: input.description ?? undefined,
        address: input.address,
        port: input.port,
        enabled: input.enabled ?? undefined,
        groupIds: input.groupIds ? decodeIds('Group', input.groupIds, 'input.groupIds') : undefined,
        environment: input.environment ?? undefined,
      });
      publishHost(ctx, host.id);
      return host;
    },
  }),
  deleteHost: t.withAuth({ role: 'admin' }).field({
    type: 'ID',
    description: 'Deletes an agent host and returns its id. Refused while a schedule targets it; the local host is never deleted. Its past runs stay. Admins only.',
    errors: outcome('the id of the deleted host', [ValidationError, NotFoundError, ConflictError]),
    args: { id: t.arg.id({ required: true, description: 'The host to delete.' }) },
    resolve: async (_root, { id }, ctx) => {
      const host = await deleteHost(changeDeps(ctx), decodeId('Host', id, 'id'));
      publishHost(ctx, host.id, { deleted: true });
      return encodeGlobalID('Host', host.id);
    },
  }),
  rotateHostKey: t.withAuth({ role: 'admin' }).field({
    type: HostAgentKeyRef,
    description: 'Issues a new agent key for a host, shown only in this answer; the old key stops working at once. Admins only.',
    errors: outcome('the host and its new agent key', [ValidationError, NotFoundError, ConflictError]),
    args: { id: t.arg.id({ required: true, description: 'The host.' }) },
    resolve: async (_root, { id }, ctx) => {
      const rotated = await rotateHostKey(changeDeps(ctx), decodeId('Host', id, 'id'));
      publishHost(ctx, rotated.host.id);
      return rotated;
    },
  }),
  revokeHostKey: t.withAuth({ role: 'admin' }).field({
    type: HostRef,
    description: "Removes a host's agent key: its agent cannot connect until a new key is issued. Admins only.",
    errors: outcome('the host, without an agent key', [ValidationError, NotFoundError]),
    args: { id: t.arg.id({ required: true, description: 'The host.' }) },
    resolve: async (_root, { id }, ctx) => {
      const host = await revokeHostKey(changeDeps(ctx), decodeId('Host', id, 'id'));
      publishHost(ctx, host.id);
      return host;
    },
  }),
}));

type HostChangeKind = 'CREATED' | 'UPDATED' | 'DELETED';

const HostChangeKindEnum = builder.enumType('HostChangeKind', {
  description: 'What happened to a host.',
  values: {
    CREATED: { description: 'It was added.' },
    UPDATED: { description: 'Its settings, key, groups or connection changed.' },
    DELETED: { description: 'It was deleted.' },
  } as const,
});

const HostChangeRef = builder.objectRef<{ kind: HostChangeKind; id: string }>('HostChange').implement({
  description: 'A host was added, changed or deleted.',
  fields: (t) => ({
    kind: t.field({ type: HostChangeKindEnum, description: 'What happened.', resolve: (change) => change.kind }),
    hostId: t.id({ description: 'The global id of the host.', resolve: (change) => encodeGlobalID('Host', change.id) }),
    host: t.field({
      type: HostRef,
      nullable: true,
      description: 'The host as it is now; null when it was deleted.',
      resolve: (change) => (change.kind === 'DELETED' ? null : change.id),
    }),
  }),
});

builder.subscriptionFields((t) => ({
  hostUpdated: t.field({
    type: HostChangeRef,
    description: 'Fires when a host is added, changed, deleted, gets or loses an agent key, or comes online or goes offline.',
    subscribe: (_root, _args, ctx) => ctx.app.pubsub.subscribe('hostUpdated'),
    // DataLoader caches are cleared before each event (graphql/fresh-loaders.ts).
    resolve: (payload: { id: string; deleted: boolean; created?: boolean }) => {
      return { id: payload.id, kind: (payload.deleted ? 'DELETED' : payload.created ? 'CREATED' : 'UPDATED') as HostChangeKind };
    },
  }),
}));
