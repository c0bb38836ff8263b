/**
 * When a schedule fires: its next run (stored as `nextRunAt` on every save and read by the
 * scheduler), the runs after it, and the cron preview the console shows while someone types.
 */
import type { Schedule } from '../db/schedule.repository';
import { canonicalTimezone, checkCron, checkTimezone, MAX_PREVIEW, nextOccurrence, nextOccurrences } from './cron';
import { ValidationError } from './errors';

/** The columns that say when a schedule fires. */
export type WhenColumns = Pick<Schedule, 'kind' | 'cron' | 'timezone' | 'intervalSeconds' | 'runAt'>;

/**
 * The next moment a schedule fires after `now`, or null when it never will: it is disabled, or
 * a one-shot whose moment has passed. An interval keeps its rhythm from the last run while that
 * is still ahead; otherwise it starts one interval from now.
 */
export function computeNextRun(s: WhenColumns & Pick<Schedule, 'enabled' | 'lastRunAt'>, now = new Date()): Date | null {
  if (!s.enabled) return null;
  switch (s.kind) {
    case 'cron':
      return nextOccurrence(s.cron!, s.timezone, now);
    case 'interval': {
      const step = s.intervalSeconds! * 1000;
      const fromLast = s.lastRunAt ? s.lastRunAt.getTime() + step : 0;
      return new Date(fromLast > now.getTime() ? fromLast : now.getTime() + step);
    }
    case 'once':
      return s.runAt && s.runAt > now ? s.runAt : null;
  }
}

/** The next `count` moments a schedule fires; none while it is paused. */
export function upcomingRuns(s: Schedule, count: number, now = new Date()): Date[] {
  if (!s.enabled) return [];
  if (s.kind === 'cron') return nextOccurrences(s.cron!, s.timezone, now, count);
  const first = s.nextRunAt && s.nextRunAt > now ? s.nextRunAt : computeNextRun(s, now);
  if (!first) return [];
  if (s.kind === 'once') return [first];
  return Array.from({ length: count }, (_, i) => new Date(first.getTime() + i * s.intervalSeconds! * 1000));
}

/** What a console shows while someone types a cron: the moments, or what is wrong. */
export interface CronPreview {
  valid: boolean;
  /** What is wrong, in words a person can act on; null when valid. */
  error: string | null;
  /** Which argument is wrong: cron, timezone or count; null when valid. */
  field: 'cron' | 'timezone' | 'count' | null;
  /** The zone as Runboard spells it ("europe/paris" → "Europe/Paris"), or as given when unknown. */
  timezone: string;
  occurrences: Date[];
}

/** Why `count` is not a number of moments to list (1–MAX_PREVIEW), or undefined when it is. */
export function countProblem(count: number): string | undefined {
  return Number.isInteger(count) && count >= 1 && count <= MAX_PREVIEW ? undefined : `count must be from 1 to ${MAX_PREVIEW}.`;
}

/** The message of the ValidationError `check` throws, or undefined when it passes. */
function refusal(check: () => void): string | undefined {
  try {
    check();
    return undefined;
  } catch (error) {
    if (error instanceof ValidationError) return error.message;
    throw error;
  }
}

/** Previews a cron without throwing: invalid input is an answer, not an error. */
export function previewCron(input: { cron: string; timezone: string; count: number; from?: Date | null }): CronPreview {
  const timezone = canonicalTimezone(input.timezone) ?? input.timezone;
  const invalid = (field: CronPreview['field'], error: string): CronPreview => ({ valid: false, error, field, timezone, occurrences: [] });
  const count = countProblem(input.count);
  if (count) return invalid('count', count);
  const zone = refusal(() => checkTimezone(input.timezone));
  if (zone) return invalid('timezone', zone);
  const cron = refusal(() => checkCron(input.cron, timezone));
  if (cron) return invalid('cron', cron);
  const occurrences = nextOccurrences(input.cron, timezone, input.from ?? new Date(), input.count);
  return { valid: true, error: null, field: null, timezone, occurrences };
}
