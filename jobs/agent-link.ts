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
 */
import type { Logger } from 'pino';
import type { ExecutionConfig } from '../core/config';
import { ConflictError, NotFoundError } from '../core/errors';
import type { Db } from '../db/database';
import { findHostById, markHostConnected, markHostOffline, markHostSeen } from '../db/host.repository';
import type { HostExecutor } from './dispatcher';
import type { ExecuteOptions, ExecutionOutcome, ExecutionPlan, OutputPiece } from './execution';
import type { AgentMessage, WireLimits } from './agent-protocol';

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

/** An open `agentRuns` stream: messages wait in order until the subscriber takes them. */
class MessageStream implements AsyncIterableIterator<AgentMessage> {
  readonly #queue: AgentMessage[] = [];
  #waiting: ((result: IteratorResult<AgentMessage>) => void) | undefined;
  #done = false;
  constructor(readonly onEnd: () => void) {}

  push(message: AgentMessage): void {
    if (this.#done) return;
    const waiting = this.#waiting;
    if (waiting) {
      this.#waiting = undefined;
      waiting({ value: message, done: false });
    } else this.#queue.push(message);
  }

  get ended(): boolean {
    return this.#done;
  }

  next(): Promise<IteratorResult<AgentMessage>> {
    const message = this.#queue.shift();
    if (message) return Promise.resolve({ value: message, done: false });
    if (this.#done) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => (this.#waiting = resolve));
  }

  return(): Promise<IteratorResult<AgentMessage>> {
    this.end();
    return Promise.resolve({ value: undefined, done: true });
  }

  /** Ends the stream (the subscriber left, a newer connection replaced it, or the host went offline). */
  end(): void {
    if (this.#done) return;
    this.#done = true;
    this.#queue.length = 0;
    this.#waiting?.({ value: undefined, done: true });
    this.#waiting = undefined;
    this.onEnd();
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}

/** One agent host as this instance knows it. */
interface Link {
  hostId: string;
  hostName: string;
  stream: MessageStream | undefined;
  /** Disabled hosts stay connected but get no runs. */
  enabled: boolean;
  lastSeen: number;
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
      const created: Link = { hostId, hostName, stream: undefined, enabled: false, lastSeen: Date.now(), runs: new Map(), executor: { execute: (plan, options) => this.#execute(created, plan, options) } };
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

  #pending(hostId: string, runId: string): PendingRun {
    const run = this.#known(hostId).runs.get(runId);
    if (!run) throw new NotFoundError(`Run ${runId} is not running on this host (it finished, was lost, or is another host's).`);
    return run;
  }

  /** Stores a numbered batch of a run's output (a number already stored is not stored again). */
  async output(hostId: string, runId: string, seq: number, pieces: OutputPiece[]): Promise<void> {
    await this.#pending(hostId, runId).options.sink.write(pieces, { agentSeq: seq });
  }

  started(hostId: string, runId: string, pid: number | null): void {
    const run = this.#pending(hostId, runId);
    if (run.started) return; // said again after a reconnection
    run.started = true;
    run.options.onStart?.(pid);
  }

  finished(hostId: string, runId: string, outcome: ExecutionOutcome): void {
    const link = this.#known(hostId);
    const run = this.#pending(hostId, runId);
    // A run that finished without a start message (a no-op job) still moved through running.
    if (!run.started) this.started(hostId, runId, null);
    this.#settle(link, run, outcome);
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

  /** Agents silent past the timeout are offline; their runs are lost. */
  #checkSilent(): void {
    const now = Date.now();
    for (const link of this.#links.values()) {
      if (now - link.lastSeen <= this.#deps.config.hostTimeoutMs) continue;
      void this.#goOffline(link, `lost: the agent on "${link.hostName}" was silent for ${Math.round(this.#deps.config.hostTimeoutMs / 1000)} s`);
    }
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
