/**
 * The rules of a check, as pure functions (no clock, no database) so the ping handler, the
 * GraphQL layer and the sweeper all agree.
 *
 * Terms:
 * - *expected* — when the next finishing ping should arrive: the last one plus the period, or the
 *   next cron occurrence after it;
 * - *due* (`nextDueAt`) — the expected time plus the grace period: past it the check is down.
 *   While a run is in progress (a START with no finish yet) it is due at the start plus grace;
 * - *late* — past the expected time but not yet due;
 * - *finish* — a SUCCESS, FAIL or EXIT ping (LOG is only recorded; START opens a run).
 *
 * A paused check records pings (and its last-ping fields follow them) but stays paused and has no
 * due time: pausing is someone's decision to silence it, and only resuming reverses it. Resuming
 * makes it `new`, with no due time, until its next ping.
 */
import type { CheckState, PingKind } from '../db/schema';
import { nextOccurrence } from './cron';

/** What happened to a check, as its subscribers hear it. */
export type CheckChangeKind = 'CREATED' | 'UPDATED' | 'DELETED' | 'PAUSED' | 'RESUMED' | 'PING_KEY_ROTATED' | 'PINGED' | 'STATE_CHANGED';

/** When a check expects to hear from its script. */
export interface CheckTiming {
  kind: 'period' | 'cron';
  periodSeconds: number | null;
  cron: string | null;
  timezone: string;
  graceSeconds: number;
}

/** The fields of a check that pings and time change. */
export interface CheckStatus {
  state: CheckState;
  lastPingAt: Date | null;
  lastPingKind: PingKind | null;
  lastSuccess: boolean | null;
  /** When the run in progress started; null when none is. */
  lastStartAt: Date | null;
  lastDurationMs: number | null;
  nextDueAt: Date | null;
}

export type CheckFacts = CheckTiming & CheckStatus;

export interface PingFacts {
  kind: PingKind;
  exitCode: number | null;
  at: Date;
  runKey: string | null;
}

const MAX_DURATION_MS = 2_147_483_647; // the integer column's limit (about 24.8 days)

/** The moment the next finishing ping is expected after one at `from`; null if never (a cron that stops). */
export function expectedAfter(timing: CheckTiming, from: Date): Date | null {
  if (timing.kind === 'cron') return nextOccurrence(timing.cron!, timing.timezone, from);
  return new Date(from.getTime() + timing.periodSeconds! * 1000);
}

/** Whether a ping finishes a run, and if so whether it succeeded; null for START and LOG. */
export function outcomeOf(kind: PingKind, exitCode: number | null): boolean | null {
  if (kind === 'success') return true;
  if (kind === 'fail') return false;
  if (kind === 'exit') return exitCode === 0;
  return null;
}

/** When a check in `status` goes down if nothing more arrives; null when it cannot. */
export function dueAt(timing: CheckTiming, status: Pick<CheckStatus, 'state' | 'lastPingAt' | 'lastStartAt'>): Date | null {
  if (status.state === 'paused') return null;
  if (status.lastStartAt) return new Date(status.lastStartAt.getTime() + timing.graceSeconds * 1000);
  if (status.state === 'new' || !status.lastPingAt) return null;
  const expected = expectedAfter(timing, status.lastPingAt);
  return expected && new Date(expected.getTime() + timing.graceSeconds * 1000);
}

/**
 * When a check in `status` goes late if nothing more arrives: its expected time (the due time less
 * the grace period), while it is up and not in a run; null otherwise (new, late, down and paused
 * checks, and runs in progress, never go late). The sweeper finds late checks by it.
 */
export function lateAt(timing: Pick<CheckTiming, 'graceSeconds'>, status: Pick<CheckStatus, 'state' | 'lastStartAt' | 'nextDueAt'>): Date | null {
  if (status.state !== 'up' || status.lastStartAt || !status.nextDueAt) return null;
  return new Date(status.nextDueAt.getTime() - timing.graceSeconds * 1000);
}

/**
 * What the state of `check` should be at `now` with no further ping: what the sweeper applies.
 * Paused stays paused, down stays down (only a successful ping brings a check back), anything
 * past its due time is down, a check past its expected time (and not in a run) is late, and a
 * late check whose expectation moved (its timing was changed) is up again.
 */
export function stateAt(check: CheckFacts, now: Date): CheckState {
  const { state, nextDueAt } = check;
  if (state === 'paused' || state === 'down' || !nextDueAt) return state;
  if (now.getTime() >= nextDueAt.getTime()) return 'down';
  // In a run: it has until the due time to finish, and is not "late" before that.
  if (check.lastStartAt || state === 'new') return state;
  const expected = nextDueAt.getTime() - check.graceSeconds * 1000;
  return now.getTime() >= expected ? 'late' : 'up';
}

/** What one ping changes on its check, and the duration it measured (for the ping itself). */
export interface PingEffect {
  status: CheckStatus;
  durationMs: number | null;
}

/**
 * Applies a ping to a check. `pairedStartAt` is the START this ping finishes: the one with the
 * same run key, or with no run key the run in progress (`check.lastStartAt`); null when none.
 */
export function applyPing(check: CheckFacts, ping: PingFacts, pairedStartAt: Date | null): PingEffect {
  const { state, lastPingAt, lastPingKind, lastSuccess, lastStartAt, lastDurationMs, nextDueAt } = check;
  const before: CheckStatus = { state, lastPingAt, lastPingKind, lastSuccess, lastStartAt, lastDurationMs, nextDueAt };
  if (ping.kind === 'log') return { status: before, durationMs: null };

  const paused = check.state === 'paused';
  if (ping.kind === 'start') {
    // The state stays what it is at that moment; the run must finish within the grace period.
    const status: CheckStatus = {
      ...before,
      state: paused ? 'paused' : stateAt(check, ping.at),
      lastPingAt: ping.at,
      lastPingKind: 'start',
      lastStartAt: ping.at,
    };
    return { status: { ...status, nextDueAt: dueAt(check, status) }, durationMs: null };
  }

  const success = outcomeOf(ping.kind, ping.exitCode)!;
  const measured = pairedStartAt ? ping.at.getTime() - pairedStartAt.getTime() : null;
  const durationMs = measured !== null && measured >= 0 ? Math.min(measured, MAX_DURATION_MS) : null;
  // A finish ends the run in progress unless it finished an older one (runs that overlap).
  const endsCurrentRun = !ping.runKey || !check.lastStartAt || pairedStartAt?.getTime() === check.lastStartAt.getTime();
  const status: CheckStatus = {
    state: paused ? 'paused' : success ? 'up' : 'down',
    lastPingAt: ping.at,
    lastPingKind: ping.kind,
    lastSuccess: success,
    lastStartAt: endsCurrentRun ? null : check.lastStartAt,
    lastDurationMs: durationMs,
    nextDueAt: null,
  };
  return { status: { ...status, nextDueAt: dueAt(check, status) }, durationMs };
}
