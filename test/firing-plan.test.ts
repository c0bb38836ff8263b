/**
 * What a due schedule fires (core/schedule-firing.ts), without a database: cron (5 and 6 fields,
 * across daylight-saving changes), interval and one-shot timing, the missed-run policies and
 * their window, the catch-up cap, and how one host is chosen per occurrence.
 *
 * `simulate` plays the scheduler's part (jobs/scheduler.ts): it reaches each schedule when it is
 * due (or later), fires what planFiring says and stores `next` and `lastRunAt` as saveFired does,
 * so the sequences below are what a running Runboard would fire.
 */
import { describe, expect, it } from 'vitest';
import { chooseHosts, MAX_CATCH_UP, ON_TIME_MS, planFiring, type Candidate, type DueSchedule } from '../core/schedule-firing';
import type { Host } from '../db/host.repository';

const iso = (dates: readonly Date[]) => dates.map((d) => d.toISOString());
const date = (value: string) => new Date(value);
const plus = (at: Date, ms: number) => new Date(at.getTime() + ms);
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

function cron(expression: string, nextRunAt: Date, changes: Partial<DueSchedule> = {}): DueSchedule {
  return {
    kind: 'cron',
    cron: expression,
    timezone: 'UTC',
    intervalSeconds: null,
    runAt: null,
    enabled: true,
    lastRunAt: null,
    missedPolicy: 'none',
    missedWindowSeconds: 0,
    nextRunAt,
    ...changes,
  };
}

function interval(seconds: number, nextRunAt: Date, changes: Partial<DueSchedule> = {}): DueSchedule {
  return cron('', nextRunAt, { kind: 'interval', cron: null, intervalSeconds: seconds, ...changes });
}

/**
 * Runs the scheduler over a schedule until its next moment passes `until`: each pass reaches the
 * schedule `lateMs` after it is due. Answers every occurrence fired, oldest first.
 */
function simulate(start: DueSchedule, until: Date, lateMs = 50): Date[] {
  const fired: Date[] = [];
  let s = start;
  for (let pass = 0; pass < 10_000 && s.nextRunAt <= until; pass++) {
    const now = plus(s.nextRunAt, lateMs);
    const plan = planFiring(s, now);
    expect(plan.next === null || plan.next > now, `next (${plan.next?.toISOString()}) is after now (${now.toISOString()})`).toBe(true);
    fired.push(...plan.fire);
    if (!plan.next) break;
    s = { ...s, nextRunAt: plan.next, lastRunAt: plan.fire.at(-1) ?? s.lastRunAt };
  }
  return fired;
}

describe('planFiring: cron', () => {
  it('fires a 6-field cron on its seconds, one occurrence per pass, next strictly after now', () => {
    const first = date('2026-05-01T12:00:00Z');
    const fired = simulate(cron('*/15 * * * * *', first), date('2026-05-01T12:01:00Z'));
    expect(iso(fired)).toEqual([
      '2026-05-01T12:00:00.000Z',
      '2026-05-01T12:00:15.000Z',
      '2026-05-01T12:00:30.000Z',
      '2026-05-01T12:00:45.000Z',
      '2026-05-01T12:01:00.000Z',
    ]);
    // Reached exactly at its moment: it fires, and is next due 15 s later, never at the same moment.
    const exact = planFiring(cron('*/15 * * * * *', first), first);
    expect(exact).toEqual({ fire: [first], dropped: 0, next: date('2026-05-01T12:00:15Z') });
    // Not due yet: nothing fires.
    expect(planFiring(cron('*/15 * * * * *', first), plus(first, -1)).fire).toEqual([]);
  });

  it('fires a 5-field cron on whole minutes', () => {
    const fired = simulate(cron('*/20 * * * *', date('2026-05-01T23:20:00Z')), date('2026-05-02T00:40:00Z'), 1_500);
    expect(iso(fired)).toEqual([
      '2026-05-01T23:20:00.000Z',
      '2026-05-01T23:40:00.000Z',
      '2026-05-02T00:00:00.000Z',
      '2026-05-02T00:20:00.000Z',
      '2026-05-02T00:40:00.000Z',
    ]);
  });

  it('fires a second-by-second cron every second, whole seconds only', () => {
    const fired = simulate(cron('*/1 * * * * *', date('2026-05-01T12:00:00Z')), date('2026-05-01T12:00:09Z'), 300);
    expect(fired).toHaveLength(10);
    fired.forEach((at, i) => expect(at.getTime() - fired[0]!.getTime()).toBe(i * 1000));
  });
});

// New York springs forward at 02:00 on Sunday 8 March 2026 (02:00–02:59 does not exist) and falls
// back at 02:00 on Sunday 1 November 2026 (01:00–01:59 happens twice: EDT, then EST).
describe('planFiring: daylight-saving changes (America/New_York)', () => {
  const NY = { timezone: 'America/New_York' };

  it('spring forward: a nonexistent 02:30 fires once that day, at 03:30 EDT (cron-parser moves it an hour on)', () => {
    const fired = simulate(cron('30 2 * * *', date('2026-03-06T07:30:00Z'), NY), date('2026-03-10T12:00:00Z'));
    expect(iso(fired)).toEqual([
      '2026-03-06T07:30:00.000Z', // 02:30 EST
      '2026-03-07T07:30:00.000Z', // 02:30 EST
      '2026-03-08T07:30:00.000Z', // 03:30 EDT: 02:30 does not exist; neither skipped nor fired twice
      '2026-03-09T06:30:00.000Z', // 02:30 EDT
      '2026-03-10T06:30:00.000Z',
    ]);
  });

  it('fall back: 01:30 happens twice and fires once, in the first (EDT) 01:30; 02:30 fires once', () => {
    const early = simulate(cron('30 1 * * *', date('2026-10-31T05:30:00Z'), NY), date('2026-11-02T12:00:00Z'));
    expect(iso(early)).toEqual(['2026-10-31T05:30:00.000Z', '2026-11-01T05:30:00.000Z', '2026-11-02T06:30:00.000Z']);
    const late = simulate(cron('30 2 * * *', date('2026-10-31T06:30:00Z'), NY), date('2026-11-02T12:00:00Z'));
    expect(iso(late)).toEqual(['2026-10-31T06:30:00.000Z', '2026-11-01T07:30:00.000Z', '2026-11-02T07:30:00.000Z']);
  });

  it('fall back: a cron on real time (every 30 minutes) fires in both 01:00–01:59 hours, each moment once', () => {
    const fired = simulate(cron('*/30 * * * *', date('2026-11-01T04:30:00Z'), NY), date('2026-11-01T07:00:00Z'));
    expect(iso(fired)).toEqual([
      '2026-11-01T04:30:00.000Z', // 00:30 EDT
      '2026-11-01T05:00:00.000Z', // 01:00 EDT
      '2026-11-01T05:30:00.000Z', // 01:30 EDT
      '2026-11-01T06:00:00.000Z', // 01:00 EST
      '2026-11-01T06:30:00.000Z', // 01:30 EST
      '2026-11-01T07:00:00.000Z', // 02:00 EST
    ]);
  });

  it('spring forward after downtime: the catch-up does not skip the shifted 03:30 EDT still ahead', () => {
    // Down from before 02:30 on 7 March until 03:10 EDT on 8 March: the 7 March moment was missed,
    // and 8 March's (03:30 EDT, 07:30Z) is 20 minutes ahead. Iterating from "now" (03:10 EDT)
    // cron-parser answers 9 March, which would skip 8 March without a word.
    const plan = planFiring(cron('30 2 * * *', date('2026-03-07T07:30:00Z'), { ...NY, missedPolicy: 'all' }), date('2026-03-08T07:10:00Z'));
    expect(iso(plan.fire)).toEqual(['2026-03-07T07:30:00.000Z']);
    expect(plan.next?.toISOString()).toBe('2026-03-08T07:30:00.000Z');
  });

  it('fall back after downtime: a caught-up 01:30 EDT does not fire again at 01:30 EST', () => {
    // Down over the first 01:30 (05:30Z), back at 01:10 EST (06:10Z). From 06:10Z cron-parser
    // answers 06:30Z, the second 01:30 — which its own sequence never fires — so 1 November would
    // fire 01:30 twice.
    const plan = planFiring(cron('30 1 * * *', date('2026-11-01T05:30:00Z'), { ...NY, missedPolicy: 'last' }), date('2026-11-01T06:10:00Z'));
    expect(iso(plan.fire)).toEqual(['2026-11-01T05:30:00.000Z']);
    expect(plan.next?.toISOString()).toBe('2026-11-02T06:30:00.000Z');
  });
});

describe('planFiring: interval and one-shot', () => {
  it('keeps an interval on its rhythm from the first moment, however late each pass is', () => {
    const first = date('2026-05-01T12:00:00.250Z');
    const fired = simulate(interval(90, first), plus(first, 5 * 90_000), 7_000);
    expect(fired.map((at) => at.getTime() - first.getTime())).toEqual([0, 1, 2, 3, 4, 5].map((i) => i * 90_000));
    // A pass 2.1 intervals late fires the latest moment (on time) and stays on the rhythm.
    const plan = planFiring(interval(60, first), plus(first, 125_000));
    expect(plan.fire).toEqual([plus(first, 120_000)]);
    expect(plan.next).toEqual(plus(first, 180_000));
    expect(plan.dropped).toBe(2);
  });

  it('fires a one-shot once, then is never due again', () => {
    const runAt = date('2026-05-01T12:00:00Z');
    const once = cron('', runAt, { kind: 'once', cron: null, runAt });
    expect(planFiring(once, plus(runAt, 200))).toEqual({ fire: [runAt], dropped: 0, next: null });
    expect(simulate(once, plus(runAt, HOUR))).toEqual([runAt]);
  });

  it('treats a one-shot reached late as missed: `none` drops it, `last` fires it within the window', () => {
    const runAt = date('2026-05-01T12:00:00Z');
    const late = plus(runAt, 10 * MINUTE);
    const once = (changes: Partial<DueSchedule>) => cron('', runAt, { kind: 'once', cron: null, runAt, ...changes });
    expect(planFiring(once({ missedPolicy: 'none' }), late)).toEqual({ fire: [], dropped: 1, next: null });
    expect(planFiring(once({ missedPolicy: 'last', missedWindowSeconds: 3600 }), late)).toEqual({ fire: [runAt], dropped: 0, next: null });
    expect(planFiring(once({ missedPolicy: 'all', missedWindowSeconds: 300 }), late)).toEqual({ fire: [], dropped: 1, next: null });
  });
});

describe('planFiring: missed runs', () => {
  // Hourly; Runboard was down from before 08:00. Due: 08:00, 09:00, 10:00, 11:00, 12:00.
  const hourly = (changes: Partial<DueSchedule>) => cron('0 * * * *', date('2026-05-01T08:00:00Z'), changes);
  const LATE = date('2026-05-01T12:10:00Z'); // 12:00 is 10 minutes old: missed too
  const ON_TIME = date('2026-05-01T12:00:20Z'); // 12:00 is 20 s old: on time
  const hours = (...list: number[]) => list.map((h) => `2026-05-01T${String(h).padStart(2, '0')}:00:00.000Z`);

  it('none: fires no missed occurrence, only an on-time one', () => {
    // Moments no policy fires are skipped over, not walked: `dropped` then counts that stretch as one.
    expect(planFiring(hourly({ missedPolicy: 'none' }), LATE)).toEqual({ fire: [], dropped: 1, next: date('2026-05-01T13:00:00Z') });
    const onTime = planFiring(hourly({ missedPolicy: 'none' }), ON_TIME);
    expect(iso(onTime.fire)).toEqual(hours(12));
    expect(onTime.dropped).toBe(1);
  });

  it('last: fires the latest missed occurrence, only when none fires on time, within the window', () => {
    expect(planFiring(hourly({ missedPolicy: 'last' }), LATE)).toMatchObject({ fire: [date('2026-05-01T12:00:00Z')], dropped: 4 });
    expect(iso(planFiring(hourly({ missedPolicy: 'last' }), ON_TIME).fire)).toEqual(hours(12));
    // The window reaches back 5 minutes from 12:10: nothing missed is that recent.
    expect(planFiring(hourly({ missedPolicy: 'last', missedWindowSeconds: 300 }), LATE)).toMatchObject({ fire: [], dropped: 1 });
    // The window reaches back to 10:50: 12:00 and 11:00 are in it, and only the latest fires.
    expect(iso(planFiring(hourly({ missedPolicy: 'last', missedWindowSeconds: 4800 }), LATE).fire)).toEqual(hours(12));
  });

  it('all: fires every missed occurrence within the window, oldest first, then the on-time one', () => {
    expect(planFiring(hourly({ missedPolicy: 'all' }), LATE)).toMatchObject({ fire: hours(8, 9, 10, 11, 12).map(date), dropped: 0 });
    // Window 2.5 h back from 12:10 starts at 09:40.
    expect(planFiring(hourly({ missedPolicy: 'all', missedWindowSeconds: 9000 }), LATE)).toMatchObject({ fire: hours(10, 11, 12).map(date), dropped: 1 });
    // Window 2 h back from 12:00:20 starts at 10:00:20: 11:00 is missed within it, 12:00 is on time.
    expect(iso(planFiring(hourly({ missedPolicy: 'all', missedWindowSeconds: 7200 }), ON_TIME).fire)).toEqual(hours(11, 12));
  });

  it('an occurrence reached within ON_TIME_MS always fires, whatever the policy and window', () => {
    const moment = date('2026-05-01T12:00:00Z');
    for (const missedPolicy of ['none', 'last', 'all'] as const) {
      const s = cron('0 * * * *', moment, { missedPolicy, missedWindowSeconds: 1 });
      expect(planFiring(s, plus(moment, ON_TIME_MS)).fire, `${missedPolicy}, ${ON_TIME_MS} ms late`).toEqual([moment]);
      // One millisecond later it is missed: `none`, and a 1-second window, drop it.
      expect(planFiring(s, plus(moment, ON_TIME_MS + 1)).fire, `${missedPolicy}, ${ON_TIME_MS + 1} ms late`).toEqual([]);
    }
  });

  it('fires every occurrence within ON_TIME_MS when a pass comes late, not only the latest', () => {
    // A per-second cron reached 2.5 s late (a busy database, a long GC pause): 12:00:00, :01 and
    // :02 were all reached within ON_TIME_MS, so all are on time and fire even with `none`.
    const plan = planFiring(cron('*/1 * * * * *', date('2026-05-01T12:00:00Z')), date('2026-05-01T12:00:02.500Z'));
    expect(iso(plan.fire)).toEqual(['2026-05-01T12:00:00.000Z', '2026-05-01T12:00:01.000Z', '2026-05-01T12:00:02.000Z']);
    expect(plan.dropped).toBe(0);
  });

  it(`catches up at most MAX_CATCH_UP (${MAX_CATCH_UP}) missed occurrences, the latest ones`, () => {
    // An interval every minute, down for MAX_CATCH_UP + 500 minutes, back 50 s after the latest moment.
    const total = MAX_CATCH_UP + 501;
    const first = date('2026-05-01T00:00:00Z');
    const latest = plus(first, (total - 1) * MINUTE);
    const plan = planFiring(interval(60, first, { missedPolicy: 'all' }), plus(latest, 50_000));
    expect(plan.fire).toHaveLength(MAX_CATCH_UP);
    expect(plan.fire.at(-1)).toEqual(latest);
    expect(plan.fire[0]).toEqual(plus(latest, -(MAX_CATCH_UP - 1) * MINUTE));
    expect(plan.dropped).toBe(total - MAX_CATCH_UP);
    expect(plan.next).toEqual(plus(latest, MINUTE));

    // With an on-time occurrence too: MAX_CATCH_UP missed ones, then the on-time one.
    const onTime = planFiring(interval(60, first, { missedPolicy: 'all' }), plus(latest, 5_000));
    expect(onTime.fire).toHaveLength(MAX_CATCH_UP + 1);
    expect(onTime.fire.at(-1)).toEqual(latest);
    expect(onTime.dropped).toBe(total - MAX_CATCH_UP - 1);
  });

  it('caps a cron catch-up the same way', () => {
    const total = MAX_CATCH_UP + 200;
    const first = date('2026-05-01T00:00:00Z');
    const latest = plus(first, (total - 1) * MINUTE);
    const plan = planFiring(cron('* * * * *', first, { missedPolicy: 'all' }), plus(latest, 45_000));
    expect(plan.fire).toHaveLength(MAX_CATCH_UP);
    expect(plan.fire.at(-1)).toEqual(latest);
    expect(new Set(plan.fire.map((at) => at.getTime())).size).toBe(MAX_CATCH_UP);
    expect(plan.dropped).toBe(total - MAX_CATCH_UP);
    expect(plan.next).toEqual(plus(latest, MINUTE));
  });
});

describe('chooseHosts', () => {
  const host = (name: string): Host => ({
    id: `id-${name}`,
    name,
    kind: 'agent',
    description: '',
    address: null,
    port: null,
    enabled: true,
    agentKeyPrefix: null,
    agentKeyCreatedAt: null,
    hostname: null,
    os: null,
    agentVersion: null,
    online: true,
    lastSeenAt: null,
    createdAt: new Date(0),
    updatedAt: new Date(0),
  });
  const candidates = (...active: number[]): Candidate[] => active.map((activeRuns, i) => ({ host: host(`h${i}`), activeRuns }));
  const names = (chosen: { hosts: Host[] }) => chosen.hosts.map((h) => h.name);

  it('ALL runs on every host in order, whatever the strategy; no candidate means no host', () => {
    for (const targetStrategy of ['random', 'round_robin', 'least_busy'] as const) {
      const chosen = chooseHosts({ targetMode: 'all', targetStrategy }, candidates(3, 0, 1), 7, () => 0.99);
      expect(chosen).toEqual({ hosts: [host('h0'), host('h1'), host('h2')], cursor: 7 });
    }
    expect(chooseHosts({ targetMode: 'one', targetStrategy: 'round_robin' }, [], 4)).toEqual({ hosts: [], cursor: 4 });
  });

  it('random picks by the random number it is given', () => {
    const pick = (r: number) => names(chooseHosts({ targetMode: 'one', targetStrategy: 'random' }, candidates(0, 0, 0), 0, () => r));
    expect([pick(0), pick(0.34), pick(0.67), pick(0.9999)]).toEqual([['h0'], ['h1'], ['h2'], ['h2']]);
  });

  it('round_robin takes each host in turn and wraps, carrying the cursor between occurrences', () => {
    const list = candidates(0, 0, 0);
    const order: string[] = [];
    let cursor = 0;
    for (let i = 0; i < 7; i++) {
      const chosen = chooseHosts({ targetMode: 'one', targetStrategy: 'round_robin' }, list, cursor);
      order.push(...names(chosen));
      cursor = chosen.cursor;
    }
    expect(order).toEqual(['h0', 'h1', 'h2', 'h0', 'h1', 'h2', 'h0']);
    // A cursor past the end (a host left the group) wraps instead of failing.
    expect(chooseHosts({ targetMode: 'one', targetStrategy: 'round_robin' }, candidates(0, 0), 5)).toEqual({ hosts: [host('h1')], cursor: 2 });
  });

  it('least_busy picks the host with the fewest active runs, the first of equals on a tie', () => {
    const pick = (...active: number[]) => names(chooseHosts({ targetMode: 'one', targetStrategy: 'least_busy' }, candidates(...active), 0));
    expect(pick(2, 0, 1)).toEqual(['h1']);
    expect(pick(3, 1, 1)).toEqual(['h1']);
    expect(pick(0, 0, 0)).toEqual(['h0']);
    expect(pick(5, 4, 3, 9)).toEqual(['h2']);
  });
});
