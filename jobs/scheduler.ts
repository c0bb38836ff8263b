/**
 * The scheduler: fires due schedules. Every instance runs one; each pass locks a batch of due
 * schedules with SKIP LOCKED (so instances split a burst instead of queueing behind each other),
 * records their occurrences — unique on (schedule, moment), so a second firing anywhere inserts
 * nothing and starts nothing — queues a run per occurrence and target host, applies the overlap
 * policy, and moves each schedule to its next moment, all in one transaction per batch.
 *
 * It sleeps until the earliest schedule is due (less the lookahead; at most a second, so schedules
 * changed on another instance are seen promptly) and wakes early when a schedule changes here or
 * anywhere.
 */
import type { Logger } from 'pino';
import type { RunNotifier } from '../core/run.service';
import { chooseHosts, planFiring, type Candidate } from '../core/schedule-firing';
import type { Db } from '../db/database';
import {
  activeRunCounts,
  activeRunsOfSchedules,
  insertOccurrences,
  lockDueSchedules,
  nextDueAt,
  saveFired,
  type DueScheduleRow,
  type FiredSchedule,
} from '../db/firing.repository';
import type { Host } from '../db/host.repository';
import { moveRuns } from '../db/run-queue.repository';
import { insertRuns, type NewRun, type Run } from '../db/run.repository';
import { listTargetHostsOfSchedules } from '../db/schedule.repository';
import { findScriptsByIds, type Script } from '../db/script.repository';

export interface SchedulerDeps {
  db: Db;
  log: Logger;
  notify: RunNotifier;
  /** A schedule's next moment changed. */
  scheduleFired: (scheduleId: string) => void;
  onEvents: (ids: string[]) => void;
  /** Runs were queued: start them. */
  runsQueued: () => void;
}

const BATCH = 500;
const PARALLEL_BATCHES = 3;
/**
 * Schedules whose overlap policy is `allow` fire this far ahead: their runs are queued with
 * `not_before` at their moment, so a burst of thousands due in one second is recorded and claimed
 * before it, and starts on time. Pausing, changing or deleting a schedule withdraws them.
 */
export const LOOKAHEAD_MS = 4_000;
const MAX_SLEEP_MS = 1_000;
/** When a due schedule is locked by another instance, look again this soon. */
const BUSY_RETRY_MS = 50;

export class Scheduler {
  readonly #deps: SchedulerDeps;
  #timer: NodeJS.Timeout | undefined;
  #running = false;
  #again = false;
  #stopped = false;
  #pass: Promise<void> = Promise.resolve();

  constructor(deps: SchedulerDeps) {
    this.#deps = deps;
  }

  start(): void {
    this.wake();
  }

  /** Fires what is due now, then sleeps until the next one. */
  wake(): void {
    if (this.#stopped) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    clearTimeout(this.#timer);
    this.#running = true;
    this.#pass = this.#run()
      .catch((error: unknown) => {
        this.#deps.log.error({ err: error }, 'the scheduler could not fire schedules; it tries again within a second');
        return MAX_SLEEP_MS;
      })
      .then((sleep) => {
        this.#running = false;
        if (this.#stopped) return;
        if (this.#again) return this.wake();
        this.#timer = setTimeout(() => this.wake(), sleep);
        this.#timer.unref();
      });
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#pass;
  }

  /** One pass: fire every due batch, then answer how long to sleep. */
  async #run(): Promise<number> {
    this.#again = false;
    let fired = 0;
    for (;;) {
      // Several batches at once (SKIP LOCKED gives each its own schedules): a burst of thousands
      // due in one second is recorded in a fraction of the lookahead.
      const counts = await Promise.all(Array.from({ length: PARALLEL_BATCHES }, () => this.fireDue()));
      fired += counts.reduce((sum, n) => sum + n, 0);
      if (counts.every((n) => n < BATCH) || this.#stopped) break;
    }
    const due = await nextDueAt(this.#deps.db, LOOKAHEAD_MS);
    if (!due) return MAX_SLEEP_MS;
    const wait = due.getTime() - Date.now();
    if (wait <= 0) return fired > 0 ? 0 : BUSY_RETRY_MS;
    return Math.min(wait, MAX_SLEEP_MS);
  }

  /** Fires one batch of due schedules; answers how many schedules it locked. */
  async fireDue(): Promise<number> {
    const { schedules, runs, cancelled, eventIds, dropped } = await this.#deps.db.transaction().execute(async (trx) => {
      const horizon = new Date(Date.now() + LOOKAHEAD_MS);
      const due = await lockDueSchedules(trx, BATCH, horizon);
      if (due.length === 0) return { schedules: [] as DueScheduleRow[], runs: [] as Run[], cancelled: [] as Run[], eventIds: [] as string[], dropped: [] };
      return fireBatch(trx, due, horizon);
    });
    for (const d of dropped) {
      this.#deps.log.info({ schedule: d.name, scheduleId: d.id, occurrences: d.count }, 'missed occurrences dropped by the missed-run policy');
    }
    for (const run of cancelled) this.#deps.notify.runUpdated(run);
    for (const run of runs) this.#deps.notify.runUpdated(run);
    if (eventIds.length > 0) this.#deps.onEvents(eventIds);
    for (const schedule of schedules) this.#deps.scheduleFired(schedule.id);
    if (runs.some((run) => run.state === 'queued')) this.#deps.runsQueued();
    return schedules.length;
  }
}

/** The hosts an occurrence may go to: enabled ones, reachable ones first (the local host always is). */
function candidatesOf(hosts: readonly Host[], busy: Map<string, number>): Candidate[] {
  const enabled = hosts.filter((host) => host.enabled);
  const reachable = enabled.filter((host) => host.kind === 'local' || host.online);
  return (reachable.length > 0 ? reachable : enabled).map((host) => ({ host, activeRuns: busy.get(host.id) ?? 0 }));
}

async function fireBatch(trx: Db, due: DueScheduleRow[], horizon: Date) {
  const now = new Date();
  const ids = due.map((s) => s.id);
  const [targets, scripts, active] = await Promise.all([
    listTargetHostsOfSchedules(trx, ids),
    findScriptsByIds(trx, [...new Set(due.map((s) => s.scriptId))]),
    activeRunsOfSchedules(trx, ids),
  ]);
  const scriptById = new Map(scripts.map((script) => [script.id, script]));
  const needsLoad = due.some((s) => s.targetMode === 'one' && s.targetStrategy === 'least_busy');
  const busy = needsLoad ? await activeRunCounts(trx, [...new Set(targets.flat().map((host) => host.id))]) : new Map<string, number>();

  // Occurrences first: the ones another instance already recorded come back missing, and fire nothing.
  // Only `allow` schedules fire ahead: the other overlap policies look at the previous run, which
  // must be judged at the moment itself.
  const limitOf = (s: DueScheduleRow) => (s.overlapPolicy === 'allow' ? horizon : now);
  const firings = due.map((s) => ({ schedule: s, plan: s.nextRunAt > limitOf(s) ? undefined : planFiring(s, limitOf(s)) }));
  const recorded = await insertOccurrences(
    trx,
    firings.flatMap(({ schedule, plan }) => (plan?.fire ?? []).map((at) => ({ scheduleId: schedule.id, scheduledFor: at }))),
  );
  const occurrenceId = new Map(recorded.map((o) => [`${o.scheduleId}|${o.scheduledFor.getTime()}`, o.id]));

  const newRuns: NewRun[] = [];
  const toCancel = new Set<string>();
  const saved: FiredSchedule[] = [];
  // Runs still going, per schedule and host; runs queued in this batch count too.
  const going = new Map<string, string[]>();
  for (const run of active) {
    const key = `${run.scheduleId}|${run.hostId}`;
    going.set(key, [...(going.get(key) ?? []), run.id]);
  }
  due.forEach((schedule, i) => {
    const { plan } = firings[i]!;
    if (!plan) return; // locked for the horizon, but not due yet by its own policy: untouched
    let cursor = schedule.roundRobinNext;
    const script = scriptById.get(schedule.scriptId);
    for (const at of plan.fire) {
      const occurrence = occurrenceId.get(`${schedule.id}|${at.getTime()}`);
      if (!occurrence) continue; // fired elsewhere
      const chosen = chooseHosts(schedule, candidatesOf(targets[i] ?? [], busy), cursor);
      cursor = chosen.cursor;
      const base = {
        scriptId: schedule.scriptId,
        scriptName: script?.name ?? '(deleted script)',
        scheduleId: schedule.id,
        occurrenceId: occurrence,
        trigger: 'schedule' as const,
        triggeredByUserId: null,
        triggeredBy: schedule.name,
        parameters: { ...stringValues(script), ...schedule.parameters },
        scheduledFor: at,
      };
      if (chosen.hosts.length === 0) {
        newRuns.push(skipped({ ...base, hostId: null, hostName: null }, 'skipped: no enabled host to run on'));
        continue;
      }
      chosen.hosts.forEach((host, h) => {
        const run = { ...base, hostId: host.id, hostName: host.name };
        if (!script?.enabled) return void newRuns.push(skipped(run, `skipped: script "${base.scriptName}" is disabled`));
        const key = `${schedule.id}|${host.id}`;
        const previous = going.get(key) ?? [];
        if (previous.length > 0 && schedule.overlapPolicy === 'skip') {
          return void newRuns.push(skipped(run, 'skipped: the previous run is still going (overlap policy: skip)'));
        }
        if (previous.length > 0 && schedule.overlapPolicy === 'cancel_previous') {
          for (const id of previous) toCancel.add(id);
          going.set(key, []);
        }
        const stagger = schedule.targetMode === 'all' ? h * schedule.staggerSeconds * 1000 : 0;
        newRuns.push({ ...run, notBefore: new Date(at.getTime() + stagger) });
        going.set(key, [...(going.get(key) ?? []), `pending:${newRuns.length}`]);
        busy.set(host.id, (busy.get(host.id) ?? 0) + 1);
      });
    }
    saved.push({ id: schedule.id, next: plan.next, last: plan.fire.length > 0 ? plan.fire[plan.fire.length - 1]! : null, roundRobinNext: cursor });
  });

  const cancelledMoves = await moveRuns(
    trx,
    [...toCancel].filter((id) => !id.startsWith('pending:')).map((id) => ({
      id,
      to: 'cancelled' as const,
      from: ['queued', 'dispatched', 'running'] as const,
      summary: 'cancelled: a newer occurrence started (overlap policy: cancel previous)',
      events: [{ action: 'run.cancelled', summary: 'Cancelled by its schedule: a newer occurrence started (overlap policy: cancel previous)' }],
    })),
  );
  // Cancelled runs of this batch that were never inserted are simply not inserted.
  const keep = newRuns.filter((_, index) => !toCancel.has(`pending:${index + 1}`));
  const runs = await insertRuns(trx, keep);
  await saveFired(trx, saved);
  const dropped = firings.flatMap((f) => (f.plan && f.plan.dropped > 0 ? [{ id: f.schedule.id, name: f.schedule.name, count: f.plan.dropped }] : []));
  return { schedules: due, runs, cancelled: cancelledMoves.runs, eventIds: cancelledMoves.eventIds, dropped };
}

function stringValues(script: Script | undefined): Record<string, string> {
  const values: Record<string, string> = {};
  for (const [name, value] of Object.entries(script?.parameters ?? {})) values[name] = String(value ?? '');
  return values;
}

function skipped(run: NewRun, summary: string): NewRun {
  return { ...run, state: 'skipped', summary, finishedAt: new Date() };
}
