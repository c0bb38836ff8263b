/**
 * The rules of alerting as pure functions: which rules apply (subject rules over defaults), what
 * each outcome does to a rule's state, slow thresholds, reminders, silences and backoff.
 */
import { describe, expect, it } from 'vitest';
import { evaluate, freshState, outcomeOf, reminderDue, retryDelayMs, rulesFor, silenceFor, slowThreshold, subjectsOf } from '../core/alert-evaluation';
import { alertText } from '../core/alert-message';
import type { AlertRule } from '../db/alert-rule.repository';
import type { Silence } from '../db/silence.repository';

const rule = (changes: Partial<AlertRule> = {}): AlertRule => ({
  id: 'r1',
  name: 'rule',
  enabled: true,
  subjectType: null,
  subjectId: null,
  onFailure: true,
  onRecovery: true,
  afterFailures: 1,
  onLate: false,
  onSlow: false,
  slowFactor: 2,
  remindEverySeconds: null,
  channelIds: ['c1'],
  createdAt: new Date(),
  updatedAt: new Date(),
  ...changes,
});

const script = { type: 'script' as const, id: 's1' };
const at = new Date('2026-12-04T03:00:00Z');

describe('what an event means', () => {
  it('reads run.finished by its recorded state and the check flips by action', () => {
    const run = (state: string) => outcomeOf({ action: 'run.finished', details: { state }, run: null });
    expect([run('succeeded'), run('failed'), run('timed_out'), run('lost'), run('cancelled')]).toEqual(['success', 'failure', 'failure', 'failure', null]);
    expect(['check.down', 'check.up', 'check.late', 'host.created'].map((action) => outcomeOf({ action, details: {}, run: null }))).toEqual(['failure', 'success', 'late', null]);
  });

  it('finds a run\'s script and schedule, and a check\'s check', () => {
    const run = { state: 'failed' as const, scriptId: 's1', scheduleId: 'sc1', hostName: 'local', exitCode: 3, durationSeconds: 1 };
    expect(subjectsOf({ action: 'run.finished', objectType: 'Run', objectId: 'x', run })).toEqual([script, { type: 'schedule', id: 'sc1' }]);
    expect(subjectsOf({ action: 'check.down', objectType: 'Check', objectId: 'k1', run: null })).toEqual([{ type: 'check', id: 'k1' }]);
  });
});

describe('which rules apply', () => {
  it('uses the defaults unless a rule names the subject, and skips disabled rules', () => {
    const global = rule({ id: 'g' });
    const forScript = rule({ id: 'sr', subjectType: 'script', subjectId: 's1' });
    const forOther = rule({ id: 'o', subjectType: 'script', subjectId: 's2' });
    expect(rulesFor([global, forOther], [script]).map((m) => m.rule.id)).toEqual(['g']);
    expect(rulesFor([global, forScript, forOther], [script]).map((m) => m.rule.id)).toEqual(['sr']);
    expect(rulesFor([global, { ...forScript, enabled: false }], [script]).map((m) => m.rule.id)).toEqual(['g']);
    const forSchedule = rule({ id: 'sc', subjectType: 'schedule', subjectId: 'sc1' });
    expect(rulesFor([global, forSchedule], [script, { type: 'schedule', id: 'sc1' }])).toEqual([{ rule: forSchedule, subject: { type: 'schedule', id: 'sc1' } }]);
  });
});

describe('a rule\'s state through outcomes', () => {
  it('alerts the first failure once, then the recovery', () => {
    const r = rule();
    let state = freshState(r.id, script, 'backup');
    const first = evaluate(r, state, 'failure', 'e1', at);
    expect(first.alerts).toEqual(['failure']);
    state = first.state;
    expect(state).toMatchObject({ consecutiveFailures: 1, alerting: 'failure', alertEventId: 'e1' });
    const second = evaluate(r, state, 'failure', 'e2', at);
    expect(second.alerts).toEqual([]);
    const recovered = evaluate(r, second.state, 'success', 'e3', at);
    expect(recovered.alerts).toEqual(['recovery']);
    expect(recovered.state).toMatchObject({ consecutiveFailures: 0, alerting: null });
    expect(evaluate(r, recovered.state, 'success', 'e4', at).alerts).toEqual([]);
  });

  it('waits for N failures in a row; a success in between starts the count again', () => {
    const r = rule({ afterFailures: 3 });
    let state = freshState(r.id, script, 'backup');
    const kinds: string[][] = [];
    for (const outcome of ['failure', 'failure', 'success', 'failure', 'failure', 'failure'] as const) {
      const result = evaluate(r, state, outcome, 'e', at);
      kinds.push(result.alerts);
      state = result.state;
    }
    // The success after two failures alerted nothing: nothing had been alerted to recover from.
    expect(kinds).toEqual([[], [], [], [], [], ['failure']]);
  });

  it('alerts a late check once, its going down after that, and its coming up', () => {
    const r = rule({ onLate: true });
    let state = freshState(r.id, { type: 'check', id: 'k' }, 'nightly');
    const steps = (['late', 'late', 'failure', 'success'] as const).map((outcome) => {
      const result = evaluate(r, state, outcome, 'e', at);
      state = result.state;
      return result.alerts;
    });
    expect(steps).toEqual([['late'], [], ['failure'], ['recovery']]);
  });

  it('alerts a slow success only when the rule asks, and only above factor × p95', () => {
    expect(slowThreshold(10, 2)).toBe(20);
    expect(slowThreshold(null, 2)).toBeNull();
    const state = freshState('r1', script, 'backup');
    expect(evaluate(rule({ onSlow: true }), state, 'success', 'e', at, true).alerts).toEqual(['slow']);
    expect(evaluate(rule({ onSlow: false }), state, 'success', 'e', at, true).alerts).toEqual([]);
  });

  it('is due for a reminder only while alerting, once the interval has passed', () => {
    const r = rule({ remindEverySeconds: 600 });
    const alerting = { ...freshState(r.id, script, 'backup'), alerting: 'failure' as const, lastNotifiedAt: at };
    expect(reminderDue(r, alerting, new Date(at.getTime() + 599_000))).toBe(false);
    expect(reminderDue(r, alerting, new Date(at.getTime() + 600_000))).toBe(true);
    expect(reminderDue(r, { ...alerting, alerting: null }, new Date(at.getTime() + 600_000))).toBe(false);
    expect(reminderDue({ ...r, remindEverySeconds: null }, alerting, new Date(at.getTime() + 600_000))).toBe(false);
  });
});

describe('silences and retries', () => {
  const silence = (changes: Partial<Silence>): Silence => ({
    id: 'x',
    kind: 'maintenance',
    reason: '',
    startsAt: new Date(at.getTime() - 60_000),
    endsAt: new Date(at.getTime() + 60_000),
    ruleId: null,
    subjectType: null,
    subjectId: null,
    createdBy: 'admin',
    createdAt: at,
    endedAt: null,
    ...changes,
  });

  it('silences by time, rule and subject', () => {
    expect(silenceFor([silence({})], 'r1', [script], at)?.id).toBe('x');
    expect(silenceFor([silence({ endsAt: at })], 'r1', [script], at)).toBeUndefined();
    expect(silenceFor([silence({ startsAt: new Date(at.getTime() + 1) })], 'r1', [script], at)).toBeUndefined();
    expect(silenceFor([silence({ ruleId: 'r2' })], 'r1', [script], at)).toBeUndefined();
    expect(silenceFor([silence({ ruleId: 'r1' })], 'r1', [script], at)).toBeDefined();
    expect(silenceFor([silence({ subjectType: 'script', subjectId: 's2' })], 'r1', [script], at)).toBeUndefined();
    expect(silenceFor([silence({ subjectType: 'script', subjectId: 's1' })], 'r1', [script, { type: 'schedule', id: 'sc' }], at)).toBeDefined();
  });

  it('doubles the wait between attempts', () => {
    expect([1, 2, 3, 4].map((n) => retryDelayMs(n, 1000))).toEqual([1000, 2000, 4000, 8000]);
  });

  it('says what happened in one line', () => {
    const event = { id: 'e', at, action: 'run.finished', objectType: 'Run', objectId: 'x', objectName: 'backup', summary: '', details: { state: 'failed', host: 'local', exitCode: 3 } };
    expect(alertText({ kind: 'failure', rule: null, subject: { ...script, name: 'backup' }, event, consecutiveFailures: 3 })).toBe('Runboard: "backup" failed on "local" (exit 3), 3 failures in a row');
    expect(alertText({ kind: 'failure', rule: null, subject: { type: 'check', id: 'k', name: 'nightly' }, event: null })).toBe('Runboard: check "nightly" is down');
  });
});
