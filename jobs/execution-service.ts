/**
 * Execution in one Runboard instance, put together: it registers the instance (with a heartbeat),
 * starts the dispatcher (runs on the hosts this instance serves — the local host), the scheduler
 * (due schedules), the check sweeper (checks going late and down) and Agenda (housekeeping:
 * resolving runs of instances that went silent), and stops them in the reverse order. `server.ts`
 * feeds it run, schedule and check events from the pubsub.
 */
import os from 'node:os';
import type pg from 'pg';
import type { Logger } from 'pino';
import type { Agenda } from 'agenda';
import type { AlertConfig, ExecutionConfig } from '../core/config';
import type { RunNotifier, RunUpdatedMessage } from '../core/run.service';
import type { SecretBox } from '../core/secrets';
import type { Db } from '../db/database';
import { markSilentHostsOffline } from '../db/host.repository';
import { beat, deleteOldInstances, markStopped, registerInstance } from '../db/instance.repository';
import { findRunsOfGoneInstances, moveRuns, type RunMove } from '../db/run-queue.repository';
import { findLocalHost } from '../db/run.repository';
import type { RunState } from '../db/schema';
import type { AppliedFlip } from '../db/check-sweep.repository';
import { AgentHub } from './agent-link';
import { startAgenda } from './agenda';
import { CheckSweeper } from './check-sweeper';
import { Alerter } from './alerter';
import type { HostExecutor } from './dispatcher';
import { Dispatcher } from './dispatcher';
import { executeLocally } from './local-executor';
import { killOrphans } from './orphans';
import { finishedEvent } from './run-events';
import { Scheduler } from './scheduler';

export interface Execution {
  instanceId: string;
  /** Look for queued runs now (a run was queued in this process). */
  wake(): void;
  /** A run changed anywhere (from the pubsub): queued ones wake the dispatcher, cancelled ones stop. */
  runUpdated(message: RunUpdatedMessage): void;
  /** A schedule was created, changed or deleted anywhere. */
  scheduleChanged(): void;
  /** A check was created, changed or pinged anywhere: its deadlines may have moved. */
  checkChanged(): void;
  onRunStarted(listener: (runId: string) => void): () => void;
  onRunFinished(listener: (runId: string, state: RunState) => void): () => void;
  /** Events were written (anywhere): the alerter looks at them now. */
  eventsAdded(): void;
  /** Sends a pending delivery now (a test alert). */
  deliverNow(deliveryId: string): Promise<void>;
  /** Resolves runs of instances that went silent (Agenda does this periodically). */
  recoverRuns(): Promise<void>;
  /** The agents connected to this instance, which execute their hosts' runs. */
  agents: AgentHub;
  stop(): Promise<void>;
}

export interface ExecutionDeps {
  db: Db;
  pool: pg.Pool;
  secrets: SecretBox;
  log: Logger;
  config: ExecutionConfig;
  alerts: AlertConfig;
  notify: RunNotifier;
  onEvents: (ids: string[]) => void;
  scheduleFired: (scheduleId: string) => void;
  /** The check sweeper flipped checks (late, down): tell subscribers of them and their events. */
  checksFlipped: (flips: AppliedFlip[]) => void;
  /** A host came online, went offline or was heard from. */
  hostChanged: (hostId: string) => void;
  version: string;
}

/** Instances silent and stopped for this long are forgotten. */
const FORGET_INSTANCES_SECONDS = 7 * 86_400;
const LOST = 'lost: the Runboard instance running it stopped answering';

export async function startExecution(deps: ExecutionDeps): Promise<Execution> {
  const { db, log, config } = deps;
  const instance = await registerInstance(db, { hostname: os.hostname(), pid: process.pid, version: deps.version });
  const local = await findLocalHost(db);
  const executors = new Map<string, HostExecutor>(local ? [[local.id, { execute: executeLocally }]] : []);
  const dispatcher = new Dispatcher({
    db,
    secrets: deps.secrets,
    log,
    instanceId: instance.id,
    config,
    notify: deps.notify,
    onEvents: deps.onEvents,
    executors,
  });
  const agents = new AgentHub({
    db,
    log,
    config,
    executors,
    wake: () => dispatcher.wake(),
    hostChanged: deps.hostChanged,
    notify: deps.notify,
    onEvents: deps.onEvents,
    retry: (runs) => dispatcher.retry(runs),
  });
  const scheduler = new Scheduler({
    db,
    log,
    notify: deps.notify,
    scheduleFired: deps.scheduleFired,
    onEvents: deps.onEvents,
    runsQueued: () => dispatcher.wakeAhead(),
  });

  const heartbeat = setInterval(() => {
    beat(db, instance.id).catch((error: unknown) => log.warn({ err: error }, 'could not record this instance’s heartbeat'));
  }, Math.max(250, Math.floor(config.instanceTimeoutMs / 6)));
  heartbeat.unref();

  const recoverRuns = async () => {
    // Running runs are lost (their processes went with the instance); dispatched ones never
    // started, and go back to the queue. Each move is conditional: another instance recovering
    // at the same moment moves none of them twice, and only the moves that happened are audited.
    const orphaned = await findRunsOfGoneInstances(db, config.instanceTimeoutMs / 1000);
    const { runs: moved, eventIds } = await moveRuns(
      db,
      orphaned.map((run): RunMove =>
        run.state === 'running'
          ? { id: run.id, to: 'lost', from: ['running'], summary: LOST, events: [finishedEvent(run, 'lost', LOST)] }
          : { id: run.id, to: 'queued', from: ['dispatched'], release: true },
      ),
    );
    const lost = moved.filter((run) => run.state === 'lost');
    const requeued = moved.filter((run) => run.state === 'queued');
    for (const run of moved) deps.notify.runUpdated(run);
    if (eventIds.length > 0) deps.onEvents(eventIds);
    if (lost.length > 0) log.warn({ runs: lost.map((run) => run.id) }, 'runs of an instance that stopped answering are lost');
    const killed = killOrphans(lost);
    if (killed.length > 0) log.warn({ runs: killed }, 'killed the processes the silent instance left behind on this machine');
    await dispatcher.retry(lost);
    if (requeued.length > 0) dispatcher.wake();
  };
  await recoverRuns();

  let agenda: Agenda | undefined;
  try {
    agenda = await startAgenda({
      pool: deps.pool,
      log,
      jobs: [
        { name: 'runboard: recover runs of silent instances', everyMs: Math.max(1_000, Math.floor(config.instanceTimeoutMs / 3)), work: recoverRuns },
        {
          // Hosts whose agent (or the instance holding its connection) went away without a word.
          name: 'runboard: mark silent hosts offline',
          everyMs: Math.max(1_000, Math.floor(config.hostTimeoutMs / 3)),
          work: async () => {
            for (const host of await markSilentHostsOffline(db, config.hostTimeoutMs / 1000)) deps.hostChanged(host.id);
          },
        },
        {
          name: 'runboard: forget old instances',
          everyMs: 3_600_000,
          work: async () => void (await deleteOldInstances(db, FORGET_INSTANCES_SECONDS)),
        },
      ],
    });
  } catch (error) {
    clearInterval(heartbeat);
    agents.stop();
    throw new Error(`Agenda could not start: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
  const alerter = new Alerter({ db, secrets: deps.secrets, log, config: deps.alerts });
  const sweeper = new CheckSweeper({ db, log, flipped: deps.checksFlipped });
  dispatcher.start();
  scheduler.start();
  sweeper.start();
  alerter.start();
  log.info({ instance: instance.id, maxParallelRuns: config.maxParallelRuns }, 'executing runs and firing schedules');

  const subscribe = <L>(set: Set<L>, listener: L) => {
    set.add(listener);
    return () => void set.delete(listener);
  };
  let stopping: Promise<void> | undefined;
  return {
    instanceId: instance.id,
    wake: () => dispatcher.wake(),
    runUpdated: (message) => dispatcher.onRunUpdated(message),
    scheduleChanged: () => scheduler.wake(),
    eventsAdded: () => alerter.wake(),
    deliverNow: (id) => alerter.deliverNow(id),
    checkChanged: () => sweeper.changed(),
    onRunStarted: (listener) => subscribe(dispatcher.listeners.started, listener),
    onRunFinished: (listener) => subscribe(dispatcher.listeners.finished, listener),
    recoverRuns,
    agents,
    stop: () =>
      (stopping ??= (async () => {
        await sweeper.stop();
        await scheduler.stop();
        await agenda?.stop(false);
        await dispatcher.stop(config.shutdownGraceMs);
        agents.stop();
        // After the dispatcher, so how its last runs finished is alerted (or left to another instance).
        alerter.wake();
        await alerter.stop();
        clearInterval(heartbeat);
        await markStopped(db, instance.id);
      })()),
  };
}
