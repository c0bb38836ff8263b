/** API keys: each person manages their own. The token is shown once, at creation. */
import { createApiKey, listOwnApiKeys, revokeOwnApiKey } from '../core/api-key.service';
import { ConflictError, NotFoundError, ValidationError } from '../core/errors';
import type { Role } from '../core/roles';
import { findApiKeysByIds, type ApiKey } from '../db/api-key.repository';
import { builder } from './builder';
import { changeDeps } from './change';
import { pageArgs, toConnection } from './connection';
import { decodeId } from './ids';
import { RoleEnum } from './user';

export const ApiKeyRef = builder.loadableNodeRef('ApiKey', {
  id: { resolve: (key: ApiKey) => key.id },
  load: (ids: string[], ctx) => findApiKeysByIds(ctx.app.db, ids),
  sort: (key) => key.id,
});

ApiKeyRef.implement({
  description: 'A key for scripts and tools: send it as "Authorization: Bearer <token>" or as the password of HTTP Basic. You see only your own keys.',
  authScopes: (key, ctx) => ctx.viewer !== null && ctx.viewer.user.id === key.userId,
  fields: (t) => ({
    name: t.exposeString('name', { description: 'What the key is for (unique among your live keys).' }),
    prefix: t.exposeString('prefix', { description: 'The public part of the token, to tell keys apart.' }),
    role: t.field({ type: RoleEnum, description: 'The most this key may do.', resolve: (key) => key.roleCeiling }),
    expiresAt: t.expose('expiresAt', { type: 'DateTime', nullable: true, description: 'When it stops working; null for never.' }),
    revokedAt: t.expose('revokedAt', { type: 'DateTime', nullable: true, description: 'When it was revoked; null while it works.' }),
    lastUsedAt: t.expose('lastUsedAt', { type: 'DateTime', nullable: true, description: 'When it was last used (to the minute).' }),
    createdAt: t.expose('createdAt', { type: 'DateTime', description: 'When it was created.' }),
  }),
});

const CreatedApiKeyRef = builder.objectRef<{ apiKey: ApiKey; token: string }>('CreatedApiKey').implement({
  description: 'A new API key and, this once, its token.',
  fields: (t) => ({
    apiKey: t.field({ type: ApiKeyRef, description: 'The key.', resolve: (created) => created.apiKey }),
    token: t.exposeString('token', { description: 'The secret token. Shown only now: store it safely.' }),
  }),
});

const CreateApiKeyInput = builder.inputType('CreateApiKeyInput', {
  description: 'A new API key.',
  fields: (t) => ({
    name: t.string({ required: true, description: 'What the key is for, 1–100 characters.' }),
    role: t.field({ type: RoleEnum, description: 'The most the key may do; default and maximum: your role.' }),
    expiresAt: t.field({ type: 'DateTime', description: 'When the key stops working; default never.' }),
  }),
});

builder.queryFields((t) => ({
  apiKeys: t.withAuth({ signedIn: true }).connection({
    type: ApiKeyRef,
    description: 'Your API keys, newest first, revoked ones included.',
    resolve: async (_root, args, ctx) => toConnection(await listOwnApiKeys(ctx.app.db, ctx.viewer, pageArgs(args))),
  }),
}));

builder.mutationFields((t) => ({
  createApiKey: t.withAuth({ signedIn: true }).field({
    type: CreatedApiKeyRef,
    description: 'Creates an API key for yourself.',
    errors: { types: [ValidationError, ConflictError] },
    args: { input: t.arg({ type: CreateApiKeyInput, required: true, description: 'What to do it with.' }) },
    resolve: (_root, { input }, ctx) =>
      createApiKey(changeDeps(ctx), ctx.viewer, {
        name: input.name,
        roleCeiling: (input.role ?? undefined) as Role | undefined,
        expiresAt: input.expiresAt,
      }),
  }),
  revokeApiKey: t.withAuth({ signedIn: true }).field({
    type: ApiKeyRef,
    description: 'Revokes one of your API keys; it is refused from then on.',
    errors: { types: [NotFoundError, ValidationError] },
    args: { id: t.arg.id({ required: true, description: 'The key to revoke.' }) },
    resolve: (_root, { id }, ctx) => revokeOwnApiKey(changeDeps(ctx), ctx.viewer, decodeId('ApiKey', id)),
  }),
}));
