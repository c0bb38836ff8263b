/**
 * Otto's execution side: attachments (multipart upload, raw download), agent self-registration
 * (`PUT /api/register`), `GET /api/heartbeat`, `PUT /api/action/sync` and the live-run socket
 * `WS /api/action/async`. Part of the Otto dialect (graphql/rest/otto.ts), with its envelope,
 * models and route pieces (graphql/rest/otto-models.ts).
 *
 * A script run is `startRun` on one host, followed to its end with the `runOutput` subscription
 * (which ends when the run does), then read once with `run(id:)`: the same operations the
 * console uses.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import type { App, Context } from '../context';
import {
  ATTACHMENT_FIELDS,
  bodyFields,
  deleteRoute,
  fieldsOf,
  findNode,
  found,
  listRoute,
  nodeQuery,
  nodeRoute,
  nodeVariables,
  ok,
  toAttachment,
  uuidOf,
  uuidParam,
  ZERO_TIME,
  type AttachmentData,
  type OttoFields,
} from './otto-models';
import { ERROR_FIELDS, fail, RestFailure, type Route, type RouteTools, type UpgradeRoute } from './route-table';

type Json = Record<string, unknown>;

// ——— attachments ———

const CREATE_ATTACHMENT = `mutation($input: CreateAttachmentInput!) { createAttachment(input: $input) { ${ERROR_FIELDS} ... on CreateAttachmentSuccess { data { ${ATTACHMENT_FIELDS} } } } }`;
const UPDATE_ATTACHMENT = `mutation($input: UpdateAttachmentInput!) { updateAttachment(input: $input) { ${ERROR_FIELDS} ... on UpdateAttachmentSuccess { data { ${ATTACHMENT_FIELDS} } } } }`;

/** At most 16 MiB of file, plus the multipart framing and the other fields. */
const UPLOAD_LIMIT = 16 * 1024 * 1024 + 64 * 1024;

/** The most a UID or GID may be (as for scripts). */
const MAX_ID = 2147483647;

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

/** A whole-number form field (UID, GID, Mode: decimal, as Otto's web UI sends them). */
function formInteger(form: FormData, name: string): number | undefined {
  const value = formValue(form, name);
  if (value === undefined || value === '') return undefined;
  if (!/^\d{1,10}$/.test(value)) throw fail('validation', `${name} must be a whole number (Mode in decimal: 420 for 0644)`);
  return Number(value);
}

/** The edit body of an attachment: POST replaces the whole object (missing UID/GID: the runner's own; Mode: 420). */
function attachmentEdit(body: OttoFields) {
  return { path: body.required('Path'), uid: body.int('UID', 0, MAX_ID) ?? null, gid: body.int('GID', 0, MAX_ID) ?? null, mode: body.int('Mode') ?? 420 };
}

/** `filename` for Content-Disposition: ASCII with quotes escaped, and the exact name in `filename*`. */
function disposition(name: string): string {
  const ascii = name.replace(/[^\x20-\x7e]/g, '_').replace(/["\\]/g, '_');
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(name)}`;
}

const attachmentRoutes: Route[] = [
  listRoute<AttachmentData>('/api/attachments', 'attachments', ATTACHMENT_FIELDS, toAttachment),
  {
    method: 'PUT',
    path: '/api/attachments',
    access: 'admin',
    maxBodyBytes: UPLOAD_LIMIT,
    operation: CREATE_ATTACHMENT,
    variables: async (req) => {
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
    reply: (data: { createAttachment: { data: AttachmentData } }) => ok(toAttachment(data.createAttachment.data)),
  },
  nodeRoute('/api/attachments/attachment/:id', 'attachment', ATTACHMENT_FIELDS, toAttachment),
  {
    method: 'GET',
    path: '/api/attachments/attachment/:id/download',
    access: 'viewer',
    operation: nodeQuery('attachment', 'name mimeType contentBase64'),
    variables: nodeVariables('attachment'),
    reply: (data, req) => {
      const file = found<{ name: string; mimeType: string; contentBase64: string }>('attachment', data, req.params.id!);
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
    operation: UPDATE_ATTACHMENT,
    variables: (req) => {
      const id = uuidParam('attachment', req.params.id!);
      return { input: { id, ...attachmentEdit(bodyFields(req)) } };
    },
    reply: (data: { updateAttachment: { data: AttachmentData } }) => ok(toAttachment(data.updateAttachment.data)),
  },
  deleteRoute('/api/attachments/attachment/:id', 'attachment', 'deleteAttachment'),
];

// ——— registration and heartbeat ———

const REGISTER = `mutation($input: RegisterHostInput!) { registerHost(input: $input) { ${ERROR_FIELDS} ... on RegisterHostSuccess { data { agentKey } } } }`;

interface HeartbeatData {
  name: string;
  address: string | null;
  online: boolean;
  lastSeenAt: string | null;
  agentVersion: string | null;
  createdAt: string;
}

/**
 * A host's heartbeat. Runboard does not poll hosts: agents keep a connection open. The last reply
 * and the last attempt are both the last time the host was heard from (Go's zero time when never).
 */
const toHeartbeat = (host: HeartbeatData) => ({
  Address: host.address ?? host.name,
  IsReachable: host.online,
  LastReply: host.lastSeenAt ?? ZERO_TIME,
  LastAttempt: host.lastSeenAt ?? ZERO_TIME,
  LastVersion: host.agentVersion ?? '',
});

const registrationRoutes: Route[] = [
  {
    method: 'PUT',
    path: '/api/register',
    access: 'none',
    reply: async (_data, req, tools) => {
      const body = bodyFields(req);
      const input = {
        psk: body.required('psk'),
        hostname: body.required('hostname'),
        uname: body.string('uname'),
        address: body.string('address') || null,
        port: body.int('port', 0, 65535) || null,
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
  listRoute<HeartbeatData>('/api/heartbeat', 'hosts', 'name address online lastSeenAt agentVersion createdAt', toHeartbeat),
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
function actionRequest(body: OttoFields): ActionRequest {
  const action = body.required('Action');
  if (!(ACTIONS as readonly string[]).includes(action)) throw fail('validation', `Unknown Action "${action.slice(0, 40)}": use one of ${ACTIONS.join(', ')}`);
  if (NOT_REMOTE[action]) {
    throw fail('validation', `Runboard does not ${NOT_REMOTE[action]} remotely (Action ${action}); only ping and run_script are available`);
  }
  const hostId = body.required('HostID');
  const scriptId = action === 'run_script' ? body.required('ScriptID') : undefined;
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
  /** Ends the wait early (the socket closed, the client went away); the run goes on. */
  signal?: AbortSignal;
}

/**
 * Runs a script on a host and waits for it to end (bounded by the script's timeout): startRun,
 * then the runOutput subscription until it ends, then the run itself.
 */
async function runScript(tools: RouteTools, scriptRef: string, host: HostData, control: RunControl = {}): Promise<ScriptResult> {
  const script = await findNode<{ id: string; timeoutSeconds: number | null }>(tools, 'script', scriptRef, 'id timeoutSeconds');
  const scriptId = uuidOf(script.id);
  if (!host.online) return notRun(scriptId, `Host ${host.name} is not reachable: its agent is not connected`);
  const started = await tools.graphql<{ startRun: { data: Array<{ id: string }> } }>(START_RUN, { input: { scriptId: script.id, hostId: host.id } });
  const runId = started.startRun.data[0]!.id;
  control.onStarted?.(runId);

  const waitSeconds = script.timeoutSeconds ? script.timeoutSeconds + WAIT_MARGIN_SECONDS : MAX_WAIT_SECONDS;
  const output = { STDOUT: '', STDERR: '' };
  const chunks = await tools.subscribe<{ runOutput: { stream: 'STDOUT' | 'STDERR'; data: string } }>(RUN_OUTPUT, { runId });
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const stop = new Promise<'stopped'>((resolve) => {
    timer = setTimeout(() => resolve('stopped'), waitSeconds * 1000);
    onAbort = () => resolve('stopped');
    if (control.signal?.aborted) onAbort();
    control.signal?.addEventListener('abort', onAbort, { once: true });
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
    if (onAbort) control.signal?.removeEventListener('abort', onAbort);
    void chunks.return?.();
  }
  if (!ended) {
    const why = control.signal?.aborted ? 'The client went away before the run finished' : `The run had not finished after ${waitSeconds} seconds`;
    const unfinished = notRun(scriptId, `${why}; it goes on as run ${uuidOf(runId)}`);
    return { ...unfinished, Result: { ...unfinished.Result, Stdout: output.STDOUT, Stderr: output.STDERR } };
  }
  const { run } = await tools.graphql<{ run: RunData | null }>(RUN, { id: runId });
  if (!run) return notRun(scriptId, `Run ${uuidOf(runId)} was deleted before it could be read`);
  return scriptResult(scriptId, run, output.STDOUT, output.STDERR);
}

/** Performs an action: ping → whether the host is online; run_script → its ScriptResult. */
async function perform(tools: RouteTools, request: ActionRequest, control?: RunControl): Promise<boolean | ScriptResult> {
  const host = await findNode<HostData>(tools, 'host', request.hostId, 'id name online');
  if (request.action === 'ping') return host.online;
  return runScript(tools, request.scriptId!, host, control);
}

const actionRoutes: Route[] = [
  {
    method: 'PUT',
    path: '/api/action/sync',
    access: 'operator',
    // A client that goes away stops the wait (its run goes on).
    reply: async (_data, req, tools) => ok(await perform(tools, actionRequest(bodyFields(req)), { signal: req.signal })),
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

/** A socket message as Otto fields, or undefined when it is not a JSON object. */
function messageFields(raw: WebSocket.RawData, isBinary: boolean): OttoFields | undefined {
  try {
    return isBinary ? undefined : fieldsOf(JSON.parse(raw.toString()));
  } catch {
    return undefined;
  }
}

/** Whether a message asks to cancel (`{"Cancel":true}`). */
function asksCancel(message: OttoFields): boolean {
  try {
    return message.bool('Cancel');
  } catch {
    return false;
  }
}

/** One socket: the first message says what to run; output follows; `{"Cancel":true}` cancels. */
function liveRun(socket: WebSocket, tools: RouteTools): void {
  const { log } = tools.context;
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
    void tools.graphql(CANCEL_RUN, { id }).catch((error: unknown) => {
      // Already finished: the result is on its way.
      if (!(error instanceof RestFailure)) log.warn({ err: error }, 'could not cancel an Otto socket run');
    });
  const firstTimer = setTimeout(() => finish({ Code: 400, Error: 'Send {"HostID","Action","ScriptID"} first' }), FIRST_MESSAGE_MS);

  socket.on('close', () => {
    clearTimeout(firstTimer);
    clearTimeout(progressTimer);
    closed.abort();
  });
  socket.on('message', (raw, isBinary) => {
    const message = messageFields(raw, isBinary);
    if (started) {
      if (message && asksCancel(message)) {
        cancelAsked = true;
        if (runId) cancel(runId);
      }
      return;
    }
    started = true;
    clearTimeout(firstTimer);
    if (!message) return finish({ Code: 400, Error: 'Bad Request: the first message must be a JSON object {"HostID","Action","ScriptID"}' });
    void (async () => {
      try {
        const result = await perform(tools, actionRequest(message), {
          signal: closed.signal,
          onStarted: (id) => {
            runId = id;
            if (cancelAsked) cancel(id);
          },
          onOutput: progress,
        });
        finish({ Code: 200, Result: result });
      } catch (error) {
        if (!(error instanceof RestFailure)) log.error({ err: error }, 'an Otto socket run failed');
        finish({ Code: 400, Error: error instanceof RestFailure && error.kind !== 'internal' ? error.message : 'Server Error' });
      }
    })();
  });
}

/** At shutdown: closes this server's open live-run sockets (their runs go on). */
export function closeOttoSockets(app: App): void {
  for (const client of socketServers.get(app)?.clients ?? []) client.close(1001, 'Runboard is shutting down');
}

export const ottoExecutionRoutes: Route[] = [...attachmentRoutes, ...registrationRoutes, ...actionRoutes];

export const ottoUpgrades: UpgradeRoute[] = [
  {
    path: '/api/action/async',
    access: 'operator',
    handle(req: IncomingMessage, socket: Duplex, head: Buffer, context: Context, tools: RouteTools) {
      socketServerOf(context.app).handleUpgrade(req, socket, head, (client) => liveRun(client, tools));
    },
  },
];
