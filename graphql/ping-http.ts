/**
 * The ping URLs, healthchecks.io's way: a script (cron, curl, wget) reports with a plain GET or
 * POST, and the check's unguessable ping key in the path is the only credential — no session, no
 * API key, no cross-site check. They are the one exception to "every route needs credentials",
 * kept to exactly these paths:
 *
 *   /ping/<key>          success            /ping/<key>/fail   a failed run
 *   /ping/<key>/start    a run started      /ping/<key>/log    a message only
 *   /ping/<key>/<0-255>  a run ended with that exit code (0 is success)
 *
 * `?rid=<run id>` pairs a start with its finish (the run key). A POST body is kept like any
 * ping's (core/check.service.ts `capBody`): never refused, read up to what is kept (plus a few
 * bytes for a character cut at the limit), the rest drained unread. The ping goes through
 * `recordPing`, as the GraphQL mutation's does, and is published the same way.
 *
 * Answers are plain text for people reading curl's output: `OK`; `not found` (no check has
 * that key); 400 with what to change; 405 for other methods.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { actorOf } from '../core/audit';
import { MAX_PING_BODY_BYTES, recordPing } from '../core/check.service';
import { NotFoundError, ValidationError } from '../core/errors';
import { isUuid } from '../core/ids';
import type { PingKind } from '../db/schema';
import { appChangeDeps } from './change';
import { publishCheck } from './check';
import type { App } from './context';
import { clientIp } from './http';

const PREFIX = '/ping/';
const USAGE = 'A ping URL is /ping/<key>, optionally followed by /start, /fail, /log or /<exit code 0-255>; the key is the UUID of the check\'s ping URL.';
/** A UTF-8 character cut at the limit needs up to 3 more bytes to decode, so capBody can back off it. */
const BODY_SLACK_BYTES = 4;
const MAX_ECHO = 60;

export function isPingPath(pathname: string): boolean {
  return pathname === '/ping' || pathname.startsWith(PREFIX);
}

/** The path with its key hidden, for logs: the key is a credential. */
export function redactPingPath(pathname: string): string {
  return pathname.replace(/^\/ping\/[^/]+/, '/ping/<key>');
}

export type PingRequest = { pingKey: string; kind: PingKind; exitCode: number | null };

const echo = (text: string) => JSON.stringify(text.length > MAX_ECHO ? `${text.slice(0, MAX_ECHO)}…` : text);

/** Reads a ping path; a string is the problem with it, for the person who wrote the URL. */
export function parsePingPath(pathname: string): PingRequest | string {
  const rest = pathname.startsWith(PREFIX) ? pathname.slice(PREFIX.length).replace(/\/$/, '') : '';
  const [key = '', action, ...extra] = rest.split('/');
  if (!key) return `No ping key in the URL. ${USAGE}`;
  if (!isUuid(key)) return `${echo(key)} is not a ping key. ${USAGE}`;
  if (extra.length > 0) return `Too many parts after the key (${echo(`${action}/${extra.join('/')}`)}). ${USAGE}`;
  const pingKey = key.toLowerCase();
  if (action === undefined) return { pingKey, kind: 'success', exitCode: null };
  const word = action.toLowerCase();
  if (word === 'start' || word === 'fail' || word === 'log') return { pingKey, kind: word, exitCode: null };
  if (/^\d+$/.test(action)) {
    const exitCode = Number(action);
    if (exitCode > 255) return `Exit code ${echo(action)} is out of range: send the script's exit status, 0-255 (0 is success).`;
    return { pingKey, kind: 'exit', exitCode };
  }
  return `${echo(action)} is not a kind of ping: after the key use start, fail, log or an exit code 0-255 (nothing for success).`;
}

/**
 * The body's first `keep` bytes as text; the rest is read and dropped as it arrives, so memory
 * stays bounded however much is sent. Rejects when the client goes away before the end.
 */
export function readCappedBody(req: IncomingMessage, keep: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let kept = 0;
    req.on('data', (chunk: Buffer) => {
      if (kept >= keep) return;
      const part = chunk.length > keep - kept ? chunk.subarray(0, keep - kept) : chunk;
      chunks.push(part);
      kept += part.length;
    });
    req.once('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.once('error', reject);
    req.once('aborted', () => reject(new Error('the client went away while sending the ping body')));
  });
}

function reply(res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store', 'x-content-type-options': 'nosniff', ...headers });
  res.end(text);
}

/** A refused ping's message, naming `?rid` where the core names its run key. */
function problemText(error: ValidationError): string {
  if (error.fields.length === 0) return error.message;
  return error.fields.map((field) => (field.path.at(-1) === 'runKey' ? `?rid: ${field.message.replaceAll('runKey', 'rid')}` : field.message)).join(' ');
}

/** Answers one request to a ping path. Never throws: every outcome is an answer. */
export async function handlePing(app: App, req: IncomingMessage, res: ServerResponse, requestId: string): Promise<void> {
  res.setHeader('x-request-id', requestId);
  if (req.method !== 'GET' && req.method !== 'POST') {
    return reply(res, 405, `Send pings with GET or POST, not ${req.method}.`, { allow: 'GET, POST' });
  }
  const url = new URL(req.url ?? '/', 'http://ping.invalid');
  const parsed = parsePingPath(url.pathname);
  if (typeof parsed === 'string') return reply(res, 400, parsed);
  let body: string | null = null;
  if (req.method === 'POST') {
    try {
      body = (await readCappedBody(req, MAX_PING_BODY_BYTES + BODY_SLACK_BYTES)) || null;
    } catch {
      // Nobody is left to answer; a ping cut off mid-body is not recorded.
      res.destroy();
      return;
    }
  }
  const ip = clientIp(req, app.config.trustProxy);
  try {
    const { check } = await recordPing(appChangeDeps(app, actorOf(null, ip)), {
      ...parsed,
      body,
      runKey: url.searchParams.get('rid') || null,
      source: 'http',
      remoteAddr: ip,
      userAgent: req.headers['user-agent'] ?? null,
    });
    publishCheck({ app }, check.id, 'PINGED');
    reply(res, 200, 'OK');
  } catch (error) {
    if (error instanceof NotFoundError) return reply(res, 404, 'not found');
    if (error instanceof ValidationError) return reply(res, 400, problemText(error));
    app.log.error({ err: error, requestId }, 'a ping could not be recorded');
    if (!res.headersSent) reply(res, 500, `Something went wrong on our side; it has been logged with request id ${requestId}.`);
  }
}
