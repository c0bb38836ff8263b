/**
 * Otto (seeds/otto-api.md, COMPAT.md "Otto"): hosts, groups, scripts, schedules and their
 * reports, attachments, users, options, events, agent registration and remote execution.
 *
 * Every answer is Otto's envelope: `{"code":200,"error":{},"data":…}` on success (HTTP 200),
 * `{"code":N,"error":{"code":N,"message":"…"}}` with HTTP status N on failure. The session is
 * the `otto-session` cookie (a Runboard session under Otto's name); Basic and Bearer work too.
 */
import os from 'node:os';
import type { Credentials } from '../../core/auth.service';
import packageJson from '../../package.json' with { type: 'json' };
import { closeOttoSockets, ottoExecutionRoutes, ottoUpgrades } from './otto-execution';
import {
  allNodes,
  ATTACHMENT_FIELDS,
  bodyFields,
  deleteRoute,
  EVENT_FIELDS,
  found,
  GROUP_FIELDS,
  HOST_FIELDS,
  idList,
  listRoute,
  newestFirst,
  nodeRoute,
  nodeVariables,
  noSuch,
  ok,
  OPTIONS_FIELDS,
  optionsInput,
  OTTO_EVENT_ACTIONS,
  ottoError,
  PAGE,
  PAGE_INFO,
  REPORT_RUN_FIELDS,
  SCHEDULE_FIELDS,
  SCRIPT_FIELDS,
  toAttachment,
  toEvent,
  toGroup,
  toHost,
  toOptions,
  toReports,
  toSchedule,
  toScript,
  toUser,
  USER_FIELDS,
  uuidOf,
  uuidParam,
  type AttachmentData,
  type Connection,
  type EventData,
  type GroupData,
  type HostData,
  type OttoFields,
  type ReportRunData,
  type ScheduleData,
  type ScriptData,
  type UserData,
} from './otto-models';
import { ERROR_FIELDS, fail, RestFailure, type Dialect, type RestReply, type RestRequest, type Route, type RouteTools } from './route-table';

export const OTTO_SESSION_COOKIE = 'otto-session';

const OTTO_PATH = /^\/api\/(login|logout|hosts|register|heartbeat|groups|schedules|scripts|attachments|action|users|state|options|events)(\/|$)/;

/** Otto's words for the statuses it uses. */
const STATUS_MESSAGES: Record<number, string> = { 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 500: 'Server Error' };

/** Reads the otto-session cookie. */
function sessionCookie(cookieHeader: string | undefined): string | undefined {
  for (const part of (cookieHeader ?? '').split(';')) {
    const [name, ...value] = part.trim().split('=');
    if (name === OTTO_SESSION_COOKIE && value.length > 0) return decodeURIComponent(value.join('='));
  }
  return undefined;
}

type Data = Record<string, any>;

// ---------------------------------------------------------------------------------------------
// Login and logout

const SIGN_IN = `mutation($input: SignInInput!) { signIn(input: $input) { ${ERROR_FIELDS} ... on SignInSuccess { data { user { id username } } } } }`;

/** Otto's session cookie: the Runboard session under Otto's name, strict and script-proof. */
function ottoCookie(sessionId: string, secure: boolean): string {
  return `${OTTO_SESSION_COOKIE}=${encodeURIComponent(sessionId)}; Path=/; SameSite=Strict; HttpOnly${secure ? '; Secure' : ''}`;
}

const sessionRoutes: Route[] = [
  {
    // signIn queues Runboard's own cookie; Otto's client gets its own instead (set below).
    method: 'POST',
    path: '/api/login',
    access: 'none',
    reply: async (_data, req, tools) => {
      const body = bodyFields(req);
      const input = { username: body.string('Username'), password: body.string('Password') };
      tools.context.setCookie = () => {};
      let signedIn: Data;
      try {
        signedIn = await tools.graphql<Data>(SIGN_IN, { input });
      } catch (error) {
        if (error instanceof RestFailure && error.kind === 'rate_limited') throw error;
        throw new RestFailure('forbidden', 'Unauthorized');
      }
      const sessionId = tools.context.viewer?.sessionId;
      if (!sessionId) throw new RestFailure('internal', 'signIn opened no session');
      const user = signedIn.signIn.data.user as { id: string; username: string };
      const expires = Math.floor(Date.now() / 1000) + tools.context.app.config.sessionIdleSeconds;
      const reply = ok({ ID: uuidOf(user.id), Username: user.username, Expires: expires });
      return { ...reply, headers: { ...reply.headers, 'set-cookie': ottoCookie(sessionId, tools.context.secure) } };
    },
  },
  {
    method: 'POST',
    path: '/api/logout',
    access: 'none',
    operation: 'mutation { signOut }',
    variables: (_req, tools) => {
      tools.context.setCookie = () => {};
      return {};
    },
    reply: (_data, _req, tools) => {
      const reply = ok();
      const blank = `${OTTO_SESSION_COOKIE}=; Path=/; SameSite=Strict; HttpOnly; Max-Age=0${tools.context.secure ? '; Secure' : ''}`;
      return { ...reply, headers: { ...reply.headers, 'set-cookie': blank } };
    },
  },
];

// ---------------------------------------------------------------------------------------------
// Hosts

/** A host body as Runboard's host input (a POST replaces it all: what is missing is cleared). */
function hostInput(body: OttoFields) {
  return {
    name: body.string('Name'),
    address: body.string('Address') || null,
    port: body.int('Port', 0, 65535) || null,
    groupIds: idList('group', body.strings('GroupIDs')),
    environment: body.environment(),
  };
}

/** Otto's `{ScriptID, ScriptName, GroupID, GroupName}` rows of what a host may run, through its groups. */
const HOST_SCRIPTS = 'groups { id name scripts { id name } }';
const hostScripts = (host: { groups: Array<{ id: string; name: string; scripts: Array<{ id: string; name: string }> }> }) =>
  host.groups.flatMap((group) =>
    group.scripts.map((script) => ({ ScriptID: uuidOf(script.id), ScriptName: script.name, GroupID: uuidOf(group.id), GroupName: group.name })),
  );

const hostRoutes: Route[] = [
  listRoute<HostData>('/api/hosts', 'hosts', HOST_FIELDS, (host) => toHost(host)),
  {
    method: 'PUT',
    path: '/api/hosts/host',
    access: 'admin',
    operation: `mutation($input: CreateHostInput!) { createHost(input: $input) { ${ERROR_FIELDS} ... on CreateHostSuccess { data { agentKey host { ${HOST_FIELDS} } } } } }`,
    variables: (req) => ({ input: hostInput(bodyFields(req)) }),
    // The PSK is the agent key Runboard issued: shown in this answer only.
    reply: (data) => ok(toHost(data.createHost.data.host, data.createHost.data.agentKey)),
  },
  nodeRoute('/api/hosts/host/:id', 'host', HOST_FIELDS, (host: HostData) => toHost(host)),
  nodeRoute('/api/hosts/host/:id/scripts', 'host', HOST_SCRIPTS, hostScripts),
  nodeRoute('/api/hosts/host/:id/groups', 'host', `groups { ${GROUP_FIELDS} }`, (host: { groups: GroupData[] }) => newestFirst(host.groups).map(toGroup)),
  nodeRoute('/api/hosts/host/:id/schedules', 'host', `schedules { ${SCHEDULE_FIELDS} }`, (host: { schedules: ScheduleData[] }) =>
    newestFirst(host.schedules).map(toSchedule),
  ),
  {
    method: 'POST',
    path: '/api/hosts/host/:id',
    access: 'admin',
    operation: `mutation($input: UpdateHostInput!) { updateHost(input: $input) { ${ERROR_FIELDS} ... on UpdateHostSuccess { data { ${HOST_FIELDS} } } } }`,
    variables: (req) => {
      const id = uuidParam('host', req.params.id!);
      const body = bodyFields(req);
      return { input: { id, ...hostInput(body), enabled: body.bool('Enabled') } };
    },
    reply: (data) => ok(toHost(data.updateHost.data)),
  },
  deleteRoute('/api/hosts/host/:id', 'host', 'deleteHost'),
];

// ---------------------------------------------------------------------------------------------
// Groups

const GROUP_HOSTS = `hosts(first: $page) { edges { node { ${HOST_FIELDS} } } }`;
const groupHosts = (group: { hosts: Connection<HostData> }) => newestFirst(group.hosts.edges.map((edge) => edge.node)).map((host) => toHost(host));

const MEMBERSHIP = `query($page: Int!, $after: String) { groups(first: $page, after: $after) { ${PAGE_INFO} edges { node { id hosts(first: $page) { edges { node { id } } } } } } }`;

function groupInput(body: OttoFields) {
  return { name: body.string('Name'), scriptIds: idList('script', body.strings('ScriptIDs')), environment: body.environment() };
}

/** Otto refuses to delete the last group (a host must always have one to join). */
async function notLastGroup(req: RestRequest, tools: RouteTools): Promise<void> {
  const data = await tools.graphql<Data>('query($id: ID!) { node(id: $id) { __typename } groups(first: 2) { edges { node { id } } } }', nodeVariables('group')(req));
  found('group', data, req.params.id!);
  if ((data.groups as Connection<unknown>).edges.length < 2) throw fail('validation', 'Cannot delete the last group');
}

const groupRoutes: Route[] = [
  listRoute<GroupData>('/api/groups', 'groups', GROUP_FIELDS, toGroup),
  {
    method: 'GET',
    path: '/api/groups/membership',
    access: 'viewer',
    operation: MEMBERSHIP,
    variables: () => ({ page: PAGE }),
    reply: async (data, _req, tools) => {
      const groups = await allNodes<{ id: string; hosts: Connection<{ id: string }> }>(tools, MEMBERSHIP, 'groups', data, { page: PAGE });
      return ok(Object.fromEntries(groups.map((group) => [uuidOf(group.id), group.hosts.edges.map((edge) => uuidOf(edge.node.id))])));
    },
  },
  {
    method: 'PUT',
    path: '/api/groups/group',
    access: 'admin',
    operation: `mutation($input: CreateGroupInput!) { createGroup(input: $input) { ${ERROR_FIELDS} ... on CreateGroupSuccess { data { ${GROUP_FIELDS} } } } }`,
    variables: (req) => ({ input: groupInput(bodyFields(req)) }),
    reply: (data) => ok(toGroup(data.createGroup.data)),
  },
  nodeRoute('/api/groups/group/:id', 'group', GROUP_FIELDS, toGroup),
  nodeRoute('/api/groups/group/:id/scripts', 'group', `scripts { ${SCRIPT_FIELDS} }`, (group: { scripts: ScriptData[] }) => newestFirst(group.scripts).map(toScript)),
  nodeRoute('/api/groups/group/:id/hosts', 'group', GROUP_HOSTS, groupHosts),
  nodeRoute('/api/groups/group/:id/schedules', 'group', `schedules { ${SCHEDULE_FIELDS} }`, (group: { schedules: ScheduleData[] }) =>
    newestFirst(group.schedules).map(toSchedule),
  ),
  {
    method: 'POST',
    path: '/api/groups/group/:id/hosts',
    access: 'admin',
    operation: `mutation($input: GroupHostsInput!, $page: Int!) { setGroupHosts(input: $input) { ${ERROR_FIELDS} ... on SetGroupHostsSuccess { data { ${GROUP_HOSTS} } } } }`,
    variables: (req) => {
      const groupId = uuidParam('group', req.params.id!);
      return { input: { groupId, hostIds: idList('host', bodyFields(req).strings('Hosts')) }, page: PAGE };
    },
    reply: (data) => ok(groupHosts(data.setGroupHosts.data)),
  },
  {
    method: 'POST',
    path: '/api/groups/group/:id',
    access: 'admin',
    operation: `mutation($input: UpdateGroupInput!) { updateGroup(input: $input) { ${ERROR_FIELDS} ... on UpdateGroupSuccess { data { ${GROUP_FIELDS} } } } }`,
    variables: (req) => {
      const id = uuidParam('group', req.params.id!);
      return { input: { id, ...groupInput(bodyFields(req)) } };
    },
    reply: (data) => ok(toGroup(data.updateGroup.data)),
  },
  deleteRoute('/api/groups/group/:id', 'group', 'deleteGroup', notLastGroup),
];

// ---------------------------------------------------------------------------------------------
// Scripts

/** A script body as Runboard's script input (a POST replaces it all). */
function scriptInput(body: OttoFields) {
  const executable = body.required('Executable');
  const script = body.required('Script');
  const uid = body.int('UID', 0, 2147483647);
  const gid = body.int('GID', 0, 2147483647);
  return {
    name: body.string('Name'),
    executable,
    body: script,
    environment: body.environment(),
    runAsUid: uid ?? null,
    runAsGid: gid ?? null,
    workingDir: body.string('WorkingDirectory') || null,
    afterExecution: body.string('AfterExecution') || null,
    attachmentIds: idList('attachment', body.strings('AttachmentIDs')),
  };
}

/** Otto's `{ScriptID, ScriptName, GroupID, GroupName, HostID, HostName}` rows: where a script may run. */
const SCRIPT_HOSTS = `id name groups { id name hosts(first: $page) { edges { node { id name } } } }`;
interface ScriptHostsData {
  id: string;
  name: string;
  groups: Array<{ id: string; name: string; hosts: Connection<{ id: string; name: string }> }>;
}
const scriptHosts = (script: ScriptHostsData) =>
  script.groups.flatMap((group) =>
    group.hosts.edges.map(({ node: host }) => ({
      ScriptID: uuidOf(script.id),
      ScriptName: script.name,
      GroupID: uuidOf(group.id),
      GroupName: group.name,
      HostID: uuidOf(host.id),
      HostName: host.name,
    })),
  );

const scriptRoutes: Route[] = [
  listRoute<ScriptData>('/api/scripts', 'scripts', SCRIPT_FIELDS, toScript),
  {
    method: 'PUT',
    path: '/api/scripts/script',
    access: 'admin',
    operation: `mutation($input: CreateScriptInput!) { createScript(input: $input) { ${ERROR_FIELDS} ... on CreateScriptSuccess { data { ${SCRIPT_FIELDS} } } } }`,
    variables: (req) => ({ input: scriptInput(bodyFields(req)) }),
    reply: (data) => ok(toScript(data.createScript.data)),
  },
  nodeRoute('/api/scripts/script/:id', 'script', SCRIPT_FIELDS, toScript),
  nodeRoute('/api/scripts/script/:id/hosts', 'script', SCRIPT_HOSTS, scriptHosts),
  nodeRoute('/api/scripts/script/:id/groups', 'script', `groups { ${GROUP_FIELDS} }`, (script: { groups: GroupData[] }) => newestFirst(script.groups).map(toGroup)),
  nodeRoute('/api/scripts/script/:id/schedules', 'script', `schedules { ${SCHEDULE_FIELDS} }`, (script: { schedules: ScheduleData[] }) =>
    newestFirst(script.schedules).map(toSchedule),
  ),
  nodeRoute('/api/scripts/script/:id/attachments', 'script', `attachments { ${ATTACHMENT_FIELDS} }`, (script: { attachments: AttachmentData[] }) =>
    script.attachments.map(toAttachment),
  ),
  {
    method: 'POST',
    path: '/api/scripts/script/:id/groups',
    access: 'admin',
    operation: `mutation($input: SetScriptGroupsInput!, $page: Int!) { setScriptGroups(input: $input) { ${ERROR_FIELDS} ... on SetScriptGroupsSuccess { data { ${SCRIPT_HOSTS} } } } }`,
    variables: (req) => {
      const scriptId = uuidParam('script', req.params.id!);
      return { input: { scriptId, groupIds: idList('group', bodyFields(req).strings('Groups')) }, page: PAGE };
    },
    // As Otto: the hosts that may now run it.
    reply: (data) => ok(scriptHosts(data.setScriptGroups.data)),
  },
  {
    method: 'POST',
    path: '/api/scripts/script/:id',
    access: 'admin',
    operation: `mutation($input: UpdateScriptInput!) { updateScript(input: $input) { ${ERROR_FIELDS} ... on UpdateScriptSuccess { data { ${SCRIPT_FIELDS} } } } }`,
    variables: (req) => {
      const id = uuidParam('script', req.params.id!);
      const body = bodyFields(req);
      return { input: { id, ...scriptInput(body), enabled: body.bool('Enabled') } };
    },
    reply: (data) => ok(toScript(data.updateScript.data)),
  },
  deleteRoute('/api/scripts/script/:id', 'script', 'deleteScript'),
];

// ---------------------------------------------------------------------------------------------
// Schedules

/** Otto's Pattern: a 5-field cron, read in UTC. */
function cronWhen(body: OttoFields) {
  const pattern = body.string('Pattern').trim();
  if (pattern.split(/\s+/).length !== 5) throw fail('validation', 'Pattern must be a cron expression of 5 fields (minute hour day month weekday)');
  return { kind: 'CRON', cron: pattern, timezone: 'UTC' };
}

/** Otto's Scope: hosts or groups, exactly one of them. */
function scopeOf(body: OttoFields): { hostIds: string[] } | { groupIds: string[] } {
  const scope = body.object('Scope');
  const hostIds = scope.strings('HostIDs');
  const groupIds = scope.strings('GroupIDs');
  if ((hostIds.length > 0) === (groupIds.length > 0)) throw fail('validation', 'Scope must name either hosts (HostIDs) or groups (GroupIDs), not both');
  return hostIds.length > 0 ? { hostIds: idList('host', hostIds) } : { groupIds: idList('group', groupIds) };
}

const REPORTS = `query($id: ID!, $page: Int!, $after: String) { node(id: $id) { __typename ... on Schedule { id runs(first: $page, after: $after) { ${PAGE_INFO} edges { node { ${REPORT_RUN_FIELDS} } } } } } }`;

const scheduleRoutes: Route[] = [
  listRoute<ScheduleData>('/api/schedules', 'schedules', SCHEDULE_FIELDS, toSchedule),
  {
    method: 'PUT',
    path: '/api/schedules/schedule',
    access: 'admin',
    operation: `mutation($input: CreateScheduleInput!) { createSchedule(input: $input) { ${ERROR_FIELDS} ... on CreateScheduleSuccess { data { ${SCHEDULE_FIELDS} } } } }`,
    variables: (req) => {
      const body = bodyFields(req);
      const scriptId = body.required('ScriptID');
      // An Otto schedule runs its script on every host of its scope.
      return { input: { name: body.string('Name'), scriptId: uuidParam('script', scriptId), ...scopeOf(body), when: cronWhen(body), targetMode: 'ALL' } };
    },
    reply: (data) => ok(toSchedule(data.createSchedule.data)),
  },
  nodeRoute('/api/schedules/schedule/:id', 'schedule', SCHEDULE_FIELDS, toSchedule),
  {
    method: 'GET',
    path: '/api/schedules/schedule/:id/reports',
    access: 'viewer',
    operation: REPORTS,
    variables: nodeVariables('schedule'),
    reply: async (data, req, tools) => {
      const schedule = found<{ id: string }>('schedule', data, req.params.id!);
      const runs = await allNodes<ReportRunData>(tools, REPORTS, (d) => d.node.runs, data, nodeVariables('schedule')(req));
      return ok(toReports(uuidOf(schedule.id), runs));
    },
  },
  nodeRoute('/api/schedules/schedule/:id/hosts', 'schedule', `targetHosts { ${HOST_FIELDS} }`, (schedule: { targetHosts: HostData[] }) =>
    newestFirst(schedule.targetHosts).map((host) => toHost(host)),
  ),
  nodeRoute('/api/schedules/schedule/:id/groups', 'schedule', `groups { ${GROUP_FIELDS} }`, (schedule: { groups: GroupData[] }) => newestFirst(schedule.groups).map(toGroup)),
  nodeRoute('/api/schedules/schedule/:id/script', 'schedule', `script { ${SCRIPT_FIELDS} }`, (schedule: { script: ScriptData }) => toScript(schedule.script)),
  {
    method: 'POST',
    path: '/api/schedules/schedule/:id',
    access: 'admin',
    operation: `mutation($input: UpdateScheduleInput!) { updateSchedule(input: $input) { ${ERROR_FIELDS} ... on UpdateScheduleSuccess { data { ${SCHEDULE_FIELDS} } } } }`,
    variables: (req) => {
      const id = uuidParam('schedule', req.params.id!);
      const body = bodyFields(req);
      // ScriptID cannot change (Otto ignores it here too).
      return { input: { id, name: body.string('Name'), ...scopeOf(body), when: cronWhen(body), enabled: body.bool('Enabled') } };
    },
    reply: (data) => ok(toSchedule(data.updateSchedule.data)),
  },
  deleteRoute('/api/schedules/schedule/:id', 'schedule', 'deleteSchedule'),
];

// ---------------------------------------------------------------------------------------------
// Users (addressed by username, as Otto does)

const USER_BY_NAME = `query($search: String!, $page: Int!) { users(search: $search, first: $page) { edges { node { ${USER_FIELDS} } } } }`;

/** The user named `username` (any case), or Otto's 400 "No user with ID". */
async function userNamed(tools: RouteTools, username: string): Promise<UserData> {
  const data = await tools.graphql<Data>(USER_BY_NAME, { search: username, page: PAGE });
  const user = (data.users as Connection<UserData>).edges.map((edge) => edge.node).find((u) => u.username.toLowerCase() === username.toLowerCase());
  if (!user) throw noSuch('user', username);
  return user;
}

const userRoutes: Route[] = [
  listRoute<UserData>('/api/users', 'users', USER_FIELDS, toUser, 'admin'),
  {
    method: 'PUT',
    path: '/api/users/user',
    access: 'admin',
    operation: `mutation($input: CreateUserInput!) { createUser(input: $input) { ${ERROR_FIELDS} ... on CreateUserSuccess { data { ${USER_FIELDS} } } } }`,
    // Otto has no roles: every Otto user may do everything, so a user made here is an admin.
    variables: (req) => {
      const body = bodyFields(req);
      return { input: { username: body.string('Username'), email: body.string('Email') || null, password: body.string('Password'), role: 'ADMIN' } };
    },
    reply: (data) => ok(toUser(data.createUser.data)),
  },
  {
    method: 'GET',
    path: '/api/users/user/:username',
    access: 'admin',
    operation: USER_BY_NAME,
    variables: (req) => ({ search: req.params.username, page: PAGE }),
    reply: (data, req) => {
      const name = req.params.username!.toLowerCase();
      const user = (data.users as Connection<UserData>).edges.map((edge) => edge.node).find((u) => u.username.toLowerCase() === name);
      if (!user) throw noSuch('user', req.params.username!);
      return ok(toUser(user));
    },
  },
  {
    method: 'POST',
    path: '/api/users/user/:username',
    access: 'admin',
    operation: `mutation($input: UpdateUserInput!) { updateUser(input: $input) { ${ERROR_FIELDS} ... on UpdateUserSuccess { data { ${USER_FIELDS} } } } }`,
    variables: async (req, tools) => {
      const body = bodyFields(req);
      const user = await userNamed(tools, req.params.username!);
      const password = body.string('Password');
      // An empty or missing Password leaves it as it is; a new one ends that user's sessions.
      return { input: { id: user.id, email: body.string('Email'), enabled: body.bool('Enabled'), ...(password && { password }) } };
    },
    reply: (data) => ok(toUser(data.updateUser.data)),
  },
  {
    method: 'DELETE',
    path: '/api/users/user/:username',
    access: 'admin',
    operation: `mutation($id: ID!) { deleteUser(id: $id) { ${ERROR_FIELDS} } }`,
    variables: async (req, tools) => {
      const user = await userNamed(tools, req.params.username!);
      if (uuidOf(user.id) === tools.context.viewer?.user.id) throw fail('validation', 'Cannot delete own user');
      return { id: user.id };
    },
    reply: () => ok(true),
  },
];

// ---------------------------------------------------------------------------------------------
// State, options, events

const OPTIONS_QUERY = `{ options { ${OPTIONS_FIELDS} } }`;
const EVENTS = `query($first: Int!, $after: String, $actions: [String!]) { events(first: $first, after: $after, filter: { actions: $actions }) { ${PAGE_INFO} edges { node { ${EVENT_FIELDS} } } } }`;

const systemRoutes: Route[] = [
  {
    method: 'GET',
    path: '/api/state',
    access: 'viewer',
    operation: `{ viewer { user { ${USER_FIELDS} } } options { ${OPTIONS_FIELDS} } }`,
    reply: (data) =>
      ok({
        // Config is the platform the server runs on, as Otto's GOOS_GOARCH.
        Runtime: { ServerFQDN: os.hostname(), Version: packageJson.version, Config: `${process.platform}_${process.arch}` },
        User: toUser(data.viewer.user),
        Warnings: [],
        Options: toOptions(data.options),
      }),
  },
  { method: 'GET', path: '/api/options', access: 'viewer', operation: OPTIONS_QUERY, reply: (data) => ok(toOptions(data.options)) },
  {
    method: 'POST',
    path: '/api/options',
    access: 'admin',
    operation: `mutation($input: UpdateOptionsInput!) { updateOptions(input: $input) { ${ERROR_FIELDS} ... on UpdateOptionsSuccess { data { ${OPTIONS_FIELDS} } } } }`,
    variables: (req) => ({ input: optionsInput(bodyFields(req)) }),
    reply: (data) => ok(toOptions(data.updateOptions.data)),
  },
  {
    method: 'GET',
    path: '/api/events',
    access: 'viewer',
    operation: EVENTS,
    variables: (req) => {
      const c = req.query.get('c');
      if (c === null || c === '') throw fail('validation', 'Must specify max number of events');
      if (!/^\d{1,9}$/.test(c.trim())) throw fail('validation', 'Invalid count');
      const count = Number(c.trim());
      return { first: Math.max(1, Math.min(count, PAGE)), actions: OTTO_EVENT_ACTIONS, count };
    },
    reply: async (data, req, tools) => {
      const count = Number(req.query.get('c')!.trim());
      if (count === 0) return ok([]);
      const events = await allNodes<EventData>(tools, EVENTS, 'events', data, { first: PAGE, actions: OTTO_EVENT_ACTIONS }, count);
      return ok(events.map(toEvent));
    },
  },
];

/** Every route: the resources (login, hosts, groups, scripts, schedules, users, options, events) and the execution side. */
const routes: Route[] = [
  ...sessionRoutes,
  ...hostRoutes,
  ...groupRoutes,
  ...scriptRoutes,
  ...scheduleRoutes,
  ...userRoutes,
  ...systemRoutes,
  ...ottoExecutionRoutes,
];

export const otto: Dialect = {
  name: 'otto',
  owns: (pathname) => OTTO_PATH.test(pathname),
  routes,
  upgrades: ottoUpgrades,
  close: closeOttoSockets,
  credentials(req): Credentials | undefined {
    if (req.headers.authorization) return undefined;
    const sessionId = sessionCookie(req.headers.cookie);
    return sessionId ? { kind: 'session', sessionId } : undefined;
  },
  error(failure: RestFailure): RestReply {
    // Otto refuses an anonymous caller with 403 "unauthorized".
    if (failure.kind === 'unauthenticated') return ottoError(403, 'unauthorized');
    if (failure.kind === 'internal') return ottoError(500, STATUS_MESSAGES[500]!);
    // Otto answers an id that names nothing (in the path or the body) with a 400.
    const missing =
      /^There is no (host|group|script|schedule|user|attachment) with id "([^"]*)"/.exec(failure.message) ??
      /^These do not exist: (host|group)s? "([^"]*)"/.exec(failure.message);
    if (missing) return ottoError(400, `No ${missing[1]} with ID ${missing[2]}`);
    if (failure.kind === 'conflict') {
      if (/^(A host named .* already exists|Another host already has the address)/.test(failure.message)) return ottoError(400, 'Name or Address already in use');
      if (/^A group named .* already exists/.test(failure.message)) return ottoError(400, 'Name already in use');
      const script = /^A script named "(.*)" already exists\.$/.exec(failure.message);
      if (script) return ottoError(400, `Script with name '${script[1]}' already exists`);
      return ottoError(400, failure.message);
    }
    if (failure.kind === 'not_found') return ottoError(404, /^Nothing at /.test(failure.message) ? STATUS_MESSAGES[404]! : failure.message);
    const status = failure.status === 415 || failure.status === 413 || failure.status === 405 ? 400 : failure.status;
    return ottoError(status, failure.message || (STATUS_MESSAGES[status] ?? 'Bad Request'));
  },
};
