/** The pure rules of checks: what a ping does, when a check is due, what its state is at a moment. */
import { describe, expect, it } from 'vitest';
import { applyPing, dueAt, stateAt, type CheckFacts, type PingFacts } from '../core/check-state';
import { capBody, MAX_PING_BODY_BYTES } from '../core/check.service';

const T = (iso: string) => new Date(iso);
const HOUR = 3_600_000;

function check(overrides: Partial<CheckFacts> = {}): CheckFacts {
  return {
    kind: 'period',
    periodSeconds: 86_400,
    cron: null,
    timezone: 'UTC',
    graceSeconds: 3_600,
    state: 'new',
    lastPingAt: null,
    lastPingKind: null,
    lastSuccess: null,
    lastStartAt: null,
    lastDurationMs: null,
    nextDueAt: null,
    ...overrides,
  };
}

const ping = (kind: PingFacts['kind'], at: string, extra: Partial<PingFacts> = {}): PingFacts => ({ kind, exitCode: null, at: T(at), runKey: null, ...extra });

describe('applyPing', () => {
  it('SUCCESS makes a check up, due a period plus grace later', () => {
    const { status, durationMs } = applyPing(check(), ping('success', '2026-03-01T10:00:00Z'), null);
    expect(status).toMatchObject({ state: 'up', lastSuccess: true, lastPingKind: 'success', lastPingAt: T('2026-03-01T10:00:00Z') });
    expect(status.nextDueAt).toEqual(T('2026-03-02T11:00:00Z'));
    expect(durationMs).toBeNull();
  });

  it('FAIL, or EXIT with a non-zero code, makes it down; EXIT 0 makes it up', () => {
    const up = check({ state: 'up', lastSuccess: true });
    expect(applyPing(up, ping('fail', '2026-03-01T10:00:00Z'), null).status).toMatchObject({ state: 'down', lastSuccess: false });
    expect(applyPing(up, ping('exit', '2026-03-01T10:00:00Z', { exitCode: 2 }), null).status).toMatchObject({ state: 'down', lastSuccess: false, lastPingKind: 'exit' });
    expect(applyPing(check({ state: 'down' }), ping('exit', '2026-03-01T10:00:00Z', { exitCode: 0 }), null).status).toMatchObject({ state: 'up', lastSuccess: true });
  });

  it('START keeps the state, opens a run due within the grace period', () => {
    const up = check({ state: 'up', lastPingAt: T('2026-03-01T10:00:00Z'), nextDueAt: T('2026-03-02T11:00:00Z') });
    const { status } = applyPing(up, ping('start', '2026-03-01T20:00:00Z'), null);
    expect(status).toMatchObject({ state: 'up', lastStartAt: T('2026-03-01T20:00:00Z'), lastPingKind: 'start', nextDueAt: T('2026-03-01T21:00:00Z') });
  });

  it('START on a check already past its due time records it down', () => {
    const overdue = check({ state: 'up', lastPingAt: T('2026-03-01T10:00:00Z'), nextDueAt: T('2026-03-02T11:00:00Z') });
    expect(applyPing(overdue, ping('start', '2026-03-02T12:00:00Z'), null).status.state).toBe('down');
  });

  it('LOG changes nothing', () => {
    const up = check({ state: 'up', lastPingAt: T('2026-03-01T10:00:00Z'), nextDueAt: T('2026-03-02T11:00:00Z') });
    expect(applyPing(up, ping('log', '2026-03-01T12:00:00Z'), null).status).toEqual({
      state: 'up', lastPingAt: up.lastPingAt, lastPingKind: null, lastSuccess: null, lastStartAt: null, lastDurationMs: null, nextDueAt: up.nextDueAt,
    });
  });

  it('a finish paired with a START measures the run and ends it', () => {
    const running = check({ state: 'up', lastStartAt: T('2026-03-01T10:00:00Z') });
    const { status, durationMs } = applyPing(running, ping('success', '2026-03-01T10:00:42.5Z'), T('2026-03-01T10:00:00Z'));
    expect(durationMs).toBe(42_500);
    expect(status).toMatchObject({ lastDurationMs: 42_500, lastStartAt: null });
  });

  it('a finish of an older run (runs overlap) leaves the newer one in progress', () => {
    const running = check({ state: 'up', lastStartAt: T('2026-03-01T10:05:00Z') });
    const { status, durationMs } = applyPing(running, ping('success', '2026-03-01T10:06:00Z', { runKey: 'a' }), T('2026-03-01T10:00:00Z'));
    expect(durationMs).toBe(6 * 60_000);
    expect(status.lastStartAt).toEqual(T('2026-03-01T10:05:00Z'));
    expect(status.nextDueAt).toEqual(T('2026-03-01T11:05:00Z'));
  });

  it('an unpaired finish, or one before its start, has no duration', () => {
    expect(applyPing(check(), ping('success', '2026-03-01T10:00:00Z'), null).durationMs).toBeNull();
    expect(applyPing(check(), ping('success', '2026-03-01T10:00:00Z'), T('2026-03-01T11:00:00Z')).durationMs).toBeNull();
  });

  it('a paused check stays paused, with no due time, but follows the pings', () => {
    const { status } = applyPing(check({ state: 'paused' }), ping('fail', '2026-03-01T10:00:00Z'), null);
    expect(status).toMatchObject({ state: 'paused', nextDueAt: null, lastSuccess: false, lastPingAt: T('2026-03-01T10:00:00Z') });
  });

  it('a cron check is due at the next occurrence after the ping, in its timezone, plus grace', () => {
    const cron = check({ kind: 'cron', periodSeconds: null, cron: '0 9 * * *', timezone: 'Europe/Paris', graceSeconds: 600 });
    // 09:30 in Paris (UTC+1 in winter): next is 09:00 Paris the next day.
    expect(applyPing(cron, ping('success', '2026-01-15T08:30:00Z'), null).status.nextDueAt).toEqual(T('2026-01-16T08:10:00Z'));
    // In summer Paris is UTC+2.
    expect(applyPing(cron, ping('success', '2026-07-15T06:30:00Z'), null).status.nextDueAt).toEqual(T('2026-07-15T07:10:00Z'));
  });
});

describe('stateAt', () => {
  const up = check({ state: 'up', lastPingAt: T('2026-03-01T10:00:00Z'), nextDueAt: T('2026-03-02T11:00:00Z') });

  it('is up before the expected time, late after it, down from the due time', () => {
    expect(stateAt(up, T('2026-03-02T09:59:59Z'))).toBe('up');
    expect(stateAt(up, T('2026-03-02T10:00:00Z'))).toBe('late');
    expect(stateAt(up, T('2026-03-02T10:59:59Z'))).toBe('late');
    expect(stateAt(up, T('2026-03-02T11:00:00Z'))).toBe('down');
  });

  it('a late check whose expectation moved is up again', () => {
    expect(stateAt({ ...up, state: 'late' }, T('2026-03-02T09:00:00Z'))).toBe('up');
  });

  it('paused, down and new (without a run) do not change with time', () => {
    expect(stateAt(check({ state: 'paused' }), T('2030-01-01T00:00:00Z'))).toBe('paused');
    expect(stateAt({ ...up, state: 'down' }, T('2026-03-01T11:00:00Z'))).toBe('down');
    expect(stateAt(check(), T('2030-01-01T00:00:00Z'))).toBe('new');
  });

  it('a run in progress is not late, and is down once its grace has passed', () => {
    const running = { ...up, lastStartAt: T('2026-03-02T10:30:00Z'), nextDueAt: T('2026-03-02T11:30:00Z') };
    expect(stateAt(running, T('2026-03-02T11:29:00Z'))).toBe('up');
    expect(stateAt(running, T('2026-03-02T11:30:00Z'))).toBe('down');
    const newRunning = check({ lastStartAt: T('2026-03-02T10:30:00Z'), nextDueAt: T('2026-03-02T11:30:00Z') });
    expect(stateAt(newRunning, T('2026-03-02T11:00:00Z'))).toBe('new');
    expect(stateAt(newRunning, T('2026-03-02T11:30:00Z'))).toBe('down');
  });
});

describe('dueAt', () => {
  it('is null for new and paused checks, and follows the run in progress', () => {
    const timing = check();
    expect(dueAt(timing, { state: 'new', lastPingAt: T('2026-03-01T10:00:00Z'), lastStartAt: null })).toBeNull();
    expect(dueAt(timing, { state: 'paused', lastPingAt: T('2026-03-01T10:00:00Z'), lastStartAt: T('2026-03-01T10:00:00Z') })).toBeNull();
    expect(dueAt(timing, { state: 'up', lastPingAt: T('2026-03-01T10:00:00Z'), lastStartAt: T('2026-03-01T10:00:00Z') })!.getTime()).toBe(
      T('2026-03-01T10:00:00Z').getTime() + HOUR,
    );
  });
});

describe('capBody', () => {
  it('keeps up to 100 KiB of UTF-8, cut on a character boundary, and replaces NUL', () => {
    expect(capBody('a\0b')).toEqual({ body: 'a\uFFFDb', truncated: false });
    const exact = 'x'.repeat(MAX_PING_BODY_BYTES);
    expect(capBody(exact)).toEqual({ body: exact, truncated: false });
    // 'é' is two bytes: 51,201 of them cannot end on the limit exactly.
    const cut = capBody('é'.repeat(51_201));
    expect(cut.truncated).toBe(true);
    expect(Buffer.byteLength(cut.body)).toBe(MAX_PING_BODY_BYTES);
    const odd = capBody(`x${'é'.repeat(51_200)}`);
    expect(Buffer.byteLength(odd.body)).toBe(MAX_PING_BODY_BYTES - 1);
    expect(odd.body.endsWith('é')).toBe(true);
  });
});
