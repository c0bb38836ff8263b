/**
 * The context of one GraphQL operation: the same shape for HTTP, graphql-ws and the in-process
 * REST dialects. `App` holds what lives as long as the server; the rest is per request.
 */
import type { Logger } from 'pino';
import type { Viewer } from '../core/auth.service';
import type { Config } from '../core/config';
import type { LoginThrottle } from '../core/login-throttle';
import type { SecretBox } from '../core/secrets';
import type { SessionStore } from '../core/session';
import type { Db } from '../db/database';
import type { AgentHub } from '../jobs/agent-link';
import type { PubSub } from './pubsub';

export interface App {
  config: Config;
  db: Db;
  log: Logger;
  sessions: SessionStore;
  throttle: LoginThrottle;
  pubsub: PubSub;
  /** Key for secrets at rest (RUNBOARD_SECRET, or the one generated in the data dir). */
  secret: string;
  /** Seals secrets with that key (opening them is for the executor only). */
  secrets: SecretBox;
  /** This instance's execution, when it executes runs: mutations that queue runs wake it. */
  execution?: { wake(): void; deliverNow?(deliveryId: string): Promise<void> };
  /** The agents connected to this instance (when it executes runs): the agent operations use it. */
  agents?: AgentHub;
}

/** A caller that authenticated with a host's agent key: it may use the agent operations only. */
export interface AgentCaller {
  hostId: string;
}

export interface Context {
  app: App;
  requestId: string;
  log: Logger;
  viewer: Viewer | null;
  /** Set (and `viewer` null) when the caller is an agent, by its host key (graphql-ws only). */
  agent?: AgentCaller;
  /** Client address (from X-Forwarded-For only with RUNBOARD_TRUST_PROXY). */
  ip: string;
  userAgent: string | null;
  /** Whether the client reached us over https (cookies get Secure). */
  secure: boolean;
  transport: 'http' | 'ws';
  /**
   * Set by the REST layer for a caller without credentials from a network the admin listed for
   * anonymous check-ins: the check-in writes (scope `checkin`) let it in, nothing else does.
   */
  anonymousCheckin?: boolean;
  /** The legacy REST dialect the operation runs for (recorded as a ping's source, for one). */
  restDialect?: string;
  /** Queues a Set-Cookie header on the HTTP response; unavailable over WebSocket. */
  setCookie(value: string): void;
}

/** A context whose viewer is known: what fields behind an auth scope receive. */
export type SignedInContext = Context & { viewer: Viewer };
