/**
 * Sloth CI's logs, derived from what Runboard records (part of the Sloth CI dialect,
 * graphql/rest/slothci.ts). Sloth wrote log records from three loggers per app; here:
 * - `<lp>`: the audit events about the app's script (created, updated, bound), and one record per
 *   build when it was queued (by whom, or "Valid payload received" for a webhook);
 * - `<lp>.processing`: per action of a build, from the run's per-step results
 *   (`Executing action: <cmd>`, `Finished` or `Execution failed: <why>`) and its output split at
 *   Runboard's "Step i/n:" lines (`stdout: …`, `stderr: …`, DEBUG);
 * - `<lp>.build`: the build status once the run has finished.
 * Levels are Python's: DEBUG 10, INFO 20, WARNING 30, ERROR 40.
 */

/** A run as the dialect reads it from GraphQL (enum values upper case, times ISO text). */
export interface LogRun {
  id: string;
  state: string;
  trigger: string;
  triggeredBy: string | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  summary: string | null;
  result: unknown;
}

export interface LogRow {
  timestamp: number;
  logger_name: string;
  level_name: string;
  level_number: number;
  message: string;
}

interface StepResult {
  index: number;
  command: string;
  error: string | null;
  startedAt: string;
  finishedAt: string;
}

interface StepsResult {
  stepCount: number;
  stopOnFirstFailure: boolean;
  steps: StepResult[];
}

const LEVEL_NAMES: Record<number, string> = { 10: 'DEBUG', 20: 'INFO', 30: 'WARNING', 40: 'ERROR' };
const ACTIVE = ['QUEUED', 'DISPATCHED', 'RUNNING'];

/** The per-step results of a stepped run, or null for a run without them. */
function stepsOf(result: unknown): StepsResult | null {
  if (typeof result !== 'object' || result === null) return null;
  const r = result as Partial<StepsResult>;
  if (!Array.isArray(r.steps) || typeof r.stepCount !== 'number') return null;
  return r as StepsResult;
}

/**
 * A finished build's status: `Complete (n/m)` when every action was tried (n succeeded),
 * `Failed (n/m)` when a failure stopped it (stop_on_first_fail), `Interrupted (n/m)` when it was
 * timed out, cancelled, lost, or could not start. Null while it is still going.
 */
export function buildStatus(run: Pick<LogRun, 'state' | 'result'>, actionCount: number): { message: string; level: number } | null {
  if (ACTIVE.includes(run.state)) return null;
  const steps = stepsOf(run.result);
  const m = steps?.stepCount ?? actionCount;
  const n = steps ? steps.steps.filter((step) => step.error === null).length : 0;
  if (run.state === 'SUCCEEDED') return { message: `Complete (${n === 0 && !steps ? m : n}/${m})`, level: 20 };
  if (run.state === 'FAILED' && steps) {
    return steps.stopOnFirstFailure ? { message: `Failed (${n}/${m})`, level: 40 } : { message: `Complete (${n}/${m})`, level: 30 };
  }
  return { message: `Interrupted (${n}/${m})`, level: 30 };
}

/** Each step's stdout and stderr, from a run's output split at Runboard's "Step i/n:" lines. */
function outputByStep(chunks: readonly { stream: string; data: string }[]): Map<number, { stdout: string; stderr: string }> {
  const byStep = new Map<number, { stdout: string; stderr: string }>();
  let current: number | null = null;
  for (const chunk of chunks) {
    const stream = chunk.stream.toLowerCase();
    if (stream === 'system') {
      for (const line of chunk.data.split('\n')) {
        const step = /^Step (\d+)\/\d+: /.exec(line);
        if (step) current = Number(step[1]);
      }
    } else if (current !== null && (stream === 'stdout' || stream === 'stderr')) {
      const texts = byStep.get(current) ?? { stdout: '', stderr: '' };
      texts[stream] += chunk.data;
      byStep.set(current, texts);
    }
  }
  return byStep;
}

const seconds = (iso: string) => Date.parse(iso) / 1000;

/**
 * Every record of an app, newest first (records of the same moment: the later written first).
 * `outputs`: the output of the runs whose stdout/stderr records are wanted (by run id).
 */
export function logRows(
  listenPoint: string,
  actionCount: number,
  runs: readonly LogRun[],
  events: readonly { at: string; summary: string }[],
  outputs: ReadonlyMap<string, readonly { stream: string; data: string }[]>,
): LogRow[] {
  const rows: (LogRow & { order: number })[] = [];
  const add = (at: string, logger: string, level: number, message: string) =>
    rows.push({ timestamp: seconds(at), logger_name: logger, level_name: LEVEL_NAMES[level] ?? 'INFO', level_number: level, message, order: rows.length });
  const processing = `${listenPoint}.processing`;

  for (const event of [...events].reverse()) add(event.at, listenPoint, 20, event.summary);
  for (const run of [...runs].reverse()) {
    add(run.createdAt, listenPoint, 20, run.trigger === 'WEBHOOK' ? 'Valid payload received, build queued' : `Build triggered by ${run.triggeredBy ?? 'someone'}`);
    const steps = stepsOf(run.result);
    const output = outputs.get(run.id);
    const texts = output ? outputByStep(output) : undefined;
    for (const step of steps?.steps ?? []) {
      add(step.startedAt, processing, 20, `Executing action: ${step.command}`);
      if (texts) {
        add(step.finishedAt, processing, 10, `stdout: ${texts.get(step.index)?.stdout ?? ''}`);
        add(step.finishedAt, processing, 10, `stderr: ${texts.get(step.index)?.stderr ?? ''}`);
      }
      if (step.error === null) add(step.finishedAt, processing, 20, 'Finished');
      else add(step.finishedAt, processing, 40, `Execution failed: ${step.error}`);
    }
    const status = buildStatus(run, actionCount);
    if (!status) continue;
    const end = run.finishedAt ?? run.createdAt;
    if (!steps && run.state !== 'SUCCEEDED') add(end, processing, 40, `Execution failed: ${run.summary ?? run.state.toLowerCase()}`);
    add(end, `${listenPoint}.build`, status.level, status.message);
  }
  return rows
    .sort((a, b) => b.timestamp - a.timestamp || b.order - a.order)
    .map(({ order: _order, ...row }) => row);
}
