/**
 * Sloth CI (seeds/slothci-api.rst, COMPAT.md "Sloth CI"): apps at listen points, and the API at
 * `/?action=…`.
 *
 * - An app is a Runboard script made from its YAML config (core/sloth-app.service.ts): actions
 *   are template steps, a build is a run. Logs and history are derived from the script's runs,
 *   their per-step results and output, and the audit events about the script (slothci-logs.ts).
 * - The API is one path, `/`, with its `action` in the query string or a form body (GET and POST
 *   alike). Each action is a row like a route's: one GraphQL operation, its variables from the
 *   parameters, the Sloth answer from its data. `/` without an action is the console's.
 * - Webhooks: any method on `/<listen point>` (no credentials: the app's provider validator is
 *   the guard). A path is ours when it could be a listen point (the same rule that guards
 *   creating one, so it never shadows Runboard's routes); without an app there it is a 404.
 * - Errors are the bare message text; an anonymous API call gets 401 with
 *   `WWW-Authenticate: Basic realm="sloth-ci"`.
 */
import { listenPointProblems } from '../../core/script.service';
import { buildStatus, logRows, type LogRun } from './slothci-logs';
import { ERROR_FIELDS, refuseBelowAccess, fail, RestFailure, type Dialect, type RestReply, type RestRequest, type RouteAccess, type RouteTools } from './route-table';

const JSON_TYPE = { 'content-type': 'application/json' };
const ANY_METHOD = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'HEAD'];

const json = (status: number, value: unknown): RestReply => ({ status, headers: JSON_TYPE, body: JSON.stringify(value) });
const NULL_REPLY = (status: number): RestReply => json(status, null);

/** The parameters of a call: the query string's, then a form body's (a form field replaces the query's of that name). */
async function parametersOf(req: RestRequest): Promise<URLSearchParams> {
  const all = new URLSearchParams(req.query);
  if (req.body.empty) return all;
  if (!req.body.isForm) {
    throw fail('unsupported_media_type', 'Send the parameters in the query string or as a form body (application/x-www-form-urlencoded or multipart/form-data).');
  }
  const replaced = new Set<string>();
  for (const [name, value] of (await req.body.form()).entries()) {
    if (!replaced.has(name)) {
      all.delete(name);
      replaced.add(name);
    }
    all.append(name, typeof value === 'string' ? value : await value.text());
  }
  return all;
}

function required(p: URLSearchParams, name: string): string {
  const value = p.get(name);
  if (!value) throw fail('validation', `Missing parameter ${name}`);
  return value;
}

/** A whole-number parameter with a default, within bounds. */
function whole(p: URLSearchParams, name: string, fallback: number, min: number, max: number): number {
  const raw = p.get(name);
  if (raw === null || raw === '') return fallback;
  const value = Number(raw);
  if (!/^-?\d+$/.test(raw.trim()) || value < min || value > max) throw fail('validation', `Parameter ${name} must be a whole number from ${min} to ${max}, not "${raw.slice(0, 40)}"`);
  return value;
}

const notFound = (listenPoint: string) => new RestFailure('not_found', `Listen point '${listenPoint}' not found`);

/** The app's "not found" in Sloth's words; other failures as they are. */
function appFailure(failure: RestFailure, p: URLSearchParams): RestFailure {
  if (failure.kind === 'not_found' && /listen point/i.test(failure.message)) return notFound(p.get('listen_point') ?? '');
  return failure;
}

/** One API action: like a route row, on the action's parameters. */
interface SlothAction {
  /** The least role; the operation's own auth scope enforces it. */
  access: RouteAccess;
  operation?: string;
  variables?(p: URLSearchParams, tools: RouteTools): Record<string, unknown> | Promise<Record<string, unknown>>;
  reply(data: any, p: URLSearchParams, tools: RouteTools): RestReply | Promise<RestReply>;
  /** Puts a failure in Sloth's words. */
  failure?(failure: RestFailure, p: URLSearchParams): RestFailure;
}

const FINISHED = '[SUCCEEDED, FAILED, TIMED_OUT, CANCELLED, LOST]';
const APP_FIELDS = `id listenPoint configFile steps { template } runs(first: 1, filter: { states: ${FINISHED} }) { edges { node { state result finishedAt } } }`;

interface AppNode {
  id: string;
  listenPoint: string;
  configFile: string | null;
  steps: unknown[];
  runs: { edges: { node: Pick<LogRun, 'state' | 'result' | 'finishedAt'> }[] };
}

function infoOf(app: AppNode) {
  const last = app.runs.edges[0]?.node;
  const status = last ? buildStatus(last, app.steps.length) : null;
  return {
    listen_point: app.listenPoint,
    config_file: app.configFile,
    last_build_status: status?.message ?? 'Never triggered',
    last_build_timestamp: last?.finishedAt ? Date.parse(last.finishedAt) / 1000 : 0,
  };
}

const APP_BY_LISTEN_POINT = `query SlothApp($listenPoint: String!) { scripts(first: 1, filter: { listenPoint: $listenPoint }) { edges { node { ${APP_FIELDS} } } } }`;
// 40 apps a page, each with its last build, stays within the query cost limit.
const ALL_APPS = `query SlothApps($after: String) { scripts(first: 40, after: $after, filter: { hasListenPoint: true }) { edges { node { ${APP_FIELDS} } } pageInfo { hasNextPage endCursor } } }`;
const LOG_SOURCES = `query SlothLogs($listenPoint: String!, $runs: Int!) {
  scripts(first: 1, filter: { listenPoint: $listenPoint }) { edges { node { id steps { template } runs(first: $runs) { edges { node {
    id state trigger triggeredBy createdAt startedAt finishedAt summary result
  } } } } } }
}`;
const SCRIPT_EVENTS = `query SlothEvents($scriptId: ID!, $first: Int!) { events(first: $first, filter: { objectId: $scriptId }) { edges { node { at summary } } } }`;
const RUN_OUTPUT = `query SlothOutput($id: ID!) { run(id: $id) { output(limit: 5000) { stream data } } }`;

type Connection<T> = { edges: { node: T }[] };

/** The rows of `logs` (all loggers) or `history` (the build logger), newest first, one page range. */
async function logsReply(p: URLSearchParams, tools: RouteTools, buildOnly: boolean): Promise<RestReply> {
  const listenPoint = required(p, 'listen_point');
  const fromPage = whole(p, 'from_page', 1, 1, 100_000);
  const toPage = whole(p, 'to_page', fromPage, fromPage, 100_000);
  const perPage = whole(p, 'per_page', 10, 1, 500);
  const level = whole(p, 'level', buildOnly ? 0 : 20, 0, 100);
  if ((toPage - fromPage + 1) * perPage > 1000) throw fail('validation', 'Ask for at most 1000 records at once (pages × per_page)');
  const wanted = toPage * perPage;
  // Every build gives at least one row: the newest `wanted` builds (and events) hold the page.
  const first = Math.min(500, wanted);
  const data = await tools.graphql<{ scripts: Connection<{ id: string; steps: unknown[]; runs: Connection<LogRun> }> }>(LOG_SOURCES, { listenPoint, runs: first });
  const app = data.scripts.edges[0]?.node;
  if (!app) throw notFound(listenPoint);
  const runs = app.runs.edges.map((edge) => edge.node);
  const events = buildOnly ? [] : (await tools.graphql<{ events: Connection<{ at: string; summary: string }> }>(SCRIPT_EVENTS, { scriptId: app.id, first })).events.edges.map((e) => e.node);
  // stdout and stderr are DEBUG records: read output only when they can be shown.
  const outputs = new Map<string, { stream: string; data: string }[]>();
  if (!buildOnly && level <= 10) {
    for (const run of runs) {
      if (!run.startedAt) continue;
      const found = await tools.graphql<{ run: { output: { stream: string; data: string }[] } | null }>(RUN_OUTPUT, { id: run.id });
      outputs.set(run.id, found.run?.output ?? []);
    }
  }
  const rows = logRows(listenPoint, app.steps.length, runs, events, outputs)
    .filter((row) => (buildOnly ? row.logger_name === `${listenPoint}.build` : true) && row.level_number >= level)
    .slice((fromPage - 1) * perPage, wanted);
  return json(200, rows);
}

const ACTIONS: Record<string, SlothAction> = {
  bind: {
    access: 'admin',
    operation: `mutation SlothBind($input: BindSlothConfigFileInput!) { bindSlothConfigFile(input: $input) { ${ERROR_FIELDS} } }`,
    variables: (p) => ({ input: { listenPoint: required(p, 'listen_point'), configFile: required(p, 'config_file') } }),
    reply: () => NULL_REPLY(200),
    failure: appFailure,
  },
  create: {
    access: 'admin',
    operation: `mutation SlothCreate($configString: String!) { createSlothApp(configString: $configString) { ${ERROR_FIELDS} ... on CreateSlothAppSuccess { data { listenPoint } } } }`,
    variables: (p) => ({ configString: required(p, 'config_string') }),
    reply: (data: { createSlothApp: { data: { listenPoint: string } } }) => json(201, data.createSlothApp.data.listenPoint),
    failure(failure, p) {
      // Sloth echoes the config; a long one is cut rather than sent back whole.
      const given = p.get('config_string') ?? '';
      const config = given.length > 1000 ? `${given.slice(0, 1000)}…` : given;
      const path = failure.fields[0]?.path.join('.');
      if (failure.kind === 'validation' && path === 'configString') return new RestFailure('validation', `${config} is not a valid config string`);
      if (failure.kind === 'validation' && path === 'configString.listen_point') return new RestFailure('validation', "The 'listen_point' param is missing in the config");
      if (failure.kind === 'conflict') return new RestFailure('conflict', `Listen point ${/"(.*)"/.exec(failure.message)?.[1] ?? ''} is already taken`);
      return failure;
    },
  },
  remove: {
    access: 'admin',
    operation: `mutation SlothRemove($id: ID!) { deleteScript(id: $id) { ${ERROR_FIELDS} } }`,
    async variables(p, tools) {
      const listenPoint = required(p, 'listen_point');
      const found = await tools.graphql<{ scripts: Connection<{ id: string }> }>(APP_BY_LISTEN_POINT, { listenPoint });
      const app = found.scripts.edges[0]?.node;
      if (!app) throw notFound(listenPoint);
      return { id: app.id };
    },
    reply: () => ({ status: 204 }),
    failure: appFailure,
  },
  trigger: {
    access: 'operator',
    operation: `mutation SlothTrigger($input: TriggerListenPointInput!) { triggerListenPoint(input: $input) { ${ERROR_FIELDS} } }`,
    variables(p) {
      const listenPoint = required(p, 'listen_point');
      const parameters: Record<string, string> = {};
      for (const [name, value] of p) if (name !== 'action' && name !== 'listen_point') parameters[name] = value;
      return { input: { listenPoint, parameters } };
    },
    reply: () => NULL_REPLY(202),
    failure: appFailure,
  },
  info: {
    access: 'viewer',
    async reply(_data, p, tools) {
      const wanted = p.getAll('listen_points').filter(Boolean);
      const apps: AppNode[] = [];
      if (wanted.length === 0) {
        let after: string | null = null;
        do {
          const page: { scripts: Connection<AppNode> & { pageInfo: { hasNextPage: boolean; endCursor: string | null } } } = await tools.graphql(ALL_APPS, { after });
          apps.push(...page.scripts.edges.map((edge) => edge.node));
          after = page.scripts.pageInfo.hasNextPage ? page.scripts.pageInfo.endCursor : null;
        } while (after);
        apps.sort((a, b) => (a.listenPoint < b.listenPoint ? -1 : a.listenPoint > b.listenPoint ? 1 : 0));
      } else {
        if (wanted.length > 100) throw fail('validation', 'Ask for at most 100 listen points at once');
        for (const listenPoint of wanted) {
          const found = await tools.graphql<{ scripts: Connection<AppNode> }>(APP_BY_LISTEN_POINT, { listenPoint });
          const app = found.scripts.edges[0]?.node;
          if (!app) throw notFound(listenPoint);
          apps.push(app);
        }
      }
      return json(200, apps.map(infoOf));
    },
  },
  logs: { access: 'viewer', reply: (_data, p, tools) => logsReply(p, tools, false) },
  history: { access: 'viewer', reply: (_data, p, tools) => logsReply(p, tools, true) },
  restart: {
    access: 'admin',
    operation: `mutation SlothRestart { reloadSlothApps { ${ERROR_FIELDS} } }`,
    reply: () => NULL_REPLY(202),
  },
  // Runboard is not stopped through an API: stop asks nothing of anyone and says so by doing nothing.
  stop: { access: 'viewer', reply: () => NULL_REPLY(202) },
};

/** Runs one API action. */
async function apiReply(req: RestRequest, tools: RouteTools): Promise<RestReply> {
  // The action from the query is known before the body is read: a caller below it is refused first.
  const queried = req.query.get('action');
  const known = (name: string | null) => (name && Object.hasOwn(ACTIONS, name) ? ACTIONS[name]! : undefined);
  if (known(queried)) refuseBelowAccess(known(queried)!.access, tools.context);
  const p = await parametersOf(req);
  const name = p.get('action');
  if (!name) throw fail('validation', 'Missing parameter action');
  const action = known(name);
  if (!action) throw fail('not_found', `Action ${name} not found`);
  refuseBelowAccess(action.access, tools.context);
  try {
    const variables = action.variables ? await action.variables(p, tools) : {};
    const data = action.operation ? await tools.graphql(action.operation, variables) : {};
    return await action.reply(data, p, tools);
  } catch (error) {
    if (error instanceof RestFailure && action.failure) throw action.failure(error, p);
    throw error;
  }
}

/** A webhook call's fields: query, then form (form wins); a JSON body is the `payload` (GitHub's JSON content type). */
async function webhookFields(req: RestRequest): Promise<Record<string, string>> {
  const fields: Record<string, string> = Object.fromEntries(req.query);
  if (req.body.empty) return fields;
  if (req.body.isForm) {
    for (const [name, value] of (await req.body.form()).entries()) fields[name] = typeof value === 'string' ? value : await value.text();
  } else if (req.body.mediaType === 'application/json') fields.payload = req.body.text();
  return fields;
}

/** Whether a path could be a listen point: a valid one, outside Runboard's own routes. */
function couldBeListenPoint(pathname: string): boolean {
  let listenPoint: string;
  try {
    listenPoint = decodeURIComponent(pathname.slice(1));
  } catch {
    return false;
  }
  return listenPoint !== '' && listenPointProblems(listenPoint, []).length === 0;
}

/** The least role of each action, for the lead's auth table (the `/` route itself needs a viewer). */
export const SLOTH_ACTION_ACCESS: Record<string, RouteAccess> = Object.fromEntries(Object.entries(ACTIONS).map(([name, action]) => [name, action.access]));

export const slothci: Dialect = {
  name: 'slothci',
  owns(pathname, query, method) {
    if (pathname === '/') return query.has('action') || method === 'POST';
    return couldBeListenPoint(pathname);
  },
  routes: [
    { method: ['GET', 'POST'], path: '/', access: 'viewer', probe: () => '/?action=info', reply: (_data, req, tools) => apiReply(req, tools) },
    {
      method: ANY_METHOD,
      path: '/*',
      access: 'none',
      operation: `mutation SlothWebhook($input: DeliverWebhookInput!) { deliverWebhook(input: $input) { ${ERROR_FIELDS} } }`,
      variables: async (req) => ({ input: { listenPoint: req.params['*'], method: req.method, fields: await webhookFields(req) } }),
      // A page of the console, or a mistyped address, rather than an app: the console's own 404 page.
      passOn: (failure, req) => failure.kind === 'not_found' && (req.method === 'GET' || req.method === 'HEAD'),
      reply: () => ({ status: 200 }),
    },
  ],
  // Each action, by query (GET) and by form (POST works the same: the query is read first).
  probes: Object.entries(ACTIONS).flatMap(([name, action]) =>
    ['GET', 'POST'].map((method) => ({ method, path: `/?action=${name}&listen_point=no-such-app&config_file=%2Fno%2Fsuch.yml&config_string=x`, access: action.access })),
  ),
  error(failure, req): RestReply {
    const webhook = req.pathname !== '/';
    let shown = failure;
    if (webhook && failure.kind === 'not_found') shown = notFound(req.params['*'] ?? req.pathname.slice(1));
    const message = shown.kind === 'internal' ? 'Something went wrong on our side; it has been logged.' : shown.message;
    const headers: Record<string, string> = { 'content-type': 'text/plain; charset=utf-8' };
    if (shown.kind === 'unauthenticated') headers['www-authenticate'] = 'Basic realm="sloth-ci"';
    return { status: shown.status, headers, body: message };
  },
};
