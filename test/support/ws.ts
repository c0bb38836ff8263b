/** graphql-ws clients for tests: the real protocol over a real socket to the test server. */
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';

export interface WsOptions {
  apiKey?: string;
  cookie?: string;
  origin?: string;
}

export function wsClient(httpUrl: string, options: WsOptions = {}): Client {
  const headers: Record<string, string> = {};
  if (options.cookie) headers.cookie = options.cookie;
  if (options.origin) headers.origin = options.origin;
  class HeaderSocket extends WebSocket {
    constructor(address: string, protocols?: string | string[]) {
      super(address, protocols, { headers });
    }
  }
  return createClient({
    url: `${httpUrl.replace(/^http/, 'ws')}/api/graphql`,
    webSocketImpl: HeaderSocket,
    connectionParams: options.apiKey ? { apiKey: options.apiKey } : undefined,
    retryAttempts: 0,
    lazy: true,
  });
}

export interface Outcome {
  data?: any;
  errors?: Array<{ message: string; extensions?: { code?: string } }>;
  /** The close event, when the server closed the socket instead. */
  closed?: { code: number; reason: string };
}

/** Runs one operation and returns its first result, its errors, or how the socket was closed. */
export function runOnce(client: Client, query: string, variables?: Record<string, unknown>, timeoutMs = 5000): Promise<Outcome> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      unsubscribe();
      resolve({ errors: [{ message: 'timed out' }] });
    }, timeoutMs);
    const unsubscribe = client.subscribe(
      { query, variables },
      {
        next: (result) => {
          clearTimeout(timer);
          unsubscribe();
          resolve(result as Outcome);
        },
        error: (error) => {
          clearTimeout(timer);
          if (Array.isArray(error)) resolve({ errors: error });
          else if (error && typeof error === 'object' && 'code' in error && 'reason' in error) {
            resolve({ closed: { code: (error as { code: number }).code, reason: String((error as { reason: string }).reason) } });
          } else resolve({ errors: [{ message: String(error) }] });
        },
        complete: () => {
          clearTimeout(timer);
        },
      },
    );
  });
}
