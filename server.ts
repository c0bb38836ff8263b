/**
 * Runboard's composition root: config → database → pubsub → GraphQL (HTTP and WebSocket) →
 * the console (Next.js) → one HTTP server on one port.
 *
 * `start()` returns `{ url, stop }` so tests run the real server on port 0. Run directly
 * (`npm start`, `npm run dev`) it also builds the console when no build exists, and shuts down
 * gracefully on SIGTERM/SIGINT.
 */
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SYSTEM } from './core/audit';
import { forgetVerifiedKeys } from './core/auth.service';
import { ensureFirstAdmin } from './core/user.service';
import { ConfigError, loadConfig, pubsubBacking, type Config } from './core/config';
import { LoginThrottle } from './core/login-throttle';
import { createLogger, requestScope } from './core/logger';
import { resolveSecretKey } from './core/secret-key';
import { SecretBox } from './core/secrets';
import { createSessionStore } from './core/session';
import { checkConnection, openDatabase } from './db/database';
import { migrateToLatest } from './db/migrate';
import type { App } from './graphql/context';
import { checkBodySize, checkCrossSite, clientIp, type Refusal } from './graphql/http';
import { openPubSub } from './graphql/pubsub';
import { createGraphQLWebSocketServer } from './graphql/ws';
import { createGraphQLServer, GRAPHQL_PATH } from './graphql/yoga';
import { DIALECTS } from './graphql/rest';
import { createRestLayer } from './graphql/rest/server';
import { publishCheck } from './graphql/check';
import { handlePing, isPingPath, redactPingPath } from './graphql/ping-http';
import { runNotifier } from './graphql/run-output';
import { startExecution, type Execution } from './jobs/execution-service';
import packageJson from './package.json' with { type: 'json' };

const ROOT = path.dirname(fileURLToPath(import.meta.url));
/** How long shutdown waits for open requests before closing their connections. */
const SHUTDOWN_GRACE_MS = 5_000;
const SESSION_SWEEP_MS = 10 * 60_000;

export interface Runboard {
  /** Execution in this instance (undefined with RUNBOARD_EXECUTE=false). */
  execution: Execution | undefined;
  url: string;
  app: App;
  stop(): Promise<void>;
}

const REFUSAL_CODES: Record<number, string> = { 401: 'UNAUTHENTICATED', 403: 'FORBIDDEN', 404: 'NOT_FOUND', 500: 'INTERNAL_SERVER_ERROR' };

/** Answers in the GraphQL error shape, so clients read every refusal the same way. */
function sendRefusal(res: http.ServerResponse, refusal: Refusal): void {
  res.writeHead(refusal.status, { 'content-type': 'application/json; charset=utf-8', connection: 'close' });
  const code = REFUSAL_CODES[refusal.status] ?? 'BAD_REQUEST';
  res.end(JSON.stringify({ errors: [{ message: refusal.message, extensions: { code } }] }));
}

type UpgradeHandler = (req: http.IncomingMessage, socket: Duplex, head: Buffer) => Promise<void> | void;

type NextServer = {
  prepare(): Promise<void>;
  close(): Promise<void>;
  getRequestHandler(): (req: http.IncomingMessage, res: http.ServerResponse) => Promise<void>;
  getUpgradeHandler(): UpgradeHandler;
};

async function startConsole(config: Config): Promise<NextServer> {
  const { default: next } = await import('next');
  const nextServer = (next as unknown as (options: object) => NextServer)({
    dev: config.dev,
    dir: ROOT,
    hostname: config.host ?? 'localhost',
    port: config.port,
  });
  await nextServer.prepare();
  // On its first request Next adds an 'upgrade' listener of its own to our server, which would
  // answer every upgrade a second time (breaking its dev reload and our sockets). Our dispatcher
  // hands Next the upgrades that are its own, so tell Next its listener is in place.
  const custom = nextServer as unknown as { didWebSocketSetup?: boolean };
  if (typeof custom.didWebSocketSetup === 'boolean') custom.didWebSocketSetup = true;
  return nextServer;
}

/**
 * Next's own upgrade handler: the router-level one that serves dev reload (/_next/hmr), which
 * is what Next itself attaches; `getUpgradeHandler()` reaches only the page server behind it.
 */
function nextUpgradeHandler(nextServer: NextServer): UpgradeHandler {
  const routerLevel = (nextServer as unknown as { upgradeHandler?: UpgradeHandler }).upgradeHandler;
  return routerLevel ?? nextServer.getUpgradeHandler();
}

/**
 * A browser opening /api/graphql gets GraphiQL only when signed in; otherwise it is sent to the
 * sign-in page (or, without the console, told to sign in). Returns true when it answered.
 */
async function guardGraphiQL(app: App, req: http.IncomingMessage, res: http.ServerResponse): Promise<boolean> {
  if (req.method !== 'GET' || !String(req.headers.accept ?? '').includes('text/html') || req.headers.authorization) return false;
  const sessionId = app.sessions.readCookie(req.headers.cookie);
  if (sessionId && (await app.sessions.peek(sessionId))) return false;
  if (app.config.console) {
    res.writeHead(302, { location: `/sign-in?next=${encodeURIComponent(GRAPHQL_PATH)}` }).end();
  } else {
    sendRefusal(res, { status: 401, message: 'Sign in to use GraphiQL.' });
  }
  return true;
}

/** Starts Runboard. `overrides` replace settings from the environment (tests use this). */
export async function start(overrides: Partial<Config> = {}): Promise<Runboard> {
  const config: Config = { ...loadConfig(), ...overrides };
  // Checked before anything opens, so a missing key costs no database connection.
  const backing = pubsubBacking(config);
  const secret = resolveSecretKey({ secret: config.secret, dataDir: config.dataDir, embedded: !config.databaseUrl });
  const log = createLogger(config.logLevel);
  const database = await openDatabase({
    databaseUrl: config.databaseUrl,
    dataDir: config.dataDir,
    onPoolError: (error) => log.warn({ err: error }, 'a database connection failed'),
  });
  const cleanups: Array<() => Promise<void> | void> = [() => database.close()];
  const runCleanups = async () => {
    for (const cleanup of cleanups.reverse()) {
      try {
        await cleanup();
      } catch (error) {
        log.warn({ err: error }, 'error while shutting down');
      }
    }
  };
  try {
    await checkConnection(database.db, database.mode === 'embedded' ? `the embedded database in ${config.dataDir}` : 'DATABASE_URL');
    const applied = await migrateToLatest(database.db);
    if (applied.length > 0) log.info({ migrations: applied }, 'database migrated');
    const events = await openPubSub({
      backing,
      db: database.db,
      connection: { connectionString: config.databaseUrl, connectionTimeoutMillis: 10_000 },
      log,
    });
    // Cleanups run in reverse: the pubsub closes after WebSockets and the console, before the pool.
    cleanups.push(() => events.close());

    const sessions = createSessionStore(database.db, config.sessionIdleSeconds);
    const app: App = {
      config,
      db: database.db,
      log,
      sessions,
      throttle: new LoginThrottle(config.loginMaxFailures),
      pubsub: events.pubsub,
      secret,
      secrets: new SecretBox(secret),
    };

    // Execution stops after the HTTP server (no new runs) and before the pubsub and the pool.
    const execution = config.execution.enabled
      ? await startExecution({
          db: app.db,
          pool: database.pool,
          secrets: app.secrets,
          log,
          config: config.execution,
          alerts: config.alerts,
          notify: runNotifier(app.pubsub),
          onEvents: (ids) => ids.forEach((id) => app.pubsub.publish('eventAdded', { id, objectType: 'Run' })),
          scheduleFired: (id) => app.pubsub.publish('scheduleUpdated', { id, deleted: false }),
          checksFlipped: (flips) => {
            for (const flip of flips) {
              publishCheck({ app }, flip.id, 'STATE_CHANGED');
              if (flip.eventId) app.pubsub.publish('eventAdded', { id: flip.eventId, objectType: 'Check' });
            }
          },
          hostChanged: (id) => app.pubsub.publish('hostUpdated', { id, deleted: false }),
          version: packageJson.version,
        })
      : undefined;
    if (execution) {
      app.execution = execution;
      app.agents = execution.agents;
      const stopListening = [
        events.listen('runUpdated', (message) => execution.runUpdated(message)),
        events.listen('scheduleUpdated', () => execution.scheduleChanged()),
        events.listen('eventAdded', () => execution.eventsAdded()),
        // Its own flips (STATE_CHANGED) move no deadline: only other changes wake the sweeper.
        events.listen('checkUpdated', (message) => {
          if (message.kind !== 'STATE_CHANGED') execution.checkChanged();
        }),
      ];
      cleanups.push(async () => {
        for (const stop of stopListening) stop();
        await execution.stop();
      });
    }

    const firstAdmin = await ensureFirstAdmin(
      { db: app.db, sessions, actor: SYSTEM, onEvent: (event) => app.pubsub.publish('eventAdded', { id: event.id, objectType: event.objectType }) },
      config.admin,
    );
    if (firstAdmin?.generatedPassword) {
      // Printed once, on the console, and never logged.
      process.stdout.write(
        `\n  Runboard created the admin user "${firstAdmin.user.username}" with the password:\n\n` +
          `      ${firstAdmin.generatedPassword}\n\n  It is shown only this once. Sign in and change it.\n\n`,
      );
    } else if (firstAdmin) {
      log.info({ username: firstAdmin.user.username }, 'created the admin user from RUNBOARD_ADMIN_USERNAME/PASSWORD');
    }

    const yoga = createGraphQLServer(app);
    const ws = createGraphQLWebSocketServer(app, yoga);
    const rest = createRestLayer(app, yoga, DIALECTS);
    // A host changed (its key revoked or rotated, among others): its agents' keys are checked now.
    // A key or a user changed (anywhere): keys verified recently are checked again.
    const stopKeyChecks = events.listen('eventAdded', (message) => {
      if (message.objectType === 'ApiKey' || message.objectType === 'User') forgetVerifiedKeys();
    });
    cleanups.push(stopKeyChecks);
    const stopHostChecks = events.listen('hostUpdated', (message) => {
      ws.recheckHost(message.id);
      // Enabled or disabled: a connected agent gets runs, or stops getting them, at once.
      execution?.agents.refresh(message.id).catch((error: unknown) => log.warn({ err: error, hostId: message.id }, 'could not refresh an agent host'));
    });
    cleanups.push(stopHostChecks);
    const nextServer = config.console ? await startConsole(config) : undefined;
    if (nextServer) cleanups.push(() => nextServer.close());
    const handleNext = nextServer?.getRequestHandler();
    const upgradeNext = nextServer && nextUpgradeHandler(nextServer);

    const server = http.createServer((req, res) => {
      const requestId = (typeof req.headers['x-request-id'] === 'string' && /^[\w.-]{1,64}$/.test(req.headers['x-request-id'])
        ? req.headers['x-request-id']
        : randomUUID());
      const pathname = (req.url ?? '/').split('?')[0] ?? '/';
      const began = performance.now();
      res.once('finish', () => {
        // One line per request; the console's static files only at debug level; never a ping key.
        const level = pathname.startsWith('/_next/') ? 'debug' : 'info';
        log[level]({ method: req.method, path: isPingPath(pathname) ? redactPingPath(pathname) : pathname, status: res.statusCode, ms: Math.round(performance.now() - began), ip: clientIp(req, config.trustProxy), requestId }, 'request');
      });
      requestScope.run({ requestId }, () => {
        if (pathname === GRAPHQL_PATH) {
          res.setHeader('x-request-id', requestId);
          const refusal = checkBodySize(req, config.maxBodyBytes) ?? checkCrossSite(req);
          if (refusal) return sendRefusal(res, refusal);
          guardGraphiQL(app, req, res)
            .then((handled) => (handled ? undefined : yoga.handle(req, res, { req, res })))
            .catch((error: unknown) => {
              log.error({ err: error }, 'request failed');
              if (!res.headersSent) sendRefusal(res, { status: 500, message: `Something went wrong on our side; it has been logged with request id ${requestId}.` });
            });
          return;
        }
        // The ping URLs: their key is the credential (graphql/ping-http.ts); no other guard applies.
        if (isPingPath(pathname)) {
          handlePing(app, req, res, requestId).catch((error: unknown) => log.error({ err: error }, 'ping request failed'));
          return;
        }
        // The legacy REST dialects (graphql/rest/), then the console.
        rest
          .dialectOf(req)
          .then((dialect) => {
            if (dialect) return rest.handle(dialect, req, res, requestId, answerOthers);
            answerOthers();
          })
          .catch((error: unknown) => {
            log.error({ err: error }, 'request failed');
            if (!res.headersSent) sendRefusal(res, { status: 500, message: `Something went wrong on our side; it has been logged with request id ${requestId}.` });
          });
      });
      function answerOthers(): void {
        if (handleNext) {
          void handleNext(req, res).catch((error: unknown) => {
            log.error({ err: error }, 'console request failed');
            if (!res.headersSent) res.writeHead(500).end('Internal error');
          });
          return;
        }
        sendRefusal(res, { status: 404, message: `Nothing at ${pathname}. The GraphQL API is at ${GRAPHQL_PATH}.` });
      }
    });
    server.headersTimeout = 20_000;
    server.requestTimeout = 60_000;

    // The single upgrade dispatcher: ours by path, everything else to Next (its dev reload).
    server.on('upgrade', (req, socket, head) => {
      const pathname = (req.url ?? '/').split('?')[0];
      if (pathname === GRAPHQL_PATH) {
        ws.wss.handleUpgrade(req, socket, head, (client) => ws.wss.emit('connection', client, req));
      } else if (rest.upgrade(req, socket, head, randomUUID())) {
        // A dialect's socket (Otto's /api/action/async).
      } else if (upgradeNext) {
        void upgradeNext(req, socket, head);
      } else {
        socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n');
      }
    });

    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.port, config.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    // Shutdown, in order: stop accepting, close sockets (WebSockets would keep close() waiting),
    // let open requests finish for a grace period, then the console and the database.
    const serverClosed = new Promise<void>((resolve) => server.once('close', () => resolve()));
    cleanups.push(async () => {
      await Promise.race([serverClosed, new Promise((r) => setTimeout(r, SHUTDOWN_GRACE_MS).unref())]);
      server.closeAllConnections();
    });
    cleanups.push(() => ws.stop());
    cleanups.push(() => rest.close());
    cleanups.push(() => {
      server.close();
      server.closeIdleConnections();
    });

    const sweep = setInterval(() => {
      sessions.deleteExpired().catch((error: unknown) => log.warn({ err: error }, 'could not delete expired sessions'));
    }, SESSION_SWEEP_MS);
    sweep.unref();
    cleanups.push(() => clearInterval(sweep));

    const address = server.address() as AddressInfo;
    const host = !config.host || config.host === '0.0.0.0' || config.host === '::' ? 'localhost' : config.host;
    const url = `http://${host.includes(':') ? `[${host}]` : host}:${address.port}`;
    log.info({ url, database: database.mode, console: Boolean(nextServer) }, 'Runboard is ready');

    let stopping: Promise<void> | undefined;
    return {
      url,
      app,
      execution,
      stop: () => (stopping ??= runCleanups()),
    };
  } catch (error) {
    await runCleanups();
    throw error;
  }
}

/** Builds the console with `next build` when there is no production build yet. */
function ensureConsoleBuild(config: Config): void {
  if (config.dev || !config.console || fs.existsSync(path.join(ROOT, '.next', 'BUILD_ID'))) return;
  process.stdout.write('No production build of the console yet: building it once (next build)…\n');
  const result = spawnSync(process.execPath, [path.join(ROOT, 'node_modules', 'next', 'dist', 'bin', 'next'), 'build'], {
    cwd: ROOT,
    stdio: 'inherit',
    env: { ...process.env, NODE_ENV: 'production', NEXT_TELEMETRY_DISABLED: '1' },
  });
  if (result.status !== 0) {
    process.stderr.write('The console build failed; see the output above.\n');
    process.exit(1);
  }
}

async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\nSee .env.example and the README for every setting.\n`);
      process.exit(2);
    }
    throw error;
  }
  ensureConsoleBuild(config);
  let runboard: Runboard;
  try {
    runboard = await start();
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`Runboard could not start: ${message}\n`);
    process.exit(error instanceof ConfigError ? 2 : 1);
  }
  process.stdout.write(`Runboard is running at ${runboard.url}\n`);
  const shutdown = (signal: string) => {
    process.stdout.write(`${signal}: shutting down…\n`);
    const force = setTimeout(() => {
      process.stderr.write('Shutdown took longer than 10 s; exiting now.\n');
      process.exit(1);
    }, 10_000);
    force.unref();
    runboard.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  // A stray rejection is a bug to log, not a reason to drop every connection.
  process.on('unhandledRejection', (reason) => runboard.app.log.error({ err: reason }, 'unhandled promise rejection'));
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  void main();
}
