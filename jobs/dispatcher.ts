/**
 * The dispatcher: claims queued runs for the hosts this instance executes for, prepares their
 * plans, hands each to its host's executor, and records what happens — started, output, finished,
 * retried — as conditional moves of the run's state (batched: one statement for many runs).
 *
 * It is host-agnostic: `executors` maps a host id to whatever executes there (the local executor
 * for the `local` host; agents will add theirs). It wakes on `wake()` (a run was queued in this
 * process), on a `queued` run event from any instance, when a slot frees up, and once a second
 * regardless (runs whose retry delay or stagger has passed, missed notifications).
 */
import type { Logger } from 'pino';
import type { RunNotifier, RunUpdatedMessage } from '../core/run.service';
import { appendOutput } from '../core/run.service';
import { ConflictError } from '../core/errors';
import { retryOf } from '../core/run-retry';
import type { SecretBox } from '../core/secrets';
import type { ExecutionConfig } from '../core/config';
import type { Db } from '../db/database';
import { claimRuns, claimRunsAhead, moveRuns, type RunMove } from '../db/run-queue.repository';
import { insertRuns, type Run } from '../db/run.repository';
import type { RunState } from '../db/schema';
import { findScriptsByIds, type Script } from '../db/script.repository';
import { Batcher } from './batcher';
import type { ExecuteOptions, ExecutionOutcome, ExecutionPlan, OutputPiece } from './execution';
import { finishedEvent, runningEvent } from './run-events';
import { preparePlans } from './run-plan';

export interface HostExecutor {
  execute(plan: ExecutionPlan, options: ExecuteOptions): Promise<ExecutionOutcome>;
}

export interface DispatcherDeps {
  db: Db;
  secrets: SecretBox;
  log: Logger;
  instanceId: string;
  config: ExecutionConfig;
  notify: RunNotifier;
  /** Tells subscribers of audit events written by run moves. */
  onEvents: (ids: string[]) => void;
  /** Host id → its executor. */
  executors: Map<string, HostExecutor>;
}

export interface RunListeners {
  started: Set<(runId: string) => void>;
  finished: Set<(runId: string, state: RunState) => void>;
}

const POLL_MS = 1_000;
const MAX_CLAIM = 500;

/** Runs are claimed this far ahead of their moment (a little more than the scheduler fires ahead). */
const AHEAD_MS = 5_000;
/** Runs claimed ahead per statement. */
const MAX_AHEAD_CLAIM = 2_000;
/** At most this many runs wait, claimed, for their moment. */
const MAX_WAITING = 20_000;

interface Waiting {
  run: Run;
  plan: ExecutionPlan;
  script: Script;
  at: number;
}

interface InFlight {
  run: Run;
  abort: AbortController;
  /** Why it was aborted: someone cancelled it, or this instance is stopping. */
  reason?: 'cancel' | 'shutdown';
}

export class Dispatcher {
  readonly listeners: RunListeners = { started: new Set(), finished: new Set() };
  readonly #deps: DispatcherDeps;
  readonly #inFlight = new Map<string, InFlight>();
  /** Starts and finishes flush separately, so one batch of each can be in flight at once. */
  readonly #starts: Batcher<RunMove, Run>;
  readonly #finishes: Batcher<RunMove, Run>;
  /** Moves that also ran through `running` without it being stored (see #execute). */
  readonly #ranThrough = new WeakSet<RunMove>();
  #pumping = false;
  #again = false;
  #stopping = false;
  #wakeScheduled = false;
  /** Runs claimed ahead of their moment, plans ready, earliest first. */
  #waiting: Waiting[] = [];
  #waitTimer: NodeJS.Timeout | undefined;
  #aheadWanted = false;
  #aheadRunning = false;
  #timer: NodeJS.Timeout | undefined;

  constructor(deps: DispatcherDeps) {
    this.#deps = deps;
    const flush = async (moves: RunMove[]) => {
      const { runs, eventIds } = await moveRuns(deps.db, moves);
      const byId = new Map(runs.map((run) => [run.id, run]));
      for (const move of moves) {
        const run = byId.get(move.id);
        if (!run) continue;
        if (this.#ranThrough.has(move)) deps.notify.runUpdated({ ...run, state: 'running', finishedAt: null });
        deps.notify.runUpdated(run);
      }
      if (eventIds.length > 0) deps.onEvents(eventIds);
      return moves.map((move) => byId.get(move.id));
    };
    this.#starts = new Batcher(flush);
    this.#finishes = new Batcher(flush);
  }

  start(): void {
    // Runs due soon are looked for on this poll and when this instance's scheduler queues some
    // (wakeAhead) — not on every pass, where the extra claim would slow a busy queue down.
    this.#timer = setInterval(() => {
      this.wake();
      this.#lookAhead();
    }, POLL_MS);
    this.#timer.unref();
    this.wake();
  }

  /** Looks for runs to start now. Cheap to call often: calls during a pass fold into one more pass. */
  wake(): void {
    if (this.#stopping) return;
    if (this.#pumping) {
      this.#again = true;
      return;
    }
    this.#pumping = true;
    void this.#pump()
      .catch((error: unknown) => this.#deps.log.error({ err: error }, 'the dispatcher could not claim runs; it tries again within a second'))
      .finally(() => {
        this.#pumping = false;
        // A wake that came while the last pass was past its check is not lost.
        if (this.#again) this.wake();
      });
  }

  /**
   * Wakes on the next turn of the event loop: runs finishing together free their slots first, so
   * the next claim takes them all at once instead of one, then the rest.
   */
  #wakeSoon(): void {
    if (this.#wakeScheduled) return;
    this.#wakeScheduled = true;
    setImmediate(() => {
      this.#wakeScheduled = false;
      this.wake();
    });
  }

  /** Runs were queued ahead of their moment (by this instance's scheduler): claim them now. */
  wakeAhead(): void {
    this.#aheadWanted = true;
    this.#lookAhead();
  }

  /** What the instance hears of run changes anywhere: queued runs wake it, cancelled ones stop. */
  onRunUpdated(message: RunUpdatedMessage): void {
    if (message.state === 'queued') this.wake();
    if (message.state === 'cancelled' || message.deleted) {
      const index = this.#waiting.findIndex((w) => w.run.id === message.id);
      if (index !== -1) this.#waiting.splice(index, 1);
    }
    const flight = this.#inFlight.get(message.id);
    if (flight && (message.state === 'cancelled' || message.deleted) && !flight.reason) {
      flight.reason = 'cancel';
      flight.abort.abort();
    }
  }

  get running(): number {
    return this.#inFlight.size;
  }

  async #pump(): Promise<void> {
    for (;;) {
      this.#again = false;
      this.#startDue();
      const capacity = this.#deps.config.maxParallelRuns - this.#inFlight.size;
      if (capacity <= 0 || this.#stopping) break;
      const limit = Math.min(capacity, MAX_CLAIM);
      const claimed = await claimRuns(this.#deps.db, { hostIds: [...this.#deps.executors.keys()], instanceId: this.#deps.instanceId, limit });
      // Launched without waiting: the next claim need not wait for these plans to load.
      if (claimed.length > 0) {
        this.#launch(claimed).catch((error: unknown) => this.#deps.log.error({ err: error }, 'could not prepare claimed runs; they go back to the queue'));
      }
      if (claimed.length < limit && !this.#again) break;
    }
  }

  #lookAhead(): void {
    if (!this.#stopping && !this.#aheadRunning) {
      this.#aheadWanted = false;
      this.#aheadRunning = true;
      this.#claimAhead()
        .catch((error: unknown) => this.#deps.log.error({ err: error }, 'could not claim runs due soon; the next pass tries again'))
        .finally(() => {
          this.#aheadRunning = false;
          if (this.#aheadWanted) this.#lookAhead();
        });
    }
  }

  /** Claims runs whose moment is near (scheduled ahead), prepares them, and sets them waiting. */
  async #claimAhead(): Promise<void> {
    while (!this.#stopping && this.#waiting.length < MAX_WAITING) {
      const limit = Math.min(MAX_AHEAD_CLAIM, MAX_WAITING - this.#waiting.length);
      const claimed = await claimRunsAhead(this.#deps.db, {
        hostIds: [...this.#deps.executors.keys()],
        instanceId: this.#deps.instanceId,
        limit,
        aheadMs: AHEAD_MS,
      });
      if (claimed.length === 0) return;
      for (const run of claimed) this.#deps.notify.runUpdated(run);
      const prepared = await preparePlans(this.#deps.db, this.#deps.secrets, claimed);
      for (const run of claimed) {
        const ready = prepared.get(run.id)!;
        if ('error' in ready) {
          const flight = { run, abort: new AbortController() };
          void this.#finish(flight, undefined, { state: 'failed', exitCode: null, summary: ready.error, result: null, outputBytes: 0, outputTruncated: false });
          continue;
        }
        this.#waiting.push({ run, plan: ready.plan, script: ready.script, at: run.notBefore?.getTime() ?? 0 });
      }
      this.#waiting.sort((a, b) => a.at - b.at);
      this.#armWaitTimer();
      if (claimed.length < limit) return;
    }
  }

  /** Starts the waiting runs whose moment has come, as far as the slots allow. */
  #startDue(): void {
    const now = Date.now();
    while (this.#waiting.length > 0 && this.#waiting[0]!.at <= now && this.#inFlight.size < this.#deps.config.maxParallelRuns && !this.#stopping) {
      const { run, plan, script } = this.#waiting.shift()!;
      const flight: InFlight = { run, abort: new AbortController() };
      this.#inFlight.set(run.id, flight);
      void this.#execute(flight, plan, script);
    }
    this.#armWaitTimer();
  }

  #armWaitTimer(): void {
    clearTimeout(this.#waitTimer);
    const next = this.#waiting[0];
    if (!next || this.#stopping) return;
    // Straight to the waiting runs: a pass of the pump may be busy claiming, and must not hold them up.
    this.#waitTimer = setTimeout(() => this.#startDue(), Math.max(0, next.at - Date.now()));
    this.#waitTimer.unref();
  }

  async #launch(runs: Run[]): Promise<void> {
    for (const run of runs) {
      this.#inFlight.set(run.id, { run, abort: new AbortController() });
      this.#deps.notify.runUpdated(run);
    }
    let prepared;
    try {
      prepared = await preparePlans(this.#deps.db, this.#deps.secrets, runs);
    } catch (error) {
      // Back to the queue: another pass (or instance) tries again.
      await Promise.all(runs.map((run) => this.#finishes.add({ id: run.id, to: 'queued', from: ['dispatched'], release: true })));
      for (const run of runs) this.#inFlight.delete(run.id);
      throw error;
    }
    for (const run of runs) {
      const ready = prepared.get(run.id)!;
      const flight = this.#inFlight.get(run.id)!;
      if ('error' in ready) {
        void this.#finish(flight, undefined, { state: 'failed', exitCode: null, summary: ready.error, result: null, outputBytes: 0, outputTruncated: false });
        continue;
      }
      void this.#execute(flight, ready.plan, ready.script);
    }
  }

  async #execute(flight: InFlight, plan: ExecutionPlan, script: Script): Promise<void> {
    const { run } = flight;
    const executor = this.#deps.executors.get(run.hostId ?? '');
    if (!executor) {
      // Its host's agent disconnected between the claim and now: back to the queue, for whichever
      // instance it reconnects to.
      this.#inFlight.delete(run.id);
      await this.#finishes.add({ id: run.id, to: 'queued', from: ['dispatched'], release: true }).catch((error: unknown) => {
        this.#deps.log.error({ err: error, runId: run.id }, 'could not put back a run whose host went away');
      });
      return;
    }
    let start: RunMove | undefined;
    let started: Promise<Run | undefined> | undefined;
    let outcome: ExecutionOutcome;
    try {
      outcome = await executor.execute(plan, {
        sink: { write: (pieces, at) => this.#write(run, pieces, at?.agentSeq) },
        signal: flight.abort.signal,
        onStart: (pid) => {
          for (const listener of this.listeners.started) listener(run.id);
          start = { id: run.id, to: 'running', from: ['dispatched'], pid, startedAt: new Date(), events: [runningEvent(run)] };
          started = this.#starts.add(start);
        },
        killGraceMs: this.#deps.config.killGraceMs,
        outputCapBytes: this.#deps.config.outputCapBytes,
        flushMs: this.#deps.config.outputFlushMs,
      });
    } catch (error) {
      this.#deps.log.error({ err: error, runId: run.id }, 'the executor failed');
      outcome = { state: 'failed', exitCode: null, summary: `Runboard could not execute it: ${error instanceof Error ? error.message : String(error)}`, result: null, outputBytes: 0, outputTruncated: false };
    }
    // A run that finished before its start was stored (a no-op, a quick command) is stored once:
    // dispatched → running → finished in one conditional update, both moves published and
    // audited. Otherwise the finish waits for the start, so it never overtakes it.
    if (start && this.#starts.withdraw(start)) {
      await this.#finish(flight, script, outcome, start);
      return;
    }
    await started?.catch(() => undefined);
    await this.#finish(flight, script, outcome);
  }

  async #write(run: Run, pieces: OutputPiece[], agentSeq?: number): Promise<void> {
    try {
      await appendOutput({ db: this.#deps.db, notify: this.#deps.notify }, run.id, pieces, { agentSeq });
    } catch (error) {
      // Finished elsewhere (cancelled): its output is closed; anything else is logged, not fatal
      // here — except to an agent, which keeps the batch and sends it again.
      if (error instanceof ConflictError) return;
      if (agentSeq !== undefined) throw error;
      this.#deps.log.warn({ err: error, runId: run.id }, 'could not store output');
    }
  }

  async #finish(flight: InFlight, script: Script | undefined, outcome: ExecutionOutcome, unstoredStart?: RunMove): Promise<void> {
    const { run } = flight;
    const stopping = flight.reason === 'shutdown';
    const state: RunState = stopping ? 'lost' : outcome.state;
    const summary = stopping ? 'lost: Runboard stopped while it ran' : outcome.summary;
    // The slot is free once the work is: the next claim need not wait for this bookkeeping (the
    // database still counts the run against its script's limits until the move lands).
    this.#inFlight.delete(run.id);
    // A run waiting for its moment takes the slot at once; otherwise the next claim does.
    this.#startDue();
    this.#wakeSoon();
    const finish: RunMove = {
      id: run.id,
      to: state,
      from: unstoredStart ? ['dispatched'] : ['dispatched', 'running'],
      exitCode: outcome.exitCode,
      summary,
      result: outcome.result ?? null,
      outputBytes: outcome.outputBytes,
      outputTruncated: outcome.outputTruncated,
      ...(unstoredStart && { started: true, pid: unstoredStart.pid, startedAt: unstoredStart.startedAt }),
      events: [
        ...(unstoredStart?.events ?? []),
        finishedEvent(run, state, summary),
      ],
    };
    if (unstoredStart) this.#ranThrough.add(finish);
    try {
      const finished = await this.#finishes.add(finish);
      if (finished) await this.retry([finished], script ? [script] : undefined);
      for (const listener of this.listeners.finished) listener(run.id, finished?.state ?? 'cancelled');
    } catch (error) {
      this.#deps.log.error({ err: error, runId: run.id }, 'could not record how a run finished');
    }
  }

  /** Queues the retries of finished runs whose scripts allow them. */
  async retry(runs: Run[], scripts?: Script[]): Promise<Run[]> {
    const candidates = runs.filter((run) => ['failed', 'timed_out', 'lost'].includes(run.state) && run.scriptId);
    if (candidates.length === 0) return [];
    const known = scripts ?? (await findScriptsByIds(this.#deps.db, [...new Set(candidates.map((run) => run.scriptId!))]));
    const byId = new Map(known.map((script) => [script.id, script]));
    const retries = candidates.flatMap((run) => retryOf(run, byId.get(run.scriptId!)) ?? []);
    if (retries.length === 0) return [];
    const inserted = await insertRuns(this.#deps.db, retries);
    for (const retried of inserted) this.#deps.notify.runUpdated(retried);
    this.wake();
    return inserted;
  }

  /**
   * Stops claiming; lets running runs finish for the grace period; then stops the rest, which
   * are recorded as lost (and retried per policy, by whichever instance claims them).
   */
  async stop(graceMs: number): Promise<void> {
    this.#stopping = true;
    clearInterval(this.#timer);
    clearTimeout(this.#waitTimer);
    while (this.#aheadRunning) await new Promise((resolve) => setTimeout(resolve, 10));
    // Runs waiting for their moment go back to the queue for the other instances.
    const waiting = this.#waiting.splice(0);
    await Promise.all(waiting.map((w) => this.#finishes.add({ id: w.run.id, to: 'queued', from: ['dispatched'], release: true })));
    const deadline = Date.now() + graceMs;
    while (this.#inFlight.size > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    for (const flight of this.#inFlight.values()) {
      if (!flight.reason) flight.reason = 'shutdown';
      flight.abort.abort();
    }
    const until = Date.now() + this.#deps.config.killGraceMs + 2_000;
    while (this.#inFlight.size > 0 && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 50));
    while (this.#pumping) await new Promise((resolve) => setTimeout(resolve, 10));
    await this.#starts.idle();
    await this.#finishes.idle();
  }
}
