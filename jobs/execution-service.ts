/**
 * Execution in one Runboard instance, put together: it registers the instance (with a heartbeat),
 * starts the dispatcher (runs on the hosts this instance serves — the local host), the scheduler
 * (due schedules) and Agenda (housekeeping: resolving runs of instances that went silent), and
 * stops them in the reverse order. `server.ts` feeds it run and schedule events from the pubsub.
 */
import os from 'node:os';
import type pg from 'pg';
import type { Logger } from 'pino';
import type { Agenda } from 'agenda';
import type { ExecutionConfig } from '../core/config';
import type { RunNotifier, RunUpdatedMessage } from '../core/run.service';
import type { SecretBox } from '../core/secrets';
import type { Db } from '../db/database';
import { markSilentHostsOffline } from '../db/host.repository';
import { beat, deleteOldInstances, markStopped, registerInstance } from '../db/instance.repository';
import { resolveRunsOfGoneInstances } from '../db/run-queue.repository';
import { findLocalHost } from '../db/run.repository';
import type { RunState } from '../db/schema';
import { AgentHub } from './agent-link';
import { startAgenda } from './agenda';
import type { HostExecutor } from './dispatcher';
import { Dispatcher } from './dispatcher';
import { executeLocally } from './local-executor';
import { killOrphans } from './orphans';
import { Scheduler } from './scheduler';

export interface Execution {
  instanceId: string;
  /** Look for queued runs now (a run was queued in this process). */
  wake(): void;
  /** A run changed anywhere (from the pubsub): queued ones wake the dispatcher, cancelled ones stop. */
  runUpdated(message: RunUpdatedMessage): void;
  /** A schedule was created, changed or deleted anywhere. */
  scheduleChanged(): void;
  onRunStarted(listener: (runId: string) => void): () => void;
  onRunFinished(listener: (runId: string, state: RunState) => void): () => void;
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
  notify: RunNotifier;
  onEvents: (ids: string[]) => void;
  scheduleFired: (scheduleId: string) => void;
  /** A host came online, went offline or was heard from. */
  hostChanged: (hostId: string) => void;
  version: string;
}

/** Instances silent and stopped for this long are forgotten. */
const FORGET_INSTANCES_SECONDS = 7 * 86_400;

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
    const { lost, requeued } = await resolveRunsOfGoneInstances(db, config.instanceTimeoutMs / 1000);
    for (const run of [...lost, ...requeued]) deps.notify.runUpdated(run);
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
  dispatcher.start();
  scheduler.start();
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
    onRunStarted: (listener) => subscribe(dispatcher.listeners.started, listener),
    onRunFinished: (listener) => subscribe(dispatcher.listeners.finished, listener),
    recoverRuns,
    agents,
    stop: () =>
      (stopping ??= (async () => {
        await scheduler.stop();
        await agenda?.stop(false);
        await dispatcher.stop(config.shutdownGraceMs);
        agents.stop();
        clearInterval(heartbeat);
        await markStopped(db, instance.id);
      })()),
  };
}
