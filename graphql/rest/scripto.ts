/**
 * Scripto (seeds/scripto-api.md, COMPAT.md "Scripto"): scripts that report their last run.
 * A Scripto script is a Runboard check — id → `number`, last_exec → `lastPingAt`, status →
 * `lastSuccess`, periodicity → `periodSeconds` — and each create or update is a `checkIn`
 * (recorded as a ping in the check's history).
 *
 * Answers are pretty-printed JSON with sorted keys; errors are `{"message": "..."}`, and an
 * unknown id is 404 `{}`, as Flask-Restless answered.
 */
import { PERIODICITY_SECONDS } from '../../core/check.service';
import { ERROR_FIELDS, fail, RestFailure, type Dialect, type RestReply, type RestRequest, type Route } from './route-table';

const COLLECTION = '/api/v1/script';
const FIELDS = ['id', 'last_exec', 'name', 'server', 'status', 'periodicity'] as const;
const REQUIRED_ON_CREATE = ['name', 'server', 'status', 'last_exec'] as const;
const DEFAULT_PER_PAGE = 10;
const MAX_PER_PAGE = 100;

const CHECK_FIELDS = 'number name server lastPingAt lastSuccess periodSeconds';

interface CheckData {
  number: number;
  name: string;
  server: string;
  lastPingAt: string | null;
  lastSuccess: boolean | null;
  periodSeconds: number | null;
}

/** JSON with sorted keys and two-space indents, as Flask's jsonify writes it. */
function pretty(value: unknown): string {
  const sorted = (v: unknown): unknown =>
    Array.isArray(v)
      ? v.map(sorted)
      : v && typeof v === 'object'
        ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, sorted((v as Record<string, unknown>)[k])]))
        : v;
  return JSON.stringify(sorted(value), null, 2);
}

function json(status: number, value: unknown, headers: Record<string, string> = {}): RestReply {
  return { status, headers: { 'content-type': 'application/json', vary: 'Accept', ...headers }, body: `${pretty(value)}\n` };
}

const notFound = () => new RestFailure('not_found', '', { status: 404 });

/** `YYYY-MM-DDTHH:mm:ss` in UTC, whole seconds. */
function legacyTime(iso: string | null): string | null {
  return iso ? new Date(iso).toISOString().slice(0, 19) : null;
}

const PERIOD_WORDS = new Map<number, string>(Object.entries(PERIODICITY_SECONDS).map(([word, seconds]) => [seconds, word]));

function toScript(check: CheckData): Record<string, unknown> {
  const periodicity = check.periodSeconds === null ? undefined : PERIOD_WORDS.get(check.periodSeconds);
  return {
    id: check.number,
    last_exec: legacyTime(check.lastPingAt),
    name: check.name,
    server: check.server,
    status: check.lastSuccess ?? false,
    ...(periodicity && { periodicity }),
  };
}

/** The script id of a path: Flask's int converter answers 404 for anything else. */
function scriptNumber(req: RestRequest): number {
  const text = req.params.id ?? '';
  if (!/^\d{1,9}$/.test(text)) throw notFound();
  return Number(text);
}

const ZONED = /(Z|[+-]\d{2}:?\d{2})$/i;
const ISO_LOCAL = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?)?$/;

/** `last_exec`: an ISO date-time (UTC unless it names a zone) or one of SQL's clock words. */
function parseLastExec(value: unknown): Date {
  if (typeof value !== 'string') throw fail('validation', 'last_exec must be a string: an ISO date-time such as "2017-08-02T14:16:25", or CURRENT_TIMESTAMP, CURRENT_DATE or LOCALTIMESTAMP.');
  const word = value.trim().toUpperCase();
  const now = new Date();
  if (word === 'CURRENT_TIMESTAMP') return now;
  if (word === 'CURRENT_DATE') return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()));
  // The server's local wall-clock time, kept as if it were UTC (what the original's database did).
  if (word === 'LOCALTIMESTAMP') return new Date(now.getTime() - now.getTimezoneOffset() * 60_000);
  const text = value.trim();
  const parsed = ISO_LOCAL.test(text) ? new Date(`${text.replace(' ', 'T')}${text.length === 10 ? 'T00:00:00' : ''}Z`) : ZONED.test(text) ? new Date(text) : new Date(Number.NaN);
  if (Number.isNaN(parsed.getTime())) {
    throw fail('validation', `last_exec "${text.slice(0, 40)}" is not a date-time: use YYYY-MM-DDTHH:mm:ss (UTC), or CURRENT_TIMESTAMP, CURRENT_DATE or LOCALTIMESTAMP.`);
  }
  return parsed;
}

function parseStatus(value: unknown): boolean {
  if (value === true || value === 1) return true;
  if (value === false || value === 0) return false;
  throw fail('validation', `status must be true or false (or 1 or 0), not ${JSON.stringify(value)?.slice(0, 40)}.`);
}

function parseText(field: 'name' | 'server', value: unknown): string {
  if (typeof value !== 'string') throw fail('validation', `${field} must be a string.`);
  return value;
}

/** Reads a create or update body into `checkIn` input; refuses what Scripto would not take. */
function checkInInput(req: RestRequest, creating: boolean): Record<string, unknown> {
  if (req.body.mediaType !== 'application/json') {
    throw new RestFailure('unsupported_media_type', 'Request must have "Content-Type: application/json" header');
  }
  const body = req.body.json('Unable to decode data');
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw fail('validation', 'Unable to decode data: send a JSON object with the script\'s fields.');
  const fields = body as Record<string, unknown>;
  for (const key of Object.keys(fields)) {
    if (!(FIELDS as readonly string[]).includes(key)) throw fail('validation', `Model does not have field '${key.slice(0, 60)}'`);
  }
  if ('id' in fields && (creating || fields.id !== Number(req.params.id))) {
    throw fail('validation', creating ? 'Leave out id: the server gives a new script its id.' : 'The id in the body differs from the id in the URL.');
  }
  if (creating) {
    for (const key of REQUIRED_ON_CREATE) {
      if (fields[key] === undefined || fields[key] === null) throw fail('validation', `Missing required field '${key}'`);
    }
  }
  const input: Record<string, unknown> = {};
  if (fields.name != null) input.name = parseText('name', fields.name);
  if (fields.server != null) input.server = parseText('server', fields.server);
  if (fields.status != null) input.success = parseStatus(fields.status);
  if (fields.last_exec != null) input.at = parseLastExec(fields.last_exec).toISOString();
  if (fields.periodicity != null) {
    const seconds = PERIODICITY_SECONDS[String(fields.periodicity) as keyof typeof PERIODICITY_SECONDS];
    if (!seconds) throw fail('validation', `periodicity must be one of ${Object.keys(PERIODICITY_SECONDS).join(', ')}.`);
    input.periodSeconds = seconds;
  }
  return input;
}

const CHECK_IN = `mutation ScriptoCheckIn($input: CheckInInput!) {
  checkIn(input: $input) { ${ERROR_FIELDS} ... on CheckInSuccess { data { ${CHECK_FIELDS} } } }
}`;

function pageNumber(req: RestRequest, name: string, fallback: number, max: number): number {
  const text = req.query.get(name);
  if (text === null || text === '') return fallback;
  if (!/^\d{1,6}$/.test(text) || Number(text) < 1) throw fail('validation', `${name} must be a whole number from 1${max < Infinity ? ` to ${max}` : ''}.`);
  return Math.min(Number(text), max);
}

const routes: Route[] = [
  {
    method: 'GET',
    path: COLLECTION,
    access: 'viewer',
    operation: `query ScriptoList($first: Int!, $skip: Int!) {
      checks(orderBy: NUMBER, first: $first, skip: $skip) { totalCount edges { node { ${CHECK_FIELDS} } } }
    }`,
    variables: (req) => {
      const perPage = pageNumber(req, 'results_per_page', DEFAULT_PER_PAGE, MAX_PER_PAGE);
      const page = pageNumber(req, 'page', 1, Infinity);
      if ((page - 1) * perPage > 100_000) throw fail('validation', 'page is past the end of the list.');
      return { first: perPage, skip: (page - 1) * perPage };
    },
    reply: (data: { checks: { totalCount: number; edges: Array<{ node: CheckData }> } }, req) => {
      const perPage = pageNumber(req, 'results_per_page', DEFAULT_PER_PAGE, MAX_PER_PAGE);
      const page = pageNumber(req, 'page', 1, Infinity);
      const total = data.checks.totalCount;
      const totalPages = Math.max(1, Math.ceil(total / perPage));
      const link = (p: number, rel: string) => `<${req.baseUrl}${COLLECTION}?page=${p}&results_per_page=${perPage}>; rel="${rel}"`;
      const links = [...(page < totalPages ? [link(page + 1, 'next')] : []), link(totalPages, 'last')];
      return json(
        200,
        { num_results: total, objects: data.checks.edges.map((edge) => toScript(edge.node)), page, total_pages: totalPages },
        { link: links.join(', ') },
      );
    },
  },
  {
    method: 'POST',
    path: COLLECTION,
    access: 'checkin',
    operation: CHECK_IN,
    variables: (req) => ({ input: checkInInput(req, true) }),
    reply: (data: { checkIn: { data: CheckData } }, req) => {
      const script = toScript(data.checkIn.data);
      return json(201, script, { location: `${req.baseUrl}${COLLECTION}/${script.id}` });
    },
  },
  {
    method: 'GET',
    path: `${COLLECTION}/:id`,
    access: 'viewer',
    operation: `query ScriptoScript($number: Int!) { check(number: $number) { ${CHECK_FIELDS} } }`,
    variables: (req) => ({ number: scriptNumber(req) }),
    reply: (data: { check: CheckData | null }) => {
      if (!data.check) throw notFound();
      return json(200, toScript(data.check));
    },
  },
  ...(['PUT', 'PATCH'] as const).map(
    (method): Route => ({
      method,
      path: `${COLLECTION}/:id`,
      access: 'checkin',
      operation: CHECK_IN,
      variables: (req) => ({ input: { ...checkInInput(req, false), number: scriptNumber(req) } }),
      reply: (data: { checkIn: { data: CheckData } }) => json(200, toScript(data.checkIn.data)),
    }),
  ),
  {
    method: 'DELETE',
    path: `${COLLECTION}/:id`,
    access: 'admin',
    operation: `mutation ScriptoDelete($id: ID!) { deleteCheck(id: $id) { ${ERROR_FIELDS} } }`,
    variables: async (req, tools) => {
      const found = await tools.graphql<{ check: { id: string } | null }>(`query ScriptoFind($number: Int!) { check(number: $number) { id } }`, {
        number: scriptNumber(req),
      });
      if (!found.check) throw notFound();
      return { id: found.check.id };
    },
    reply: () => ({ status: 204, headers: { 'content-type': 'application/json', vary: 'Accept' } }),
  },
];

export const scripto: Dialect = {
  name: 'scripto',
  owns: (pathname) => pathname === COLLECTION || pathname.startsWith(`${COLLECTION}/`),
  routes,
  error(failure) {
    if (failure.kind === 'not_found') return json(404, {});
    const headers: Record<string, string> = failure.kind === 'unauthenticated' ? { 'www-authenticate': 'Basic realm="scripto", charset="UTF-8"' } : {};
    return json(failure.status, { message: failure.message }, headers);
  },
};
