/**
 * ndscheduler's cron fields (APScheduler's CronTrigger: month, day, week, day_of_week, hour,
 * minute; seconds 0; UTC) to and from a Runboard cron (minute hour day month weekday).
 *
 * - Fields left out follow APScheduler: those more significant than the least significant field
 *   given are `*`, the less significant ones their minimum (`{"hour":"*\/1"}` → minute 0);
 *   week and day_of_week default to `*` either way.
 * - Weekdays differ: APScheduler counts 0 = Monday … 6 = Sunday, cron 0 (or 7) = Sunday. They are
 *   stored as cron's 1 = Monday … 7 = Sunday and read back as names (`0-4` → `1-5` → `mon-fri`).
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
const CRON_DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];
const FIELD_TEXT = /^[A-Za-z0-9*,/-]{1,100}$/;

function weekdayProblem(text: string): RestFailure {
  return new RestFailure('validation', `day_of_week: "${text.slice(0, 40)}" is not a weekday: use mon–sun or 0–6 (0 is Monday), e.g. "mon-fri" or "0-4".`);
}

/**
 * APScheduler's day_of_week as cron's, Monday 1 to Sunday 7 (so a range may end on Sunday:
 * "sat-sun" → "6-7"); "*" with a step counts from Monday as APScheduler does ("*\/2" → "1-7/2").
 */
function cronWeekday(field: string): string {
  const day = (token: string) => {
    const named = APS_DAYS.indexOf(token);
    if (named >= 0) return String(named + 1);
    if (/^[0-6]$/.test(token)) return String(Number(token) + 1);
    throw weekdayProblem(token);
  };
  return field
    .split(',')
    .map((part) => {
      const [base = '', step, ...extra] = part.split('/');
      if (extra.length > 0 || (step !== undefined && !/^\d+$/.test(step))) throw weekdayProblem(part);
      const bounds = base.split('-');
      if (bounds.length > 2) throw weekdayProblem(part);
      const range = base === '*' ? (step === undefined ? '*' : '1-7') : bounds.map(day).join('-');
      return step === undefined ? range : `${range}/${step}`;
    })
    .join(',');
}

/** Cron's weekday numbers (not step sizes after "/") as names, which read the same in both. */
function namedWeekdays(field: string): string {
  return field.replace(/(^|[^/\d])(\d+)/g, (all, before: string, digits: string) => {
    const name = CRON_DAYS[Number(digits)];
    return name === undefined ? all : before + name;
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
  const weekday = fields.day_of_week === '*' ? '*' : cronWeekday(fields.day_of_week);
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
  return { month, day, week: '*', day_of_week: weekday === '*' ? '*' : namedWeekdays(weekday.toLowerCase()), hour, minute };
}
