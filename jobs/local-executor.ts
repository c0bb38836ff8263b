/**
 * The local executor: runs one ExecutionPlan on this host and says how it ended. It never touches
 * the database: output goes to the plan's sink (see output-capture.ts), the outcome is returned.
 *
 * For a script or a `command` job, in order:
 * 1. run-as: root switches to the plan's uid/gid; anyone else may only run as themselves, and a
 *    plan asking otherwise fails before anything runs;
 * 2. working directory: the plan's (which must exist) or a fresh temporary one, removed after;
 * 3. attachments, written under the working directory when their path is relative;
 * 4. each body into a private temporary directory (never the working directory), removed after;
 * 5. the program, or the steps in order, each in its own process group (process-tree.ts), with
 *    exactly the plan's environment (no PATH of ours: the plan should carry one) and one time
 *    limit across all steps.
 * A body runs as `executable [its words…] <body file>`, or, with no executable, as a program in
 * itself (its #! line; without one the system runs it with /bin/sh). A template step's executable
 * is first formatted with the run's parameters (core/command-template.ts); one that does not
 * format fails without starting. A stepped run's result says how each step it reached went.
 *
 * Nothing a script or plan does makes this throw; the outcome says what happened. It only throws
 * for programming errors (onStart throwing, a broken invariant).
 */
import { chmod, chown, mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { formatCommand } from '../core/command-template';
import { commandLine, durationInWords, failed, runHttpJob, runNoopJob, type JobEnd } from './builtin-jobs';
import type { ExecuteOptions, ExecutionOutcome, ExecutionPlan } from './execution';
import { bytesInWords, OutputCapture } from './output-capture';
import { resolveRunAs, runInGroup, type ProcessEnd } from './process-tree';

type ProgramPlan = ExecutionPlan & { kind: 'script' | 'command' };
type RunAs = { uid?: number; gid?: number };

/** One program to run: the whole script, the command, or one step. */
interface Launch {
  /** Its place among several steps; null when it is the only program. */
  step: { index: number; count: number; name: string | null } | null;
  program: string;
  args: string[];
  /** Written to a private file, which becomes the last argument (or the program, when there is none). */
  body: string | null;
  /** Why this step cannot run (its command template did not format); it fails without starting. */
  error?: string;
}

/** How one step went, kept in a stepped run's result. */
export interface StepResult {
  /** 1-based. */
  index: number;
  /** The command line as run (a template step: after formatting). */
  command: string;
  exitCode: number | null;
  /** Null when it succeeded. */
  error: string | null;
  startedAt: string;
  finishedAt: string;
}

/** A stepped run's result: how each step it reached went. */
export interface StepsResult {
  stepCount: number;
  stopOnFirstFailure: boolean;
  steps: StepResult[];
}

/** Something the plan asks for that cannot be set up; the run fails with this message. */
class PreparationError extends Error {}

export async function executeLocally(plan: ExecutionPlan, options: ExecuteOptions): Promise<ExecutionOutcome> {
  const capture = new OutputCapture({
    sink: options.sink,
    secrets: plan.secrets,
    capBytes: options.outputCapBytes,
    flushMs: options.flushMs,
    flushBytes: options.flushBytes,
  });
  const end = await run(plan, options, capture);
  await capture.finish();
  let summary = end.summary;
  if (capture.sinkError !== undefined) {
    const reason = capture.sinkError instanceof Error ? capture.sinkError.message : String(capture.sinkError);
    summary += `; output after the first ${bytesInWords(capture.outputBytes)} was lost: ${reason}`;
  }
  return {
    ...end,
    summary,
    outputBytes: capture.outputBytes,
    outputTruncated: capture.truncated || capture.sinkError !== undefined,
  };
}

async function run(plan: ExecutionPlan, options: ExecuteOptions, capture: OutputCapture): Promise<JobEnd> {
  if (options.signal.aborted) return { state: 'cancelled', exitCode: null, summary: 'cancelled before it started', result: null };
  switch (plan.kind) {
    case 'noop':
      return runNoopJob(plan, options);
    case 'http':
      return runHttpJob(plan, options, capture);
    case 'command': {
      const line = commandLine(plan.args);
      if ('error' in line) return failed(line.error, { returncode: null });
      const end = await runPrograms(plan, [{ step: null, program: line.program, args: line.args, body: null }], options, capture);
      return { ...end, result: { returncode: end.exitCode } };
    }
    case 'script': {
      const launches = scriptLaunches(plan);
      return 'error' in launches ? failed(launches.error) : runPrograms(plan, launches, options, capture);
    }
  }
}

const words = (command: string) => command.trim().split(/\s+/).filter(Boolean);

function scriptLaunches(plan: ProgramPlan & { kind: 'script' }): Launch[] | { error: string } {
  if (plan.steps.length === 0) {
    const [program = '', ...args] = words(plan.executable);
    if (!program && !plan.body.trim()) return { error: 'the script has nothing to run: its body is empty and it has no steps' };
    return [{ step: null, program, args, body: plan.body }];
  }
  const count = plan.steps.length;
  const launches: Launch[] = [];
  for (const [offset, step] of plan.steps.entries()) {
    const place = { index: offset + 1, count, name: step.name };
    let command = step.executable;
    if (step.template) {
      const formatted = formatCommand(step.executable, plan.parameters ?? {});
      if ('error' in formatted || !formatted.text.trim()) {
        const error = 'error' in formatted ? formatted.error : 'the command is empty once formatted';
        launches.push({ step: place, program: '', args: [], body: null, error: `${error} (template: ${step.executable})` });
        continue;
      }
      command = formatted.text;
    }
    const [program = '', ...args] = words(command);
    if (!program && !step.body) return { error: `${stepName(place)} has nothing to run: give it an executable or a body` };
    launches.push({ step: place, program, args: [...args, ...step.args], body: step.body });
  }
  return launches;
}

/** `step 2 of 3 ("build")` */
function stepName(step: NonNullable<Launch['step']>): string {
  return `step ${step.index} of ${step.count}${step.name ? ` (${JSON.stringify(step.name)})` : ''}`;
}

async function runPrograms(plan: ProgramPlan, launches: Launch[], options: ExecuteOptions, capture: OutputCapture): Promise<JobEnd> {
  const deadline = plan.timeoutMs === null ? null : Date.now() + plan.timeoutMs;
  const runAs = resolveRunAs(plan.runAsUid, plan.runAsGid);
  if ('error' in runAs) return failedAloud(capture, runAs.error);
  const temporary: string[] = [];
  try {
    const cwd = await workingDirectory(plan, runAs, temporary);
    await writeAttachments(plan, cwd, runAs);
    const bodies = await writeBodies(plan.runId, launches, runAs, temporary);
    return await runLaunches(plan, launches, bodies, cwd, runAs, deadline, options, capture);
  } catch (error) {
    if (error instanceof PreparationError) return failedAloud(capture, error.message);
    // A system error (a full disk, an unwritable temp directory) is the host's problem, not ours.
    const code = (error as NodeJS.ErrnoException).code;
    if (code && error instanceof Error) return failedAloud(capture, `could not prepare the run: ${error.message}`);
    throw error;
  } finally {
    await Promise.all(temporary.map((dir) => rm(dir, { recursive: true, force: true }).catch(() => undefined)));
  }
}

/** Fails the run, with the reason also in its output, where whoever reads the log will look. */
function failedAloud(capture: OutputCapture, summary: string): JobEnd {
  capture.system(`${summary}\n`);
  return failed(summary);
}

async function runLaunches(
  plan: ProgramPlan,
  launches: Launch[],
  bodies: (string | null)[],
  cwd: string,
  runAs: RunAs,
  deadline: number | null,
  options: ExecuteOptions,
  capture: OutputCapture,
): Promise<JobEnd> {
  // onStart is the caller's code: if it throws, stop the tree before passing the error on.
  const stopAll = new AbortController();
  const signal = AbortSignal.any([options.signal, stopAll.signal]);
  let started = false;
  let callbackError: unknown;
  const onSpawn = (pid: number) => {
    if (started) return;
    started = true;
    try {
      options.onStart?.(pid);
    } catch (error) {
      callbackError = error;
      stopAll.abort();
    }
  };
  const stopOnFirstFailure = plan.kind === 'command' || plan.stopOnFirstFailure;
  let firstFailure: JobEnd | null = null;
  let failures = 0;
  let exitCode: number | null = null;
  const stepped = launches[0]?.step != null && plan.kind === 'script';
  const stepResults: StepResult[] = [];
  const result = (): StepsResult | null => (stepped ? { stepCount: launches.length, stopOnFirstFailure, steps: stepResults } : null);
  for (const [index, launch] of launches.entries()) {
    const where = launch.step ? ` before ${stepName(launch.step)}` : ' before it started';
    if (signal.aborted) return { state: 'cancelled', exitCode, summary: `cancelled${where}`, result: result() };
    if (deadline !== null && Date.now() >= deadline) {
      return { state: 'timed_out', exitCode, summary: `the ${durationInWords(plan.timeoutMs ?? 0)} timeout ran out${where}`, result: result() };
    }
    const command = launch.error ? (plan.kind === 'script' ? (plan.steps[index]?.executable ?? '') : '') : [launch.program, ...launch.args].join(' ');
    if (launch.step) capture.system(`Step ${launch.step.index}/${launch.step.count}: ${launch.step.name ?? command}\n`);
    const startedAt = new Date().toISOString();
    if (launch.error && launch.step) {
      const problem = `${stepName(launch.step)} could not start: ${launch.error}`;
      capture.system(`${problem}\n`);
      stepResults.push({ index: launch.step.index, command, exitCode: null, error: launch.error, startedAt, finishedAt: startedAt });
      failures++;
      firstFailure ??= { ...failed(problem), exitCode };
      if (stopOnFirstFailure) break;
      continue;
    }
    const body = bodies[index] ?? null;
    const program = launch.program || body;
    if (!program) throw new Error(`Launch ${index + 1} of run ${plan.runId} has neither a program nor a body.`);
    const args = launch.program && body ? [...launch.args, body] : launch.args;
    const end = await runInGroup(
      { program, args, cwd, env: plan.env, ...runAs },
      { capture, deadline, signal, killGraceMs: options.killGraceMs ?? 5000, onSpawn },
    );
    if (callbackError !== undefined) throw new Error(`onStart threw while run ${plan.runId} was starting.`, { cause: callbackError });
    exitCode = end.exitCode;
    const during = launch.step ? ` during ${stepName(launch.step)}` : '';
    const problem = describeFailure(end, launch);
    if (launch.step) {
      const stopped = end.stoppedBy === 'timeout' ? 'killed by the timeout' : end.stoppedBy === 'cancel' ? 'cancelled' : null;
      const error = stopped ?? (problem === null ? null : problem.replace(`${stepName(launch.step)} `, ''));
      stepResults.push({ index: launch.step.index, command, exitCode, error, startedAt, finishedAt: new Date().toISOString() });
    }
    if (end.stoppedBy === 'timeout') {
      return { state: 'timed_out', exitCode, summary: `killed after the ${durationInWords(plan.timeoutMs ?? 0)} timeout${during}`, result: result() };
    }
    if (end.stoppedBy === 'cancel') return { state: 'cancelled', exitCode, summary: `cancelled${during}`, result: result() };
    if (!problem) continue;
    if (end.spawnError) capture.system(`${problem}\n`);
    failures++;
    firstFailure ??= { ...failed(problem), exitCode };
    if (stopOnFirstFailure) break;
  }
  if (!firstFailure) {
    const count = launches.length;
    const summary = launches[0]?.step ? (count === 1 ? 'the step succeeded' : `all ${count} steps succeeded`) : `exit code ${exitCode}`;
    return { state: 'succeeded', exitCode, summary, result: result() };
  }
  if (failures > 1) firstFailure.summary += ` (${failures} of ${launches.length} steps failed)`;
  return { ...firstFailure, result: result() };
}

/** Why a finished program counts as failed, or null when it succeeded. */
function describeFailure(end: ProcessEnd, launch: Launch): string | null {
  const prefix = launch.step ? `${stepName(launch.step)} ` : '';
  if (end.spawnError) {
    const program = launch.program ? JSON.stringify(launch.program) : 'the script body';
    const cannot = `cannot run ${program}: ${spawnProblem(end.spawnError, !launch.program)}`;
    return launch.step ? `${prefix}could not start: ${cannot}` : cannot;
  }
  if (end.signal) return `${prefix}${launch.step ? 'was ' : ''}killed by ${end.signal}`;
  if (end.exitCode === 0) return null;
  return launch.step ? `${prefix}failed with exit code ${end.exitCode}` : `exit code ${end.exitCode}`;
}

function spawnProblem(error: NodeJS.ErrnoException, isBody: boolean): string {
  switch (error.code) {
    case 'ENOENT':
      return isBody ? 'the interpreter on its #! line was not found (ENOENT)' : 'not found (ENOENT)';
    case 'EACCES':
      return 'permission denied (EACCES)';
    case 'ENOEXEC':
      return 'not a program this system can run (ENOEXEC)';
    default:
      return error.message;
  }
}

const isRoot = () => process.getuid?.() === 0;
/** Run-as for chown: -1 leaves an id unchanged. */
const owner = (runAs: RunAs): [number, number] => [runAs.uid ?? -1, runAs.gid ?? -1];

async function workingDirectory(plan: ProgramPlan, runAs: RunAs, temporary: string[]): Promise<string> {
  if (plan.workingDir !== null) {
    const info = await stat(plan.workingDir).catch((error: unknown) => {
      throw new PreparationError(`working directory ${plan.workingDir} does not exist`, { cause: error });
    });
    if (!info.isDirectory()) throw new PreparationError(`working directory ${plan.workingDir} is not a directory`);
    return plan.workingDir;
  }
  const dir = await mkdtemp(path.join(tmpdir(), `runboard-run-${shortId(plan.runId)}-`));
  temporary.push(dir);
  if (runAs.uid !== undefined || runAs.gid !== undefined) await chown(dir, ...owner(runAs));
  return dir;
}

const shortId = (runId: string) => runId.replace(/[^A-Za-z0-9]/g, '').slice(0, 8);

async function writeAttachments(plan: ProgramPlan, cwd: string, runAs: RunAs): Promise<void> {
  for (const attachment of plan.attachments) {
    const target = path.resolve(cwd, attachment.path);
    try {
      await mkdir(path.dirname(target), { recursive: true });
      await writeFile(target, attachment.content, { mode: attachment.mode });
      await chmod(target, attachment.mode); // the umask narrowed it, or the file was already there
      if (isRoot()) {
        const [uid, gid] = owner(runAs);
        const fileOwner: [number, number] = [attachment.uid ?? uid, attachment.gid ?? gid];
        if (fileOwner[0] !== -1 || fileOwner[1] !== -1) await chown(target, ...fileOwner);
      }
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      throw new PreparationError(`could not write the attachment ${target}: ${reason}`, { cause: error });
    }
  }
}

/** Each launch's body file (null for a launch without one), in a private directory. */
async function writeBodies(runId: string, launches: Launch[], runAs: RunAs, temporary: string[]): Promise<(string | null)[]> {
  if (launches.every((launch) => launch.body === null)) return launches.map(() => null);
  const dir = await mkdtemp(path.join(tmpdir(), `runboard-body-${shortId(runId)}-`)); // mode 0700
  temporary.push(dir);
  const switching = runAs.uid !== undefined || runAs.gid !== undefined;
  if (switching) await chown(dir, ...owner(runAs));
  return Promise.all(
    launches.map(async (launch, index) => {
      if (launch.body === null) return null;
      const file = path.join(dir, launches.length === 1 ? 'script' : `step-${index + 1}`);
      await writeFile(file, launch.body, { mode: 0o700 });
      if (switching) await chown(file, ...owner(runAs));
      return file;
    }),
  );
}
