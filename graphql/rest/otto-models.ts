/**
 * What both halves of the Otto dialect (otto.ts: resources; otto-execution.ts: attachments,
 * registration, execution) share: Otto's envelope, its models on both sides of the wire —
 * reading request bodies the way Otto did (JSON keys match case-insensitively, unknown keys are
 * ignored, a missing key is its zero value) and shaping GraphQL results into Otto's JSON — and
 * the route pieces (lists, lookups by id, deletes, the early role check). Ids are Runboard's bare
 * UUIDs, in and out; a global id of the right type is accepted too.
 */
import { isUuid } from '../../core/ids';
import { decodeId, encodeGlobalID } from '../ids';
import { ERROR_FIELDS, fail, RestFailure, type RestReply, type RestRequest, type Route, type RouteAccess, type RouteTools } from './route-table';

const JSON_TYPE = { 'content-type': 'application/json' };

/** A successful Otto answer; `data` left out when there is none (logout). */
export function ok(data?: unknown): RestReply {
  return { status: 200, headers: JSON_TYPE, body: JSON.stringify(data === undefined ? { code: 200, error: {} } : { code: 200, error: {}, data }) };
}

/** A refusal in Otto's envelope, with HTTP status `status`. */
export function ottoError(status: number, message: string): RestReply {
  return { status, headers: JSON_TYPE, body: JSON.stringify({ code: status, error: { code: status, message } }) };
}

/** Go's zero time: what Otto shows for a moment that has not happened. */
export const ZERO_TIME = '0001-01-01T00:00:00Z';

/** Variables Otto sets itself on every run: a script may not define them. */
const RESERVED_KEYS = new Set(['OTTO_SERVER_VERSION', 'OTTO_SERVER_URL', 'OTTO_HOST_ADDRESS', 'OTTO_HOST_PORT', 'OTTO_HOST_PSK']);

export type OttoType = 'host' | 'group' | 'script' | 'schedule' | 'user' | 'attachment';
/** The GraphQL type of each Otto object. */
export const TYPENAMES: Record<OttoType, string> = { host: 'Host', group: 'Group', script: 'Script', schedule: 'Schedule', user: 'User', attachment: 'Attachment' };

/** Otto's answer for an id that names nothing (a 400, as Otto had it). */
export function noSuch(type: OttoType, id: string): RestFailure {
  return fail('validation', `No ${type} with ID ${id}`);
}

/** The UUID an Otto id names (a UUID, or a global id of that type); a 400 "No x with ID" otherwise. */
export function uuidParam(type: OttoType, id: string): string {
  try {
    return decodeId(TYPENAMES[type], id);
  } catch {
    throw noSuch(type, id.slice(0, 100));
  }
}

/** The bare UUID inside a global id (what Otto clients see as an ID). */
export function uuidOf(globalId: string): string {
  if (isUuid(globalId)) return globalId;
  const decoded = Buffer.from(globalId, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon > 0 ? decoded.slice(colon + 1) : globalId;
}

// ---------------------------------------------------------------------------------------------
// Reading bodies

/**
 * A JSON object read as Otto's Go decoder did: keys case-insensitively, unknown keys ignored, a
 * missing key (or null) its zero value. A value of the wrong type is refused with its key.
 */
export class OttoFields {
  private readonly byKey = new Map<string, unknown>();

  constructor(value: Record<string, unknown>) {
    // Go's decoder takes the last of several keys that differ only by case.
    for (const [key, v] of Object.entries(value)) this.byKey.set(key.toLowerCase(), v);
  }

  has(key: string): boolean {
    const value = this.byKey.get(key.toLowerCase());
    return value !== undefined && value !== null;
  }

  private raw(key: string): unknown {
    const value = this.byKey.get(key.toLowerCase());
    return value === null ? undefined : value;
  }

  private wrong(key: string, expected: string): RestFailure {
    return fail('validation', `Bad Request: ${key} must be ${expected}`);
  }

  string(key: string): string {
    const value = this.raw(key);
    if (value === undefined) return '';
    if (typeof value !== 'string') throw this.wrong(key, 'a string');
    return value;
  }

  /** A string that may not be missing or empty. */
  required(key: string): string {
    const value = this.string(key);
    if (!value.trim()) throw fail('validation', `${key} is required`);
    return value;
  }

  bool(key: string): boolean {
    const value = this.raw(key);
    if (value === undefined) return false;
    if (typeof value !== 'boolean') throw this.wrong(key, 'true or false');
    return value;
  }

  /** An integer in [min, max]; undefined when missing. */
  int(key: string, min = -2147483648, max = 2147483647): number | undefined {
    const value = this.raw(key);
    if (value === undefined) return undefined;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) throw this.wrong(key, `an integer from ${min} to ${max}`);
    return value;
  }

  strings(key: string): string[] {
    const value = this.raw(key);
    if (value === undefined) return [];
    if (!Array.isArray(value) || value.some((item) => typeof item !== 'string')) throw this.wrong(key, 'a list of strings');
    return value as string[];
  }

  object(key: string): OttoFields {
    const value = this.raw(key);
    if (value === undefined) return new OttoFields({});
    if (typeof value !== 'object' || Array.isArray(value)) throw this.wrong(key, 'an object');
    return new OttoFields(value as Record<string, unknown>);
  }

  objects(key: string): OttoFields[] {
    const value = this.raw(key);
    if (value === undefined) return [];
    if (!Array.isArray(value) || value.some((item) => !item || typeof item !== 'object' || Array.isArray(item))) throw this.wrong(key, 'a list of objects');
    return (value as Array<Record<string, unknown>>).map((item) => new OttoFields(item));
  }

  /** An Environment list as Runboard's EnvVarInput; Otto's reserved keys are refused. */
  environment(key = 'Environment'): Array<{ key: string; value?: string; secret: boolean }> {
    return this.objects(key).map((variable) => {
      const name = variable.string('Key');
      if (RESERVED_KEYS.has(name.toUpperCase())) throw fail('validation', 'Key is reserved by the Otto system');
      const secret = variable.bool('Secret');
      const value = variable.string('Value');
      // A secret sent back without its value keeps the stored one (Otto's console does that).
      return secret && value === '' ? { key: name, secret } : { key: name, value, secret };
    });
  }
}

/** A decoded JSON value as Otto fields; anything but an object is refused with `message`. */
export function fieldsOf(value: unknown, message = 'Bad Request'): OttoFields {
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw fail('validation', message);
  return new OttoFields(value as Record<string, unknown>);
}

/** The request body as Otto fields: an empty or undecodable body is Otto's 400 "Bad Request". */
export function bodyFields(req: RestRequest): OttoFields {
  if (req.body.empty) throw fail('validation', 'Bad Request');
  return fieldsOf(req.body.json('Bad Request'));
}

// ---------------------------------------------------------------------------------------------
// GraphQL selections and Otto's models

const ENV = 'environment { key value secret }';

interface Env {
  key: string;
  value: string | null;
  secret: boolean;
}

/** A Variable: a secret's value is never shown (Runboard keeps it write-only). */
const toVariables = (env: Env[]) => env.map((v) => ({ Key: v.key, Value: v.value ?? '', Secret: v.secret }));
const ids = (list: Array<{ id: string }>) => list.map((item) => uuidOf(item.id));

export const HOST_FIELDS = `id name address port enabled createdAt groups { id } ${ENV}`;
export interface HostData {
  id: string;
  name: string;
  address: string | null;
  port: number | null;
  enabled: boolean;
  createdAt: string;
  groups: Array<{ id: string }>;
  environment: Env[];
}
/**
 * Otto's Host. PSK: Runboard's agent key is stored hashed, so it is shown only in the answer that
 * issues it (creating the host); elsewhere it is "".
 */
export const toHost = (host: HostData, psk = '') => ({
  ID: uuidOf(host.id),
  Name: host.name,
  Address: host.address ?? '',
  Port: host.port ?? 0,
  PSK: psk,
  Enabled: host.enabled,
  GroupIDs: ids(host.groups),
  Environment: toVariables(host.environment),
});

export const GROUP_FIELDS = `id name createdAt scripts { id } ${ENV}`;
export interface GroupData {
  id: string;
  name: string;
  createdAt: string;
  scripts: Array<{ id: string }>;
  environment: Env[];
}
export const toGroup = (group: GroupData) => ({
  ID: uuidOf(group.id),
  Name: group.name,
  ScriptIDs: ids(group.scripts),
  Environment: toVariables(group.environment),
});

export const SCRIPT_FIELDS = `id name enabled executable body runAsUid runAsGid workingDir afterExecution createdAt attachments { id } ${ENV}`;
export interface ScriptData {
  id: string;
  name: string;
  enabled: boolean;
  executable: string;
  body: string;
  runAsUid: number | null;
  runAsGid: number | null;
  workingDir: string | null;
  afterExecution: string | null;
  createdAt: string;
  attachments: Array<{ id: string }>;
  environment: Env[];
}
export const toScript = (script: ScriptData) => ({
  ID: uuidOf(script.id),
  Name: script.name,
  Enabled: script.enabled,
  Executable: script.executable,
  Script: script.body,
  Environment: toVariables(script.environment),
  UID: script.runAsUid ?? 0,
  GID: script.runAsGid ?? 0,
  WorkingDirectory: script.workingDir ?? '',
  AfterExecution: script.afterExecution ?? '',
  AttachmentIDs: ids(script.attachments),
});

export const SCHEDULE_FIELDS = 'id name cron enabled lastRunAt createdAt script { id } hosts { id } groups { id }';
export interface ScheduleData {
  id: string;
  name: string;
  cron: string | null;
  enabled: boolean;
  lastRunAt: string | null;
  createdAt: string;
  script: { id: string };
  hosts: Array<{ id: string }>;
  groups: Array<{ id: string }>;
}
export const toSchedule = (schedule: ScheduleData) => {
  const groupIds = ids(schedule.groups);
  return {
    ID: uuidOf(schedule.id),
    Name: schedule.name,
    ScriptID: uuidOf(schedule.script.id),
    // A schedule names hosts or groups; `hosts` lists the local host when it names neither.
    Scope: { HostIDs: groupIds.length > 0 ? [] : ids(schedule.hosts), GroupIDs: groupIds },
    Pattern: schedule.cron ?? '',
    Enabled: schedule.enabled,
    LastRunTime: schedule.lastRunAt ?? ZERO_TIME,
  };
};

/** The runs of a schedule that make up its reports (one report per occurrence). */
export const REPORT_RUN_FIELDS = 'id occurrenceId active state exitCode createdAt startedAt finishedAt host { id }';
export interface ReportRunData {
  id: string;
  occurrenceId: string | null;
  active: boolean;
  state: string;
  exitCode: number | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  host: { id: string } | null;
}

/**
 * Otto's ScheduleReports from a schedule's runs, oldest first: one per occurrence (the runs one
 * firing started, one per host) once all of its runs have finished. Result 0: every host
 * succeeded; 2: none did; 1: some did. HostResult: each host's exit code, -1 when it has none.
 */
export function toReports(scheduleId: string, runs: ReportRunData[]) {
  const occurrences = new Map<string, ReportRunData[]>();
  for (const run of runs) {
    const key = run.occurrenceId ?? run.id;
    occurrences.set(key, [...(occurrences.get(key) ?? []), run]);
  }
  const reports = [];
  for (const [occurrence, members] of occurrences) {
    if (members.some((run) => run.active)) continue;
    const starts = members.map((run) => Date.parse(run.startedAt ?? run.createdAt));
    const ends = members.map((run) => Date.parse(run.finishedAt ?? run.startedAt ?? run.createdAt));
    const start = Math.min(...starts);
    const finished = Math.max(...ends);
    const succeeded = members.filter((run) => run.state === 'SUCCEEDED').length;
    const hostResult: Record<string, number> = {};
    for (const run of members) if (run.host) hostResult[uuidOf(run.host.id)] = run.state === 'SUCCEEDED' ? (run.exitCode ?? 0) : (run.exitCode ?? -1);
    reports.push({
      ID: uuidOf(occurrence),
      ScheduleID: scheduleId,
      HostIDs: Object.keys(hostResult),
      Time: { Start: new Date(start).toISOString(), Finished: new Date(finished).toISOString(), ElapsedSeconds: (finished - start) / 1000 },
      Result: succeeded === members.length ? 0 : succeeded === 0 ? 2 : 1,
      HostResult: hostResult,
    });
  }
  return reports.sort((a, b) => Date.parse(a.Time.Start) - Date.parse(b.Time.Start));
}

export const ATTACHMENT_FIELDS = 'id path name mimeType uid gid createdAt updatedAt mode size';
export interface AttachmentData {
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
export const toAttachment = (attachment: AttachmentData) => ({
  ID: uuidOf(attachment.id),
  Path: attachment.path,
  Name: attachment.name,
  MimeType: attachment.mimeType,
  UID: attachment.uid ?? 0,
  GID: attachment.gid ?? 0,
  Created: attachment.createdAt,
  Modified: attachment.updatedAt,
  Mode: attachment.mode,
  Size: attachment.size,
});

export const USER_FIELDS = 'id username email enabled createdAt';
export interface UserData {
  id: string;
  username: string;
  email: string | null;
  enabled: boolean;
  createdAt: string;
}
export const toUser = (user: UserData) => ({ Username: user.username, Email: user.email ?? '', Enabled: user.enabled });

export const OPTIONS_FIELDS = `serverUrl forceIpVersion networkTimeoutSeconds heartbeatSeconds includePskEnv globalEnvironment { key value secret }
  registration { enabled defaultGroup { id } rules { property pattern group { id } } }`;
export interface OptionsData {
  serverUrl: string | null;
  forceIpVersion: number | null;
  networkTimeoutSeconds: number;
  heartbeatSeconds: number;
  includePskEnv: boolean;
  globalEnvironment: Env[];
  registration: { enabled: boolean; defaultGroup: { id: string } | null; rules: Array<{ property: string; pattern: string; group: { id: string } }> };
}
/** Otto's Options. Network times are whole seconds, as Otto's options file keeps them; the PSK is write-only. */
export const toOptions = (options: OptionsData) => ({
  General: { ServerURL: options.serverUrl ?? '', GlobalEnvironment: toVariables(options.globalEnvironment) },
  Network: {
    ForceIPVersion: options.forceIpVersion === 4 ? 'ipv4' : options.forceIpVersion === 6 ? 'ipv6' : 'auto',
    Timeout: options.networkTimeoutSeconds,
    HeartbeatFrequency: options.heartbeatSeconds,
  },
  Register: {
    Enabled: options.registration.enabled,
    PSK: '',
    Rules: options.registration.rules.map((rule) => ({ Property: rule.property.toLowerCase(), Pattern: rule.pattern, GroupID: uuidOf(rule.group.id) })),
    DefaultGroupID: options.registration.defaultGroup ? uuidOf(options.registration.defaultGroup.id) : '',
  },
  Security: { IncludePSKEnv: options.includePskEnv },
});

/** Otto's full Options as an UpdateOptionsInput (a POST replaces them all; an empty PSK keeps the stored one). */
export function optionsInput(body: OttoFields): Record<string, unknown> {
  const general = body.object('General');
  const network = body.object('Network');
  const register = body.object('Register');
  const security = body.object('Security');
  const serverUrl = general.string('ServerURL').trim();
  if (serverUrl && !/^https?:\/\//i.test(serverUrl)) throw fail('validation', 'Server URL must start with a protocol: http:// or https://');
  const ipVersion = network.string('ForceIPVersion').toLowerCase();
  if (!['', 'auto', 'ipv4', 'ipv6'].includes(ipVersion)) throw fail('validation', 'ForceIPVersion must be auto, ipv4 or ipv6');
  const psk = register.string('PSK');
  const defaultGroup = register.string('DefaultGroupID');
  return {
    serverUrl: serverUrl || null,
    globalEnvironment: general.environment('GlobalEnvironment'),
    forceIpVersion: ipVersion === 'ipv4' ? 4 : ipVersion === 'ipv6' ? 6 : null,
    ...(network.has('Timeout') && { networkTimeoutSeconds: network.int('Timeout', 1, 86400) }),
    ...(network.has('HeartbeatFrequency') && { heartbeatSeconds: network.int('HeartbeatFrequency', 1, 86400) }),
    includePskEnv: security.bool('IncludePSKEnv'),
    registration: {
      enabled: register.bool('Enabled'),
      ...(psk && { psk }),
      defaultGroupId: defaultGroup ? uuidParam('group', defaultGroup) : null,
      rules: register.objects('Rules').map((rule) => {
        const property = rule.string('Property').toLowerCase();
        if (property !== 'uname' && property !== 'hostname') throw fail('validation', 'A rule Property must be uname or hostname');
        return { property: property.toUpperCase(), pattern: rule.string('Pattern'), groupId: uuidParam('group', rule.string('GroupID')) };
      }),
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Events

/** Runboard's audit actions under Otto's event names (the actions Otto has no name for are left out). */
const EVENT_NAMES: Record<string, string> = {
  'user.signed_in': 'UserLoggedIn',
  'user.sign_in_failed': 'UserIncorrectPassword',
  'user.signed_out': 'UserLoggedOut',
  'user.created': 'UserAdded',
  'user.updated': 'UserModified',
  'user.password_changed': 'UserModified',
  'user.deleted': 'UserDeleted',
  'host.created': 'HostAdded',
  'host.updated': 'HostModified',
  'host.key_rotated': 'HostModified',
  'host.key_revoked': 'HostModified',
  'host.deleted': 'HostDeleted',
  'host.register_refused': 'HostRegisterIncorrectPSK',
  'group.created': 'GroupAdded',
  'group.updated': 'GroupModified',
  'group.deleted': 'GroupDeleted',
  'schedule.created': 'ScheduleAdded',
  'schedule.updated': 'ScheduleModified',
  'schedule.paused': 'ScheduleModified',
  'schedule.resumed': 'ScheduleModified',
  'schedule.deleted': 'ScheduleDeleted',
  'attachment.created': 'AttachmentAdded',
  'attachment.updated': 'AttachmentModified',
  'attachment.deleted': 'AttachmentDeleted',
  'script.created': 'ScriptAdded',
  'script.updated': 'ScriptModified',
  'script.deleted': 'ScriptDeleted',
  'run.finished': 'ScriptRun',
  'options.updated': 'ServerOptionsModified',
};
export const OTTO_EVENT_ACTIONS = Object.keys(EVENT_NAMES);

export const EVENT_FIELDS = 'id action actorKind actorName at objectId objectName summary ip';
export interface EventData {
  id: string;
  action: string;
  actorKind: string;
  actorName: string;
  at: string;
  objectId: string | null;
  objectName: string | null;
  summary: string;
  ip: string | null;
}

/** Otto's Event: its name, and Details with Otto's keys (`host_id`, `name`, `added_by`, …) as strings. */
export function toEvent(event: EventData) {
  const [type = '', verb = ''] = event.action.split('.');
  // A host created by nobody signed in registered itself.
  const name = event.action === 'host.created' && event.actorKind === 'ANONYMOUS' ? 'HostRegisterSuccess' : (EVENT_NAMES[event.action] ?? event.action);
  const details: Record<string, string> = { summary: event.summary };
  if (type === 'user') {
    details.username = event.objectName ?? '';
    if (verb === 'signed_in' || verb === 'sign_in_failed') details.remoteAddr = event.ip ?? '';
  } else {
    if (event.objectId && type !== 'options') details[`${type}_id`] = uuidOf(event.objectId);
    if (event.objectName) details.name = event.objectName;
    if (type === 'host' && verb === 'register_refused') details.remote_addr = event.ip ?? '';
  }
  const by = { created: 'added_by', deleted: 'deleted_by', finished: 'triggered_by' }[verb] ?? 'modified_by';
  if (!['signed_in', 'sign_in_failed', 'signed_out', 'register_refused'].includes(verb)) details[by] = event.actorName;
  return { ID: uuidOf(event.id), Event: name, Time: event.at, Details: details };
}

// ---------------------------------------------------------------------------------------------
// Route pieces

type Data = Record<string, any>;

/**
 * The most a page of a GraphQL list holds; longer lists are read page by page. Documents take it
 * as `$page` (our own documents, bounded by the schema's own maximum of 500).
 */
export const PAGE = 500;

/** `, $page: Int!` for a document whose selection pages a list. */
const pageVar = (selection: string) => (selection.includes('$page') ? ', $page: Int!' : '');

export interface Connection<T> {
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
  edges: Array<{ node: T }>;
}

export const PAGE_INFO = 'pageInfo { hasNextPage endCursor }';

/**
 * Every node of the connection `data[key]`, following pages past the first with the same
 * document (which takes `$after`), up to `limit`.
 */
export async function allNodes<T>(
  tools: RouteTools,
  document: string,
  key: string | ((data: Data) => Connection<T>),
  data: Data,
  variables: Data = {},
  limit = Infinity,
): Promise<T[]> {
  const at = typeof key === 'string' ? (d: Data) => d[key] as Connection<T> : key;
  let connection = at(data);
  const nodes = connection.edges.map((edge) => edge.node);
  while (connection.pageInfo.hasNextPage && nodes.length < limit) {
    const next = await tools.graphql<Data>(document, { ...variables, after: connection.pageInfo.endCursor });
    connection = at(next);
    nodes.push(...connection.edges.map((edge) => edge.node));
  }
  return nodes.slice(0, limit);
}

/** Otto's lists are newest first. */
export const newestFirst = <T extends { createdAt: string }>(items: T[]): T[] => [...items].sort((a, b) => Date.parse(b.createdAt) - Date.parse(a.createdAt));

/** A list query over every page of a root connection, shaped and newest first. */
export function listRoute<T extends { createdAt: string }>(path: string, key: string, selection: string, shape: (node: T) => unknown, access: RouteAccess = 'viewer'): Route {
  const document = `query($page: Int!, $after: String) { ${key}(first: $page, after: $after) { ${PAGE_INFO} edges { node { ${selection} } } } }`;
  return {
    method: 'GET',
    path,
    access,
    operation: document,
    variables: () => ({ page: PAGE }),
    reply: async (data, _req, tools) => ok(newestFirst(await allNodes<T>(tools, document, key, data, { page: PAGE })).map(shape)),
  };
}

/** `node(id:)` of one Otto type, selecting `selection` on it. */
export const nodeQuery = (type: OttoType, selection: string) => `query($id: ID!${pageVar(selection)}) { node(id: $id) { __typename ... on ${TYPENAMES[type]} { ${selection} } } }`;

/** The variables of a `nodeQuery` for an Otto id (a 400 "No <type> with ID" when it is none). */
export const nodeIdVariables = (type: OttoType, id: string) => ({ id: encodeGlobalID(TYPENAMES[type], uuidParam(type, id)), page: PAGE });

/** The `:id` of the path as the variables of a `nodeQuery`. */
export const nodeVariables = (type: OttoType) => (req: RestRequest) => nodeIdVariables(type, req.params.id!);

/** The node a `nodeQuery` found, or Otto's 400 "No <type> with ID <id>". */
export function found<T = Data>(type: OttoType, data: Data, id: string): T {
  if (!data.node || data.node.__typename !== TYPENAMES[type]) throw noSuch(type, id);
  return data.node as T;
}

/** One object by its Otto id (from a body, say), or Otto's 400 "No <type> with ID <id>". */
export async function findNode<T = Data>(tools: RouteTools, type: OttoType, id: string, selection: string): Promise<T> {
  return found<T>(type, await tools.graphql<Data>(nodeQuery(type, selection), nodeIdVariables(type, id)), id);
}

/** GET of one object (or of something of it) by `:id`. */
export function nodeRoute(path: string, type: OttoType, selection: string, shape: (node: any) => unknown): Route {
  return {
    method: 'GET',
    path,
    access: 'viewer',
    operation: nodeQuery(type, selection),
    variables: nodeVariables(type),
    reply: (data, req) => ok(shape(found(type, data, req.params.id!))),
  };
}

/** A DELETE by `:id`: Otto answers `true`. */
export function deleteRoute(path: string, type: OttoType, mutation: string, check?: (req: RestRequest, tools: RouteTools) => Promise<void>): Route {
  return {
    method: 'DELETE',
    path,
    access: 'admin',
    operation: `mutation($id: ID!) { ${mutation}(id: $id) { ${ERROR_FIELDS} } }`,
    variables: async (req, tools) => {
      const id = uuidParam(type, req.params.id!);
      await check?.(req, tools);
      return { id };
    },
    reply: () => ok(true),
  };
}

/** Ids from a body list, each checked (an unknown one is Otto's 400 "No <type> with ID"). */
export const idList = (type: OttoType, values: string[]) => values.map((value) => uuidParam(type, value));

