/** The audit log: the Event type, the `events` list and the `eventAdded` subscription. */
import { findEventsByIds, listEvents, type AuditEvent } from '../db/event.repository';
import { filter, pipe } from 'graphql-yoga';
import { builder } from './builder';
import type { Context } from './context';
import { pageArgs, toConnection } from './connection';
import { decodeAnyId, encodeGlobalID } from './ids';

const ActorKindEnum = builder.enumType('ActorKind', {
  description: 'What kind of caller made a change.',
  values: {
    USER: { value: 'user', description: 'A person, signed in or with a password.' },
    API_KEY: { value: 'api_key', description: "A person's API key." },
    HOST: { value: 'host', description: 'An agent, with its host key.' },
    SYSTEM: { value: 'system', description: 'Runboard itself (a schedule, a sweeper, start-up).' },
    ANONYMOUS: { value: 'anonymous', description: 'Nobody signed in (a failed sign-in, a ping).' },
  } as const,
});

export const EventRef = builder.loadableNodeRef('Event', {
  id: { resolve: (event: AuditEvent) => event.id },
  load: (ids: string[], ctx) => findEventsByIds(ctx.app.db, ids),
  sort: (event) => event.id,
});

/**
 * Events about people and their keys are for admins only, like the users list itself (the
 * options are readable by all, so their events are too).
 */
const ADMIN_ONLY_OBJECTS = ['User', 'ApiKey'];

function hiddenFrom(ctx: Context): string[] {
  return ctx.viewer?.role === 'admin' ? [] : ADMIN_ONLY_OBJECTS;
}

EventRef.implement({
  description: 'One entry of the audit log: who did what to which object, and when. Events about users and API keys are shown to admins only.',
  authScopes: (event, ctx) => ctx.viewer !== null && !hiddenFrom(ctx).includes(event.objectType ?? ''),
  fields: (t) => ({
    at: t.expose('at', { type: 'DateTime', description: 'When it happened.' }),
    action: t.exposeString('action', { description: 'What happened, as `<type>.<verb>`, e.g. `host.created`, `user.signed_in`.' }),
    actorKind: t.field({ type: ActorKindEnum, resolve: (e) => e.actorKind, description: 'Who did it: a user, a key, a host, Runboard.' }),
    actorName: t.exposeString('actorName', { description: 'The username (for users and keys), host name, or "runboard".' }),
    objectType: t.exposeString('objectType', { nullable: true, description: 'The type of the object changed, e.g. `Host`.' }),
    objectId: t.id({
      nullable: true,
      description: 'The global id of the object changed (it may since have been deleted).',
      resolve: (e) => (e.objectType && e.objectId ? encodeGlobalID(e.objectType, e.objectId) : null),
    }),
    objectName: t.exposeString('objectName', { nullable: true, description: 'The name of the object at the time.' }),
    summary: t.exposeString('summary', { description: 'One line for people.' }),
    details: t.field({
      type: 'JSON',
      description: 'What changed, as `{ before, after }` summaries, or other facts. Never a secret value.',
      resolve: (e) => e.details,
    }),
    ip: t.exposeString('ip', { nullable: true, description: 'Where the request came from.' }),
  }),
});

const EventFilterInput = builder.inputType('EventFilter', {
  description: 'Narrows the audit log; every field given must match.',
  fields: (t) => ({
    actions: t.stringList({ description: 'Exact actions, e.g. ["host.created", "host.deleted"].' }),
    actionPrefix: t.string({ description: 'Actions starting with this, e.g. "host."' }),
    objectType: t.string({ description: 'The object type, e.g. "Script".' }),
    objectId: t.id({ description: 'One object, by global id.' }),
    actorName: t.string({ description: 'A username or host name.' }),
    since: t.field({ type: 'DateTime', description: 'At or after this moment.' }),
    until: t.field({ type: 'DateTime', description: 'Before this moment.' }),
    search: t.string({ description: 'Text in the summary or object name (case-insensitive).' }),
  }),
});

builder.queryFields((t) => ({
  events: t.connection({
    type: EventRef,
    description: 'The audit log, newest first (events about users and API keys for admins only).',
    args: { filter: t.arg({ type: EventFilterInput, description: 'Which events; all when omitted.' }) },
    resolve: async (_root, args, ctx) => {
      const f = args.filter ?? {};
      const page = await listEvents(
        ctx.app.db,
        {
          hiddenObjectTypes: hiddenFrom(ctx),
          actions: f.actions ?? undefined,
          actionPrefix: f.actionPrefix ?? undefined,
          objectType: f.objectType ?? undefined,
          objectId: f.objectId ? decodeAnyId(f.objectId, 'filter.objectId') : undefined,
          actorName: f.actorName ?? undefined,
          since: f.since ?? undefined,
          until: f.until ?? undefined,
          search: f.search ?? undefined,
        },
        pageArgs(args),
      );
      return toConnection(page);
    },
  }),
}));

builder.subscriptionFields((t) => ({
  eventAdded: t.field({
    type: EventRef,
    description: 'Each new entry of the audit log, as it is written.',
    subscribe: (_root, _args, ctx) =>
      pipe(
        ctx.app.pubsub.subscribe('eventAdded'),
        filter((payload) => !hiddenFrom(ctx).includes(payload.objectType ?? '')),
      ),
    resolve: (payload: { id: string }) => payload.id,
  }),
}));
