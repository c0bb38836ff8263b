/**
 * `runboard agent`: receives its host's runs over the connection, executes each with the local
 * executor (jobs/local-executor.ts: process group, timeout, cancel, run-as, steps, output cap,
 * masking — exactly what the server does for its own host), and reports each run through its
 * outbox (started, numbered output, outcome), which survives disconnections.
 *
 * On every connection: `agentHello` (with the runs it still holds, so the server keeps them),
 * then the `agentRuns` stream, heartbeats, and every outbox resumes where it stopped.
 */
import os from 'node:os';
import { limitsFromWire, planFromWire, type WireLimits } from '../jobs/agent-protocol';
import type { ExecutionOutcome, ExecutionPlan } from '../jobs/execution';
import { executeLocally } from '../jobs/local-executor';
import { AgentConnection, DisconnectedError, ServerError } from './agent-connection';
import { RunOutbox, type OutboxMessage } from './run-outbox';

export interface AgentOptions {
  serverUrl: string;
  hostKey: string;
  version: string;
  /** Where outboxes spill output while the server is unreachable. */
  stateDir: string;
  log: (message: string) => void;
  /** The server refused the key: the caller decides how to exit. */
  onRefused: (reason: string) => void;
}

interface HeldRun {
  outbox: RunOutbox;
  abort: AbortController;
  /** Whether its process is still going. */
  executing: boolean;
  flushing: boolean;
}

interface WireMessage {
  kind: 'RUN' | 'CANCEL';
  runId: string;
  plan: unknown;
  limits: unknown;
}

const HELLO = `mutation($hostname: String!, $os: String!, $agentVersion: String!, $runIds: [ID!]) {
  agentHello(hostname: $hostname, os: $os, agentVersion: $agentVersion, runIds: $runIds) { hostId heartbeatSeconds }
}`;
const RUNS = `subscription { agentRuns { kind runId plan limits } }`;
const HEARTBEAT = `mutation { agentHeartbeat }`;
const STARTED = `mutation($runId: ID!, $pid: Int) { agentStarted(runId: $runId, pid: $pid) }`;
const OUTPUT = `mutation($runId: ID!, $seq: Int!, $pieces: [AgentOutputPiece!]!) { agentOutput(runId: $runId, seq: $seq, pieces: $pieces) { seq } }`;
const FINISHED = `mutation($runId: ID!, $outcome: AgentOutcomeInput!) { agentFinished(runId: $runId, outcome: $outcome) }`;

/** Refusals the server may answer while it is getting ready (not the run's fault): try again. */
const RETRY_LATER_MS = 1_000;

export class Agent {
  readonly #options: AgentOptions;
  readonly #connection: AgentConnection;
  readonly #runs = new Map<string, HeldRun>();
  #heartbeat: NodeJS.Timeout | undefined;
  #unsubscribe: (() => void) | undefined;
  /** Bumped on every connection: work of an older one stops. */
  #session = 0;
  #ready = false;

  constructor(options: AgentOptions) {
    this.#options = options;
    this.#connection = new AgentConnection(options.serverUrl, options.hostKey, {
      onConnected: () => void this.#greet(),
      onDisconnected: (reason) => this.#lostConnection(reason),
      onRetrying: (reason, waitMs) => options.log(`cannot reach the server (${reason}); trying again in ${(waitMs / 1000).toFixed(1)} s`),
      onRefused: (reason) => {
        this.#lostConnection(reason);
        options.onRefused(reason);
      },
    });
  }

  start(): void {
    this.#options.log(`connecting to ${this.#options.serverUrl}`);
    this.#connection.start();
  }

  async #greet(): Promise<void> {
    const session = ++this.#session;
    try {
      const hello = await this.#connection.request<{ agentHello: { hostId: string; heartbeatSeconds: number } }>(HELLO, {
        hostname: os.hostname(),
        os: `${os.type()} ${os.release()} ${os.arch()}`,
        agentVersion: this.#options.version,
        runIds: [...this.#runs.keys()],
      });
      if (session !== this.#session) return;
      this.#connection.healthy();
      this.#options.log(`connected as host ${hello.agentHello.hostId}${this.#runs.size ? `, holding ${this.#runs.size} run(s)` : ''}`);
      this.#ready = true;
      clearInterval(this.#heartbeat);
      this.#heartbeat = setInterval(() => {
        this.#connection.request(HEARTBEAT).catch((error: unknown) => this.#options.log(`heartbeat failed: ${String(error)}`));
      }, hello.agentHello.heartbeatSeconds * 1000);
      this.#follow(session);
      for (const [runId] of this.#runs) this.#flush(runId);
    } catch (error) {
      if (session !== this.#session) return;
      this.#options.log(`the server refused hello: ${error instanceof Error ? error.message : String(error)}; reconnecting`);
      this.#connection.reconnect();
    }
  }

  #follow(session: number): void {
    this.#unsubscribe = this.#connection.subscribe<{ agentRuns: WireMessage }>(
      RUNS,
      (data) => this.#received(data.agentRuns),
      (error) => {
        if (session !== this.#session) return;
        // The stream ended while connected (the server replaced or dropped it): start over.
        this.#options.log(`the run stream ended${error ? `: ${error.message}` : ''}; reconnecting`);
        this.#connection.reconnect();
      },
    );
  }

  #lostConnection(reason: string): void {
    this.#session++;
    this.#ready = false;
    clearInterval(this.#heartbeat);
    this.#unsubscribe = undefined;
    this.#options.log(`disconnected (${reason}); ${this.#runs.size} run(s) held, output kept until it is delivered`);
  }

  #received(message: WireMessage): void {
    if (message.kind === 'CANCEL') {
      const held = this.#runs.get(message.runId);
      if (held?.executing) {
        this.#options.log(`run ${message.runId}: cancelled`);
        held.abort.abort();
      }
      return;
    }
    if (this.#runs.has(message.runId)) return; // sent again after a reconnection: already ours
    const outbox = new RunOutbox({ runId: message.runId, stateDir: this.#options.stateDir });
    const held: HeldRun = { outbox, abort: new AbortController(), executing: true, flushing: false };
    this.#runs.set(message.runId, held);
    let plan: ExecutionPlan;
    let limits: WireLimits;
    try {
      plan = planFromWire(message.plan);
      limits = limitsFromWire(message.limits);
      if (plan.runId !== message.runId) throw new Error(`the plan is for run ${plan.runId}, the message for run ${message.runId}`);
    } catch (error) {
      const summary = `the agent could not read the run: ${error instanceof Error ? error.message : String(error)}`;
      this.#options.log(`run ${message.runId}: ${summary}`);
      held.executing = false;
      outbox.add({ kind: 'output', pieces: [{ stream: 'system', data: `${summary}\n` }] });
      outbox.add({ kind: 'finished', outcome: { state: 'failed', exitCode: null, summary, result: null, outputBytes: 0, outputTruncated: false } });
      this.#flush(message.runId);
      return;
    }
    void this.#execute(held, plan, limits);
  }

  async #execute(held: HeldRun, plan: ExecutionPlan, limits: WireLimits): Promise<void> {
    const { outbox } = held;
    this.#options.log(`run ${plan.runId}: starting`);
    let outcome: ExecutionOutcome;
    try {
      outcome = await executeLocally(plan, {
        sink: {
          // Accepted at once: the outbox keeps it (in memory, then on disk) until the server has it.
          write: async (pieces) => {
            outbox.add({ kind: 'output', pieces });
            this.#flush(plan.runId);
          },
        },
        signal: held.abort.signal,
        onStart: (pid) => {
          outbox.add({ kind: 'started', pid });
          this.#flush(plan.runId);
        },
        killGraceMs: limits.killGraceMs,
        outputCapBytes: limits.outputCapBytes,
        flushMs: limits.flushMs,
      });
    } catch (error) {
      const summary = `the agent could not execute it: ${error instanceof Error ? error.message : String(error)}`;
      outcome = { state: 'failed', exitCode: null, summary, result: null, outputBytes: 0, outputTruncated: false };
    }
    held.executing = false;
    this.#options.log(`run ${plan.runId}: ${outcome.state} (${outcome.summary})`);
    outbox.add({ kind: 'finished', outcome });
    this.#flush(plan.runId);
  }

  /** Delivers a run's outbox while connected; resumes after the next hello when it cannot. */
  #flush(runId: string): void {
    const held = this.#runs.get(runId);
    if (!held || held.flushing || !this.#ready) return;
    held.flushing = true;
    const session = this.#session;
    held.outbox
      .flush((message) => this.#deliver(runId, message))
      .then(
        () => {
          held.flushing = false;
          if (held.outbox.done) this.#runs.delete(runId);
          else if (held.outbox.pending > 0) this.#flush(runId); // more came while the last one was in flight
        },
        (error: unknown) => {
          held.flushing = false;
          if (error instanceof DisconnectedError) return; // the next hello resumes it
          if (error instanceof ServerError && error.code === 'NOT_FOUND') {
            // The server no longer has the run (it was lost while we were away): nobody will take the rest.
            this.#options.log(`run ${runId}: the server no longer expects it (${error.message}); dropping what was left to send`);
            held.abort.abort();
            held.outbox.discard();
            if (!held.executing) this.#runs.delete(runId);
            return;
          }
          this.#options.log(`run ${runId}: the server refused a message (${error instanceof Error ? error.message : String(error)}); trying again`);
          setTimeout(() => {
            if (session === this.#session) this.#flush(runId);
          }, RETRY_LATER_MS).unref();
        },
      );
  }

  async #deliver(runId: string, message: OutboxMessage): Promise<void> {
    switch (message.kind) {
      case 'started':
        await this.#connection.request(STARTED, { runId, pid: message.pid });
        return;
      case 'output':
        await this.#connection.request(OUTPUT, { runId, seq: message.seq, pieces: message.pieces.map((p) => ({ stream: p.stream.toUpperCase(), data: p.data })) });
        return;
      case 'finished':
        await this.#connection.request(FINISHED, { runId, outcome: { ...message.outcome, state: message.outcome.state.toUpperCase() } });
        return;
    }
  }

  /**
   * Stops: cancels what runs (SIGTERM to each process group, SIGKILL after the kill grace), waits
   * for those processes and — while connected — for the server to hear how they ended, then
   * disconnects. Nothing it started is left running behind it, within `graceMs`.
   */
  async stop(graceMs = 10_000): Promise<void> {
    for (const held of this.#runs.values()) if (held.executing) held.abort.abort();
    const until = Date.now() + graceMs;
    const busy = () => [...this.#runs.values()].some((held) => held.executing) || (this.#ready && this.#runs.size > 0);
    while (busy() && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 50));
    clearInterval(this.#heartbeat);
    this.#unsubscribe?.();
    this.#connection.stop();
  }
}
