/**
 * Structured logs (pino, JSON on stdout). Everything logged while handling a request carries
 * its request id, taken from an AsyncLocalStorage scope opened by the HTTP server.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { pino, type Logger } from 'pino';

export type { Logger };

export const requestScope = new AsyncLocalStorage<{ requestId: string }>();

export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { service: 'runboard' },
    mixin: () => requestScope.getStore() ?? {},
    redact: { paths: ['password', '*.password', 'token', '*.token', 'authorization', '*.authorization'], censor: '[redacted]' },
  });
}
