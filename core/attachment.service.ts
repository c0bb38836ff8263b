/**
 * Managing attachments: files written on the host before a script runs. Validates where the
 * file goes (an absolute, normalized path), its mode and owner, and its bytes (base64, at most
 * MAX_ATTACHMENT_BYTES), and audits each change in the same transaction.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import {
  deleteAttachmentRow,
  findAttachmentById,
  insertAttachment,
  updateAttachmentRow,
  type Attachment,
  type AttachmentValues,
} from '../db/attachment.repository';
import type { Db } from '../db/database';
import { scriptsOfAttachments } from '../db/script.repository';
import { audited, diff, type ChangeDeps } from './audit';
import { NotFoundError, ValidationError, type FieldProblem } from './errors';
import { NAME_MAX, PATH_MAX } from './script.service';

/** The largest attachment, decoded: 16 MiB. */
export const MAX_ATTACHMENT_BYTES = 16 * 1024 * 1024;
/** rw-r--r-- */
export const DEFAULT_MODE = 0o644;
export const DEFAULT_MIME_TYPE = 'application/octet-stream';

/** Types for common extensions; anything else is DEFAULT_MIME_TYPE. */
const MIME_TYPES: Record<string, string> = {
  sh: 'text/x-shellscript', bash: 'text/x-shellscript', py: 'text/x-python', rb: 'text/x-ruby', pl: 'text/x-perl',
  js: 'text/javascript', txt: 'text/plain', log: 'text/plain', conf: 'text/plain', cfg: 'text/plain', ini: 'text/plain',
  env: 'text/plain', md: 'text/markdown', csv: 'text/csv', html: 'text/html', css: 'text/css', xml: 'application/xml',
  json: 'application/json', yml: 'application/yaml', yaml: 'application/yaml', toml: 'application/toml',
  pem: 'application/x-pem-file', crt: 'application/x-x509-ca-cert', key: 'application/x-pem-file',
  gz: 'application/gzip', tgz: 'application/gzip', tar: 'application/x-tar', zip: 'application/zip',
  pdf: 'application/pdf', png: 'image/png', jpg: 'image/jpeg', jpeg: 'image/jpeg', gif: 'image/gif', svg: 'image/svg+xml',
};
const MIME_TYPE = /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*(\s*;.*)?$/;

/** The type of a file name from its extension, or DEFAULT_MIME_TYPE. */
export function mimeTypeFor(name: string): string {
  const extension = path.extname(name).slice(1).toLowerCase();
  return MIME_TYPES[extension] ?? DEFAULT_MIME_TYPE;
}

/** "0644" for 420. */
export function modeOctal(mode: number): string {
  return mode.toString(8).padStart(4, '0');
}

export interface AttachmentInput {
  name?: string;
  path?: string;
  mode?: number;
  uid?: number | null;
  gid?: number | null;
  mimeType?: string;
  /** The bytes, base64-encoded (standard or URL-safe alphabet; whitespace ignored). */
  contentBase64?: string;
}

const hasNul = (value: string) => value.includes('\0');

/** The bytes of `base64`, or a problem saying what is wrong with it. Checks the size before decoding. */
function decodeContent(base64: string, problems: FieldProblem[]): AttachmentValues['content'] | undefined {
  const field = ['input', 'contentBase64'];
  const text = base64.replace(/\s+/g, '');
  const unpadded = text.replace(/={1,2}$/, '');
  if (!/^[A-Za-z0-9+/]*$/.test(unpadded) && !/^[A-Za-z0-9_-]*$/.test(unpadded)) {
    problems.push({ path: field, message: 'Content: this is not base64. Encode the file with base64 (e.g. `base64 -w0 file`).' });
    return undefined;
  }
  if (unpadded.length % 4 === 1 || (text.length !== unpadded.length && text.length % 4 !== 0)) {
    problems.push({ path: field, message: 'Content: this base64 is cut short or wrongly padded; encode the whole file again.' });
    return undefined;
  }
  const size = Math.floor((unpadded.length * 3) / 4);
  if (size > MAX_ATTACHMENT_BYTES) {
    const limit = `${MAX_ATTACHMENT_BYTES / 1024 / 1024} MiB (${MAX_ATTACHMENT_BYTES} bytes)`;
    problems.push({ path: field, message: `Content: the file is ${size} bytes; an attachment is at most ${limit}.` });
    return undefined;
  }
  const bytes = Buffer.from(unpadded, /[-_]/.test(unpadded) ? 'base64url' : 'base64');
  return { bytes, sha256: createHash('sha256').update(bytes).digest() };
}

function validate(input: AttachmentInput): Partial<AttachmentValues> {
  const problems: FieldProblem[] = [];
  const at = (field: string) => ['input', field];
  if (input.name !== undefined) {
    if (input.name.trim() === '') problems.push({ path: at('name'), message: 'Name: give the file a name.' });
    else if (input.name.length > NAME_MAX) problems.push({ path: at('name'), message: `Name: at most ${NAME_MAX} characters.` });
    else if (hasNul(input.name)) problems.push({ path: at('name'), message: 'Name: cannot contain a NUL character.' });
  }
  if (input.path !== undefined) {
    const file = input.path;
    const problem = (message: string) => problems.push({ path: at('path'), message: `Path: ${message}` });
    if (!file.startsWith('/')) problem('write an absolute path, e.g. /etc/app/config.yml.');
    else if (file.length > PATH_MAX) problem(`at most ${PATH_MAX} characters.`);
    else if (hasNul(file)) problem('cannot contain a NUL character.');
    else if (file.split('/').includes('..')) problem('cannot contain "..".');
    else if (file === '/' || file.endsWith('/')) problem('name a file, not a directory (no "/" at the end).');
    else if (path.posix.normalize(file) !== file) problem(`write it in normal form, "${path.posix.normalize(file)}".`);
  }
  if (input.mode !== undefined && (!Number.isInteger(input.mode) || input.mode < 0 || input.mode > 0o7777)) {
    problems.push({ path: at('mode'), message: `Mode: between 0 and 4095 (0o7777), e.g. 420 for 0644 (got ${input.mode}).` });
  }
  for (const field of ['uid', 'gid'] as const) {
    const value = input[field];
    if (value !== undefined && value !== null && (!Number.isInteger(value) || value < 0)) {
      problems.push({ path: at(field), message: `${field === 'uid' ? 'Uid' : 'Gid'}: zero or more (got ${value}).` });
    }
  }
  if (input.mimeType !== undefined && (input.mimeType.length > 255 || !MIME_TYPE.test(input.mimeType))) {
    problems.push({ path: at('mimeType'), message: `MIME type: "${input.mimeType.slice(0, 60)}" is not a type like text/plain.` });
  }
  const content = input.contentBase64 === undefined ? undefined : decodeContent(input.contentBase64, problems);
  if (problems.length) throw new ValidationError(problems.map((p) => p.message).join(' '), problems);
  return { name: input.name?.trim(), path: input.path, mode: input.mode, uid: input.uid, gid: input.gid, mimeType: input.mimeType, content };
}

/** What the audit log keeps of an attachment: its fields and hash, not its bytes. */
function summarize(a: Attachment): Record<string, unknown> {
  return { name: a.name, path: a.path, mimeType: a.mimeType, mode: modeOctal(a.mode), uid: a.uid, gid: a.gid, size: a.size, sha256: a.sha256 };
}

export async function createAttachment(
  deps: ChangeDeps,
  input: AttachmentInput & { name: string; path: string; contentBase64: string },
): Promise<Attachment> {
  const values = validate(input);
  return audited(deps, async (trx, record) => {
    const attachment = await insertAttachment(trx, {
      ...(values as AttachmentValues),
      mode: values.mode ?? DEFAULT_MODE,
      uid: values.uid ?? null,
      gid: values.gid ?? null,
      mimeType: values.mimeType ?? mimeTypeFor(values.name!),
    });
    record({
      action: 'attachment.created',
      objectType: 'Attachment',
      objectId: attachment.id,
      objectName: attachment.name,
      summary: `Created attachment "${attachment.name}" (${attachment.path})`,
      details: { after: summarize(attachment) },
    });
    return attachment;
  });
}

async function lockedAttachment(trx: Db, id: string): Promise<Attachment> {
  const attachment = await findAttachmentById(trx, id, { lock: true });
  if (!attachment) throw new NotFoundError(`There is no attachment with id "${id}".`);
  return attachment;
}

/** Changes the fields given; `contentBase64` replaces the bytes. */
export async function updateAttachment(deps: ChangeDeps, id: string, input: AttachmentInput): Promise<Attachment> {
  const values = validate(input);
  return audited(deps, async (trx, record) => {
    const before = await lockedAttachment(trx, id);
    const attachment = (await updateAttachmentRow(trx, id, values))!;
    record({
      action: 'attachment.updated',
      objectType: 'Attachment',
      objectId: attachment.id,
      objectName: attachment.name,
      summary: `Updated attachment "${attachment.name}" (${attachment.path})`,
      details: diff(summarize(before), summarize(attachment)),
    });
    return attachment;
  });
}

/** Deletes an attachment; the scripts that used it no longer get it (they are named in the event). */
export async function deleteAttachment(deps: ChangeDeps, id: string): Promise<Attachment> {
  return audited(deps, async (trx, record) => {
    const attachment = await lockedAttachment(trx, id);
    const [scripts] = await scriptsOfAttachments(trx, [id]);
    await deleteAttachmentRow(trx, id);
    record({
      action: 'attachment.deleted',
      objectType: 'Attachment',
      objectId: attachment.id,
      objectName: attachment.name,
      summary: `Deleted attachment "${attachment.name}" (${attachment.path})`,
      details: { before: summarize(attachment), removedFromScripts: scripts!.map((s) => s.name) },
    });
    return attachment;
  });
}
