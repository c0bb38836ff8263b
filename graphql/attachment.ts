/**
 * Attachments in GraphQL: the Attachment type (with its bytes, loaded only when asked for), the
 * `attachments` list and the admin mutations.
 */
import { createAttachment, deleteAttachment, MAX_ATTACHMENT_BYTES, modeOctal, updateAttachment } from '../core/attachment.service';
import { NotFoundError, ValidationError } from '../core/errors';
import { findAttachmentsByIds, listAttachments, readAttachmentContents, type Attachment } from '../db/attachment.repository';
import { scriptsOfAttachments } from '../db/script.repository';
import { builder } from './builder';
import { changeDeps } from './change';
import { pageArgs, toConnection } from './connection';
import { outcome } from './errors';
import { decodeId, encodeGlobalID } from './ids';
import { ScriptRef } from './script';

export const AttachmentRef = builder.loadableNodeRef('Attachment', {
  id: { resolve: (value: Attachment) => value.id },
  load: (ids: string[], ctx) => findAttachmentsByIds(ctx.app.db, ids),
  sort: (value) => value.id,
});

const MAX_MIB = MAX_ATTACHMENT_BYTES / 1024 / 1024;

AttachmentRef.implement({
  description: 'A file written on the host (path, mode, owner) before a script runs.',
  fields: (t) => ({
    name: t.exposeString('name', { description: 'The file\'s name, for people (1–140 characters); not necessarily unique.' }),
    path: t.exposeString('path', { description: 'Where the file is written on the host: an absolute, normalized path.' }),
    mimeType: t.exposeString('mimeType', { description: 'Its media type, e.g. text/plain.' }),
    mode: t.exposeInt('mode', { description: 'Its Unix permission bits as a number (420 = 0644), as Otto shows them.' }),
    modeOctal: t.string({ description: 'The same bits in octal, e.g. "0644".', resolve: (a) => modeOctal(a.mode) }),
    uid: t.exposeInt('uid', { nullable: true, description: 'The owner\'s user id; null for the runner\'s own.' }),
    gid: t.exposeInt('gid', { nullable: true, description: 'The owner\'s group id; null for the runner\'s own.' }),
    size: t.exposeInt('size', { description: 'Its size in bytes.' }),
    sha256: t.exposeString('sha256', { description: 'The SHA-256 of its bytes, in hex.' }),
    contentBase64: t.loadable({
      type: 'String',
      description: `The file's bytes, base64-encoded (at most ${MAX_MIB} MiB decoded). Readable by every signed-in user: attachments are not secrets — keep secrets in secret environment variables.`,
      load: async (ids: string[], ctx) => (await readAttachmentContents(ctx.app.db, ids)).map((bytes) => bytes?.toString('base64') ?? ''),
      resolve: (a) => a.id,
    }),
    scripts: t.loadableList({
      type: ScriptRef,
      description: 'The scripts that use it, by name.',
      load: (ids: string[], ctx) => scriptsOfAttachments(ctx.app.db, ids),
      resolve: (a) => a.id,
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime', description: 'When it was created.' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime', description: 'When it (or its bytes) last changed.' }),
  }),
});

builder.queryFields((t) => ({
  attachments: t.connection({
    type: AttachmentRef,
    description: 'Attachments, by name.',
    args: { search: t.arg.string({ description: 'Text in the name, ignoring case.' }) },
    resolve: async (_root, args, ctx) => toConnection(await listAttachments(ctx.app.db, { search: args.search ?? undefined }, pageArgs(args))),
  }),
}));

const fields = {
  name: 'The file\'s name, 1–140 characters.',
  path: 'Where it is written on the host: an absolute, normalized path without "..", at most 1024 characters.',
  mode: 'Unix permission bits, 0–4095 (420 = 0644).',
  uid: 'The owner\'s user id (0 or more); null for the runner\'s own.',
  gid: 'The owner\'s group id (0 or more); null for the runner\'s own.',
  mimeType: 'Its media type, e.g. text/plain.',
  contentBase64: `The bytes, base64-encoded (standard or URL-safe; whitespace ignored); at most ${MAX_MIB} MiB decoded.`,
};

const CreateAttachmentInput = builder.inputType('CreateAttachmentInput', {
  description: 'A new file to write on hosts before scripts run.',
  fields: (t) => ({
    name: t.string({ required: true, description: fields.name }),
    path: t.string({ required: true, description: fields.path }),
    mode: t.int({ description: `${fields.mode} Default 420.` }),
    uid: t.int({ description: fields.uid }),
    gid: t.int({ description: fields.gid }),
    mimeType: t.string({ description: `${fields.mimeType} Default: from the name's extension, or application/octet-stream.` }),
    contentBase64: t.string({ required: true, description: fields.contentBase64 }),
  }),
});

const UpdateAttachmentInput = builder.inputType('UpdateAttachmentInput', {
  description: 'Changes to an attachment: only the fields given change; null clears uid and gid.',
  fields: (t) => ({
    id: t.id({ required: true, description: 'The attachment to change.' }),
    name: t.string({ description: fields.name }),
    path: t.string({ description: fields.path }),
    mode: t.int({ description: fields.mode }),
    uid: t.int({ description: fields.uid }),
    gid: t.int({ description: fields.gid }),
    mimeType: t.string({ description: fields.mimeType }),
    contentBase64: t.string({ description: `${fields.contentBase64} Replaces the bytes when given.` }),
  }),
});

builder.mutationFields((t) => ({
  createAttachment: t.withAuth({ role: 'admin' }).field({
    type: AttachmentRef,
    description: 'Stores a file to write on hosts before scripts run. Admins only.',
    errors: outcome('the new attachment', [ValidationError]),
    args: { input: t.arg({ type: CreateAttachmentInput, required: true, description: 'The new attachment.' }) },
    resolve: (_root, { input }, ctx) =>
      createAttachment(changeDeps(ctx), {
        name: input.name,
        path: input.path,
        mode: input.mode ?? undefined,
        uid: input.uid,
        gid: input.gid,
        mimeType: input.mimeType ?? undefined,
        contentBase64: input.contentBase64,
      }),
  }),
  updateAttachment: t.withAuth({ role: 'admin' }).field({
    type: AttachmentRef,
    description: 'Changes an attachment, or replaces its bytes. Admins only.',
    errors: outcome('the changed attachment', [ValidationError, NotFoundError]),
    args: { input: t.arg({ type: UpdateAttachmentInput, required: true, description: 'The attachment and the changes.' }) },
    resolve: (_root, { input }, ctx) =>
      updateAttachment(changeDeps(ctx), decodeId('Attachment', input.id, 'input.id'), {
        name: input.name ?? undefined,
        path: input.path ?? undefined,
        mode: input.mode ?? undefined,
        uid: input.uid,
        gid: input.gid,
        mimeType: input.mimeType ?? undefined,
        contentBase64: input.contentBase64 ?? undefined,
      }),
  }),
  deleteAttachment: t.withAuth({ role: 'admin' }).field({
    type: 'ID',
    description: 'Deletes an attachment; scripts that used it no longer get it. Returns its id. Admins only.',
    errors: outcome('the id of the deleted attachment', [ValidationError, NotFoundError]),
    args: { id: t.arg.id({ required: true, description: 'The attachment to delete.' }) },
    resolve: async (_root, { id }, ctx) => {
      const attachment = await deleteAttachment(changeDeps(ctx), decodeId('Attachment', id, 'id'));
      return encodeGlobalID('Attachment', attachment.id);
    },
  }),
}));
