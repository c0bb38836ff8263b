import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_ATTACHMENT_BYTES } from '../core/attachment.service';
import { readAttachmentContent } from '../db/attachment.repository';
import { startTestServer, type TestServer } from './support/server';

const FIELDS = `id name path mimeType mode modeOctal uid gid size sha256 createdAt updatedAt contentBase64 scripts { name }`;
const RESULT = (name: string) =>
  `__typename ... on ${name}Success { data { ${FIELDS} } } ... on Error { message } ... on ValidationError { fields { path message } }`;
const CREATE = `mutation($input: CreateAttachmentInput!) { createAttachment(input: $input) { ${RESULT('CreateAttachment')} } }`;
const UPDATE = `mutation($input: UpdateAttachmentInput!) { updateAttachment(input: $input) { ${RESULT('UpdateAttachment')} } }`;
const DELETE = `mutation($id: ID!) { deleteAttachment(id: $id) { __typename ... on DeleteAttachmentSuccess { data } ... on Error { message } } }`;
const NODE = `query($id: ID!) { node(id: $id) { ... on Attachment { ${FIELDS} } } }`;
const LIST = `query($first: Int, $after: String, $search: String) {
  attachments(first: $first, after: $after, search: $search) { edges { node { name } } pageInfo { hasNextPage endCursor } totalCount } }`;
const EVENTS = `query($id: ID!) { events(filter: { objectId: $id }) { edges { node { action summary details } } } }`;
const CREATE_SCRIPT = `mutation($input: CreateScriptInput!) { createScript(input: $input) { ... on CreateScriptSuccess { data { id } } } }`;
const SCRIPT_ATTACHMENTS = `query($id: ID!) { node(id: $id) { ... on Script { attachments { name } } } }`;

const uuidOf = (globalId: string) => Buffer.from(globalId, 'base64').toString().split(':')[1]!;

describe('attachments', () => {
  let server: TestServer;
  let operator: string;
  let viewer: string;
  const admin = (query: string, variables?: Record<string, unknown>) => server.gql(query, variables, { cookie: server.adminCookie });
  const counts = async () => {
    const db = server.app.db;
    const [attachments, events] = await Promise.all(
      (['attachments', 'events'] as const).map((table) => db.selectFrom(table).select(db.fn.countAll<string>().as('n')).executeTakeFirstOrThrow()),
    );
    return { attachments: attachments!.n, events: events!.n };
  };
  const create = async (input: Record<string, unknown>) => {
    const result = await admin(CREATE, { input: { contentBase64: '', ...input } });
    expect(result.data?.createAttachment.__typename, JSON.stringify(result).slice(0, 400)).toBe('CreateAttachmentSuccess');
    return result.data.createAttachment.data;
  };

  beforeAll(async () => {
    // Room for a request carrying more than the 16 MiB limit.
    server = await startTestServer({ maxBodyBytes: 32 * 1024 * 1024 });
    await server.createUser('file-operator', 'operator');
    await server.createUser('file-viewer', 'viewer');
    operator = await server.signIn('file-operator', 'file-operator-password-123');
    viewer = await server.signIn('file-viewer', 'file-viewer-password-123');
  });
  afterAll(() => server?.close());

  it('stores binary bytes exactly, with NUL bytes, and viewers can read them back', async () => {
    const bytes = Buffer.from([0, 1, 2, 0, 255, 254, 0, 10, 13, 0x80, 0]);
    const file = await create({ name: 'blob.bin', path: '/opt/app/blob.bin', mode: 0o755, uid: 1000, gid: 50, contentBase64: bytes.toString('base64') });
    expect(file).toMatchObject({
      name: 'blob.bin',
      path: '/opt/app/blob.bin',
      mimeType: 'application/octet-stream',
      mode: 493,
      modeOctal: '0755',
      uid: 1000,
      gid: 50,
      size: bytes.length,
      sha256: createHash('sha256').update(bytes).digest('hex'),
      contentBase64: bytes.toString('base64'),
      scripts: [],
    });
    const read = await server.gql(NODE, { id: file.id }, { cookie: viewer });
    expect(Buffer.from(read.data.node.contentBase64, 'base64').equals(bytes)).toBe(true);
    expect(read.data.node).toEqual(file);
    // The executor's and downloads' way in.
    expect((await readAttachmentContent(server.app.db, uuidOf(file.id)))!.equals(bytes)).toBe(true);
    expect(await readAttachmentContent(server.app.db, '00000000-0000-4000-8000-000000000000')).toBeUndefined();
    const event = (await admin(EVENTS, { id: file.id })).data.events.edges[0].node;
    expect(event).toMatchObject({ action: 'attachment.created', summary: 'Created attachment "blob.bin" (/opt/app/blob.bin)' });
    expect(event.details.after).toMatchObject({ mode: '0755', size: bytes.length });
  });

  it('defaults the mode to 0644 and the type from the extension; accepts URL-safe base64', async () => {
    const script = await create({ name: 'run.SH', path: '/usr/local/bin/run', contentBase64: Buffer.from('#!/bin/sh\n').toString('base64') });
    expect(script).toMatchObject({ mode: 420, modeOctal: '0644', mimeType: 'text/x-shellscript', uid: null, gid: null });
    const chosen = await create({ name: 'data.json', path: '/etc/data', mimeType: 'text/plain; charset=utf-8' });
    expect(chosen.mimeType).toBe('text/plain; charset=utf-8');
    const bytes = Buffer.from([0xfb, 0xff, 0xfe]);
    const urlSafe = await create({ name: 'u', path: '/u', contentBase64: bytes.toString('base64url') });
    expect(Buffer.from(urlSafe.contentBase64, 'base64').equals(bytes)).toBe(true);
  });

  it('only admins create, change and delete', async () => {
    const file = await create({ name: 'guarded', path: '/guarded' });
    const before = await counts();
    for (const cookie of [operator, viewer]) {
      for (const [query, variables] of [
        [CREATE, { input: { name: 'x', path: '/x', contentBase64: '' } }],
        [UPDATE, { input: { id: file.id, name: 'y' } }],
        [DELETE, { id: file.id }],
      ] as const) {
        const refused = await server.gql(query, variables, { cookie });
        expect(refused.status).toBe(403);
        expect(refused.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
      }
    }
    expect(await counts()).toEqual(before);
  });

  const invalid: [string, Record<string, unknown>, string, RegExp][] = [
    ['an empty name', { name: ' ' }, 'input.name', /Name: give the file a name/],
    ['a long name', { name: 'n'.repeat(141) }, 'input.name', /at most 140/],
    ['a relative path', { path: 'etc/x' }, 'input.path', /Path: write an absolute path/],
    ['a path with ..', { path: '/etc/../x' }, 'input.path', /cannot contain "\.\."/],
    ['a path not normalized', { path: '/etc//x/./y' }, 'input.path', /write it in normal form, "\/etc\/x\/y"/],
    ['a directory', { path: '/etc/' }, 'input.path', /name a file, not a directory/],
    ['a long path', { path: `/${'p'.repeat(1024)}` }, 'input.path', /at most 1024/],
    ['a mode over 07777', { mode: 4096 }, 'input.mode', /Mode: between 0 and 4095/],
    ['a negative uid', { uid: -1 }, 'input.uid', /Uid: zero or more/],
    ['a bad MIME type', { mimeType: 'text' }, 'input.mimeType', /is not a type like text\/plain/],
    ['text that is not base64', { contentBase64: 'hello world!' }, 'input.contentBase64', /Content: this is not base64/],
    ['base64 cut short', { contentBase64: 'QUJDR' }, 'input.contentBase64', /cut short or wrongly padded/],
  ];
  for (const [what, input, path, message] of invalid) {
    it(`refuses ${what} and writes nothing`, async () => {
      const before = await counts();
      const result = await admin(CREATE, { input: { name: 'bad', path: '/bad', contentBase64: '', ...input } });
      expect(result.data?.createAttachment.__typename, JSON.stringify(result).slice(0, 400)).toBe('ValidationError');
      expect(result.data.createAttachment.message).toMatch(message);
      expect(result.data.createAttachment.fields.map((f: { path: string[] }) => f.path.join('.'))).toEqual([path]);
      expect(await counts()).toEqual(before);
    });
  }

  it('refuses a file over 16 MiB without writing anything', async () => {
    const file = await create({ name: 'small', path: '/small', contentBase64: Buffer.from('keep').toString('base64') });
    const before = await counts();
    const big = Buffer.alloc(MAX_ATTACHMENT_BYTES + 1, 7).toString('base64');
    const created = await admin(CREATE, { input: { name: 'big', path: '/big', contentBase64: big } });
    expect(created.data.createAttachment).toMatchObject({
      __typename: 'ValidationError',
      message: 'Content: the file is 16777217 bytes; an attachment is at most 16 MiB (16777216 bytes).',
    });
    const replaced = await admin(UPDATE, { input: { id: file.id, name: 'renamed too', contentBase64: big } });
    expect(replaced.data.updateAttachment.__typename).toBe('ValidationError');
    expect(await counts()).toEqual(before);
    expect((await server.gql(NODE, { id: file.id }, { cookie: viewer })).data.node).toMatchObject({ name: 'small', size: 4 });
  });

  it('accepts a file of exactly 16 MiB', async () => {
    const bytes = Buffer.alloc(MAX_ATTACHMENT_BYTES, 1);
    bytes[0] = 0;
    const file = await create({ name: 'max', path: '/max', contentBase64: bytes.toString('base64') });
    expect(file.size).toBe(MAX_ATTACHMENT_BYTES);
    expect(file.sha256).toBe(createHash('sha256').update(bytes).digest('hex'));
  });

  it('updates fields and bytes, clears the owner with null, and audits the difference', async () => {
    const file = await create({ name: 'conf', path: '/etc/conf', uid: 0, contentBase64: Buffer.from('one').toString('base64') });
    const updated = await admin(UPDATE, { input: { id: file.id, path: '/etc/app/conf', uid: null, mode: 0o600, contentBase64: Buffer.from('two!').toString('base64') } });
    expect(updated.data.updateAttachment.data).toMatchObject({
      name: 'conf',
      path: '/etc/app/conf',
      uid: null,
      modeOctal: '0600',
      size: 4,
      contentBase64: Buffer.from('two!').toString('base64'),
      sha256: createHash('sha256').update('two!').digest('hex'),
    });
    const renamed = await admin(UPDATE, { input: { id: file.id, name: 'conf.yml' } });
    expect(renamed.data.updateAttachment.data).toMatchObject({ name: 'conf.yml', path: '/etc/app/conf', contentBase64: Buffer.from('two!').toString('base64') });
    const events = (await admin(EVENTS, { id: file.id })).data.events.edges.map((e: any) => e.node);
    expect(events.map((e: any) => e.action)).toEqual(['attachment.updated', 'attachment.updated', 'attachment.created']);
    expect(events[1].details).toMatchObject({ before: { path: '/etc/conf', uid: 0, mode: '0644', size: 3 }, after: { path: '/etc/app/conf', uid: null, mode: '0600', size: 4 } });
    expect(events[1].details.after).not.toHaveProperty('name');
    const missing = await admin(UPDATE, { input: { id: '00000000-0000-4000-8000-000000000009', name: 'x' } });
    expect(missing.data.updateAttachment).toEqual({ __typename: 'NotFoundError', message: 'There is no attachment with id "00000000-0000-4000-8000-000000000009".' });
  });

  it('lists by name with search and cursors, and shows the scripts using each file', async () => {
    const ids: string[] = [];
    for (const name of ['pg-c', 'PG-a', 'pg-b']) ids.push((await create({ name, path: `/pg/${name}` })).id);
    await admin(CREATE_SCRIPT, { input: { name: 'uses pg', attachmentIds: [ids[0], ids[1]] } });
    await admin(CREATE_SCRIPT, { input: { name: 'also uses pg', attachmentIds: [ids[0]] } });
    const first: any = (await server.gql(LIST, { first: 2, search: 'pg-' }, { cookie: viewer })).data.attachments;
    expect(first.edges.map((e: any) => e.node.name)).toEqual(['PG-a', 'pg-b']);
    expect(first.totalCount).toBe(3);
    expect(first.pageInfo.hasNextPage).toBe(true);
    const second: any = (await server.gql(LIST, { first: 2, after: first.pageInfo.endCursor, search: 'pg-' }, { cookie: viewer })).data.attachments;
    expect(second.edges.map((e: any) => e.node.name)).toEqual(['pg-c']);
    expect(second.pageInfo.hasNextPage).toBe(false);
    const used = await server.gql(NODE, { id: ids[0] }, { cookie: viewer });
    expect(used.data.node.scripts).toEqual([{ name: 'also uses pg' }, { name: 'uses pg' }]);
  });

  it('deletes a file and removes it from the scripts that used it', async () => {
    const file = await create({ name: 'gone.txt', path: '/gone.txt' });
    const kept = await create({ name: 'kept.txt', path: '/kept.txt' });
    const script = (await admin(CREATE_SCRIPT, { input: { name: 'uses gone', attachmentIds: [file.id, kept.id] } })).data.createScript.data.id;
    const deleted = await admin(DELETE, { id: file.id });
    expect(deleted.data.deleteAttachment).toEqual({ __typename: 'DeleteAttachmentSuccess', data: file.id });
    expect((await server.gql(NODE, { id: file.id }, { cookie: viewer })).data.node).toBeNull();
    expect((await server.gql(SCRIPT_ATTACHMENTS, { id: script }, { cookie: viewer })).data.node.attachments).toEqual([{ name: 'kept.txt' }]);
    const event = (await admin(EVENTS, { id: file.id })).data.events.edges[0].node;
    expect(event).toMatchObject({ action: 'attachment.deleted', details: { removedFromScripts: ['uses gone'] } });
    expect((await admin(DELETE, { id: file.id })).data.deleteAttachment.__typename).toBe('NotFoundError');
    expect((await admin(DELETE, { id: 'not-an-id' })).data.deleteAttachment.__typename).toBe('ValidationError');
  });
});
