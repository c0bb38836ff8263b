/**
 * What a due schedule does when the scheduler reaches it: which occurrences fire (the missed-run
 * policy), when it is next due, and which hosts each occurrence runs on (the target strategy).
 * Pure functions: the scheduler (jobs/scheduler.ts) feeds them rows and writes their answers.
 *
 * Terms: an occurrence is *on time* when the scheduler reaches it within ON_TIME_MS of its
 * moment; older ones were *missed* (Runboard was down, or the schedule could not fire). Missed
 * policy: `none` drops missed occurrences; `last` fires the latest missed one (only when no
 * on-time occurrence fires with it); `all` fires every missed one — both within the schedule's
 * window (`missedWindowSeconds`, 0 = no limit) and at most MAX_CATCH_UP of them.
 */
import type { Host } from '../db/host.repository';
import type { Schedule } from '../db/schedule.repository';
import { CronExpressionParser } from 'cron-parser';
import { checkCron } from './cron';
import { computeNextRun } from './schedule-timing';

/** How late an occurrence may be reached and still count as on time. */
export const ON_TIME_MS = 30_000;
/** The most occurrences one schedule fires to catch up after downtime. */
export const MAX_CATCH_UP = 1_000;

export type DueSchedule = Pick<
  Schedule,
  'kind' | 'cron' | 'timezone' | 'intervalSeconds' | 'runAt' | 'enabled' | 'lastRunAt' | 'missedPolicy' | 'missedWindowSeconds'
> & { nextRunAt: Date };

export interface Firing {
  /** The occurrences to fire, oldest first. */
  fire: Date[];
  /** How many due occurrences were dropped by the missed-run policy (a stretch too old for any
   * policy to fire is skipped over, not walked, and counts as one). */
  dropped: number;
  /** When the schedule is next due after `now` (null: never again). */
  next: Date | null;
}

/** The moments a cron fires after `from`, one at a time: the caller stops when it has enough. */
function* cronMoments(expression: string, timezone: string, from: Date): Generator<Date> {
  checkCron(expression, timezone);
  const cron = CronExpressionParser.parse(expression.trim(), { tz: timezone, currentDate: from });
  for (;;) {
    try {
      yield cron.next().toDate();
    } catch {
      return; // the expression never fires again
    }
  }
}

/**
 * Every occurrence from `first` up to `now` (the latest MAX_CATCH_UP + 1 at most), and for a cron
 * the one after them: the same walk gives both, so `next` agrees with what fired, even across a
 * daylight-saving change (started from `now` instead, cron-parser may skip or repeat a moment).
 */
function dueOccurrences(s: DueSchedule, now: Date): { due: Date[]; skippedBeyondCap: number; after?: Date | null } {
  const first = s.nextRunAt;
  if (first > now) return { due: [], skippedBeyondCap: 0 };
  // Moments no policy would fire are not walked: after a week down, a per-second cron under
  // `none` or a short window walks seconds, not 600,000 moments.
  const earliest =
    s.missedPolicy === 'none'
      ? now.getTime() - ON_TIME_MS
      : s.missedWindowSeconds > 0
        ? now.getTime() - Math.max(s.missedWindowSeconds * 1000, ON_TIME_MS)
        : Number.NEGATIVE_INFINITY;
  if (s.kind === 'cron' && earliest > first.getTime()) {
    const due: Date[] = [];
    for (const at of cronMoments(s.cron!, s.timezone, new Date(earliest - 1))) {
      if (at > now) return { due, skippedBeyondCap: 1, after: at };
      due.push(at);
    }
    return { due, skippedBeyondCap: 1, after: null };
  }
  const due: Date[] = [first];
  let skipped = 0;
  const keep = (at: Date) => {
    due.push(at);
    if (due.length > MAX_CATCH_UP + 1) {
      due.shift();
      skipped++;
    }
  };
  if (s.kind === 'cron') {
    for (const at of cronMoments(s.cron!, s.timezone, first)) {
      if (at > now) return { due, skippedBeyondCap: skipped, after: at };
      keep(at);
    }
    return { due, skippedBeyondCap: skipped, after: null };
  } else if (s.kind === 'interval') {
    const step = s.intervalSeconds! * 1000;
    const count = Math.floor((now.getTime() - first.getTime()) / step);
    const start = Math.max(1, count - MAX_CATCH_UP);
    skipped = start - 1;
    for (let i = start; i <= count; i++) keep(new Date(first.getTime() + i * step));
  }
  return { due, skippedBeyondCap: skipped };
}

export function planFiring(s: DueSchedule, now: Date): Firing {
  const { due, skippedBeyondCap, after } = dueOccurrences(s, now);
  const latest = due[due.length - 1];
  // Every occurrence reached within ON_TIME_MS is on time, not only the latest.
  const onTime = due.filter((at) => now.getTime() - at.getTime() <= ON_TIME_MS);
  const windowStart = s.missedWindowSeconds > 0 ? now.getTime() - s.missedWindowSeconds * 1000 : Number.NEGATIVE_INFINITY;
  const missed = due.filter((at) => !onTime.includes(at) && at.getTime() >= windowStart).slice(-MAX_CATCH_UP);
  let fire: Date[];
  switch (s.missedPolicy) {
    case 'none':
      fire = [];
      break;
    case 'last':
      fire = onTime.length > 0 || missed.length === 0 ? [] : [missed[missed.length - 1]!];
      break;
    case 'all':
      fire = missed;
      break;
  }
  fire = [...fire, ...onTime];
  // Interval schedules keep their rhythm from the latest occurrence; every kind is next due
  // strictly after now, so nothing fires twice.
  const next = after !== undefined ? (s.enabled ? after : null) : computeNextRun({ ...s, lastRunAt: latest ?? s.lastRunAt }, now);
  return { fire, dropped: due.length + skippedBeyondCap - fire.length, next };
}

/** A host a schedule may run on, and how many runs it has going. */
export interface Candidate {
  host: Host;
  activeRuns: number;
}

/**
 * The hosts one occurrence runs on: all of them, or one by the strategy. Round-robin continues
 * from `cursor` (kept on the schedule); the returned cursor is where the next occurrence starts.
 */
export function chooseHosts(
  s: Pick<Schedule, 'targetMode' | 'targetStrategy'>,
  candidates: readonly Candidate[],
  cursor: number,
  random: () => number = Math.random,
): { hosts: Host[]; cursor: number } {
  if (candidates.length === 0) return { hosts: [], cursor };
  if (s.targetMode === 'all') return { hosts: candidates.map((c) => c.host), cursor };
  switch (s.targetStrategy) {
    case 'random':
      return { hosts: [candidates[Math.floor(random() * candidates.length)]!.host], cursor };
    case 'round_robin': {
      const index = ((cursor % candidates.length) + candidates.length) % candidates.length;
      return { hosts: [candidates[index]!.host], cursor: index + 1 };
    }
    case 'least_busy': {
      // Fewest active runs; ties go to the first by name, so the choice is predictable.
      const best = candidates.reduce((a, b) => (b.activeRuns < a.activeRuns ? b : a));
      return { hosts: [best.host], cursor };
    }
  }
}
