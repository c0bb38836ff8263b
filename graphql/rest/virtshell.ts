/**
 * VirtShell (seeds/virtshell-tasks-api.md, COMPAT.md "VirtShell"): the tasks its tools report,
 * under `/api/virtshell/v1/tasks` (the seed's prefix) and `/virtshell/api/v1/tasks`.
 *
 * A task is a Runboard reported run (reporter `virtshell`, core/task.service.ts): its uuid is the
 * run's id, its fields are the run's `external` object. Requests are signed with an access key
 * (`X-VirtShell-Authorization: <AccessKeyId>:<Signature>`); HTTP Basic and Bearer work too.
 * Errors are `{"error": "…"}` with a 4xx status; an unknown task is 404 `{"error":"document not
 * found"}`, or `{"update":"error","reason":"document not found"}` for an update.
 */
import { createHash } from 'node:crypto';
import type { Credentials } from '../../core/auth.service';
import { isUuid } from '../../core/ids';
import { TASK_REPORTER as REPORTER, TASK_STATUSES } from '../../core/task.service';
import { decodeId } from '../ids';
import { ERROR_FIELDS, fail, RestFailure, type Dialect, type RestReply, type RestRequest, type Route, type RouteTools } from './route-table';

export const PREFIXES = ['/api/virtshell/v1', '/virtshell/api/v1'] as const;
const OWNED = /^\/(api\/virtshell|virtshell\/api)(\/|$)/;

/** The header a signed request carries. */
export const SIGNATURE_HEADER = 'x-virtshell-authorization';
/** How far a signed request's Date may be from the server's clock. */
export const DATE_SKEW_MS = 15 * 60 * 1000;
/** A list answers at most this many tasks, newest first, read in pages of PAGE (as many as the query cost limit allows). */
export const LIST_MAX = 1000;
const PAGE = 200;

const JSON_TYPE = { 'content-type': 'application/json' };
const NOT_FOUND = 'document not found';

/** `GET …/tasks/<a status Runboard knows>` lists by status, as the seed's example does. */
const DOCUMENTED_STATUSES = new Set(TASK_STATUSES);

/** Body types a task may come in: JSON, also under curl's default for `-d` and as plain text. */
const JSON_BODY_TYPES = new Set(['', 'application/json', 'application/x-www-form-urlencoded', 'text/plain']);

function json(status: number, body: unknown): RestReply {
  return { status, headers: JSON_TYPE, body: JSON.stringify(body) };
}

interface RunNode {
  id: string;
  external: Record<string, unknown>;
}

/** A run as the task it is: the documented fields first (null when never sent), then the rest as sent. */
function taskOf(run: RunNode): Record<string, unknown> {
  const { description = null, status = null, type = null, object_uuid = null, created = null, last_update = null, log = null, ...rest } = run.external;
  return { uuid: decodeId('Run', run.id), description, status, type, object_uuid, created, last_update, log, ...rest };
}

/**
 * The JSON of a POST or PUT body (undefined when empty). Whether it is a task (an object) is the
 * mutation's to say, after it has checked the caller's role.
 */
function taskBody(req: RestRequest): unknown {
  if (!JSON_BODY_TYPES.has(req.body.mediaType)) {
    throw fail('unsupported_media_type', `Send the task as JSON ("Content-Type: application/json"), not ${req.body.mediaType}.`);
  }
  return req.body.empty ? undefined : req.body.json('The request body is not valid JSON: send the task as a JSON object.');
}

/** Names no task: what a `:uuid` that is not a UUID is looked up as, so GraphQL still checks the caller first. */
const NO_TASK = '00000000-0000-0000-0000-000000000000';

/** The `:uuid` of a request as a run id. */
function taskId(req: RestRequest): string {
  const id = req.params.uuid!;
  return isUuid(id) ? id.toLowerCase() : NO_TASK;
}

const ONE = `query($id: ID!) { run(id: $id) { id reporter external } }`;
const LIST = `query($filter: RunFilter!, $after: String) {
  runs(first: ${PAGE}, after: $after, filter: $filter) { edges { node { id external } } pageInfo { hasNextPage endCursor } } }`;

interface ListPage {
  runs: { edges: Array<{ node: RunNode }>; pageInfo: { hasNextPage: boolean; endCursor: string | null } };
}

/** `{"tasks":[…]}` from the first page, reading further pages (up to LIST_MAX tasks) while there are more. */
async function listReply(first: ListPage, filter: Record<string, unknown>, tools: RouteTools): Promise<RestReply> {
  const tasks = first.runs.edges.map((edge) => taskOf(edge.node));
  let { pageInfo } = first.runs;
  while (pageInfo.hasNextPage && tasks.length < LIST_MAX) {
    const next = await tools.graphql<ListPage>(LIST, { filter, after: pageInfo.endCursor });
    tasks.push(...next.runs.edges.map((edge) => taskOf(edge.node)));
    pageInfo = next.runs.pageInfo;
  }
  return json(200, { tasks: tasks.slice(0, LIST_MAX) });
}

const ALL_TASKS = { reporter: REPORTER };
const withStatus = (status: string) => ({ reporter: REPORTER, reportedStatus: status });

function routesUnder(prefix: string): Route[] {
  const tasks = `${prefix}/tasks`;
  return [
    ...[tasks, `${tasks}/`].map(
      (path): Route => ({
        method: 'GET',
        path,
        access: 'viewer',
        operation: LIST,
        variables: () => ({ filter: ALL_TASKS }),
        reply: (data: ListPage, _req, tools) => listReply(data, ALL_TASKS, tools),
      }),
    ),
    {
      method: 'GET',
      path: `${tasks}/status/:status`,
      access: 'viewer',
      operation: LIST,
      variables: (req) => ({ filter: withStatus(req.params.status!) }),
      reply: (data: ListPage, req, tools) => listReply(data, withStatus(req.params.status!), tools),
    },
    {
      // A task by uuid; also, as the seed's example does, `tasks/<documented status>` lists by
      // status. Which operation runs depends on the segment, so reply() runs it.
      method: 'GET',
      path: `${tasks}/:uuid`,
      access: 'viewer',
      reply: async (_data, req, tools) => {
        const segment = req.params.uuid!;
        if (DOCUMENTED_STATUSES.has(segment)) return listReply(await tools.graphql(LIST, { filter: withStatus(segment) }), withStatus(segment), tools);
        const { run } = await tools.graphql<{ run: (RunNode & { reporter: string | null }) | null }>(ONE, { id: taskId(req) });
        if (!run || run.reporter !== REPORTER) throw fail('not_found', NOT_FOUND);
        return json(200, taskOf(run));
      },
    },
    ...[tasks, `${tasks}/`].map(
      (path): Route => ({
        method: 'POST',
        path,
        access: 'checkin',
        operation: `mutation($input: ReportTaskInput!) { reportTask(input: $input) { ${ERROR_FIELDS} ... on ReportTaskSuccess { data { id } } } }`,
        variables: (req) => ({ input: { fields: taskBody(req) } }),
        reply: (data: { reportTask: { data: { id: string } } }) => json(200, { create: 'success', task_id: decodeId('Run', data.reportTask.data.id) }),
      }),
    ),
    {
      method: 'PUT',
      path: `${tasks}/:uuid`,
      access: 'checkin',
      operation: `mutation($input: UpdateTaskInput!) { updateTask(input: $input) { ${ERROR_FIELDS} ... on UpdateTaskSuccess { data { id } } } }`,
      variables: (req) => ({ input: { id: taskId(req), fields: taskBody(req) } }),
      reply: () => json(200, { update: 'success' }),
    },
  ];
}

function header(req: RestRequest, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}

/**
 * Reads `X-VirtShell-Authorization` into a signed request for the core to check. The Date must
 * be within 15 minutes of the server's clock, and a Content-MD5, when sent, must match the body.
 */
function signedCredentials(req: RestRequest): Credentials | undefined {
  const authorization = header(req, SIGNATURE_HEADER)?.trim();
  if (authorization === undefined) return undefined;
  const parts = /^([^:\s]+):(\S+)$/.exec(authorization);
  if (!parts) throw fail('unauthenticated', `${SIGNATURE_HEADER} must be "<AccessKeyId>:<Signature>".`);
  const date = header(req, 'date');
  if (!date) throw fail('unauthenticated', 'A signed request needs a Date header (e.g. "Date: Fri, 04 Dec 2026 18:00:00 GMT"), the one it was signed with.');
  const signedAt = Date.parse(date);
  if (Number.isNaN(signedAt)) throw fail('unauthenticated', `The Date header "${date.slice(0, 80)}" is not a date; send an HTTP date such as "Fri, 04 Dec 2026 18:00:00 GMT".`);
  const skewMs = Math.abs(Date.now() - signedAt);
  if (skewMs > DATE_SKEW_MS) {
    throw fail(
      'unauthenticated',
      `The Date header (${new Date(signedAt).toUTCString()}) is ${Math.round(skewMs / 60_000)} minutes from the server's time (${new Date().toUTCString()}); signed requests must be within 15 minutes.`,
    );
  }
  const contentMd5 = header(req, 'content-md5') ?? '';
  if (contentMd5 && contentMd5 !== createHash('md5').update(req.body.bytes).digest('base64')) {
    throw fail('validation', 'The Content-MD5 header does not match the body: send Base64 of the MD5 of the exact bytes of the body.');
  }
  const stringToSign = [req.method, header(req, 'host') ?? '', contentMd5, header(req, 'content-type') ?? '', date, req.pathname].join('\n');
  return { kind: 'accessKey', accessKeyId: parts[1]!, signature: parts[2]!, stringToSign };
}

export const virtshell: Dialect = {
  name: 'virtshell',
  owns: (pathname) => OWNED.test(pathname),
  routes: PREFIXES.flatMap(routesUnder),
  credentials: signedCredentials,
  error(failure: RestFailure, req: RestRequest): RestReply {
    const unknownTask = failure.kind === 'not_found' && req.params.uuid !== undefined;
    if (unknownTask && req.method === 'PUT') return json(404, { update: 'error', reason: NOT_FOUND });
    if (unknownTask) return json(404, { error: NOT_FOUND });
    const reply =
      failure.kind === 'unauthenticated' && header(req, SIGNATURE_HEADER) === undefined && !req.headers.authorization
        ? json(401, { error: `Send credentials: "${SIGNATURE_HEADER}: <AccessKeyId>:<Signature>", HTTP Basic, or "Authorization: Bearer <api key>".` })
        : json(failure.status, { error: failure.message });
    // A 401 names the schemes that would be accepted.
    if (reply.status === 401) reply.headers = { ...reply.headers, 'www-authenticate': 'VirtShell-HMAC-SHA1 realm="virtshell", Basic realm="virtshell", Bearer realm="virtshell"' };
    return reply;
  },
};
