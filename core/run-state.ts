/**
 * The run state machine.
 *
 *   queued → dispatched → running → succeeded | failed | timed_out | cancelled | lost
 *
 * plus `skipped` (a concurrency policy dropped the occurrence). Terms used across the code:
 * - active: queued, dispatched, running — the run may still move;
 * - terminal: every other state — it never moves again. (A run *reported* from outside is the
 *   exception: its reporter is the authority and may correct it; see run.service.)
 *
 * Every move is one conditional UPDATE (`transitionRun`, or `moveRuns` for many) expecting the
 * states that may precede it, so two instances racing to move the same run cannot both win. One
 * compound move exists: a run that finishes before its start was stored (a no-op) goes
 * dispatched → running → finished in one conditional update; both moves are still published and
 * audited.
 */
import type { RunState } from '../db/schema';

export const RUN_STATES: readonly RunState[] = [
  'queued',
  'dispatched',
  'running',
  'succeeded',
  'failed',
  'timed_out',
  'cancelled',
  'lost',
  'skipped',
];

export const ACTIVE_STATES: readonly RunState[] = ['queued', 'dispatched', 'running'];

export const TERMINAL_STATES: readonly RunState[] = RUN_STATES.filter((state) => !ACTIVE_STATES.includes(state));

/** Where each state may go next. */
const NEXT: Record<RunState, readonly RunState[]> = {
  // A queued run may fail before it reaches a host (its script or host is gone) or be skipped by
  // a concurrency policy.
  queued: ['dispatched', 'cancelled', 'skipped', 'failed'],
  // Back to queued when a host refuses or drops a run before acknowledging it; lost when the
  // host never answers.
  dispatched: ['running', 'queued', 'cancelled', 'failed', 'lost'],
  running: ['succeeded', 'failed', 'timed_out', 'cancelled', 'lost'],
  succeeded: [],
  failed: [],
  timed_out: [],
  cancelled: [],
  lost: [],
  skipped: [],
};

export function isTerminal(state: RunState): boolean {
  return TERMINAL_STATES.includes(state);
}

export function isActive(state: RunState): boolean {
  return ACTIVE_STATES.includes(state);
}

export function canTransition(from: RunState, to: RunState): boolean {
  return NEXT[from].includes(to);
}

/** The states a run must be in to move to `to`: the `expected` of a conditional update. */
export function statesBefore(to: RunState): RunState[] {
  return RUN_STATES.filter((from) => canTransition(from, to));
}
