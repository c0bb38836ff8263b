/**
 * graphql-ws on /api/graphql: the same schema, plugins and context as HTTP.
 *
 * A connection authenticates once, at `connection_init`: with the session cookie sent on the
 * upgrade, or with `connectionParams.apiKey`, or — for an agent — with `connectionParams.hostKey`
 * (a host's `rbh_…` key), which makes the caller that host's agent: it may use the agent
 * operations (graphql/agent.ts) and nothing else. Anonymous or failed connections are closed with
 * 4401 and a reason. Every open connection's credentials are checked again every `RECHECK_MS`,
 * so a signed-out session, a disabled user or a revoked key loses its sockets; an agent's are
 * also checked at once when its host changes (`recheckHost`: a revoked or rotated key).
 */
import { GraphQLError, Kind, getOperationAST, type DocumentNode, type ExecutionArgs } from 'graphql';
import type { Context as WsContext } from 'graphql-ws';
import { useServer } from 'graphql-ws/use/ws';
import type { IncomingMessage } from 'node:http';
import { WebSocketServer, type WebSocket } from 'ws';
import { authenticate, readCredentials, type Credentials, type Viewer } from '../core/auth.service';
import { DomainError, UnauthenticatedError } from '../core/errors';
import { authenticateHostKey } from '../core/host.service';
import { throttleKeys } from '../core/login-throttle';
import { findUserById } from '../db/user.repository';
import { AGENT_OPERATIONS } from './agent';
import type { AgentCaller, App, Context } from './context';
import { clientIp, isSecure } from './http';
import type { GraphQLServer } from './yoga';

const RECHECK_MS = 30_000;
export const WS_UNAUTHORIZED = 4401;

interface Extra extends Record<PropertyKey, unknown> {
  socket: WebSocket;
  request: IncomingMessage;
  credentials?: Credentials;
  viewer?: Viewer;
  /** An agent's connection: its host key and host. */
  hostKey?: string;
  agent?: AgentCaller;
}

/** A host key in connectionParams (`hostKey`, or an `apiKey` that is one), if any. */
function connectionHostKey(params: Record<string, unknown> | undefined): string | undefined {
  const hostKey = params?.hostKey;
  if (typeof hostKey === 'string' && hostKey) return hostKey;
  const apiKey = params?.apiKey;
  return typeof apiKey === 'string' && apiKey.startsWith('rbh_') ? apiKey : undefined;
}

/** Why an agent's operation is refused, or undefined: an agent may only use agent operations. */
function agentRefusal(document: DocumentNode, operationName: string | null | undefined): GraphQLError | undefined {
  const operation = getOperationAST(document, operationName);
  const fields = operation?.selectionSet.selections ?? [];
  const other = fields.find((node) => node.kind !== Kind.FIELD || (node.name.value !== '__typename' && !AGENT_OPERATIONS.has(node.name.value)));
  if (!other && operation) return undefined;
  const name = other?.kind === Kind.FIELD ? other.name.value : 'fragments at the root';
  return new GraphQLError(`A host key may only be used for the agent operations, not ${name}.`, { extensions: { code: 'FORBIDDEN' } });
}

function closeUnauthorized(socket: WebSocket, message: string): void {
  // A close reason is limited to 123 bytes.
  socket.close(WS_UNAUTHORIZED, Buffer.from(message).subarray(0, 123).toString());
}

/** Credentials of a connection: connectionParams.apiKey, or else the session cookie. */
function connectionCredentials(app: App, ctx: WsContext<Record<string, unknown> | undefined, Extra>): Credentials | undefined {
  const apiKey = ctx.connectionParams?.apiKey;
  if (typeof apiKey === 'string' && apiKey) return { kind: 'bearer', token: apiKey };
  const origin = ctx.extra.request.headers.origin;
  const host = ctx.extra.request.headers.host;
  const credentials = readCredentials({ cookie: ctx.extra.request.headers.cookie }, app.sessions);
  if (credentials && origin) {
    let originHost: string | undefined;
    try {
      originHost = new URL(origin).host;
    } catch {
      originHost = undefined;
    }
    // A page on another site may open a socket that carries our cookie: refuse it.
    if (originHost !== host) throw new UnauthenticatedError(`Cross-site WebSocket refused: origin ${origin} is not this server.`);
  }
  return credentials;
}

/** True while the connection's credentials are still good (session open, key live, user enabled). */
async function stillValid(app: App, extra: Extra): Promise<boolean> {
  if (extra.agent && extra.hostKey) {
    const host = await authenticateHostKey(app.db, extra.hostKey);
    return host?.id === extra.agent.hostId;
  }
  const { credentials, viewer } = extra;
  if (!credentials || !viewer) return false;
  if (credentials.kind === 'session') {
    const session = await app.sessions.peek(credentials.sessionId);
    const user = session && (await findUserById(app.db, session.userId));
    return Boolean(user?.enabled);
  }
  try {
    await authenticate(app, credentials, clientIp(extra.request, app.config.trustProxy));
    return true;
  } catch {
    return false;
  }
}

export interface GraphQLWebSocketServer {
  wss: WebSocketServer;
  /** Re-checks the key of the agents of a host now (it changed: its key may be revoked or rotated). */
  recheckHost(hostId: string): void;
  stop(): Promise<void>;
}

export function createGraphQLWebSocketServer(app: App, yoga: GraphQLServer): GraphQLWebSocketServer {
  const wss = new WebSocketServer({ noServer: true, maxPayload: app.config.maxBodyBytes });
  const authenticated = new Set<Extra>();

  const disposable = useServer<Record<string, unknown> | undefined, Extra>(
    {
      execute: (args) => (args.rootValue as { execute: (a: ExecutionArgs) => unknown }).execute(args) as never,
      subscribe: (args) => (args.rootValue as { subscribe: (a: ExecutionArgs) => unknown }).subscribe(args) as never,
      connectionInitWaitTimeout: 10_000,
      onConnect: async (ctx) => {
        try {
          const hostKey = connectionHostKey(ctx.connectionParams);
          if (hostKey) {
            const ip = throttleKeys.ip(clientIp(ctx.extra.request, app.config.trustProxy));
            app.throttle.check([ip]);
            const host = await authenticateHostKey(app.db, hostKey);
            if (!host || host.kind !== 'agent') {
              app.throttle.fail([ip]);
              closeUnauthorized(ctx.extra.socket, 'Unauthorized: the host key is not valid (unknown, revoked or replaced by a new one).');
              return false;
            }
            ctx.extra.hostKey = hostKey;
            ctx.extra.agent = { hostId: host.id };
            authenticated.add(ctx.extra);
            return true;
          }
          const credentials = connectionCredentials(app, ctx);
          if (!credentials) {
            closeUnauthorized(ctx.extra.socket, 'Unauthorized: sign in first, or pass connectionParams.apiKey.');
            return false;
          }
          const ip = clientIp(ctx.extra.request, app.config.trustProxy);
          const { viewer } = await authenticate(app, credentials, ip);
          if (!viewer) {
            closeUnauthorized(ctx.extra.socket, 'Unauthorized: your session has ended; sign in again.');
            return false;
          }
          ctx.extra.credentials = credentials;
          ctx.extra.viewer = viewer;
          authenticated.add(ctx.extra);
          return true;
        } catch (error) {
          if (!(error instanceof DomainError)) throw error;
          closeUnauthorized(ctx.extra.socket, `Unauthorized: ${error.message}`);
          return false;
        }
      },
      onClose: (ctx) => {
        authenticated.delete(ctx.extra);
      },
      onSubscribe: async (ctx, _id, payload) => {
        const { extra } = ctx;
        if ((!extra.viewer && !extra.agent) || !(await stillValid(app, extra))) {
          closeUnauthorized(extra.socket, 'Unauthorized: your credentials are no longer valid; sign in again.');
          return [new GraphQLError('Your credentials are no longer valid; sign in again.', { extensions: { code: 'UNAUTHENTICATED' } })];
        }
        const context: Context = {
          app,
          requestId: `ws-${_id}`,
          log: app.log,
          viewer: extra.viewer ?? null,
          ...(extra.agent && { agent: extra.agent }),
          ip: clientIp(extra.request, app.config.trustProxy),
          userAgent: extra.request.headers['user-agent'] ?? null,
          secure: isSecure(extra.request, app.config.trustProxy),
          transport: 'ws',
          setCookie: () => {
            throw new Error('Cookies cannot be set over a WebSocket');
          },
        };
        const { schema, execute, subscribe, contextFactory, parse, validate } = yoga.getEnveloped({
          prepared: context,
          req: extra.request,
          params: payload,
        });
        let document;
        try {
          document = parse(payload.query);
        } catch (error) {
          return [error instanceof GraphQLError ? error : new GraphQLError('The query could not be parsed.')];
        }
        const errors = validate(schema, document);
        if (errors.length > 0) return errors;
        const refusal = extra.agent && agentRefusal(document, payload.operationName);
        if (refusal) return [refusal];
        return {
          schema,
          document,
          operationName: payload.operationName,
          variableValues: payload.variables,
          contextValue: await contextFactory(),
          rootValue: { execute, subscribe },
        };
      },
    },
    wss,
  );

  const recheckOne = (extra: Extra) =>
    void stillValid(app, extra).then(
      (valid) => {
        if (!valid) {
          authenticated.delete(extra);
          closeUnauthorized(extra.socket, 'Unauthorized: your session or key has ended.');
        }
      },
      (error: unknown) => app.log.warn({ err: error }, 'could not re-check a WebSocket connection'),
    );
  const recheck = setInterval(() => {
    for (const extra of authenticated) recheckOne(extra);
  }, RECHECK_MS);
  recheck.unref();

  return {
    wss,
    recheckHost(hostId) {
      for (const extra of authenticated) if (extra.agent?.hostId === hostId) recheckOne(extra);
    },
    async stop() {
      clearInterval(recheck);
      for (const client of wss.clients) client.close(1001, 'Runboard is shutting down');
      await disposable.dispose();
      for (const client of wss.clients) client.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}
