/**
 * What every HTTP request to our own routes goes through before GraphQL: the client's address,
 * https detection, the body size limit and cross-site request refusal.
 */
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';

export function clientIp(req: IncomingMessage, trustProxy: boolean): string {
  if (trustProxy) {
    const forwarded = req.headers['x-forwarded-for'];
    const first = (Array.isArray(forwarded) ? forwarded[0] : forwarded)?.split(',')[0]?.trim();
    if (first) return first;
  }
  return req.socket.remoteAddress ?? 'unknown';
}

export function isSecure(req: IncomingMessage, trustProxy: boolean): boolean {
  if ((req.socket as TLSSocket).encrypted) return true;
  return trustProxy && String(req.headers['x-forwarded-proto'] ?? '').split(',')[0]?.trim() === 'https';
}

/** A refusal to send before the request reaches GraphQL: status and a message for people. */
export interface Refusal {
  status: number;
  message: string;
}

/** Refuses bodies over the limit, and bodies of unknown length (chunked) which we would have to buffer blind. */
export function checkBodySize(req: IncomingMessage, maxBytes: number): Refusal | undefined {
  if (req.method === 'GET' || req.method === 'HEAD' || req.method === 'OPTIONS') return undefined;
  const length = req.headers['content-length'];
  if (length === undefined) {
    if (req.headers['transfer-encoding']) {
      return { status: 411, message: 'Send a Content-Length header; chunked request bodies are not accepted.' };
    }
    return undefined;
  }
  if (!/^\d+$/.test(length) || Number(length) > maxBytes) {
    return { status: 413, message: `The request body is larger than the limit of ${maxBytes} bytes (RUNBOARD_MAX_BODY_BYTES).` };
  }
  return undefined;
}

const SIMPLE_CONTENT_TYPES = ['application/x-www-form-urlencoded', 'multipart/form-data', 'text/plain'];

/**
 * Cross-site request forgery defence for requests that a browser could send with our cookie
 * (those without an Authorization header): the Origin, when sent, must be this server, and a
 * POST must use a content type that a cross-site form cannot produce.
 */
export function checkCrossSite(req: IncomingMessage): Refusal | undefined {
  if (req.headers.authorization) return undefined;
  const origin = req.headers.origin;
  if (origin && origin !== 'null') {
    let originHost: string | undefined;
    try {
      originHost = new URL(origin).host;
    } catch {
      originHost = undefined;
    }
    if (originHost !== req.headers.host) {
      return { status: 403, message: `Cross-site request refused: origin ${origin} is not this server.` };
    }
  } else if (origin === 'null') {
    return { status: 403, message: 'Cross-site request refused: the request has an opaque origin.' };
  }
  if (req.method === 'POST') {
    const type = String(req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (!type || SIMPLE_CONTENT_TYPES.includes(type)) {
      return { status: 415, message: 'Send GraphQL requests with "Content-Type: application/json".' };
    }
  }
  return undefined;
}
