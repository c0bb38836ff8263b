/**
 * The shape of a REST dialect: each endpoint is a row of data — method + path → one GraphQL
 * operation run in-process against our schema and context (graphql/rest/operation.ts) → a
 * function shaping the legacy answer. A dialect file is a list of such rows plus how that dialect
 * reads credentials and writes errors; the HTTP plumbing (graphql/rest/server.ts) is shared.
 */
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Credentials } from '../../core/auth.service';
import { roleAllows, type Role } from '../../core/roles';
import type { App, Context } from '../context';
import type { RestBody } from './request';

/** One request to a legacy route, read once by the shared plumbing. */
export interface RestRequest {
  method: string;
  pathname: string;
  /** The `:name` parts of the route's path (and `*` for a trailing wildcard), decoded. */
  params: Record<string, string>;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  /** The client's address (X-Forwarded-For only with RUNBOARD_TRUST_PROXY). */
  ip: string;
  /** `http(s)://host[:port]` as the client reached us, for Location and Link headers. */
  baseUrl: string;
  body: RestBody;
  /** Aborted when the client goes away before its answer is sent (a long wait can stop early). */
  signal: AbortSignal;
}

/** A legacy answer. A string or Buffer body is sent as is; anything else as JSON. */
export interface RestReply {
  status: number;
  headers?: Record<string, string | string[]>;
  body?: string | Buffer | null;
}

/** Why a request failed, in Runboard's terms; each dialect writes it in its own format. */
export type FailureKind =
  | 'unauthenticated'
  | 'forbidden'
  | 'not_found'
  | 'validation'
  | 'conflict'
  | 'unsupported_media_type'
  | 'too_large'
  | 'method_not_allowed'
  | 'rate_limited'
  | 'internal';

const KIND_STATUS: Record<FailureKind, number> = {
  unauthenticated: 401,
  forbidden: 403,
  not_found: 404,
  validation: 400,
  conflict: 409,
  unsupported_media_type: 415,
  too_large: 413,
  method_not_allowed: 405,
  rate_limited: 429,
  internal: 500,
};

/**
 * A failed request. Thrown by the plumbing, by the operation runner (from GraphQL's typed errors)
 * and by routes themselves (`fail(...)`); the dialect's `error()` turns it into the legacy body.
 */
export class RestFailure extends Error {
  readonly status: number;
  constructor(
    readonly kind: FailureKind,
    message: string,
    options: { status?: number; fields?: Array<{ path: string[]; message: string }>; headers?: Record<string, string> } = {},
  ) {
    super(message);
    this.name = 'RestFailure';
    this.status = options.status ?? KIND_STATUS[kind];
    this.fields = options.fields ?? [];
    this.headers = options.headers ?? {};
  }
  readonly fields: Array<{ path: string[]; message: string }>;
  readonly headers: Record<string, string>;
}

/** Shorthand for routes: `throw fail('validation', 'Unable to decode data')`. */
export function fail(kind: FailureKind, message: string, status?: number): RestFailure {
  return new RestFailure(kind, message, status === undefined ? {} : { status });
}

/**
 * Who may call a route. `none`: no credentials (sign-in, agent self-registration); `checkin`:
 * operators, or anyone from the networks the admin listed for anonymous check-ins; otherwise
 * the least role. GraphQL enforces it; the table states it so the auth test can hold both to it.
 */
export type RouteAccess = 'none' | 'checkin' | Role;

/** What a route's functions get besides the request. */
export interface RouteTools {
  /** The GraphQL context the operation runs with (its viewer, its cookies). */
  context: Context;
  /** Runs another GraphQL operation in the same context (for routes whose answer needs a second read). */
  graphql<T = Record<string, unknown>>(document: string, variables?: Record<string, unknown>): Promise<T>;
  /**
   * Subscribes in the same context: each event's data until the subscription ends; `return()`
   * ends it at once. A refused subscription or an event with errors throws a RestFailure.
   */
  subscribe<T = Record<string, unknown>>(document: string, variables?: Record<string, unknown>): Promise<AsyncIterableIterator<T>>;
}

export interface Route<Data = any> {
  method: string | readonly string[];
  /** `/api/v1/script/:id`; a final `*` matches the rest of the path (params['*']). */
  path: string;
  access: RouteAccess;
  /** The GraphQL operation: one document, one operation. Routes that need none leave it out. */
  operation?: string;
  /** The operation's variables from the request; throw `fail(...)` for input the dialect refuses. */
  variables?(req: RestRequest, tools: RouteTools): Record<string, unknown> | Promise<Record<string, unknown>>;
  /** The legacy answer from the operation's data (typed errors have already become failures). */
  reply(data: Data, req: RestRequest, tools: RouteTools): RestReply | Promise<RestReply>;
  /** Body size limit for this route, when it differs from RUNBOARD_MAX_BODY_BYTES. */
  maxBodyBytes?: number;
  /**
   * A path (with query) that reaches this route with dummy values, for the generated auth test
   * (test/rest-auth.test.ts), when filling `:params` is not enough (Sloth's `/?action=…`).
   */
  probe?(method: string): string;
  /**
   * Whether a failure means the request was not this route's after all, so the server answers
   * it as if no dialect had claimed it (the console): Sloth CI's webhook route, for a GET of a
   * path that is no app's listen point. Only for requests without a body (it has been read).
   */
  passOn?(failure: RestFailure, req: RestRequest): boolean;
}

/** A WebSocket endpoint of a dialect (Otto's live-run socket). */
export interface UpgradeRoute {
  path: string;
  access: RouteAccess;
  /** Takes the socket; `tools` run GraphQL in `context` (through Yoga, as routes do). */
  handle(req: IncomingMessage, socket: Duplex, head: Buffer, context: Context, tools: RouteTools): void;
}

export interface Dialect {
  name: string;
  /** Whether a request belongs to this dialect at all (before any route matches). */
  owns(pathname: string, query: URLSearchParams, method: string): boolean | Promise<boolean>;
  routes: readonly Route[];
  upgrades?: readonly UpgradeRoute[];
  /**
   * The dialect's own credentials in a request (a cookie, a signature), turned into Runboard
   * credentials; undefined to fall back to Authorization (Basic, Bearer). A RestFailure refuses.
   */
  credentials?(req: RestRequest, app: App): Credentials | undefined | Promise<Credentials | undefined>;
  /** The legacy error answer for a failure. */
  error(failure: RestFailure, req: RestRequest): RestReply;
  /**
   * Requests that reach each endpoint a single row serves (Sloth CI's `/?action=…`), with the
   * access each needs, so the generated auth test (test/rest-auth.test.ts) covers them all.
   */
  probes?: ReadonlyArray<{ method: string; path: string; access: RouteAccess }>;
  /** At shutdown: ends what the dialect holds open for this server (its upgrade sockets). */
  close?(app: App): void;
}

export interface CompiledRoute {
  route: Route;
  methods: Set<string>;
  match(pathname: string): Record<string, string> | undefined;
}

/** Compiles a route path into a matcher. `:name` is one segment; a final `*` is the rest. */
export function compilePath(path: string): (pathname: string) => Record<string, string> | undefined {
  const names: string[] = [];
  const pattern = path
    .split('/')
    .map((segment, index, all) => {
      if (segment === '*' && index === all.length - 1) {
        names.push('*');
        return '(.+)';
      }
      if (segment.startsWith(':')) {
        names.push(segment.slice(1));
        return '([^/]+)';
      }
      return segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    })
    .join('/');
  const regex = new RegExp(`^${pattern}$`);
  return (pathname) => {
    const found = regex.exec(pathname);
    if (!found) return undefined;
    const params: Record<string, string> = {};
    for (const [index, name] of names.entries()) {
      const raw = found[index + 1]!;
      try {
        params[name] = decodeURIComponent(raw);
      } catch {
        params[name] = raw;
      }
    }
    return params;
  };
}

export function compileRoutes(routes: readonly Route[]): CompiledRoute[] {
  return routes.map((route) => ({
    route,
    methods: new Set((typeof route.method === 'string' ? [route.method] : route.method).map((m) => m.toUpperCase())),
    match: compilePath(route.path),
  }));
}

/**
 * Refuses a caller below the route's declared access before its body is looked at, so a viewer
 * learns it may not write rather than what its body lacks. GraphQL enforces the same roles again.
 */
export function refuseBelowAccess(access: RouteAccess, context: Context): void {
  if (access === 'none' || context.anonymousCheckin) return;
  const needed: Role = access === 'checkin' ? 'operator' : access;
  const role = context.viewer?.role;
  if (role && !roleAllows(role, needed)) {
    throw new RestFailure('forbidden', `Your role (${role}) does not allow this: it needs the ${needed} role.`);
  }
}

/** The fields every mutation result selects so typed errors become failures: spread it in the union. */
export const ERROR_FIELDS = '__typename ... on Error { message } ... on ValidationError { fields { path message } }';
