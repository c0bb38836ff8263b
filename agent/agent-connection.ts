/**
 * The agent's one connection to the server: graphql-ws to `<server>/api/graphql`, dialled out
 * (no inbound port), authenticated by the host key in `connectionParams.hostKey`.
 *
 * It reconnects forever with jittered exponential backoff (0.5 s doubling to 30 s, each wait
 * 50–150 % of that), except when the server refuses the key (close code 4401): then `onRefused`
 * says why and it stops, since trying the same key again cannot work. graphql-ws's own retrying is
 * off: it re-sends operations after a reconnection by itself, and the agent must say hello before
 * anything else on every connection, so every connection is a fresh client here.
 */
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';

export interface ConnectionEvents {
  /** A connection is up (acknowledged by the server). */
  onConnected: () => void;
  /** It went down; a new one is being dialled. */
  onDisconnected: (reason: string) => void;
  /** The server refused the key: the agent cannot go on. */
  onRefused: (reason: string) => void;
  /** Dialling failed; the next attempt comes after `waitMs`. */
  onRetrying?: (reason: string, waitMs: number) => void;
}

/** An operation failed because the connection went away (try again once reconnected). */
export class DisconnectedError extends Error {}

/** The server answered with an error (it understood the request and refused it). */
export class ServerError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
  ) {
    super(message);
  }
}

const BACKOFF_FIRST_MS = 500;
const BACKOFF_MAX_MS = 30_000;
/** A request unanswered this long means a dead connection (no FIN ever came): drop it. */
const REQUEST_TIMEOUT_MS = 30_000;
/** A connection not acknowledged this long is given up and dialled again. */
const CONNECT_TIMEOUT_MS = 15_000;
const WS_UNAUTHORIZED = 4401;

export function backoffMs(attempt: number, random = Math.random): number {
  const base = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** Math.min(attempt, 16));
  return Math.round(base * (0.5 + random()));
}

interface Pending {
  reject: (error: Error) => void;
  cancel: () => void;
}

type CloseLike = { code?: number; reason?: string };

export class AgentConnection {
  readonly #url: string;
  readonly #hostKey: string;
  readonly #events: ConnectionEvents;
  #client: Client | undefined;
  #connected = false;
  #attempt = 0;
  #stopped = false;
  #retryTimer: NodeJS.Timeout | undefined;
  #connectTimer: NodeJS.Timeout | undefined;
  readonly #pending = new Set<Pending>();

  constructor(serverUrl: string, hostKey: string, events: ConnectionEvents) {
    this.#url = `${serverUrl.replace(/\/+$/, '').replace(/^http/, 'ws')}/api/graphql`;
    this.#hostKey = hostKey;
    this.#events = events;
  }

  get connected(): boolean {
    return this.#connected;
  }

  start(): void {
    this.#open();
  }

  #open(): void {
    if (this.#stopped) return;
    const client: Client = createClient({
      url: this.#url,
      webSocketImpl: WebSocket,
      connectionParams: { hostKey: this.#hostKey },
      lazy: false,
      retryAttempts: 0,
      keepAlive: 10_000,
      // Failures arrive through `closed` / `error` below; this would only print them again.
      onNonLazyError: () => undefined,
      on: {
        connected: () => {
          if (this.#client !== client) return;
          clearTimeout(this.#connectTimer);
          this.#connected = true;
          this.#events.onConnected();
        },
        closed: (event) => this.#closed(client, event as CloseLike),
        error: (error) => this.#closed(client, { reason: (error as { message?: string } | undefined)?.message || 'connection error' }),
      },
    });
    this.#client = client;
    this.#connectTimer = setTimeout(() => this.#closed(client, { reason: 'no answer from the server' }), CONNECT_TIMEOUT_MS);
  }

  #closed(client: Client, event: CloseLike): void {
    if (this.#client !== client) return;
    this.#client = undefined;
    clearTimeout(this.#connectTimer);
    const wasConnected = this.#connected;
    this.#connected = false;
    for (const pending of [...this.#pending]) pending.reject(new DisconnectedError('the connection to the server dropped'));
    dispose(client);
    const reason = event.reason || (event.code ? `closed with code ${event.code}` : 'closed');
    if (event.code === WS_UNAUTHORIZED) {
      this.#stopped = true;
      this.#events.onRefused(reason);
      return;
    }
    if (wasConnected) this.#events.onDisconnected(reason);
    if (this.#stopped) return;
    const wait = backoffMs(this.#attempt++);
    if (!wasConnected) this.#events.onRetrying?.(reason, wait);
    this.#retryTimer = setTimeout(() => this.#open(), wait);
  }

  /**
   * The connection is good (the server took the agent's hello): the backoff starts over. Not
   * on the socket opening alone, or a server that refuses the hello would be dialled in a loop.
   */
  healthy(): void {
    this.#attempt = 0;
  }

  /** Drops the current connection (it seems dead) and dials again. */
  reconnect(): void {
    const client = this.#client;
    if (!client) return;
    client.terminate();
    this.#closed(client, { reason: 'the server stopped answering' });
  }

  /** Runs one query or mutation; rejects with DisconnectedError or ServerError. */
  request<T>(query: string, variables: Record<string, unknown> = {}): Promise<T> {
    const client = this.#client;
    if (!client || !this.#connected) return Promise.reject(new DisconnectedError('not connected to the server'));
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      const pending: Pending = {
        reject: (error) => finish(() => reject(error)),
        cancel: () => undefined,
      };
      const timer = setTimeout(() => {
        pending.cancel();
        pending.reject(new DisconnectedError('the server did not answer in time'));
        this.reconnect();
      }, REQUEST_TIMEOUT_MS);
      // Never unsubscribed after its answer: the server completes the operation itself, and
      // graphql-ws counts an unsubscribe racing that completion twice (closing the socket).
      const finish = (then: () => void) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.#pending.delete(pending);
        then();
      };
      this.#pending.add(pending);
      pending.cancel = client.subscribe<T>(
        { query, variables },
        {
          next: (result) => {
            const error = result.errors?.[0];
            if (error) finish(() => reject(new ServerError(error.message, (error.extensions as { code?: string } | undefined)?.code)));
            else finish(() => resolve(result.data as T));
          },
          error: (error) => finish(() => reject(toError(error))),
          complete: () => finish(() => reject(new DisconnectedError('the server ended the request without an answer'))),
        },
      );
    });
  }

  /** Follows a subscription on the current connection; ends with it (subscribe again after reconnecting). */
  subscribe<T>(query: string, onNext: (data: T) => void, onEnd: (error?: Error) => void): () => void {
    const client = this.#client;
    if (!client) {
      onEnd(new DisconnectedError('not connected to the server'));
      return () => undefined;
    }
    return client.subscribe<T>(
      { query },
      {
        next: (result) => {
          const error = result.errors?.[0];
          if (error) onEnd(new ServerError(error.message, (error.extensions as { code?: string } | undefined)?.code));
          else onNext(result.data as T);
        },
        error: (error) => onEnd(toError(error)),
        complete: () => onEnd(),
      },
    );
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#retryTimer);
    clearTimeout(this.#connectTimer);
    const client = this.#client;
    this.#client = undefined;
    this.#connected = false;
    for (const pending of [...this.#pending]) pending.reject(new DisconnectedError('the agent is stopping'));
    if (client) dispose(client);
  }
}

/** Disposing a client whose socket already failed may reject: that is expected here. */
function dispose(client: Client): void {
  void Promise.resolve()
    .then(() => client.dispose())
    .catch(() => undefined);
}

function toError(error: unknown): Error {
  if (Array.isArray(error)) {
    const first = error[0] as { message?: string; extensions?: { code?: string } } | undefined;
    return new ServerError(first?.message ?? 'the server refused the request', first?.extensions?.code);
  }
  if (error && typeof error === 'object' && 'code' in error && 'reason' in error) return new DisconnectedError(`the connection closed: ${String((error as CloseLike).reason) || (error as CloseLike).code}`);
  return error instanceof Error ? new DisconnectedError(error.message) : new DisconnectedError(String(error));
}
