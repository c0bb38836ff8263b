/**
 * ndscheduler (seeds/ndscheduler-api.md, COMPAT.md "ndscheduler"): cron jobs, their executions
 * and the audit log, under /api/v1, with a form login at /login.
 *
 * - A job is a Runboard schedule (cron, UTC) made with `createJob` (graphql/job.ts): a script
 *   of its own named after the job holds `job_class_string` and `pub_args`; a class naming one
 *   of Runboard's scripts (by name or id) schedules that script instead. job_id is the
 *   schedule's UUID without dashes.
 * - An execution is a run linked to a job's schedule; execution_id is the run's UUID without
 *   dashes. The audit log is Runboard's event log, read through `events`.
 * - Errors are `{"error": "…"}`, 400 for anything about the request (as ndscheduler did), 415 for
 *   a body that is not JSON. The session is the `user` cookie (a Runboard session under
 *   ndscheduler's name); Basic and Bearer work too. Unauthenticated GETs are sent to /login.
 */
import { decodeGlobalID } from '@pothos/plugin-relay';
import type { Credentials } from '../../core/auth.service';
import { isUuid } from '../../core/ids';
import type { Context } from '../context';
import { decodeAnyId } from '../ids';
import { cronOf, fieldsOf, givesCronField, REQUIRED_ONE_OF } from './ndscheduler-cron';
import { ERROR_FIELDS, fail, RestFailure, type Dialect, type RestReply, type RestRequest, type Route } from './route-table';

export const NDS_SESSION_COOKIE = 'user';
const RUNBOARD_SESSION_COOKIE = 'runboard_session';

const JSON_TYPE = { 'content-type': 'application/json; charset=utf-8' };
const json = (status: number, body: unknown): RestReply => ({ status, headers: JSON_TYPE, body: JSON.stringify(body) });

/** Page sizes that keep each query under the cost limit; lists read every page, up to MAX_ROWS. */
const JOBS_PAGE = 50;
const RUNS_PAGE = 50;
const EVENTS_PAGE = 100;
const MAX_ROWS = 5000;
const TEN_MINUTES_MS = 10 * 60_000;

interface Connection<T> {
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
  edges: Array<{ node: T }>;
}

const PAGE_INFO = 'pageInfo { hasNextPage endCursor }';

/** Every node of a list: the route's own page, then the following ones through `next`. */
async function allNodes<T>(first: Connection<T>, next: (after: string) => Promise<Connection<T>>): Promise<T[]> {
  const nodes = first.edges.map((e) => e.node);
  let page = first;
  while (page.pageInfo.hasNextPage && page.pageInfo.endCursor && nodes.length < MAX_ROWS) {
    page = await next(page.pageInfo.endCursor);
    nodes.push(...page.edges.map((e) => e.node));
  }
  return nodes;
}

// ---------------------------------------------------------------------------------------------
// Ids: ndscheduler's are 32 hex digits, Runboard's UUIDs with dashes.

const HEX32 = /^[0-9a-f]{32}$/i;
const hexOf = (globalOrUuid: string) => decodeAnyId(globalOrUuid).replace(/-/g, '');

/** The UUID of an ndscheduler id (32 hex digits, or a UUID); `notFound` otherwise. */
function uuidOf(id: string, notFound: string): string {
  if (isUuid(id)) return id.toLowerCase();
  if (!HEX32.test(id)) throw fail('not_found', notFound, 400);
  const h = id.toLowerCase();
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** The job a request is about (from its path or body), for "Job not found: <id>". */
const jobIdOfRequest = new WeakMap<RestRequest, string>();
const jobUuid = (req: RestRequest, id: string) => {
  jobIdOfRequest.set(req, id);
  return uuidOf(id, `Job not found: ${id}`);
};

/** ISO 8601 in UTC with ndscheduler's "+00:00". */
const isoUtc = (value: string | null | undefined) => (value ? new Date(value).toISOString().replace('Z', '+00:00') : '');

// ---------------------------------------------------------------------------------------------
// Bodies

function jsonBody(req: RestRequest): Record<string, unknown> {
  if (!req.body.mediaType.startsWith('application/json')) {
    throw fail('unsupported_media_type', 'Send the body as JSON, with "Content-Type: application/json".');
  }
  const value = req.body.json('The request body is not valid JSON.');
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw fail('validation', 'The request body must be a JSON object.');
  return value as Record<string, unknown>;
}

function stringField(body: Record<string, unknown>, field: string, required: boolean): string | undefined {
  const value = body[field];
  if (value === undefined || value === null) {
    if (required) throw fail('validation', `Require this parameter: ${field}`);
    return undefined;
  }
  if (typeof value !== 'string') throw fail('validation', `${field} must be a string (got ${JSON.stringify(value).slice(0, 40)}).`);
  if (required && !value.trim()) throw fail('validation', `Require this parameter: ${field}`);
  return value;
}

function pubArgs(body: Record<string, unknown>): unknown[] | undefined {
  const value = body.pub_args;
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value)) throw fail('validation', `pub_args must be a JSON list, e.g. ["arg1", 2] (got ${JSON.stringify(value).slice(0, 40)}).`);
  return value;
}

/** A job class as Runboard takes it: a Script's global id becomes its UUID; anything else is kept. */
function jobClassOf(value: string): string {
  try {
    const decoded = decodeGlobalID(value.trim());
    if (decoded.typename === 'Script' && isUuid(decoded.id)) return decoded.id;
  } catch {
    // Not a global id.
  }
  return value;
}

const cronWhen = (body: Record<string, unknown>) => ({ kind: 'CRON', cron: cronOf(body), timezone: 'UTC' });

// ---------------------------------------------------------------------------------------------
// Jobs and executions as ndscheduler shows them

const JOB_FIELDS = 'id name kind cron enabled nextRunAt ownsScript script { id name jobClass jobArgs }';

interface JobNode {
  id: string;
  name: string;
  kind: 'CRON' | 'INTERVAL' | 'ONCE';
  cron: string | null;
  enabled: boolean;
  nextRunAt: string | null;
  ownsScript: boolean;
  script: { id: string; name: string; jobClass: string | null; jobArgs: unknown } | null;
}

function jobOf(s: JobNode) {
  return {
    job_id: hexOf(s.id),
    name: s.name,
    next_run_time: s.enabled ? isoUtc(s.nextRunAt) : '',
    job_class_string: s.ownsScript ? (s.script?.jobClass ?? '') : (s.script?.name ?? ''),
    pub_args: s.ownsScript && Array.isArray(s.script?.jobArgs) ? s.script.jobArgs : [],
    ...fieldsOf(s.cron),
  };
}

const RUN_SCALARS = 'id state startedAt hostName pid summary result scheduledFor createdAt updatedAt';

interface RunNode {
  id: string;
  state: string;
  startedAt: string | null;
  hostName: string | null;
  pid: number | null;
  summary: string | null;
  result: unknown;
  scheduledFor: string | null;
  createdAt: string;
  updatedAt: string;
}

/** Runboard's run states in ndscheduler's words (it never says "stopping": a cancel is at once). */
function stateOf(run: RunNode): string {
  switch (run.state) {
    case 'QUEUED':
    case 'DISPATCHED':
      return 'scheduled';
    case 'RUNNING':
      return 'running';
    case 'SUCCEEDED':
      return 'succeeded';
    case 'FAILED':
      // It could not start (an unknown job class, bad arguments): ndscheduler's "scheduled error".
      return run.startedAt ? 'failed' : 'scheduled error';
    case 'TIMED_OUT':
      return 'timeout';
    case 'LOST':
      return 'interrupted';
    default: // CANCELLED, SKIPPED
      return 'stopped';
  }
}

function executionOf(run: RunNode, job: JobNode) {
  const shown = jobOf(job);
  return {
    execution_id: hexOf(run.id),
    state: stateOf(run),
    hostname: run.hostName ?? '',
    pid: run.pid ?? -1,
    task_id: '',
    description: run.summary ?? '',
    result: run.result === null || run.result === undefined ? '' : JSON.stringify(run.result),
    scheduled_time: isoUtc(run.scheduledFor ?? run.createdAt),
    updated_time: isoUtc(run.updatedAt),
    job: { ...shown, task_name: shown.job_class_string },
  };
}

const rangeOfRequest = new WeakMap<RestRequest, { start: Date; end: Date }>();

/** `time_range_start` / `time_range_end` (ISO 8601); by default the last ten minutes. Read once per request. */
function timeRange(req: RestRequest): { start: Date; end: Date } {
  const known = rangeOfRequest.get(req);
  if (known) return known;
  const read = (name: string) => {
    const value = req.query.get(name);
    if (value === null || value === '') return undefined;
    const date = new Date(value);
    if (Number.isNaN(date.getTime())) throw fail('validation', `${name}: "${value.slice(0, 60)}" is not an ISO 8601 date-time, e.g. 2015-12-19T00:31:50.313Z.`);
    return date;
  };
  const end = read('time_range_end') ?? new Date();
  const start = read('time_range_start') ?? new Date(end.getTime() - TEN_MINUTES_MS);
  if (start > end) throw fail('validation', 'time_range_start is after time_range_end.');
  rangeOfRequest.set(req, { start, end });
  return { start, end };
}

// ---------------------------------------------------------------------------------------------
// Sign-in: a Runboard session, handed out as the `user` cookie

/** The session cookies GraphQL sets during a request, kept back so they go out as `user`. */
const heldCookies = new WeakMap<Context, string[]>();

function holdCookies(context: Context): void {
  const held: string[] = [];
  heldCookies.set(context, held);
  context.setCookie = (value) => held.push(value);
}

/** The `user` cookie carrying the session the held runboard_session cookie names (or clearing it). */
function userCookie(context: Context): string | undefined {
  const session = (heldCookies.get(context) ?? []).map((c) => c.split(';')[0]!).find((c) => c.startsWith(`${RUNBOARD_SESSION_COOKIE}=`));
  if (session === undefined) return undefined;
  const value = session.slice(RUNBOARD_SESSION_COOKIE.length + 1);
  const attributes = `Path=/; HttpOnly; SameSite=Lax${context.secure ? '; Secure' : ''}`;
  return value ? `${NDS_SESSION_COOKIE}=${value}; ${attributes}` : `${NDS_SESSION_COOKIE}=; Max-Age=0; ${attributes}`;
}

function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const [key, ...value] = part.trim().split('=');
    if (key !== name || !value.join('=')) continue;
    try {
      return decodeURIComponent(value.join('='));
    } catch {
      return undefined; // not a session id Runboard made
    }
  }
  return undefined;
}

/** Where to go after signing in: a path on this server, never another site. */
function nextPath(value: unknown): string {
  return typeof value === 'string' && value.startsWith('/') && !value.startsWith('//') && !value.includes('\\') ? value : '/';
}

const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function loginPage(req: RestRequest): RestReply {
  const error = req.query.get('error');
  const next = nextPath(req.query.get('next'));
  const body = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in · Runboard</title></head>
<body><h1>Sign in</h1>${error ? `\n<p role="alert">${escapeHtml(error.slice(0, 300))}</p>` : ''}
<form method="post" action="/login">
<input type="hidden" name="next" value="${escapeHtml(next)}">
<p><label>Username <input name="username" autocomplete="username" required></label></p>
<p><label>Password <input name="password" type="password" autocomplete="current-password" required></label></p>
<p><button type="submit">Sign in</button></p>
</form></body></html>
`;
  return { status: 200, headers: { 'content-type': 'text/html; charset=utf-8' }, body };
}

/** Where a sign-in goes next (its `next` field), remembered for the redirect back when it fails. */
const loginNext = new WeakMap<RestRequest, string>();

const loginRoutes: Route[] = [
  { method: 'GET', path: '/login', access: 'none', reply: (_data, req) => loginPage(req) },
  {
    method: 'POST',
    path: '/login',
    access: 'none',
    operation: `mutation NdsLogin($input: SignInInput!) { signIn(input: $input) { ${ERROR_FIELDS} } }`,
    async variables(req, tools) {
      const form = await req.body.form();
      const field = (name: string) => {
        const value = form.get(name) ?? req.query.get(name);
        return typeof value === 'string' ? value : '';
      };
      loginNext.set(req, nextPath(field('next')));
      if (!req.body.isForm) throw fail('validation', 'Send the username and password as a form (application/x-www-form-urlencoded).');
      if (!field('username') || !field('password')) throw fail('validation', 'Give a username and a password.');
      holdCookies(tools.context);
      return { input: { username: field('username'), password: field('password') } };
    },
    reply(_data, req, tools) {
      const cookie = userCookie(tools.context);
      return { status: 302, headers: { location: loginNext.get(req) ?? '/', ...(cookie && { 'set-cookie': cookie }) } };
    },
  },
  {
    method: 'GET',
    path: '/logout',
    access: 'none',
    operation: 'mutation NdsLogout { signOut }',
    variables(_req, tools) {
      holdCookies(tools.context);
      return {};
    },
    reply(_data, _req, tools) {
      return { status: 302, headers: { location: '/', 'set-cookie': userCookie(tools.context) ?? `${NDS_SESSION_COOKIE}=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax` } };
    },
  },
];

// ---------------------------------------------------------------------------------------------
// Jobs

const JOB_QUERY = `query NdsJob($id: ID!) { schedule(id: $id) { ${JOB_FIELDS} } }`;
const JOBS_QUERY = `query NdsJobs($after: String) { schedules(first: ${JOBS_PAGE}, after: $after) { ${PAGE_INFO} edges { node { ${JOB_FIELDS} } } } }`;

const jobRoutes: Route[] = [
  {
    method: 'GET',
    path: '/api/v1/jobs',
    access: 'viewer',
    operation: JOBS_QUERY,
    async reply(data: { schedules: Connection<JobNode> }, _req, tools) {
      const schedules = await allNodes(data.schedules, async (after) => (await tools.graphql<typeof data>(JOBS_QUERY, { after })).schedules);
      return json(200, { jobs: schedules.filter((s) => s.kind === 'CRON').map(jobOf) });
    },
  },
  {
    method: 'GET',
    path: '/api/v1/jobs/:job_id',
    access: 'viewer',
    operation: JOB_QUERY,
    variables: (req) => ({ id: jobUuid(req, req.params.job_id!) }),
    reply(data: { schedule: JobNode | null }, req) {
      if (!data.schedule || data.schedule.kind !== 'CRON') throw fail('not_found', `Job not found: ${req.params.job_id}`, 400);
      return json(200, jobOf(data.schedule));
    },
  },
  {
    method: 'POST',
    path: '/api/v1/jobs',
    access: 'admin',
    operation: `mutation NdsAddJob($input: CreateJobInput!) { createJob(input: $input) { ${ERROR_FIELDS} ... on CreateJobSuccess { data { id } } } }`,
    variables(req) {
      const body = jsonBody(req);
      const jobClass = stringField(body, 'job_class_string', true)!;
      const name = stringField(body, 'name', true)!;
      if (!REQUIRED_ONE_OF.some((field) => body[field] !== undefined)) {
        throw fail('validation', `Require at least one of following parameters: [${REQUIRED_ONE_OF.map((f) => `'${f}'`).join(', ')}]`);
      }
      return { input: { name, jobClass: jobClassOf(jobClass), jobArgs: pubArgs(body) ?? [], when: cronWhen(body) } };
    },
    reply: (data: { createJob: { data: { id: string } } }) => json(201, { job_id: hexOf(data.createJob.data.id) }),
  },
  {
    method: 'PUT',
    path: '/api/v1/jobs/:job_id',
    access: 'admin',
    operation: `mutation NdsModifyJob($input: UpdateJobInput!) { updateJob(input: $input) { ${ERROR_FIELDS} ... on UpdateJobSuccess { data { id } } } }`,
    variables(req) {
      const id = jobUuid(req, req.params.job_id!);
      const body = jsonBody(req);
      const name = stringField(body, 'name', false);
      if (name !== undefined && !name.trim()) throw fail('validation', 'name cannot be empty.');
      const jobClass = stringField(body, 'job_class_string', false);
      if (jobClass !== undefined && !jobClass.trim()) throw fail('validation', 'job_class_string cannot be empty.');
      return {
        input: {
          id,
          name,
          jobClass: jobClass === undefined ? undefined : jobClassOf(jobClass),
          jobArgs: pubArgs(body),
          when: givesCronField(body) ? cronWhen(body) : undefined,
        },
      };
    },
    reply: (data: { updateJob: { data: { id: string } } }) => json(200, { job_id: hexOf(data.updateJob.data.id) }),
  },
  {
    method: 'DELETE',
    path: '/api/v1/jobs/:job_id',
    access: 'admin',
    operation: `mutation NdsDeleteJob($id: ID!) { deleteJob(id: $id) { ${ERROR_FIELDS} ... on DeleteJobSuccess { data } } }`,
    variables: (req) => ({ id: jobUuid(req, req.params.job_id!) }),
    reply: (data: { deleteJob: { data: string } }) => json(200, { job_id: hexOf(data.deleteJob.data) }),
  },
  {
    method: 'PATCH',
    path: '/api/v1/jobs/:job_id',
    access: 'operator',
    operation: `mutation NdsPauseJob($id: ID!) { pauseSchedule(id: $id) { ${ERROR_FIELDS} ... on PauseScheduleSuccess { data { id } } } }`,
    variables: (req) => ({ id: jobUuid(req, req.params.job_id!) }),
    reply: (data: { pauseSchedule: { data: { id: string } } }) => json(200, { job_id: hexOf(data.pauseSchedule.data.id) }),
  },
  {
    method: 'OPTIONS',
    path: '/api/v1/jobs/:job_id',
    access: 'operator',
    operation: `mutation NdsResumeJob($id: ID!) { resumeSchedule(id: $id) { ${ERROR_FIELDS} ... on ResumeScheduleSuccess { data { id } } } }`,
    variables: (req) => ({ id: jobUuid(req, req.params.job_id!) }),
    reply: (data: { resumeSchedule: { data: { id: string } } }) => json(200, { job_id: hexOf(data.resumeSchedule.data.id) }),
  },
];

// ---------------------------------------------------------------------------------------------
// Executions

const RUN_JOB = `mutation NdsRunJob($input: StartRunInput!) { startRun(input: $input) { ${ERROR_FIELDS} ... on StartRunSuccess { data { id } } } }`;
const runJobReply = (data: { startRun: { data: Array<{ id: string }> } }) => json(200, { execution_id: hexOf(data.startRun.data[0]!.id) });

const RUNS_QUERY = `query NdsExecutions($filter: RunFilter, $after: String) {
  runs(first: ${RUNS_PAGE}, after: $after, filter: $filter) { ${PAGE_INFO} edges { node { ${RUN_SCALARS} schedule { id } } } } }`;
const JOBS_BY_ID = `query NdsJobsById($ids: [ID!]!) { nodes(ids: $ids) { ... on Schedule { ${JOB_FIELDS} } } }`;

/** Runs due in the time range (both ends included): scheduled then, or, run by hand, made then. */
function runsFilter(req: RestRequest) {
  const { start, end } = timeRange(req);
  return { scheduledSince: start.toISOString(), scheduledUntil: new Date(end.getTime() + 1).toISOString() };
}

const executionRoutes: Route[] = [
  {
    method: 'GET',
    path: '/api/v1/executions',
    access: 'viewer',
    operation: RUNS_QUERY,
    variables: (req) => ({ filter: runsFilter(req) }),
    async reply(data: { runs: Connection<RunNode & { schedule: { id: string } | null }> }, req, tools) {
      const filter = runsFilter(req);
      const runs = (await allNodes(data.runs, async (after) => (await tools.graphql<typeof data>(RUNS_QUERY, { filter, after })).runs)).filter(
        (run) => run.schedule !== null,
      );
      const ids = [...new Set(runs.map((run) => run.schedule!.id))];
      const jobs = new Map<string, JobNode>();
      for (let i = 0; i < ids.length; i += 100) {
        const found = await tools.graphql<{ nodes: Array<JobNode | null> }>(JOBS_BY_ID, { ids: ids.slice(i, i + 100) });
        for (const job of found.nodes) if (job?.id) jobs.set(job.id, job);
      }
      const executions = runs
        .filter((run) => jobs.has(run.schedule!.id))
        .sort((a, b) => Date.parse(b.updatedAt) - Date.parse(a.updatedAt))
        .map((run) => executionOf(run, jobs.get(run.schedule!.id)!));
      return json(200, { executions });
    },
  },
  {
    method: 'GET',
    path: '/api/v1/executions/:execution_id',
    access: 'viewer',
    operation: `query NdsExecution($id: ID!) { run(id: $id) { ${RUN_SCALARS} schedule { ${JOB_FIELDS} } } }`,
    variables: (req) => ({ id: uuidOf(req.params.execution_id!, `Execution not found: ${req.params.execution_id}`) }),
    reply(data: { run: (RunNode & { schedule: JobNode | null }) | null }, req) {
      // Only a job's runs are executions.
      if (!data.run?.schedule) throw fail('not_found', `Execution not found: ${req.params.execution_id}`, 400);
      return json(200, executionOf(data.run, data.run.schedule));
    },
  },
  {
    // The web UI's form: the job in the path.
    method: 'POST',
    path: '/api/v1/executions/:job_id',
    access: 'operator',
    operation: RUN_JOB,
    variables: (req) => ({ input: { scheduleId: jobUuid(req, req.params.job_id!) } }),
    reply: runJobReply,
  },
  {
    // The seed's form: the job in the body.
    method: 'POST',
    path: '/api/v1/executions',
    access: 'operator',
    operation: RUN_JOB,
    variables(req) {
      const id = stringField(jsonBody(req), 'job_id', true)!;
      return { input: { scheduleId: jobUuid(req, id) } };
    },
    reply: runJobReply,
  },
];

// ---------------------------------------------------------------------------------------------
// Audit log

const LOG_EVENTS: Record<string, string> = {
  'schedule.created': 'added',
  'schedule.updated': 'modified',
  'schedule.deleted': 'deleted',
  'schedule.paused': 'paused',
  'schedule.resumed': 'resumed',
  'run.started': 'custom_run',
};

interface EventNode {
  at: string;
  action: string;
  actorName: string;
  objectId: string | null;
  objectName: string | null;
  summary: string;
  details: { scheduleId?: unknown; schedule?: unknown } | null;
}

function logOf(event: EventNode) {
  const name = LOG_EVENTS[event.action]!;
  if (name === 'custom_run') {
    const { scheduleId, schedule } = event.details ?? {};
    if (typeof scheduleId !== 'string' || !event.objectId) return [];
    return [{ job_id: hexOf(scheduleId), job_name: typeof schedule === 'string' ? schedule : '', event: name, user: event.actorName, created_time: isoUtc(event.at), description: hexOf(event.objectId) }];
  }
  if (!event.objectId) return [];
  return [{ job_id: hexOf(event.objectId), job_name: event.objectName ?? '', event: name, user: event.actorName, created_time: isoUtc(event.at), description: event.summary }];
}

const LOGS_QUERY = `query NdsLogs($filter: EventFilter, $after: String) {
  events(first: ${EVENTS_PAGE}, after: $after, filter: $filter) { ${PAGE_INFO} edges { node { at action actorName objectId objectName summary details } } } }`;

function logsFilter(req: RestRequest) {
  const { start, end } = timeRange(req);
  return { actions: Object.keys(LOG_EVENTS), since: start.toISOString(), until: new Date(end.getTime() + 1).toISOString() };
}

const logRoutes: Route[] = [
  {
    method: 'GET',
    path: '/api/v1/logs',
    access: 'viewer',
    operation: LOGS_QUERY,
    variables: (req) => ({ filter: logsFilter(req) }),
    async reply(data: { events: Connection<EventNode> }, req, tools) {
      const filter = logsFilter(req);
      const events = await allNodes(data.events, async (after) => (await tools.graphql<typeof data>(LOGS_QUERY, { filter, after })).events);
      return json(200, { logs: events.flatMap(logOf) });
    },
  },
];

/** A GET with a trailing slash goes to the path without it (301), query and all. */
const slashRoutes: Route[] = ['/api/v1/jobs/', '/api/v1/jobs/:job_id/', '/api/v1/executions/', '/api/v1/executions/:execution_id/', '/api/v1/logs/'].map((path) => ({
  method: 'GET',
  path,
  access: 'none',
  reply(_data, req) {
    const search = req.query.toString();
    return { status: 301, headers: { location: `${req.pathname.replace(/\/+$/, '')}${search ? `?${search}` : ''}` } };
  },
}));

const NDS_PATH = /^\/(login|logout)$|^\/api\/v1\/(jobs|executions|logs)(\/|$)/;

export const ndscheduler: Dialect = {
  name: 'ndscheduler',
  owns: (pathname) => NDS_PATH.test(pathname),
  routes: [...loginRoutes, ...jobRoutes, ...executionRoutes, ...logRoutes, ...slashRoutes],
  credentials(req): Credentials | undefined {
    if (req.headers.authorization) return undefined;
    const sessionId = cookieValue(req.headers.cookie, NDS_SESSION_COOKIE) ?? cookieValue(req.headers.cookie, RUNBOARD_SESSION_COOKIE);
    return sessionId ? { kind: 'session', sessionId } : undefined;
  },
  error(failure: RestFailure, req: RestRequest): RestReply {
    if (req.pathname === '/login' && req.method === 'POST' && ['validation', 'unauthenticated', 'rate_limited', 'unsupported_media_type'].includes(failure.kind)) {
      // As ndscheduler's form does: back to the sign-in page, saying why; no cookie.
      const next = loginNext.get(req) ?? '/';
      return { status: 302, headers: { location: `/login?${new URLSearchParams({ error: failure.message, ...(next !== '/' && { next }) })}` } };
    }
    if (failure.kind === 'unauthenticated') {
      if (req.headers.authorization) return { ...json(401, { error: failure.message }), headers: { 'content-type': 'application/json', 'www-authenticate': 'Basic realm="ndscheduler", charset="UTF-8"' } };
      if (req.method === 'GET') {
        const search = req.query.toString();
        return { status: 302, headers: { location: `/login?${new URLSearchParams({ next: `${req.pathname}${search ? `?${search}` : ''}` })}` } };
      }
      return json(403, { error: 'Sign in first: POST /login, or send HTTP Basic or "Authorization: Bearer <api key>".' });
    }
    const jobId = jobIdOfRequest.get(req);
    if (failure.kind === 'not_found' && jobId !== undefined && !failure.message.startsWith('Job not found')) {
      return json(400, { error: `Job not found: ${jobId}` });
    }
    // ndscheduler answered 400 for every bad request; an unknown path stays 404.
    const status = failure.kind === 'validation' || failure.kind === 'conflict' ? 400 : failure.status;
    return json(status, { error: failure.message });
  },
};
