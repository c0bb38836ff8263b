/**
 * Cron math, shared by schedules, checks and the console's preview: 5 fields (minute hour day
 * month weekday) or 6 (with seconds first), in an IANA timezone. cron-parser is the library
 * Agenda itself uses, so a preview shows exactly the moments the scheduler will fire.
 */
import { CronExpressionParser } from 'cron-parser';
import { ValidationError } from './errors';

export const MAX_PREVIEW = 100;

// Zone names only: newer runtimes also accept offsets such as "+02:00", which have no DST rules
// and would make the same schedule mean different things on different Node versions.
const ZONE_NAME = /^[A-Za-z][A-Za-z0-9_+\-/]*$/;

/** Whether `timezone` is an IANA zone name this runtime knows (e.g. "Europe/Paris", "UTC"). */
export function isTimezone(timezone: string): boolean {
  return canonicalTimezone(timezone) !== undefined;
}

/**
 * The runtime's spelling of an IANA zone name ("europe/paris" → "Europe/Paris", "Etc/UTC" →
 * "UTC"), or undefined when it is not one. Store this, so equal zones compare equal.
 */
export function canonicalTimezone(timezone: string): string | undefined {
  if (!timezone || timezone.length > 64 || !ZONE_NAME.test(timezone)) return undefined;
  try {
    return new Intl.DateTimeFormat('en-US', { timeZone: timezone }).resolvedOptions().timeZone;
  } catch {
    return undefined;
  }
}

function problem(field: string, message: string): ValidationError {
  return new ValidationError(message, [{ path: field.split('.'), message }]);
}

/** Throws a ValidationError (for `field`) unless `timezone` is a known IANA zone. */
export function checkTimezone(timezone: string, field = 'timezone'): void {
  if (!isTimezone(timezone)) {
    throw problem(field, `"${timezone.slice(0, 64)}" is not a timezone: use an IANA name such as "UTC", "Europe/Berlin" or "America/New_York".`);
  }
}

const FIELD_NAMES = ['minute', 'hour', 'day of month', 'month', 'day of week'];

/** Why cron-parser refused an expression, as one sentence without its trailing period. */
function reasonOf(error: unknown): string {
  const reason = (error instanceof Error ? error.message : String(error)).replace(/[.\s]+$/, '');
  if (reason.startsWith('Invalid explicit day of month')) return 'that day of the month never falls in the months given, so it would never fire';
  return reason;
}

/**
 * Names the first field that is wrong on its own (every other field replaced by `*`), so the
 * message points at it: `minute "61": Constraint error, got value 61 expected range 0-59`.
 */
function fieldProblem(fields: string[]): string | undefined {
  const names = fields.length === 6 ? ['second', ...FIELD_NAMES] : FIELD_NAMES;
  for (let i = 0; i < fields.length; i++) {
    const alone = fields.map((value, j) => (j === i ? value : '*')).join(' ');
    try {
      CronExpressionParser.parse(alone, { tz: 'UTC', strict: false });
    } catch (error) {
      return `${names[i]} "${fields[i]!.slice(0, 40)}": ${reasonOf(error)}`;
    }
  }
  return undefined;
}

/**
 * Throws a ValidationError (for `field`) unless `expression` is a cron of 5 or 6 fields that
 * fires at least once. Aliases such as `@daily` are accepted; Jenkins' `H` is not (cron-parser
 * picks a random value on every parse, so a preview would not show what the scheduler fires).
 */
export function checkCron(expression: string, timezone = 'UTC', field = 'cron'): void {
  const trimmed = expression.trim();
  const fields = trimmed.split(/\s+/);
  const quoted = `"${trimmed.slice(0, 80)}"`;
  if (!trimmed || trimmed.length > 256 || (!trimmed.startsWith('@') && (fields.length < 5 || fields.length > 6))) {
    throw problem(field, `${quoted} is not a cron expression: write 5 fields (minute hour day month weekday), or 6 with seconds first.`);
  }
  if (/(^|[\s,])H(?=$|[\s,/(])/i.test(trimmed)) {
    throw problem(field, `${quoted} uses H (a hashed value), which Runboard does not support: write the minute or hour you want.`);
  }
  checkTimezone(timezone);
  try {
    CronExpressionParser.parse(trimmed, { tz: timezone, strict: false }).next();
  } catch (error) {
    if (trimmed.startsWith('@')) {
      throw problem(field, `${quoted} is not a cron alias: use @yearly, @monthly, @weekly, @daily, @hourly, @weekdays or @weekends.`);
    }
    throw problem(field, `${quoted} is not a valid cron expression: ${fieldProblem(fields) ?? reasonOf(error)}.`);
  }
}

/** The next `count` moments `expression` fires after `from` (exclusive), in `timezone`. */
export function nextOccurrences(expression: string, timezone: string, from: Date, count: number): Date[] {
  checkCron(expression, timezone);
  const cron = CronExpressionParser.parse(expression.trim(), { tz: timezone, currentDate: from });
  const result: Date[] = [];
  while (result.length < count && cron.hasNext()) result.push(cron.next().toDate());
  return result;
}

/** The next moment after `from`, or null when the expression never fires again. */
export function nextOccurrence(expression: string, timezone: string, from: Date): Date | null {
  return nextOccurrences(expression, timezone, from, 1)[0] ?? null;
}

/** The latest moment at or before `at`, or null. */
export function previousOccurrence(expression: string, timezone: string, at: Date): Date | null {
  checkCron(expression, timezone);
  const cron = CronExpressionParser.parse(expression.trim(), { tz: timezone, currentDate: new Date(at.getTime() + 1) });
  return cron.hasPrev() ? cron.prev().toDate() : null;
}
