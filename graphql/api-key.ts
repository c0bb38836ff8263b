/** API keys: each person manages their own. The token is shown once, at creation. */
import { createApiKey, listOwnApiKeys, revokeOwnApiKey } from '../core/api-key.service';
import { ConflictError, NotFoundError, ValidationError } from '../core/errors';
import type { Role } from '../core/roles';
import type { ApiKey } from '../db/api-key.repository';
import { builder } from './builder';
import { RoleEnum } from './user';

const ApiKeyRef = builder.objectRef<ApiKey>('ApiKey').implement({
  description: 'A key for scripts and tools: send it as "Authorization: Bearer <token>" or as the password of HTTP Basic.',
  fields: (t) => ({
    id: t.exposeID('id'),
    name: t.exposeString('name'),
    prefix: t.exposeString('prefix', { description: 'The public part of the token, to tell keys apart.' }),
    role: t.field({ type: RoleEnum, description: 'The most this key may do.', resolve: (key) => key.roleCeiling }),
    expiresAt: t.expose('expiresAt', { type: 'DateTime', nullable: true }),
    revokedAt: t.expose('revokedAt', { type: 'DateTime', nullable: true }),
    lastUsedAt: t.expose('lastUsedAt', { type: 'DateTime', nullable: true }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
  }),
});

const CreatedApiKeyRef = builder.objectRef<{ apiKey: ApiKey; token: string }>('CreatedApiKey').implement({
  fields: (t) => ({
    apiKey: t.field({ type: ApiKeyRef, resolve: (created) => created.apiKey }),
    token: t.exposeString('token', { description: 'The secret token. Shown only now: store it safely.' }),
  }),
});

const CreateApiKeyInput = builder.inputType('CreateApiKeyInput', {
  fields: (t) => ({
    name: t.string({ required: true }),
    role: t.field({ type: RoleEnum, description: 'The most the key may do; default and maximum: your role.' }),
    expiresAt: t.field({ type: 'DateTime', description: 'When the key stops working; default never.' }),
  }),
});

builder.queryFields((t) => ({
  apiKeys: t.withAuth({ signedIn: true }).field({
    type: [ApiKeyRef],
    description: 'Your API keys, newest first, revoked ones included.',
    resolve: (_root, _args, ctx) => listOwnApiKeys(ctx.app.db, ctx.viewer),
  }),
}));

builder.mutationFields((t) => ({
  createApiKey: t.withAuth({ signedIn: true }).field({
    type: CreatedApiKeyRef,
    description: 'Creates an API key for yourself.',
    errors: { types: [ValidationError, ConflictError] },
    args: { input: t.arg({ type: CreateApiKeyInput, required: true }) },
    resolve: (_root, { input }, ctx) =>
      createApiKey(ctx.app.db, ctx.viewer, {
        name: input.name,
        roleCeiling: (input.role ?? undefined) as Role | undefined,
        expiresAt: input.expiresAt,
      }),
  }),
  revokeApiKey: t.withAuth({ signedIn: true }).field({
    type: ApiKeyRef,
    description: 'Revokes one of your API keys; it is refused from then on.',
    errors: { types: [NotFoundError] },
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, { id }, ctx) => revokeOwnApiKey(ctx.app.db, ctx.viewer, String(id)),
  }),
}));
