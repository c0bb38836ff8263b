/**
 * The REST compatibility layer's plumbing: finds the dialect and route of a request, reads its
 * body within limits, turns its credentials (the dialect's own, or Basic/Bearer) into the same
 * GraphQL context as /api/graphql, runs the route's operation in-process and writes the answer.
 * Every failure — bad credentials, a refused body, a typed GraphQL error, a bug — reaches the
 * client in the dialect's own error format; a bug is logged and answered as a 500 without
 * details.
 */
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { authenticate, readCredentials, type Credentials } from '../../core/auth.service';
import { DomainError } from '../../core/errors';
import type { App, Context } from '../context';
import { checkCrossSite, clientIp, isSecure } from '../http';
import type { GraphQLServer } from '../yoga';
import { createGraphQLRunner, type GraphQLRunner } from './operation';
import { readBody, RestBody, mediaTypeOf } from './request';
import { createSubscriptionRunner } from './subscribe';
import {
  compileRoutes,
  compilePath,
  RestFailure,
  type CompiledRoute,
  type Dialect,
  type Route,
  type RestReply,
  type RestRequest,
  refuseBelowAccess,
  type RouteTools,
} from './route-table';
import { anonymousCheckinAllowed } from './checkin-networks';

const FAILURE_OF_CODE: Record<string, RestFailure['kind']> = {
  UNAUTHENTICATED: 'unauthenticated',
  FORBIDDEN: 'forbidden',
  RATE_LIMITED: 'rate_limited',
  BAD_USER_INPUT: 'validation',
};

interface CompiledDialect {
  dialect: Dialect;
  routes: CompiledRoute[];
  upgrades: Array<{ route: NonNullable<Dialect['upgrades']>[number]; match: (p: string) => Record<string, string> | undefined }>;
}

export interface RestLayer {
  /** The dialect a request belongs to, if any (then `handle` must answer it). */
  dialectOf(req: IncomingMessage): Promise<Dialect | undefined>;
  /** Answers a request of `dialect`; `otherwise` answers it instead when its route passes it on (`Route.passOn`). */
  handle(dialect: Dialect, req: IncomingMessage, res: ServerResponse, requestId: string, otherwise?: () => void): Promise<void>;
  /** Takes a WebSocket upgrade of a dialect; false when no dialect has that path. */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, requestId: string): boolean;
  /** At shutdown: each dialect ends what it holds open (its sockets). */
  close(): void;
  graphql: GraphQLRunner;
}

function baseUrlOf(req: IncomingMessage, app: App): string {
  const proto = isSecure(req, app.config.trustProxy) ? 'https' : 'http';
  return `${proto}://${req.headers.host ?? 'localhost'}`;
}

function send(res: ServerResponse, reply: RestReply, requestId: string): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  const headers: Record<string, string | string[]> = { 'x-request-id': requestId, 'cache-control': 'no-store', ...reply.headers };
  const body = reply.body ?? undefined;
  const named = (header: string) => Object.keys(headers).some((name) => name.toLowerCase() === header);
  if (body !== undefined && !named('content-type')) {
    headers['content-type'] = typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/octet-stream';
  }
  // A length, as the legacy servers sent, rather than a chunked body (none for 204 and 304).
  if (reply.status !== 204 && reply.status !== 304 && !named('content-length')) headers['content-length'] = String(body === undefined ? 0 : Buffer.byteLength(body));
  res.writeHead(reply.status, headers);
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

/** A failure thrown by the core (outside GraphQL, e.g. while authenticating) in REST terms. */
function asFailure(error: unknown): RestFailure | undefined {
  if (error instanceof RestFailure) return error;
  if (error instanceof DomainError) {
    const kind = FAILURE_OF_CODE[error.code] ?? (error.httpStatus === 404 ? 'not_found' : error.httpStatus === 409 ? 'conflict' : 'validation');
    return new RestFailure(kind, error.message);
  }
  return undefined;
}

export function createRestLayer(app: App, yoga: GraphQLServer, dialects: readonly Dialect[]): RestLayer {
  const graphql = createGraphQLRunner(yoga);
  const subscribe = createSubscriptionRunner(yoga);
  /** What a route or a socket of a dialect runs GraphQL with, in its context. */
  const toolsOf = (context: Context): RouteTools => ({
    context,
    graphql: (document, variables) => graphql(context, document, variables),
    subscribe: (document, variables) => subscribe(context, document, variables),
  });
  const compiled: CompiledDialect[] = dialects.map((dialect) => ({
    dialect,
    routes: compileRoutes(dialect.routes),
    upgrades: (dialect.upgrades ?? []).map((route) => ({ route, match: compilePath(route.path) })),
  }));
  const byDialect = new Map(compiled.map((entry) => [entry.dialect, entry]));

  /** The request as routes see it (its body read later, once the route is known). */
  function restRequest(req: IncomingMessage, url: URL, body: RestBody, params: Record<string, string> = {}, signal = new AbortController().signal): RestRequest {
    return {
      method: (req.method ?? 'GET').toUpperCase(),
      pathname: url.pathname,
      params,
      query: url.searchParams,
      headers: req.headers,
      ip: clientIp(req, app.config.trustProxy),
      baseUrl: baseUrlOf(req, app),
      body,
      signal,
    };
  }

  /** The GraphQL context of a request: its credentials resolved into a viewer. */
  async function contextOf(dialect: Dialect, req: IncomingMessage, rest: RestRequest, requestId: string, cookies: string[]): Promise<{ context: Context; credentials: Credentials | undefined }> {
    const credentials =
      (await dialect.credentials?.(rest, app)) ??
      readCredentials({ authorization: typeof req.headers.authorization === 'string' ? req.headers.authorization : undefined }, app.sessions);
    if (credentials?.kind === 'session') {
      // A cookie a browser sends by itself: refuse it from another site's page.
      const refusal = checkCrossSite({ ...req, headers: { ...req.headers, 'content-type': 'application/json' } } as IncomingMessage);
      if (refusal) throw new RestFailure('forbidden', refusal.message);
    }
    const { viewer } = await authenticate(app, credentials, rest.ip);
    return { credentials, context: { ...anonymousContext(dialect, req, rest, requestId, cookies), viewer } };
  }

  async function handle(dialect: Dialect, req: IncomingMessage, res: ServerResponse, requestId: string, otherwise?: () => void): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://rest.invalid');
    const entry = byDialect.get(dialect)!;
    const method = (req.method ?? 'GET').toUpperCase();
    // The client going away before its answer (the connection closed, nothing sent yet).
    const gone = new AbortController();
    res.once('close', () => {
      if (!res.writableFinished) gone.abort();
    });
    if (req.socket.destroyed) gone.abort();
    let rest = restRequest(req, url, new RestBody(Buffer.alloc(0), mediaTypeOf(req.headers['content-type']), ''), {}, gone.signal);
    let passedOn: Route['passOn'];
    try {
      let pathMatched = false;
      let found: { route: CompiledRoute; params: Record<string, string> } | undefined;
      for (const route of entry.routes) {
        const params = route.match(url.pathname);
        if (!params) continue;
        pathMatched = true;
        if (route.methods.has(method)) {
          found = { route, params };
          break;
        }
      }
      if (!found) {
        if (pathMatched) {
          const allowed = entry.routes.filter((r) => r.match(url.pathname)).flatMap((r) => [...r.methods]);
          throw new RestFailure('method_not_allowed', `${method} is not allowed here; use ${[...new Set(allowed)].join(', ')}.`, {
            headers: { allow: [...new Set(allowed)].join(', ') },
          });
        }
        throw new RestFailure('not_found', `Nothing at ${url.pathname}.`);
      }
      const { route } = found.route;
      passedOn = route.passOn;
      const body = await readBody(req, route.maxBodyBytes ?? app.config.maxBodyBytes);
      rest = restRequest(req, url, body, found.params, gone.signal);
      const cookies: string[] = [];
      let context: Context;
      if (route.access === 'none') {
        context = (await contextOf(dialect, req, rest, requestId, cookies).catch(() => undefined))?.context ?? anonymousContext(dialect, req, rest, requestId, cookies);
      } else {
        ({ context } = await contextOf(dialect, req, rest, requestId, cookies));
        if (!context.viewer) {
          if (route.access === 'checkin' && (await anonymousCheckinAllowed(graphql, context, rest.ip))) {
            context.anonymousCheckin = true;
          } else {
            throw new RestFailure('unauthenticated', 'Sign in, or send credentials: HTTP Basic (username and password or API key) or "Authorization: Bearer <api key>".');
          }
        }
      }
      refuseBelowAccess(route.access, context);
      const tools = toolsOf(context);
      const variables = route.variables ? await route.variables(rest, tools) : {};
      const data = route.operation ? await graphql(context, route.operation, variables) : {};
      const reply = await route.reply(data, rest, tools);
      if (cookies.length > 0) {
        const existing = reply.headers?.['set-cookie'];
        reply.headers = { ...reply.headers, 'set-cookie': [...(existing === undefined ? [] : Array.isArray(existing) ? existing : [existing]), ...cookies] };
      }
      send(res, reply, requestId);
    } catch (error) {
      const failure = asFailure(error);
      if (failure && otherwise && passedOn?.(failure, rest)) return otherwise();
      if (!failure) app.log.error({ err: error, dialect: dialect.name, path: url.pathname }, 'a REST request failed');
      const shown = failure ?? new RestFailure('internal', `Something went wrong on our side; it has been logged with request id ${requestId}.`);
      if (shown.kind === 'internal' && failure) app.log.error({ err: failure, dialect: dialect.name, path: url.pathname }, 'a REST operation failed');
      const reply = dialect.error(shown, rest);
      reply.headers = { ...shown.headers, ...reply.headers };
      if (shown.kind === 'too_large' || shown.kind === 'unsupported_media_type') reply.headers.connection = 'close';
      send(res, reply, requestId);
    }
  }

  /** The context of a request before its credentials are read (and of one without any). */
  function anonymousContext(dialect: Dialect, req: IncomingMessage, rest: RestRequest, requestId: string, cookies: string[]): Context {
    return {
      app,
      requestId,
      log: app.log,
      viewer: null,
      ip: rest.ip,
      userAgent: typeof req.headers['user-agent'] === 'string' ? req.headers['user-agent'] : null,
      secure: isSecure(req, app.config.trustProxy),
      transport: 'http',
      restDialect: dialect.name,
      setCookie: (value) => cookies.push(value),
    };
  }

  return {
    graphql,
    async dialectOf(req) {
      const url = new URL(req.url ?? '/', 'http://rest.invalid');
      const method = (req.method ?? 'GET').toUpperCase();
      for (const { dialect } of compiled) {
        if (await dialect.owns(url.pathname, url.searchParams, method)) return dialect;
      }
      return undefined;
    },
    handle,
    close() {
      for (const { dialect } of compiled) dialect.close?.(app);
    },
    upgrade(req, socket, head, requestId) {
      const url = new URL(req.url ?? '/', 'http://rest.invalid');
      for (const entry of compiled) {
        for (const upgrade of entry.upgrades) {
          if (!upgrade.match(url.pathname)) continue;
          const rest = restRequest(req, url, new RestBody(Buffer.alloc(0), '', ''));
          contextOf(entry.dialect, req, rest, requestId, [])
            .then(({ context }) => {
              if (upgrade.route.access !== 'none' && !context.viewer) throw new RestFailure('unauthenticated', 'Sign in before opening this socket.');
              refuseBelowAccess(upgrade.route.access, context);
              upgrade.route.handle(req, socket, head, context, toolsOf(context));
            })
            .catch((error: unknown) => {
              const failure = asFailure(error);
              if (!failure) app.log.error({ err: error, path: url.pathname }, 'a REST upgrade failed');
              const reply = entry.dialect.error(failure ?? new RestFailure('internal', `Something went wrong on our side; it has been logged with request id ${requestId}.`), rest);
              const body = reply.body === undefined || reply.body === null ? '' : String(reply.body);
              const headers = Object.entries({ 'content-type': 'application/json', ...reply.headers })
                .map(([name, value]) => `${name}: ${Array.isArray(value) ? value.join(', ') : value}`)
                .join('\r\n');
              socket.end(`HTTP/1.1 ${reply.status} ${STATUS_CODES[reply.status] ?? 'Refused'}\r\nConnection: close\r\n${headers}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
            });
          return true;
        }
      }
      return false;
    },
  };
}
