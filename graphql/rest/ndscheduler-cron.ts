/**
 * ndscheduler's cron fields (APScheduler's CronTrigger: month, day, week, day_of_week, hour,
 * minute; seconds 0; UTC) to and from a Runboard cron (minute hour day month weekday).
 *
 * - Fields left out follow APScheduler: those more significant than the least significant field
 *   given are `*`, the less significant ones their minimum (`{"hour":"*\/1"}` → minute 0);
 *   week and day_of_week default to `*` either way.
 * - Weekday numbers differ: APScheduler counts 0 = Monday, cron 0 = Sunday. Numbers are turned
 *   into names both ways (`0-4` → `mon-fri`), so a job reads back with names.
 * - Cron has no week-of-year: `week` may only be `*`.
 */
import { RestFailure } from './route-table';

/** Most significant first, as APScheduler orders them (year and second are not ndscheduler's). */
export const CRON_FIELDS = ['month', 'day', 'week', 'day_of_week', 'hour', 'minute'] as const;
export type CronField = (typeof CRON_FIELDS)[number];
export type CronFields = Record<CronField, string>;

/** The fields of which ndscheduler wants at least one. */
export const REQUIRED_ONE_OF = ['month', 'day', 'hour', 'minute', 'day_of_week'] as const;

const MINIMUM: CronFields = { month: '1', day: '1', week: '*', day_of_week: '*', hour: '0', minute: '0' };
const APS_DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];
const CRON_DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];
const FIELD_TEXT = /^[A-Za-z0-9*,/-]{1,100}$/;

/** Weekday numbers (not step sizes after `/`) written as names; cron's 7 is Sunday like its 0. */
function namedDays(field: string, names: string[], what: string): string {
  return field.replace(/(^|[^/\d])(\d+)/g, (_all, before: string, digits: string) => {
    const name = names === CRON_DAYS && digits === '7' ? 'sun' : names[Number(digits)];
    if (name === undefined) throw new RestFailure('validation', `day_of_week: ${digits} is not a weekday (${what}).`);
    return before + name;
  });
}

/** Whether the request body gives any cron field. */
export function givesCronField(body: Record<string, unknown>): boolean {
  return CRON_FIELDS.some((field) => body[field] !== undefined);
}

/** The Runboard cron (5 fields, UTC) for the cron fields of a request body. */
export function cronOf(body: Record<string, unknown>): string {
  const given: Partial<CronFields> = {};
  for (const field of CRON_FIELDS) {
    const value = body[field];
    if (value === undefined) continue;
    if (typeof value !== 'string' && !(typeof value === 'number' && Number.isInteger(value))) {
      throw new RestFailure('validation', `${field} must be a string such as "*/5" (got ${JSON.stringify(value)?.slice(0, 40)}).`);
    }
    const text = String(value).trim();
    if (!FIELD_TEXT.test(text)) {
      throw new RestFailure('validation', `${field}: "${text.slice(0, 40)}" is not a cron field: use digits, names, * , - and / (e.g. "*/5", "1-5", "mon-fri").`);
    }
    given[field] = text.toLowerCase();
  }
  if (given.week !== undefined && given.week !== '*') {
    throw new RestFailure('validation', `week: Runboard's cron has no week-of-the-year; leave week out or give "*" (got "${given.week}").`);
  }
  const last = Math.max(...CRON_FIELDS.map((field, index) => (given[field] !== undefined ? index : -1)));
  const fields = Object.fromEntries(
    CRON_FIELDS.map((field, index) => [field, given[field] ?? (index > last ? MINIMUM[field] : '*')]),
  ) as CronFields;
  const weekday = fields.day_of_week === '*' ? '*' : namedDays(fields.day_of_week, APS_DAYS, '0 is Monday, 6 is Sunday');
  return [fields.minute, fields.hour, fields.day, fields.month, weekday].join(' ');
}

const ALIASES: Record<string, string> = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@hourly': '0 * * * *',
};

/** The ndscheduler fields of a Runboard cron (a 6-field cron's seconds are dropped). */
export function fieldsOf(cron: string | null): CronFields {
  const expression = ALIASES[(cron ?? '').trim().toLowerCase()] ?? cron ?? '* * * * *';
  const parts = expression.trim().split(/\s+/);
  const [minute = '*', hour = '*', day = '*', month = '*', weekday = '*'] = parts.length === 6 ? parts.slice(1) : parts;
  let dayOfWeek = weekday;
  try {
    dayOfWeek = weekday === '*' ? '*' : namedDays(weekday.toLowerCase(), CRON_DAYS, '0 and 7 are Sunday');
  } catch {
    // Shown as stored.
  }
  return { month, day, week: '*', day_of_week: dayOfWeek, hour, minute };
}
