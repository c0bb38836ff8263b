/**
 * Which alerts an event raises: pure functions over rules, the per-(rule, subject) state and the
 * event's facts, so every rule can be tested without a database.
 *
 * Terms:
 * - subject: what an alert is about — a script, a schedule or a check. A run event has the run's
 *   script (and its schedule, when a schedule fired it) as candidates; a check event its check.
 * - global rule: a rule with no subject. Rules are defaults in the usual sense: a subject named
 *   by an enabled rule gets only the rules that name it; every other subject gets the globals.
 * - outcome: what an event means for a subject: failure (a run failed, timed out or was lost; a
 *   check went down), success (a run succeeded; a check came up), late (a check is late), or
 *   nothing (a cancelled run: someone chose to stop it).
 * - alerting: a state that has sent a failure (or late) alert and not yet recovered; reminders
 *   repeat its alert, a success ends it with a recovery alert.
 */
import type { AlertableEvent, AlertState } from '../db/alerter.repository';
import type { AlertRule } from '../db/alert-rule.repository';
import type { AlertKind, SubjectType } from '../db/notification-tables';
import type { Silence } from '../db/silence.repository';

export interface Subject {
  type: SubjectType;
  id: string;
}

export type Outcome = 'failure' | 'success' | 'late';

const FAILED_RUN_STATES = new Set(['failed', 'timed_out', 'lost']);

/** What `event` means, or null when it means nothing for alerts. */
export function outcomeOf(event: Pick<AlertableEvent, 'action' | 'details' | 'run'>): Outcome | null {
  switch (event.action) {
    case 'run.finished': {
      // The state the event recorded; the run's current state only if the event lacks it.
      const state = typeof event.details.state === 'string' ? event.details.state : event.run?.state;
      if (state === 'succeeded') return 'success';
      return state && FAILED_RUN_STATES.has(state) ? 'failure' : null;
    }
    case 'check.down':
      return 'failure';
    case 'check.up':
      return 'success';
    case 'check.late':
      return 'late';
    default:
      return null;
  }
}

/** The subjects an event is about, most specific last: [script, schedule] or [check]. */
export function subjectsOf(event: Pick<AlertableEvent, 'action' | 'objectType' | 'objectId' | 'run'>): Subject[] {
  if (event.objectType === 'Check' && event.objectId) return [{ type: 'check', id: event.objectId }];
  if (event.objectType === 'Run' && event.run?.scriptId) {
    return [{ type: 'script', id: event.run.scriptId }, ...(event.run.scheduleId ? [{ type: 'schedule' as const, id: event.run.scheduleId }] : [])];
  }
  return [];
}

/** The rules that apply to an event's subjects, each with the subject its state is kept for. */
export function rulesFor(rules: readonly AlertRule[], subjects: readonly Subject[]): { rule: AlertRule; subject: Subject }[] {
  if (subjects.length === 0) return [];
  const enabled = rules.filter((rule) => rule.enabled);
  const specific = enabled.flatMap((rule) => {
    const subject = subjects.find((s) => s.type === rule.subjectType && s.id === rule.subjectId);
    return subject ? [{ rule, subject }] : [];
  });
  if (specific.length > 0) return specific;
  // A global rule keeps its state per script or check (a run's first subject).
  return enabled.filter((rule) => rule.subjectType === null).map((rule) => ({ rule, subject: subjects[0]! }));
}

/** A state with nothing happened yet. */
export function freshState(ruleId: string, subject: Subject, subjectName: string): AlertState {
  return {
    ruleId,
    subjectType: subject.type,
    subjectId: subject.id,
    subjectName,
    consecutiveFailures: 0,
    alerting: null,
    alertEventId: null,
    alertPayload: null,
    lastNotifiedAt: null,
    remindersSent: 0,
  };
}

export interface Evaluation {
  state: AlertState;
  /** The alerts to send, in order. */
  alerts: AlertKind[];
}

/**
 * Applies one outcome to a rule's state. Failures count up; the failure alert goes once the count
 * reaches `afterFailures` and not again until a recovery (reminders cover the wait). A late check
 * alerts once; its going down after that still alerts (worse news). A success after an alert is a
 * recovery, and resets the count. `slow` is whether a successful run took longer than usual.
 */
export function evaluate(rule: AlertRule, state: AlertState, outcome: Outcome, eventId: string, at: Date, slow = false): Evaluation {
  const next: AlertState = { ...state };
  const alerts: AlertKind[] = [];
  const open = (kind: 'late' | 'failure') => {
    next.alerting = kind;
    next.alertEventId = eventId;
    next.lastNotifiedAt = at;
    next.remindersSent = 0;
  };
  if (outcome === 'failure') {
    next.consecutiveFailures = state.consecutiveFailures + 1;
    if (rule.onFailure && next.consecutiveFailures >= rule.afterFailures && state.alerting !== 'failure') {
      alerts.push('failure');
      open('failure');
    }
  } else if (outcome === 'late') {
    if (rule.onLate && state.alerting === null) {
      alerts.push('late');
      open('late');
    }
  } else {
    if (state.alerting !== null && rule.onRecovery) alerts.push('recovery');
    next.consecutiveFailures = 0;
    next.alerting = null;
    next.alertEventId = null;
    next.alertPayload = null;
    next.remindersSent = 0;
    if (slow && rule.onSlow) alerts.push('slow');
  }
  return { state: next, alerts };
}

/** The duration above which a run is slow: `factor` times the usual (p95); null when unknown. */
export function slowThreshold(p95Seconds: number | null, factor: number): number | null {
  return p95Seconds === null ? null : p95Seconds * factor;
}

/** Whether a reminder is due for an alerting state now. */
export function reminderDue(rule: Pick<AlertRule, 'remindEverySeconds' | 'enabled'>, state: AlertState, now: Date): boolean {
  if (!rule.enabled || rule.remindEverySeconds === null || state.alerting === null || !state.lastNotifiedAt) return false;
  return now.getTime() - state.lastNotifiedAt.getTime() >= rule.remindEverySeconds * 1000;
}

/**
 * The silence (maintenance window or snooze) in force at `at` for this rule and these subjects,
 * if any: it must cover the moment, and name this rule (or none) and one of the subjects (or none).
 */
export function silenceFor(silences: readonly Silence[], ruleId: string, subjects: readonly Subject[], at: Date): Silence | undefined {
  const t = at.getTime();
  return silences.find(
    (s) =>
      s.startsAt.getTime() <= t &&
      t < s.endsAt.getTime() &&
      (s.ruleId === null || s.ruleId === ruleId) &&
      (s.subjectType === null || subjects.some((subject) => subject.type === s.subjectType && subject.id === s.subjectId)),
  );
}

/** Milliseconds before retrying after failed attempt number `attempt` (1-based): base × 2^(attempt − 1). */
export function retryDelayMs(attempt: number, baseMs: number): number {
  return baseMs * 2 ** Math.max(0, attempt - 1);
}
