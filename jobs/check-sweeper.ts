/**
 * The check sweeper: moves checks late and down as time passes them by (pings move them at once,
 * in core/check.service.ts). healthchecks.io's pattern: each check carries its precomputed
 * deadlines — `late_at` (the expected time) and `next_due_at` (expected + grace, when it is down;
 * for a run in progress, its START + grace) — the sweeper reads the checks past one (through
 * partial indexes), decides each move with the pure rule (`stateAt`, core/check-state.ts), and
 * applies them with one optimistic `UPDATE … WHERE id = … AND state = <old>` per batch, so every
 * instance may sweep the same database and each flip happens once.
 *
 * It sleeps until the earliest deadline (at most a second, so changes on other instances are seen
 * promptly) and looks again within 100 ms when a check changes here or anywhere.
 *
 * Contract with alerting (it reads the `events` table): every flip, whoever causes it (this
 * sweeper, a ping, an update), is one audit event written with the flip:
 *
 * - action `check.late` (up → late), `check.down` (→ down), `check.up` (new, late or down → up);
 * - object_type `'Check'`, object_id the check's id, object_name its name;
 * - details exactly `{ "from": <old state>, "to": <new state> }`;
 * - the sweeper's events have actor_kind `system`; a ping's its sender (`anonymous` over the ping URL).
 *
 * Each is also published as `eventAdded`, and the check as `checkUpdated` (STATE_CHANGED from
 * here, PINGED from a ping). The actions live in core/check-flip.ts.
 */
import type { Logger } from 'pino';
import { flipChange } from '../core/check-flip';
import { lateAt, stateAt } from '../core/check-state';
import { applyFlips, findSweepCandidates, nextSweepAt, type AppliedFlip, type CheckFlip } from '../db/check-sweep.repository';
import type { Check } from '../db/check.repository';
import type { Db } from '../db/database';

export interface CheckSweeperDeps {
  db: Db;
  log: Logger;
  /** Told of the flips this instance applied, after they committed. */
  flipped: (flips: AppliedFlip[]) => void;
}

/** Checks read (per kind of deadline) and moved per statement. */
const BATCH = 1_000;
/** At most this many batches per pass, so one pass cannot loop forever on a bad row. */
const MAX_BATCHES = 200;
const MAX_SLEEP_MS = 1_000;
/** When a deadline has passed but nothing moved (another instance is moving it), look again this soon. */
const BUSY_RETRY_MS = 50;
/**
 * A change elsewhere makes the sweeper look again within this long, not at once: a stream of
 * pings then costs at most ten passes a second, and a deadline a change brought nearer is still
 * met well within a second.
 */
const CHANGE_DELAY_MS = 100;

/** What the sweeper does with one check at `now`: its flip, or null when nothing changes. */
export function sweepFlip(check: Check, now: Date): CheckFlip | null {
  const to = stateAt(check, now);
  const late = lateAt(check, { ...check, state: to });
  // A move to the same state only refreshes a late time that disagrees with the rule.
  if (to === check.state && late?.getTime() === check.lateAt?.getTime()) return null;
  const change = flipChange(check, check.state, to);
  return {
    id: check.id,
    from: check.state,
    to,
    readDueAt: check.nextDueAt,
    lateAt: late,
    event: change && { action: change.action, summary: change.summary, details: change.details ?? {} },
  };
}

export class CheckSweeper {
  readonly #deps: CheckSweeperDeps;
  #timer: NodeJS.Timeout | undefined;
  /** When the timer fires (Date.now()); undefined when none is set. */
  #timerAt: number | undefined;
  #running = false;
  #again = false;
  /** A check changed during the pass: look again within CHANGE_DELAY_MS after it. */
  #changedDuringPass = false;
  #stopped = false;
  #pass: Promise<void> = Promise.resolve();

  constructor(deps: CheckSweeperDeps) {
    this.#deps = deps;
  }

  start(): void {
    this.wake();
  }

  /** Sweeps now, then sleeps until the next deadline. */
  wake(): void {
    if (this.#stopped) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    clearTimeout(this.#timer);
    this.#timerAt = undefined;
    this.#running = true;
    this.#pass = this.#run()
      .catch((error: unknown) => {
        this.#deps.log.error({ err: error }, 'the check sweeper could not move checks; it tries again within a second');
        return MAX_SLEEP_MS;
      })
      .then((sleep) => {
        this.#running = false;
        if (this.#stopped) return;
        if (this.#again) return this.wake();
        this.#sleep(this.#changedDuringPass ? Math.min(sleep, CHANGE_DELAY_MS) : sleep);
      });
  }

  /** A check changed (here or on another instance): its deadlines may have moved nearer. */
  changed(): void {
    if (this.#stopped) return;
    if (this.#running) {
      this.#changedDuringPass = true;
      return;
    }
    if (this.#timerAt === undefined || this.#timerAt > Date.now() + CHANGE_DELAY_MS) this.#sleep(CHANGE_DELAY_MS);
  }

  #sleep(ms: number): void {
    clearTimeout(this.#timer);
    this.#timerAt = Date.now() + ms;
    this.#timer = setTimeout(() => this.wake(), ms);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#pass;
  }

  /** One pass: apply every flip due now, then answer how long to sleep. */
  async #run(): Promise<number> {
    this.#again = false;
    this.#changedDuringPass = false;
    let moved = 0;
    // Idle, a pass is this one indexed read; the checks themselves are read only when one is due.
    let next = await nextSweepAt(this.#deps.db);
    if (next && next.getTime() <= Date.now()) {
      for (let batch = 0; batch < MAX_BATCHES && !this.#stopped; batch++) {
        const { read, applied } = await this.sweepBatch();
        moved += applied;
        // A full read (either deadline's query may fill it) may have more behind it; one that moved
        // nothing was lost to another instance.
        if (read < BATCH || applied === 0) break;
      }
      next = await nextSweepAt(this.#deps.db);
    }
    if (!next) return MAX_SLEEP_MS;
    const wait = next.getTime() - Date.now();
    if (wait <= 0) return moved > 0 ? 0 : BUSY_RETRY_MS;
    return Math.min(wait, MAX_SLEEP_MS);
  }

  /** Reads one batch of checks past a deadline and applies their flips; answers how many it read and moved. */
  async sweepBatch(): Promise<{ read: number; applied: number }> {
    const now = new Date();
    const candidates = await findSweepCandidates(this.#deps.db, now, BATCH);
    const flips = candidates.map((check) => sweepFlip(check, now)).filter((flip) => flip !== null);
    const applied = await applyFlips(this.#deps.db, flips);
    const flipped = applied.filter((flip) => flip.from !== flip.to);
    if (flipped.length > 0) this.#deps.flipped(flipped);
    return { read: candidates.length, applied: applied.length };
  }
}

