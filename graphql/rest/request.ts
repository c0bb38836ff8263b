/**
 * Reading a legacy request's body: bounded by a byte limit, decoded on demand as JSON, a
 * url-encoded form or a multipart form. Every failure is a RestFailure a dialect can word.
 */
import type { IncomingMessage } from 'node:http';
import { RestFailure } from './route-table';

/** A request body, read whole (within the route's limit). */
export class RestBody {
  constructor(
    readonly bytes: Buffer,
    /** The media type, lower case, without parameters ('' when none was sent). */
    readonly mediaType: string,
    private readonly contentTypeHeader: string,
  ) {}

  get empty(): boolean {
    return this.bytes.length === 0;
  }

  text(): string {
    return this.bytes.toString('utf8');
  }

  /** The body as JSON; throws a validation failure with `message` when it does not parse. */
  json(message = 'The request body is not valid JSON.'): unknown {
    try {
      return JSON.parse(this.text());
    } catch {
      throw new RestFailure('validation', message);
    }
  }

  /** Whether the body is a form (url-encoded or multipart). */
  get isForm(): boolean {
    return this.mediaType === 'application/x-www-form-urlencoded' || this.mediaType === 'multipart/form-data';
  }

  /**
   * The body as a form (url-encoded or multipart, parsed by the platform's own parser). Empty
   * when the body is not a form.
   */
  async form(): Promise<FormData> {
    if (!this.isForm || this.empty) return new FormData();
    try {
      return await new Request('http://body.invalid/', {
        method: 'POST',
        headers: { 'content-type': this.contentTypeHeader },
        body: new Uint8Array(this.bytes),
      }).formData();
    } catch {
      throw new RestFailure('validation', `The request body is not a valid ${this.mediaType} form.`);
    }
  }
}

export function mediaTypeOf(header: string | undefined): string {
  return String(header ?? '').split(';')[0]!.trim().toLowerCase();
}

/**
 * Reads a request body up to `maxBytes`. A Content-Length over the limit is refused before
 * reading; a body that grows past it is refused as soon as it does (the rest is not buffered).
 */
export function readBody(req: IncomingMessage, maxBytes: number): Promise<RestBody> {
  const header = String(req.headers['content-type'] ?? '');
  const mediaType = mediaTypeOf(header);
  const tooLarge = () => new RestFailure('too_large', `The request body is larger than the limit of ${maxBytes} bytes.`);
  const length = req.headers['content-length'];
  if (length !== undefined && (!/^\d+$/.test(length) || Number(length) > maxBytes)) {
    req.resume();
    return Promise.reject(tooLarge());
  }
  if (req.method === 'GET' || req.method === 'HEAD') {
    req.resume();
    return Promise.resolve(new RestBody(Buffer.alloc(0), mediaType, header));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let refused = false;
    req.on('data', (chunk: Buffer) => {
      if (refused) return;
      size += chunk.length;
      if (size > maxBytes) {
        refused = true;
        chunks.length = 0;
        reject(tooLarge());
        return;
      }
      chunks.push(chunk);
    });
    req.once('end', () => {
      if (!refused) resolve(new RestBody(Buffer.concat(chunks), mediaType, header));
    });
    req.once('error', reject);
  });
}
