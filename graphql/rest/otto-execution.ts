/**
 * Otto's execution side: attachments (multipart upload, raw download), agent self-registration
 * (`PUT /api/register`), `GET /api/heartbeat`, `PUT /api/action/sync` and the live-run socket
 * `WS /api/action/async`. Part of the Otto dialect (graphql/rest/otto.ts), in its envelope.
 *
 * Otto's IDs are Runboard's global ids (a bare UUID is accepted too). A script run is
 * `startRun` on one host, followed to its end with the `runOutput` subscription (which ends when
 * the run does), then read once with `run(id:)`: the same operations the console uses.
 */
import { STATUS_CODES, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import { isUuid } from '../../core/ids';
import type { App, Context } from '../context';
import { encodeGlobalID } from '../ids';
import { ok, ottoError } from './otto';
import { ERROR_FIELDS, fail, RestFailure, type RestRequest, type Route, type RouteTools, type UpgradeRoute } from './route-table';
import { graphqlInProcess, subscribe } from './subscribe';

type Graphql = RouteTools['graphql'];
type Json = Record<string, unknown>;

// ——— request bodies ———

/** The body as a JSON object; Otto answers "Bad Request" to an empty or undecodable one. */
function jsonObject(req: RestRequest): Json {
  if (req.body.empty) throw fail('validation', 'Bad Request');
  const value = req.body.json('Bad Request');
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw fail('validation', 'Bad Request');
  return value as Json;
}

/** A key of an Otto body, matched case-insensitively (as Go's JSON decoder does). */
function field(body: Json, name: string): unknown {
  if (name in body) return body[name];
  const lower = name.toLowerCase();
  const key = Object.keys(body).find((k) => k.toLowerCase() === lower);
  return key === undefined ? undefined : body[key];
}

function text(body: Json, name: string, required = false): string | undefined {
  const value = field(body, name);
  if (value === undefined || value === null || value === '') {
    if (required) throw fail('validation', `${name} is required`);
    return undefined;
  }
  if (typeof value !== 'string') throw fail('validation', `${name} must be a string`);
  return value;
}

function integer(body: Json, name: string): number | undefined {
  const value = field(body, name);
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) throw fail('validation', `${name} must be a whole number`);
  return value;
}

/** A global id for `typename` from an Otto ID (a global id already, or a bare UUID). */
const globalId = (typename: string, id: string) => (isUuid(id) ? encodeGlobalID(typename, id.toLowerCase()) : id);

/** Runs an operation; a missing record (or an id that is none) is Otto's 400 `No <thing> with ID <id>`. */
async function withRecord<T>(graphql: Graphql, thing: string, id: string, document: string, variables: Json): Promise<T> {
  try {
    return await graphql<T>(document, variables);
  } catch (error) {
    if (error instanceof RestFailure && (error.kind === 'not_found' || (error.kind === 'validation' && /is not an id|not a \w+ id|belongs to a/i.test(error.message)))) {
      throw fail('validation', `No ${thing} with ID ${id}`);
    }
    throw error;
  }
}

/** One object by id, when it is of that type; undefined otherwise (also for an id that is none). */
async function node<T>(graphql: Graphql, typename: string, id: string, fields: string): Promise<T | undefined> {
  let data: { node: (T & { __typename: string }) | null };
  try {
    data = await graphql(`query($id: ID!) { node(id: $id) { __typename ... on ${typename} { ${fields} } } }`, { id: globalId(typename, id) });
  } catch (error) {
    // node(id:) refuses ids that do not decode: to Otto that is an unknown record.
    if (error instanceof RestFailure && error.kind === 'validation') return undefined;
    throw error;
  }
  return data.node?.__typename === typename ? data.node : undefined;
}

async function mustFind<T>(graphql: Graphql, typename: string, id: string, fields: string): Promise<T> {
  const found = await node<T>(graphql, typename, id, fields);
  if (!found) throw fail('validation', `No ${typename.toLowerCase()} with ID ${id}`);
  return found;
}

/** Every item of a connection, following its pages. */
async function all<T>(graphql: Graphql, document: string, root: string): Promise<T[]> {
  const items: T[] = [];
  let after: string | null = null;
  for (;;) {
    const data: Record<string, { edges: Array<{ node: T }>; pageInfo: { hasNextPage: boolean; endCursor: string | null } }> = await graphql(document, { after });
    const page = data[root]!;
    items.push(...page.edges.map((edge) => edge.node));
    if (!page.pageInfo.hasNextPage || !page.pageInfo.endCursor) return items;
    after = page.pageInfo.endCursor;
  }
}

const ROLE_RANK: Record<string, number> = { VIEWER: 1, OPERATOR: 2, ADMIN: 3 };

/**
 * Refuses a caller below `role` (the viewer's role, from GraphQL) before its body is read, so a
 * caller without the right gets 403 whatever it sent. The operation itself enforces the role too;
 * this only answers first (and is the check for `ping`, which reads nothing an operator-only
 * field guards).
 */
async function requireRole(graphql: Graphql, role: 'OPERATOR' | 'ADMIN'): Promise<void> {
  const { viewer } = await graphql<{ viewer: { role: string } | null }>('{ viewer { role } }');
  if (!viewer) throw new RestFailure('unauthenticated', 'unauthorized');
  if ((ROLE_RANK[viewer.role] ?? 0) < ROLE_RANK[role]!) {
    const needed = role === 'ADMIN' ? 'the admin role' : 'the operator role';
    throw new RestFailure('forbidden', `Your role (${viewer.role}) does not allow this. It needs ${needed}.`);
  }
}

// ——— attachments ———

const ATTACHMENT_FIELDS = 'id path name mimeType uid gid createdAt updatedAt mode size';

interface AttachmentData {
  id: string;
  path: string;
  name: string;
  mimeType: string;
  uid: number | null;
  gid: number | null;
  createdAt: string;
  updatedAt: string;
  mode: number;
  size: number;
}

/** Otto's Attachment. UID and GID are null for "the runner's own" (Go reads null as 0). */
const ottoAttachment = (a: AttachmentData) => ({
  ID: a.id,
  Path: a.path,
  Name: a.name,
  MimeType: a.mimeType,
  UID: a.uid,
  GID: a.gid,
  Created: a.createdAt,
  Modified: a.updatedAt,
  Mode: a.mode,
  Size: a.size,
});

const CREATE_ATTACHMENT = `mutation($input: CreateAttachmentInput!) { createAttachment(input: $input) { ${ERROR_FIELDS} ... on CreateAttachmentSuccess { data { ${ATTACHMENT_FIELDS} } } } }`;
const UPDATE_ATTACHMENT = `mutation($input: UpdateAttachmentInput!) { updateAttachment(input: $input) { ${ERROR_FIELDS} ... on UpdateAttachmentSuccess { data { ${ATTACHMENT_FIELDS} } } } }`;
const DELETE_ATTACHMENT = `mutation($id: ID!) { deleteAttachment(id: $id) { ${ERROR_FIELDS} } }`;
const LIST_ATTACHMENTS = `query($after: String) { attachments(first: 50, after: $after) { edges { node { ${ATTACHMENT_FIELDS} } } pageInfo { hasNextPage endCursor } } }`;

/** At most 16 MiB of file, plus the multipart framing and the other fields. */
const UPLOAD_LIMIT = 16 * 1024 * 1024 + 64 * 1024;

/** A whole-number form field (UID, GID, Mode: decimal, as Otto's web UI sends them). */
function formInteger(form: FormData, name: string): number | undefined {
  const value = formValue(form, name);
  if (value === undefined || value === '') return undefined;
  if (!/^\d{1,10}$/.test(value)) throw fail('validation', `${name} must be a whole number (Mode in decimal: 420 for 0644)`);
  return Number(value);
}

/** A text field of a form, its name matched case-insensitively. */
function formValue(form: FormData, name: string): string | undefined {
  for (const [key, value] of form.entries()) {
    if (key.toLowerCase() === name.toLowerCase()) {
      if (typeof value !== 'string') throw fail('validation', `${name} must be a text field, not a file`);
      return value.trim();
    }
  }
  return undefined;
}

/** The edit body of an attachment: POST replaces the whole object (missing UID/GID: the runner's own; Mode: 420). */
function attachmentEdit(body: Json) {
  const mode = integer(body, 'Mode');
  return { path: text(body, 'Path', true), uid: integer(body, 'UID') ?? null, gid: integer(body, 'GID') ?? null, mode: mode ?? 420 };
}

/** `filename` for Content-Disposition: ASCII with quotes escaped, and the exact name in `filename*`. */
function disposition(name: string): string {
  const ascii = name.replace(/[^\x20-\x7e]/g, '_').replace(/["\\]/g, '_');
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(name)}`;
}

const attachmentRoutes: Route[] = [
  {
    method: 'GET',
    path: '/api/attachments',
    access: 'viewer',
    reply: async (_data, _req, tools) => {
      const attachments = await all<AttachmentData>(tools.graphql, LIST_ATTACHMENTS, 'attachments');
      attachments.sort((a, b) => b.createdAt.localeCompare(a.createdAt));
      return ok(attachments.map(ottoAttachment));
    },
  },
  {
    method: 'PUT',
    path: '/api/attachments',
    access: 'admin',
    maxBodyBytes: UPLOAD_LIMIT,
    operation: CREATE_ATTACHMENT,
    variables: async (req, tools) => {
      await requireRole(tools.graphql, 'ADMIN');
      if (req.body.mediaType !== 'multipart/form-data') {
        throw fail('validation', 'Upload the file as multipart/form-data: fields Path, UID, GID, Mode and the file in a part named "file"');
      }
      const form = await req.body.form();
      const file = form.get('file');
      if (!(file instanceof File)) throw fail('validation', 'The file part is missing: send the file in a part named "file"');
      const path = formValue(form, 'Path');
      if (!path) throw fail('validation', 'Path is required');
      const mimeType = file.type.split(';')[0]!.trim();
      return {
        input: {
          name: file.name,
          path,
          uid: formInteger(form, 'UID') ?? null,
          gid: formInteger(form, 'GID') ?? null,
          mode: formInteger(form, 'Mode') ?? 420,
          ...(mimeType && { mimeType }),
          contentBase64: Buffer.from(await file.arrayBuffer()).toString('base64'),
        },
      };
    },
    reply: (data: { createAttachment: { data: AttachmentData } }) => ok(ottoAttachment(data.createAttachment.data)),
  },
  {
    method: 'GET',
    path: '/api/attachments/attachment/:id',
    access: 'viewer',
    reply: async (_data, req, tools) => ok(ottoAttachment(await mustFind<AttachmentData>(tools.graphql, 'Attachment', req.params.id!, ATTACHMENT_FIELDS))),
  },
  {
    method: 'GET',
    path: '/api/attachments/attachment/:id/download',
    access: 'viewer',
    reply: async (_data, req, tools) => {
      const file = await mustFind<{ name: string; mimeType: string; contentBase64: string }>(tools.graphql, 'Attachment', req.params.id!, 'name mimeType contentBase64');
      return {
        status: 200,
        // Served as a download, never rendered: an uploaded HTML file must not run on our origin.
        headers: { 'content-type': file.mimeType, 'content-disposition': disposition(file.name), 'x-content-type-options': 'nosniff' },
        body: Buffer.from(file.contentBase64, 'base64'),
      };
    },
  },
  {
    method: 'POST',
    path: '/api/attachments/attachment/:id',
    access: 'admin',
    reply: async (_data, req, tools) => {
      await requireRole(tools.graphql, 'ADMIN');
      const id = req.params.id!;
      const input = { id: globalId('Attachment', id), ...attachmentEdit(jsonObject(req)) };
      const data = await withRecord<{ updateAttachment: { data: AttachmentData } }>(tools.graphql, 'attachment', id, UPDATE_ATTACHMENT, { input });
      return ok(ottoAttachment(data.updateAttachment.data));
    },
  },
  {
    method: 'DELETE',
    path: '/api/attachments/attachment/:id',
    access: 'admin',
    reply: async (_data, req, tools) => {
      const id = req.params.id!;
      await withRecord(tools.graphql, 'attachment', id, DELETE_ATTACHMENT, { id: globalId('Attachment', id) });
      return ok(true);
    },
  },
];

// ——— registration and heartbeat ———

const REGISTER = `mutation($input: RegisterHostInput!) { registerHost(input: $input) { ${ERROR_FIELDS} ... on RegisterHostSuccess { data { agentKey } } } }`;

const registrationRoutes: Route[] = [
  {
    method: 'PUT',
    path: '/api/register',
    access: 'none',
    reply: async (_data, req, tools) => {
      const body = jsonObject(req);
      const port = integer(body, 'port');
      const input = {
        psk: text(body, 'psk', true),
        hostname: text(body, 'hostname', true),
        uname: text(body, 'uname') ?? '',
        address: text(body, 'address') ?? null,
        port: port ? port : null,
      };
      try {
        const data = await tools.graphql<{ registerHost: { data: { agentKey: string } } }>(REGISTER, { input });
        return ok({ psk: data.registerHost.data.agentKey });
      } catch (error) {
        if (!(error instanceof RestFailure)) throw error;
        // Registration disabled is Otto's 404; an address or name in use its 400.
        if (error.kind === 'not_found') throw new RestFailure('not_found', error.message || 'Not Found');
        if (error.kind === 'conflict') throw new RestFailure('validation', error.message);
        throw error;
      }
    },
  },
  {
    method: 'GET',
    path: '/api/heartbeat',
    access: 'viewer',
    reply: async (_data, _req, tools) => {
      const hosts = await all<{ name: string; address: string | null; online: boolean; lastSeenAt: string | null; agentVersion: string | null }>(
        tools.graphql,
        'query($after: String) { hosts(first: 100, after: $after) { edges { node { name address online lastSeenAt agentVersion } } pageInfo { hasNextPage endCursor } } }',
        'hosts',
      );
      // Runboard does not poll hosts: agents keep a connection open. The last reply and the last
      // attempt are both the last time the host was heard from (Go's zero time when never).
      const never = '0001-01-01T00:00:00Z';
      return ok(
        hosts.map((host) => ({
          Address: host.address ?? host.name,
          IsReachable: host.online,
          LastReply: host.lastSeenAt ?? never,
          LastAttempt: host.lastSeenAt ?? never,
          LastVersion: host.agentVersion ?? '',
        })),
      );
    },
  },
];

// ——— actions ———

const ACTIONS = ['ping', 'run_script', 'exit_client', 'reboot', 'shutdown'] as const;
type Action = (typeof ACTIONS)[number];

const NOT_REMOTE: Record<string, string> = {
  exit_client: 'stop an agent',
  reboot: 'reboot a host',
  shutdown: 'shut a host down',
};

interface ActionRequest {
  hostId: string;
  action: Action;
  scriptId?: string;
}

/** Reads `{HostID, Action, ScriptID}`; refuses what Runboard does not do remotely. */
function actionRequest(body: Json): ActionRequest {
  const action = text(body, 'Action', true)!;
  if (!(ACTIONS as readonly string[]).includes(action)) throw fail('validation', `Unknown Action "${action.slice(0, 40)}": use one of ${ACTIONS.join(', ')}`);
  if (NOT_REMOTE[action]) {
    throw fail('validation', `Runboard does not ${NOT_REMOTE[action]} remotely (Action ${action}); only ping and run_script are available`);
  }
  const hostId = text(body, 'HostID', true)!;
  const scriptId = action === 'run_script' ? text(body, 'ScriptID', true) : undefined;
  return { hostId, action: action as Action, ...(scriptId && { scriptId }) };
}

interface HostData {
  id: string;
  name: string;
  online: boolean;
}

interface RunData {
  state: string;
  exitCode: number | null;
  durationMs: number | null;
  createdAt: string;
  finishedAt: string | null;
  summary: string | null;
}

const START_RUN = `mutation($input: StartRunInput!) { startRun(input: $input) { ${ERROR_FIELDS} ... on StartRunSuccess { data { id } } } }`;
const CANCEL_RUN = `mutation($id: ID!) { cancelRun(id: $id) { ${ERROR_FIELDS} } }`;
const RUN = 'query($id: ID!) { run(id: $id) { state exitCode durationMs createdAt finishedAt summary } }';
const RUN_OUTPUT = 'subscription($runId: ID!) { runOutput(runId: $runId) { stream data } }';

/** How long to wait for a script without a timeout of its own. */
const MAX_WAIT_SECONDS = 3600;
/** Beyond a script's timeout: the kill grace and the last output. */
const WAIT_MARGIN_SECONDS = 30;

const NS_PER_MS = 1_000_000;

export interface ScriptResult {
  ScriptID: string;
  Duration: number;
  Environment: string[];
  Result: { Success: boolean; ExecError: string; Code: number; Stdout: string; Stderr: string; Elapsed: number };
  RunError: string;
}

/** A result for a script that did not run at all (RunError set, Success false). */
const notRun = (scriptId: string, runError: string): ScriptResult => ({
  ScriptID: scriptId,
  Duration: 0,
  Environment: [],
  Result: { Success: false, ExecError: '', Code: -1, Stdout: '', Stderr: '', Elapsed: 0 },
  RunError: runError,
});

const EXEC_ERRORS: Record<string, string> = {
  TIMED_OUT: 'the script ran past its timeout and was killed',
  CANCELLED: 'the run was cancelled',
  SKIPPED: 'the run was skipped by a concurrency limit',
};

/** Otto's ScriptResult from a finished run. A host that went away is a RunError; the script's own failure an ExecError. */
function scriptResult(scriptId: string, run: RunData, stdout: string, stderr: string): ScriptResult {
  const success = run.state === 'SUCCEEDED';
  const lost = run.state === 'LOST';
  const execError = success || lost ? '' : run.exitCode === null || run.state !== 'FAILED' ? (run.summary ?? EXEC_ERRORS[run.state] ?? run.state.toLowerCase()) : '';
  const duration = run.finishedAt ? (Date.parse(run.finishedAt) - Date.parse(run.createdAt)) * NS_PER_MS : 0;
  return {
    ScriptID: scriptId,
    Duration: Math.max(0, Math.round(duration)),
    // A run's environment holds secrets and is not exposed by the API.
    Environment: [],
    Result: { Success: success, ExecError: execError, Code: run.exitCode ?? -1, Stdout: stdout, Stderr: stderr, Elapsed: Math.round((run.durationMs ?? 0) * NS_PER_MS) },
    RunError: lost ? (run.summary ?? 'the host went away while the script ran') : '',
  };
}

interface RunControl {
  /** Called with all output so far, each time more arrives. */
  onOutput?(stdout: string, stderr: string): void;
  /** Called with the run's id once it is queued (to cancel it). */
  onStarted?(runId: string): void;
  /** Ends the wait early (the socket closed). */
  signal?: AbortSignal;
}

/**
 * Runs a script on a host and waits for it to end (bounded by the script's timeout): startRun,
 * then the runOutput subscription until it ends, then the run itself.
 */
async function runScript(context: Context, graphql: Graphql, request: ActionRequest, host: HostData, control: RunControl = {}): Promise<ScriptResult> {
  const scriptId = request.scriptId!;
  const script = await mustFind<{ id: string; timeoutSeconds: number | null }>(graphql, 'Script', scriptId, 'id timeoutSeconds');
  if (!host.online) return notRun(scriptId, `Host ${host.name} is not reachable: its agent is not connected`);
  const started = await graphql<{ startRun: { data: Array<{ id: string }> } }>(START_RUN, { input: { scriptId: script.id, hostId: host.id } });
  const runId = started.startRun.data[0]!.id;
  control.onStarted?.(runId);

  const waitSeconds = script.timeoutSeconds ? script.timeoutSeconds + WAIT_MARGIN_SECONDS : MAX_WAIT_SECONDS;
  const output = { STDOUT: '', STDERR: '' };
  const chunks = await subscribe<{ runOutput: { stream: 'STDOUT' | 'STDERR'; data: string } }>(context, RUN_OUTPUT, { runId });
  let timer: NodeJS.Timeout | undefined;
  const stop = new Promise<'stopped'>((resolve) => {
    timer = setTimeout(() => resolve('stopped'), waitSeconds * 1000);
    control.signal?.addEventListener('abort', () => resolve('stopped'), { once: true });
  });
  let ended = false;
  try {
    for (;;) {
      const next = await Promise.race([chunks.next(), stop]);
      if (next === 'stopped') break;
      if (next.done) {
        ended = true;
        break;
      }
      output[next.value.runOutput.stream] += next.value.runOutput.data;
      control.onOutput?.(output.STDOUT, output.STDERR);
    }
  } finally {
    clearTimeout(timer);
    void chunks.return?.();
  }
  if (!ended) {
    const unfinished = notRun(scriptId, `The run had not finished after ${waitSeconds} seconds; it goes on as run ${runId}`);
    return { ...unfinished, Result: { ...unfinished.Result, Stdout: output.STDOUT, Stderr: output.STDERR } };
  }
  const { run } = await graphql<{ run: RunData | null }>(RUN, { id: runId });
  if (!run) return notRun(scriptId, `Run ${runId} was deleted before it could be read`);
  return scriptResult(scriptId, run, output.STDOUT, output.STDERR);
}

/** Performs an action: ping → whether the host is online; run_script → its ScriptResult. */
async function perform(context: Context, graphql: Graphql, request: ActionRequest, control?: RunControl): Promise<boolean | ScriptResult> {
  const host = await mustFind<HostData>(graphql, 'Host', request.hostId, 'id name online');
  if (request.action === 'ping') return host.online;
  return runScript(context, graphql, request, host, control);
}

const actionRoutes: Route[] = [
  {
    method: 'PUT',
    path: '/api/action/sync',
    access: 'operator',
    reply: async (_data, req, tools) => {
      await requireRole(tools.graphql, 'OPERATOR');
      return ok(await perform(tools.context, tools.graphql, actionRequest(jsonObject(req))));
    },
  },
];

// ——— the live-run socket ———

/** How long a new socket may take to say what to run. */
const FIRST_MESSAGE_MS = 30_000;
/**
 * At most one progress message per this long: each carries all output so far, so one per chunk
 * of a chatty script would cost the square of its output.
 */
const PROGRESS_MS = 200;

/** Each server instance's live-run sockets (tests run several instances in one process). */
const socketServers = new WeakMap<App, WebSocketServer>();

function socketServerOf(app: App): WebSocketServer {
  let server = socketServers.get(app);
  if (!server) {
    server = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 });
    socketServers.set(app, server);
  }
  return server;
}

/** Refuses an upgrade with an HTTP answer in Otto's envelope. */
function refuse(socket: Duplex, status: number, message: string): void {
  const reply = ottoError(status, message);
  const body = String(reply.body);
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Refused'}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

/** One socket: the first message says what to run; output follows; `{"Cancel":true}` cancels. */
function liveRun(socket: WebSocket, context: Context, graphql: Graphql): void {
  const send = (message: Json) => {
    if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message));
  };
  // Progress: sent at once, then at most every PROGRESS_MS (the latest output wins).
  let pending: Json | undefined;
  let progressTimer: NodeJS.Timeout | undefined;
  const flush = () => {
    clearTimeout(progressTimer);
    progressTimer = undefined;
    if (pending) send(pending);
    pending = undefined;
  };
  const progress = (stdout: string, stderr: string) => {
    pending = { Code: 100, ...(stdout && { Stdout: stdout }), ...(stderr && { Stderr: stderr }) };
    if (progressTimer) return;
    flush();
    progressTimer = setTimeout(flush, PROGRESS_MS);
  };
  const finish = (message: Json) => {
    flush();
    send(message);
    socket.close(1000);
  };
  const closed = new AbortController();
  let started = false;
  let runId: string | undefined;
  let cancelAsked = false;
  const cancel = (id: string) =>
    void graphql(CANCEL_RUN, { id }).catch((error: unknown) => {
      // Already finished: the result is on its way.
      if (!(error instanceof RestFailure)) context.log.warn({ err: error }, 'could not cancel an Otto socket run');
    });
  const firstTimer = setTimeout(() => finish({ Code: 400, Error: 'Send {"HostID","Action","ScriptID"} first' }), FIRST_MESSAGE_MS);

  socket.on('close', () => {
    clearTimeout(firstTimer);
    clearTimeout(progressTimer);
    closed.abort();
  });
  socket.on('message', (raw, isBinary) => {
    let message: unknown;
    try {
      message = isBinary ? undefined : JSON.parse(raw.toString());
    } catch {
      message = undefined;
    }
    const body = message && typeof message === 'object' && !Array.isArray(message) ? (message as Json) : undefined;
    if (started) {
      if (body && field(body, 'Cancel') === true) {
        cancelAsked = true;
        if (runId) cancel(runId);
      }
      return;
    }
    started = true;
    clearTimeout(firstTimer);
    if (!body) return finish({ Code: 400, Error: 'Bad Request: the first message must be a JSON object {"HostID","Action","ScriptID"}' });
    void (async () => {
      try {
        const request = actionRequest(body);
        const result = await perform(context, graphql, request, {
          signal: closed.signal,
          onStarted: (id) => {
            runId = id;
            if (cancelAsked) cancel(id);
          },
          onOutput: progress,
        });
        finish({ Code: 200, Result: result });
      } catch (error) {
        if (!(error instanceof RestFailure)) context.log.error({ err: error }, 'an Otto socket run failed');
        finish({ Code: 400, Error: error instanceof RestFailure && error.kind !== 'internal' ? error.message : 'Server Error' });
      }
    })();
  });
}

/**
 * Closes the open live-run sockets (their runs go on). For shutdown: an open socket otherwise
 * holds the HTTP server's close for its grace period. Not wired yet: the framework has no stop
 * hook for upgrade routes.
 */
export function closeOttoSockets(app: App): void {
  for (const client of socketServers.get(app)?.clients ?? []) client.close(1001, 'Runboard is shutting down');
}

export const ottoExecutionRoutes: Route[] = [...attachmentRoutes, ...registrationRoutes, ...actionRoutes];

export const ottoUpgrades: UpgradeRoute[] = [
  {
    path: '/api/action/async',
    access: 'operator',
    handle(req: IncomingMessage, socket: Duplex, head: Buffer, context: Context) {
      const graphql: Graphql = (document, variables) => graphqlInProcess(context, document, variables);
      requireRole(graphql, 'OPERATOR').then(
        () => socketServerOf(context.app).handleUpgrade(req, socket, head, (client) => liveRun(client, context, graphql)),
        (error: unknown) => {
          if (!(error instanceof RestFailure)) {
            context.log.error({ err: error }, 'an Otto socket upgrade failed');
            refuse(socket, 500, 'Server Error');
          } else if (error.kind === 'unauthenticated') refuse(socket, 403, 'unauthorized');
          else refuse(socket, error.kind === 'forbidden' ? 403 : 400, error.message);
        },
      );
    },
  },
];
