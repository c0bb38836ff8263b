/**
 * The server side of the agent link: one HostExecutor per agent host connected to this instance.
 *
 * While an agent is connected, its host's executor is in the dispatcher's map, so this instance
 * claims that host's runs. `execute(plan)` sends the plan down the agent's `agentRuns` stream and
 * resolves with the outcome the agent reports (`agentFinished`); the agent's numbered output goes
 * into the run's sink, which stores each number once. A cancel is sent down the same stream.
 *
 * Disconnections: when the stream ends the host gets no new runs, but its runs wait. An agent
 * that comes back within RUNBOARD_HOST_TIMEOUT says which runs it still holds (`hello`): those
 * carry on (their buffered output and outcome follow), plans it never received are sent again,
 * and runs it started but no longer holds (it restarted) are lost. An agent silent for longer is
 * offline: its host leaves the map and its runs are lost (and retried per policy).
 *
 * Several instances: an agent may come back to another instance than the one that dispatched
 * its runs. That one stores what the agent reports about them straight in the database (output
 * de-duplicated by number there too; started and finished as conditional moves), and the
 * dispatching instance, hearing nothing but seeing the host's `last_seen_at` kept fresh, waits
 * for those runs to finish in the database instead of losing them.
 */
import type { Logger } from 'pino';
import type { ExecutionConfig } from '../core/config';
import { ConflictError, NotFoundError } from '../core/errors';
import { appendOutput, type RunNotifier } from '../core/run.service';
import { isActive, isTerminal } from '../core/run-state';
import type { Db } from '../db/database';
import { findHostById, markHostConnected, markHostOffline, markHostSeen } from '../db/host.repository';
import { moveRuns } from '../db/run-queue.repository';
import { findRunById, findRunsByIds, type Run } from '../db/run.repository';
import type { HostExecutor } from './dispatcher';
import type { ExecuteOptions, ExecutionOutcome, ExecutionPlan, OutputPiece } from './execution';
import type { AgentMessage, WireLimits } from './agent-protocol';
import { MessageStream } from './agent-stream';
import { finishedEvent, runningEvent } from './run-events';

export interface AgentLinkDeps {
  db: Db;
  log: Logger;
  config: ExecutionConfig;
  /** The dispatcher's host id → executor map: connected agents add theirs. */
  executors: Map<string, HostExecutor>;
  /** A host's executor appeared: look for its queued runs. */
  wake: () => void;
  /** Tells `hostUpdated` subscribers (online, offline, last seen, what the agent reported). */
  hostChanged: (hostId: string) => void;
  /** For runs another instance dispatched (see the top of this file). */
  notify: RunNotifier;
  onEvents: (ids: string[]) => void;
  retry: (runs: Run[]) => Promise<unknown>;
}

export interface AgentInfo {
  hostname: string;
  os: string;
  agentVersion: string;
}

interface PendingRun {
  runId: string;
  plan: ExecutionPlan;
  limits: WireLimits;
  options: ExecuteOptions;
  resolve: (outcome: ExecutionOutcome) => void;
  /** The agent said it started the run. */
  started: boolean;
  cancelled: boolean;
}

/** One agent host as this instance knows it. */
interface Link {
  hostId: string;
  hostName: string;
  stream: MessageStream | undefined;
  /** Disabled hosts stay connected but get no runs. */
  enabled: boolean;
  lastSeen: number;
  /** A silence check is reading the database. */
  checking: boolean;
  runs: Map<string, PendingRun>;
  executor: HostExecutor;
}

export class AgentHub {
  readonly #deps: AgentLinkDeps;
  readonly #links = new Map<string, Link>();
  readonly #timer: NodeJS.Timeout;

  constructor(deps: AgentLinkDeps) {
    this.#deps = deps;
    this.#timer = setInterval(() => this.#checkSilent(), Math.max(100, Math.floor(deps.config.hostTimeoutMs / 4)));
    this.#timer.unref();
  }

  /** How often an agent should send a heartbeat: well inside the timeout. */
  get heartbeatMs(): number {
    return Math.max(100, Math.floor(this.#deps.config.hostTimeoutMs / 4));
  }

  #link(hostId: string, hostName: string): Link {
    let link = this.#links.get(hostId);
    if (!link) {
      const created: Link = { hostId, hostName, stream: undefined, enabled: false, lastSeen: Date.now(), checking: false, runs: new Map(), executor: { execute: (plan, options) => this.#execute(created, plan, options) } };
      link = created;
      this.#links.set(hostId, link);
    }
    return link;
  }

  #known(hostId: string): Link {
    const link = this.#links.get(hostId);
    if (!link) throw new ConflictError('Say agentHello first: this server does not know the agent yet.');
    link.lastSeen = Date.now();
    return link;
  }

  /**
   * The agent (re)introduced itself, holding `heldRunIds` (runs it is executing or still has
   * output or an outcome for). Its host is online and gets runs.
   */
  async hello(hostId: string, info: AgentInfo, heldRunIds: readonly string[]): Promise<void> {
    const host = await markHostConnected(this.#deps.db, hostId, info);
    if (!host) throw new NotFoundError('This agent key belongs to no agent host.');
    const link = this.#link(hostId, host.name);
    link.hostName = host.name;
    link.enabled = host.enabled;
    link.lastSeen = Date.now();
    const held = new Set(heldRunIds);
    for (const run of [...link.runs.values()]) {
      // Started, then forgotten: the agent restarted, and the process went with it.
      if (run.started && !held.has(run.runId)) this.#settle(link, run, lost(`lost: the agent on "${host.name}" restarted while it ran`));
    }
    this.#serve(link);
    this.#deps.hostChanged(hostId);
  }

  async heartbeat(hostId: string): Promise<void> {
    this.#known(hostId);
    if (await markHostSeen(this.#deps.db, hostId)) this.#deps.hostChanged(hostId);
  }

  /** The `agentRuns` stream of a host: runs waiting for it first, then new ones and cancels. */
  stream(hostId: string): AsyncIterableIterator<AgentMessage> {
    const link = this.#known(hostId);
    link.stream?.end(); // a newer connection of the same agent wins
    const stream: MessageStream = new MessageStream(() => {
      if (link.stream !== stream) return;
      link.stream = undefined;
      // No new runs while it is away; the ones it has wait for it (see #checkSilent).
      if (this.#deps.executors.get(hostId) === link.executor) this.#deps.executors.delete(hostId);
    });
    link.stream = stream;
    for (const run of link.runs.values()) {
      if (run.cancelled) stream.push({ kind: 'cancel', runId: run.runId });
      else if (!run.started) stream.push({ kind: 'run', runId: run.runId, plan: run.plan, limits: run.limits });
    }
    this.#serve(link);
    return stream;
  }

  /** Claims the host's runs here while it has a stream to receive them (and is enabled). */
  #serve(link: Link): void {
    if (!link.stream || !link.enabled) {
      if (this.#deps.executors.get(link.hostId) === link.executor) this.#deps.executors.delete(link.hostId);
      return;
    }
    this.#deps.executors.set(link.hostId, link.executor);
    this.#deps.wake();
  }

  /** A host changed somewhere (enabled or disabled, deleted): its connected agent follows. */
  async refresh(hostId: string): Promise<void> {
    const link = this.#links.get(hostId);
    if (!link) return;
    const host = await findHostById(this.#deps.db, hostId);
    if (this.#links.get(hostId) !== link) return;
    link.enabled = Boolean(host?.enabled);
    if (host) link.hostName = host.name;
    this.#serve(link);
  }

  /** Stores a numbered batch of a run's output (a number already stored is not stored again). */
  async output(hostId: string, runId: string, seq: number, pieces: OutputPiece[]): Promise<void> {
    const pending = this.#known(hostId).runs.get(runId);
    if (pending) return pending.options.sink.write(pieces, { agentSeq: seq });
    await this.#activeRunElsewhere(hostId, runId);
    try {
      await appendOutput({ db: this.#deps.db, notify: this.#deps.notify }, runId, pieces, { agentSeq: seq });
    } catch (error) {
      if (!(error instanceof ConflictError)) throw error; // finished meanwhile: its output is closed
    }
  }

  async started(hostId: string, runId: string, pid: number | null): Promise<void> {
    const run = this.#known(hostId).runs.get(runId);
    if (!run) {
      const elsewhere = await this.#activeRunElsewhere(hostId, runId);
      await this.#moveElsewhere(elsewhere, { to: 'running', from: ['dispatched'], pid, events: [runningEvent(elsewhere)] });
      return;
    }
    if (run.started) return; // said again after a reconnection
    run.started = true;
    run.options.onStart?.(pid);
  }

  async finished(hostId: string, runId: string, outcome: ExecutionOutcome): Promise<void> {
    const link = this.#known(hostId);
    const run = link.runs.get(runId);
    if (!run) {
      const elsewhere = await this.#activeRunElsewhere(hostId, runId);
      const moved = await this.#moveElsewhere(elsewhere, {
        to: outcome.state,
        from: ['dispatched', 'running'],
        started: elsewhere.state === 'dispatched',
        exitCode: outcome.exitCode,
        summary: outcome.summary,
        result: outcome.result ?? null,
        outputBytes: outcome.outputBytes,
        outputTruncated: outcome.outputTruncated,
        events: [finishedEvent(elsewhere, outcome.state, outcome.summary)],
      });
      await this.#deps.retry(moved);
      return;
    }
    // A run that finished without a start message (a no-op job) still moved through running.
    if (!run.started) await this.started(hostId, runId, null);
    this.#settle(link, run, outcome);
  }

  /** A run of this host that another instance dispatched, still going; else NotFoundError. */
  async #activeRunElsewhere(hostId: string, runId: string): Promise<Run> {
    const run = await findRunById(this.#deps.db, runId);
    if (!run || run.hostId !== hostId) throw new NotFoundError(`Run ${runId} is not a run of this host.`);
    if (!isActive(run.state)) throw new NotFoundError(`Run ${runId} has ended (${run.state}): nothing more is expected of it.`);
    return run;
  }

  async #moveElsewhere(run: Run, move: Omit<Parameters<typeof moveRuns>[1][number], 'id'>): Promise<Run[]> {
    const { runs, eventIds } = await moveRuns(this.#deps.db, [{ id: run.id, ...move }]);
    for (const moved of runs) this.#deps.notify.runUpdated(moved);
    if (eventIds.length > 0) this.#deps.onEvents(eventIds);
    return runs;
  }

  /** How many runs of a host this instance waits on. */
  pendingRuns(hostId: string): number {
    return this.#links.get(hostId)?.runs.size ?? 0;
  }

  /** Whether a host's agent is connected to this instance now. */
  isConnected(hostId: string): boolean {
    return Boolean(this.#links.get(hostId)?.stream);
  }

  #execute(link: Link, plan: ExecutionPlan, options: ExecuteOptions): Promise<ExecutionOutcome> {
    if (options.signal.aborted) return Promise.resolve({ ...lost('cancelled before it started'), state: 'cancelled' });
    const limits: WireLimits = {
      killGraceMs: options.killGraceMs ?? 5000,
      outputCapBytes: options.outputCapBytes ?? 16 * 1024 * 1024,
      flushMs: options.flushMs ?? 25,
    };
    return new Promise((resolve) => {
      const run: PendingRun = { runId: plan.runId, plan, limits, options, resolve, started: false, cancelled: false };
      link.runs.set(plan.runId, run);
      link.stream?.push({ kind: 'run', runId: plan.runId, plan, limits });
      options.signal.addEventListener(
        'abort',
        () => {
          run.cancelled = true;
          link.stream?.push({ kind: 'cancel', runId: plan.runId });
          // Never started: nothing to wait for (an agent that got the plan meanwhile gets the cancel).
          if (!run.started) this.#settle(link, run, { ...lost('cancelled before it started'), state: 'cancelled' });
        },
        { once: true },
      );
    });
  }

  #settle(link: Link, run: PendingRun, outcome: ExecutionOutcome): void {
    if (link.runs.get(run.runId) !== run) return;
    link.runs.delete(run.runId);
    run.resolve(outcome);
  }

  /**
   * Agents silent here past the timeout: offline, their runs lost — unless another instance has
   * heard from the agent meanwhile (the host's last_seen_at), where it now reports those runs.
   */
  #checkSilent(): void {
    const now = Date.now();
    const timeout = this.#deps.config.hostTimeoutMs;
    for (const link of this.#links.values()) {
      if (now - link.lastSeen <= timeout || link.checking) continue;
      link.checking = true;
      void this.#silent(link, timeout)
        .catch((error: unknown) => this.#deps.log.warn({ err: error, hostId: link.hostId }, 'could not check a silent agent; trying again'))
        .finally(() => (link.checking = false));
    }
  }

  async #silent(link: Link, timeout: number): Promise<void> {
    const host = await findHostById(this.#deps.db, link.hostId);
    const seenElsewhere = host?.online && host.lastSeenAt && Date.now() - host.lastSeenAt.getTime() <= timeout;
    if (!seenElsewhere) return this.#goOffline(link, `lost: the agent on "${link.hostName}" was silent for ${Math.round(timeout / 1000)} s`);
    if (this.#deps.executors.get(link.hostId) === link.executor && !link.stream) this.#deps.executors.delete(link.hostId);
    const runs = await findRunsByIds(this.#deps.db, [...link.runs.keys()]);
    const byId = new Map(runs.map((run) => [run.id, run]));
    for (const pending of [...link.runs.values()]) {
      const run = byId.get(pending.runId);
      if (!run || isTerminal(run.state)) {
        // Finished through the other instance: this move is a no-op, the slot frees up.
        this.#settle(link, pending, { state: 'lost', exitCode: run?.exitCode ?? null, summary: run?.summary ?? 'deleted', result: null, outputBytes: run?.outputBytes ?? 0, outputTruncated: run?.outputTruncated ?? false });
      } else if (run.state === 'dispatched' && !pending.started) {
        // Its plan went to a connection that is gone; the agent, now elsewhere, never said it has it.
        this.#settle(link, pending, lost(`lost: the agent on "${link.hostName}" moved to another Runboard instance before starting it`));
      }
    }
    if (link.runs.size === 0 && !link.stream && this.#links.get(link.hostId) === link) this.#links.delete(link.hostId);
  }

  async #goOffline(link: Link, reason: string): Promise<void> {
    this.#links.delete(link.hostId);
    if (this.#deps.executors.get(link.hostId) === link.executor) this.#deps.executors.delete(link.hostId);
    link.stream?.end();
    for (const run of [...link.runs.values()]) this.#settle(link, run, lost(reason));
    try {
      if (await markHostOffline(this.#deps.db, link.hostId)) this.#deps.hostChanged(link.hostId);
    } catch (error) {
      this.#deps.log.warn({ err: error, hostId: link.hostId }, 'could not mark a silent host offline; the housekeeping sweep will');
    }
  }

  /** Ends every stream (the instance is stopping); runs still pending are settled by the dispatcher's stop. */
  stop(): void {
    clearInterval(this.#timer);
    for (const link of this.#links.values()) link.stream?.end();
  }
}

function lost(summary: string): ExecutionOutcome {
  return { state: 'lost', exitCode: null, summary, result: null, outputBytes: 0, outputTruncated: false };
}
