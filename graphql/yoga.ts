/**
 * The Yoga server: the schema with our context, error masking, abuse limits and cookie output.
 * The HTTP server hands it /api/graphql; graphql-ws reuses it through `getEnveloped`, so both
 * transports share plugins and context.
 */
import { EnvelopArmorPlugin } from '@escape.tech/graphql-armor';
import { renderGraphiQL } from '@graphql-yoga/render-graphiql';
import { GraphQLError } from 'graphql';
import { createYoga, type Plugin, type YogaServerInstance } from 'graphql-yoga';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { authenticate, readCredentials } from '../core/auth.service';
import { DomainError } from '../core/errors';
import { requestScope } from '../core/logger';
import { toGraphQLError } from './builder';
import type { App, Context } from './context';
import { clientIp, isSecure } from './http';
import { schema } from './schema';

export const GRAPHQL_PATH = '/api/graphql';

const GRAPHIQL_DEFAULT_QUERY = `# Runboard's GraphQL API. The schema is in the Docs pane; try:
{
  viewer {
    role
    user {
      username
    }
  }
}
`;

/** What the HTTP server passes with each request; graphql-ws passes a ready `context` instead. */
export interface ServerContext {
  req?: IncomingMessage;
  res?: ServerResponse;
  /** A context built by another transport (graphql-ws, the REST dialects). */
  prepared?: Context;
}

export type GraphQLServer = YogaServerInstance<ServerContext, Context>;

const pendingCookies = new WeakMap<Request, string[]>();

/** Sends the Set-Cookie headers that resolvers asked for. */
const cookiePlugin: Plugin = {
  onResponse({ request, response }) {
    for (const cookie of pendingCookies.get(request) ?? []) response.headers.append('Set-Cookie', cookie);
  },
};

/** Builds the context of an HTTP request; bad credentials end the request with 401. */
async function httpContext(app: App, request: Request, req: IncomingMessage): Promise<Context> {
  const ip = clientIp(req, app.config.trustProxy);
  const secure = isSecure(req, app.config.trustProxy);
  const cookies: string[] = [];
  pendingCookies.set(request, cookies);
  try {
    const credentials = readCredentials(
      { authorization: request.headers.get('authorization'), cookie: request.headers.get('cookie') },
      app.sessions,
    );
    const { viewer, staleSession } = await authenticate(app, credentials, ip);
    if (staleSession) cookies.push(app.sessions.blankCookie(secure));
    const requestId = requestScope.getStore()?.requestId ?? randomUUID();
    return {
      app,
      requestId,
      log: app.log,
      viewer,
      ip,
      userAgent: request.headers.get('user-agent'),
      secure,
      transport: 'http',
      setCookie: (value) => cookies.push(value),
    };
  } catch (error) {
    if (error instanceof DomainError) throw toGraphQLError(error);
    throw error;
  }
}

export function createGraphQLServer(app: App): GraphQLServer {
  const yoga: GraphQLServer = createYoga<ServerContext, Context>({
    schema,
    graphqlEndpoint: GRAPHQL_PATH,
    landingPage: false,
    logging: {
      debug: (...args) => app.log.debug(args.map(String).join(' ')),
      info: (...args) => app.log.info(args.map(String).join(' ')),
      warn: (...args) => app.log.warn(args.map(String).join(' ')),
      error: (...args) => app.log.error(args.map(String).join(' ')),
    },
    // GraphiQL bundled with the server (no CDN: Runboard must work without internet access),
    // and only for people signed in with a session.
    renderGraphiQL,
    graphiql: async (request) => {
      const sessionId = app.sessions.readCookie(request.headers.get('cookie'));
      if (!sessionId || !(await app.sessions.peek(sessionId))) return false;
      return { title: 'Runboard GraphQL', defaultQuery: GRAPHIQL_DEFAULT_QUERY };
    },
    context: async (initial) => {
      if (initial.prepared) return initial.prepared;
      if (!initial.req) throw new Error('GraphQL request without a transport context');
      return httpContext(app, initial.request, initial.req);
    },
    maskedErrors: {
      maskError: (error) => {
        const original = error instanceof GraphQLError ? error.originalError : error;
        if (original instanceof DomainError) return toGraphQLError(original);
        if (error instanceof GraphQLError && (!original || original instanceof GraphQLError)) return error;
        const requestId = requestScope.getStore()?.requestId;
        app.log.error({ err: original ?? error }, 'unexpected error in a GraphQL operation');
        return new GraphQLError(
          `Something went wrong on our side; it has been logged${requestId ? ` with request id ${requestId}` : ''}.`,
          { extensions: { code: 'INTERNAL_SERVER_ERROR', ...(requestId && { requestId }) } },
        );
      },
    },
    plugins: [
      cookiePlugin,
      // Limits that keep one request from costing the server too much.
      EnvelopArmorPlugin({
        maxDepth: { n: 12, ignoreIntrospection: true },
        maxAliases: { n: 20 },
        maxDirectives: { n: 20 },
        maxTokens: { n: 5000 },
        costLimit: { maxCost: 5000 },
        blockFieldSuggestion: { enabled: false },
      }),
    ],
  });
  return yoga;
}
