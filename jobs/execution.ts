/**
 * The contract between the dispatcher and whatever executes a run on a host. Terms:
 *
 * - plan: everything a host needs to execute one run, prepared by the server (environment merged,
 *   secrets opened, attachments loaded). It is plain data, so it can later travel to an agent.
 * - sink: where output goes, in order. The executor batches output into chunks (every ~25 ms or
 *   ~64 KiB), masks secret values, caps the total, and awaits the sink before sending more, so a
 *   slow database slows the script (its pipes fill) instead of growing memory.
 * - outcome: how the run ended, as the executor saw it.
 *
 * The executor never touches the database or the run's state: the dispatcher does.
 */
import type { OutputStream } from '../db/run-output.repository';
import type { Step } from '../db/script.repository';

export interface PlannedAttachment {
  /** Absolute, or relative to the working directory. */
  path: string;
  mode: number;
  uid: number | null;
  gid: number | null;
  content: Buffer;
}

export type ExecutionPlan =
  /** `parameters`: the run's parameter values, for template steps (they are in `env` too). */
  | (CommonPlan & { kind: 'script'; executable: string; body: string; steps: Step[]; stopOnFirstFailure: boolean; parameters?: Record<string, string> })
  /** `args`: program, then its arguments (no shell). */
  | (CommonPlan & { kind: 'command'; args: string[] })
  /** `args`: url, then optionally method (default GET), then optionally a request body. */
  | (CommonPlan & { kind: 'http'; args: unknown[] })
  /** Succeeds at once; its result is its arguments. */
  | (CommonPlan & { kind: 'noop'; args: unknown[] });

export interface CommonPlan {
  runId: string;
  /** The merged environment: server → global → script → groups → host → run parameters. */
  env: Record<string, string>;
  /** Values to mask in output (secret variables' values). */
  secrets: string[];
  /** Null: a fresh temporary directory, removed afterwards. */
  workingDir: string | null;
  runAsUid: number | null;
  runAsGid: number | null;
  /** Null: no limit. */
  timeoutMs: number | null;
  attachments: PlannedAttachment[];
}

export interface OutputPiece {
  stream: OutputStream;
  data: string;
}

export interface OutputSink {
  /**
   * `agentSeq`: the number an agent gave this batch (1, 2, 3… per run); a batch already stored is
   * not stored again. With it, a failure to store rejects (the agent keeps the batch and resends).
   */
  write(pieces: OutputPiece[], options?: { agentSeq?: number }): Promise<void>;
}

export interface ExecuteOptions {
  sink: OutputSink;
  /** Aborted when the run is cancelled: SIGTERM to the process group, SIGKILL after the grace. */
  signal: AbortSignal;
  /** Called once the first process is spawned (or at once for built-ins without one). */
  onStart?: (pid: number | null) => void;
  /** Between SIGTERM and SIGKILL (default 5000). */
  killGraceMs?: number;
  /** Output kept per run; the rest dropped after a marker (default 16 MiB). */
  outputCapBytes?: number;
  /** Flush period and size (defaults 25 ms and 64 KiB). */
  flushMs?: number;
  flushBytes?: number;
}

/** `lost`: only from an agent's executor, when the agent went away with the run (the local one never). */
export type FinishedState = 'succeeded' | 'failed' | 'timed_out' | 'cancelled' | 'lost';

export interface ExecutionOutcome {
  state: FinishedState;
  exitCode: number | null;
  /** One line a person can read: `exit code 3`, `killed after the 30 s timeout`, … */
  summary: string;
  /**
   * Built-ins' results (noop: its arguments; command: `{ returncode }`; http: the response text);
   * a script with steps: `{ stepCount, stopOnFirstFailure, steps: [{ index, command, exitCode, error, startedAt, finishedAt }] }`.
   */
  result: unknown;
  outputBytes: number;
  outputTruncated: boolean;
}
