/**
 * Access keys: each person manages their own. They sign requests to the VirtShell task API
 * (X-VirtShell-Authorization); the secret is shown once, at creation.
 */
import { createAccessKey, listOwnAccessKeys, revokeOwnAccessKey } from '../core/access-key.service';
import { ConflictError, NotFoundError, ValidationError } from '../core/errors';
import type { Role } from '../core/roles';
import { findAccessKeysByIds, type AccessKey } from '../db/access-key.repository';
import { builder } from './builder';
import { changeDeps } from './change';
import { pageArgs, toConnection } from './connection';
import { decodeId } from './ids';
import { RoleEnum } from './user';

export const AccessKeyRef = builder.loadableNodeRef('AccessKey', {
  id: { resolve: (key: AccessKey) => key.id },
  load: (ids: string[], ctx) => findAccessKeysByIds(ctx.app.db, ids),
  sort: (key) => key.id,
});

AccessKeyRef.implement({
  description:
    'A key that signs requests as VirtShell clients do: "X-VirtShell-Authorization: <accessKeyId>:<Base64(HMAC-SHA1(secret, string to sign))>". You see only your own keys.',
  authScopes: (key, ctx) => ctx.viewer !== null && ctx.viewer.user.id === key.userId,
  fields: (t) => ({
    name: t.exposeString('name', { description: 'What the key is for (unique among your live access keys).' }),
    accessKeyId: t.exposeString('keyId', { description: 'The public half of the key, sent with every signed request.' }),
    role: t.field({ type: RoleEnum, description: 'The most this key may do.', resolve: (key) => key.roleCeiling }),
    revokedAt: t.expose('revokedAt', { type: 'DateTime', nullable: true, description: 'When it was revoked; null while it works.' }),
    lastUsedAt: t.expose('lastUsedAt', { type: 'DateTime', nullable: true, description: 'When it was last used (to the minute).' }),
    createdAt: t.expose('createdAt', { type: 'DateTime', description: 'When it was created.' }),
  }),
});

const CreatedAccessKeyRef = builder.objectRef<{ accessKey: AccessKey; secret: string }>('CreatedAccessKey').implement({
  description: 'A new access key and, this once, its secret.',
  fields: (t) => ({
    accessKey: t.field({ type: AccessKeyRef, description: 'The key.', resolve: (created) => created.accessKey }),
    accessKeyId: t.string({ description: 'The public key id (also on `accessKey`).', resolve: (created) => created.accessKey.keyId }),
    secret: t.exposeString('secret', { description: 'The secret that signs requests. Shown only now: store it safely.' }),
  }),
});

const CreateAccessKeyInput = builder.inputType('CreateAccessKeyInput', {
  description: 'A new access key.',
  fields: (t) => ({
    name: t.string({ required: true, description: 'What the key is for, 1–100 characters.' }),
    role: t.field({ type: RoleEnum, description: 'The most the key may do; default and maximum: your role.' }),
  }),
});

builder.queryFields((t) => ({
  accessKeys: t.withAuth({ signedIn: true }).connection({
    type: AccessKeyRef,
    description: 'Your access keys, newest first, revoked ones included.',
    resolve: async (_root, args, ctx) => toConnection(await listOwnAccessKeys(ctx.app.db, ctx.viewer, pageArgs(args))),
  }),
}));

builder.mutationFields((t) => ({
  createAccessKey: t.withAuth({ signedIn: true }).field({
    type: CreatedAccessKeyRef,
    description: 'Creates an access key for yourself, for signed requests (the VirtShell task API).',
    errors: { types: [ValidationError, ConflictError] },
    args: { input: t.arg({ type: CreateAccessKeyInput, required: true, description: 'What to do it with.' }) },
    resolve: (_root, { input }, ctx) =>
      createAccessKey({ ...changeDeps(ctx), secrets: ctx.app.secrets }, ctx.viewer, {
        name: input.name,
        roleCeiling: (input.role ?? undefined) as Role | undefined,
      }),
  }),
  revokeAccessKey: t.withAuth({ signedIn: true }).field({
    type: AccessKeyRef,
    description: 'Revokes one of your access keys; requests it signs are refused from then on.',
    errors: { types: [NotFoundError, ValidationError] },
    args: { id: t.arg.id({ required: true, description: 'The key to revoke.' }) },
    resolve: (_root, { id }, ctx) => revokeOwnAccessKey(changeDeps(ctx), ctx.viewer, decodeId('AccessKey', id)),
  }),
}));
