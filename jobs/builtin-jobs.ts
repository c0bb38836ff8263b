/**
 * The built-in job types a script can name instead of a body (ndscheduler's job classes):
 * - `command`: [program, ...arguments], run without a shell by the same process machinery as a
 *   script body (see local-executor.ts); here only its arguments are checked.
 * - `http`: [url, method = GET, body?]: one request; the status line and the response body are
 *   the run's stdout (masked and capped like any output); 2xx succeeds.
 * - `noop`: succeeds at once; its result is its arguments (for testing schedules and targets).
 * `http` and `noop` start no process, so a plan's working directory, attachments and run-as do
 * not apply to them. Arguments come from stored JSON, so they are checked here: bad ones fail the
 * run, never throw.
 */
import type { ExecuteOptions, ExecutionOutcome, ExecutionPlan } from './execution';
import { utf8Prefix, type OutputCapture } from './output-capture';

/** How a job ended, before output accounting (the executor adds outputBytes and outputTruncated). */
export type JobEnd = Omit<ExecutionOutcome, 'outputBytes' | 'outputTruncated'>;

/** The most of an HTTP response body kept as the run's result. */
const RESULT_BYTES = 1024 * 1024;
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

export function failed(summary: string, result: unknown = null): JobEnd {
  return { state: 'failed', exitCode: null, summary, result };
}

/** "30 s", "1.5 s", "250 ms". */
export function durationInWords(ms: number): string {
  if (ms < 1000) return `${ms} ms`;
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${(ms / 1000).toFixed(1)} s`;
}

export function runNoopJob(plan: ExecutionPlan & { kind: 'noop' }, options: ExecuteOptions): JobEnd {
  options.onStart?.(null);
  return { state: 'succeeded', exitCode: null, summary: 'no-op', result: plan.args };
}

/** The program and arguments of a `command` job, or why they are unusable. */
export function commandLine(args: unknown): { program: string; args: string[] } | { error: string } {
  if (!Array.isArray(args) || args.length === 0) return { error: 'command job: give the program to run as its first argument' };
  const bad = args.findIndex((arg) => typeof arg !== 'string');
  if (bad >= 0) return { error: `command job: argument ${bad + 1} is ${JSON.stringify(args[bad])}; every argument must be a string` };
  const [program, ...rest] = args as string[];
  if (!program?.trim()) return { error: 'command job: the program (first argument) is empty' };
  return { program, args: rest };
}

interface HttpRequest {
  url: URL;
  method: string;
  body: string | undefined;
}

function httpRequest(args: unknown[]): HttpRequest | { error: string } {
  const [url, method = 'GET', body] = args;
  if (args.length > 3) return { error: `http job: expected at most 3 arguments (url, method, body), got ${args.length}` };
  if (typeof url !== 'string' || !url) return { error: 'http job: give the URL to request as its first argument' };
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return { error: `http job: "${url}" is not a URL` };
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return { error: `http job: "${url}" is not an http:// or https:// URL` };
  if (typeof method !== 'string' || !TOKEN.test(method)) return { error: `http job: ${JSON.stringify(method)} is not an HTTP method` };
  if (body !== undefined && body !== null && typeof body !== 'string') return { error: 'http job: the request body (third argument) must be a string' };
  const upper = method.toUpperCase();
  if (body != null && (upper === 'GET' || upper === 'HEAD')) return { error: `http job: a ${upper} request cannot have a body` };
  return { url: parsed, method: upper, body: body ?? undefined };
}

/** Why a fetch failed, in words: undici keeps the system error (ECONNREFUSED, …) in `cause`. */
function fetchProblem(error: unknown): string {
  const cause = (error as { cause?: unknown }).cause;
  const reason = cause instanceof Error ? cause : error instanceof Error ? error : new Error(String(error));
  const code = (reason as NodeJS.ErrnoException).code;
  return code && !reason.message.includes(code) ? `${reason.message} (${code})` : reason.message;
}

export async function runHttpJob(
  plan: ExecutionPlan & { kind: 'http' },
  options: ExecuteOptions,
  capture: OutputCapture,
): Promise<JobEnd> {
  const request = httpRequest(Array.isArray(plan.args) ? plan.args : []);
  if ('error' in request) return failed(request.error);
  options.onStart?.(null);

  // Our own timer rather than AbortSignal.timeout, so a timeout and a cancel can be told apart.
  const timeout = new AbortController();
  const timer = plan.timeoutMs === null ? undefined : setTimeout(() => timeout.abort(), plan.timeoutMs);
  const signal = AbortSignal.any([options.signal, timeout.signal]);
  const stopped = (): JobEnd | null => {
    if (options.signal.aborted) return { state: 'cancelled', exitCode: null, summary: 'cancelled', result: null };
    if (timeout.signal.aborted) {
      return { state: 'timed_out', exitCode: null, summary: `request stopped after the ${durationInWords(plan.timeoutMs ?? 0)} timeout`, result: null };
    }
    return null;
  };
  const target = `${request.method} ${capture.mask(request.url.href)}`;
  const stdout = capture.open('stdout');
  let status = '';
  try {
    const response = await fetch(request.url, { method: request.method, body: request.body, signal, redirect: 'follow' });
    status = `HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ''}`;
    stdout.write(`${status}\n`);
    let result = '';
    const reader = response.body?.getReader();
    const decoder = new TextDecoder();
    for (let read = await reader?.read(); read && !read.done; read = await reader?.read()) {
      const text = decoder.decode(read.value, { stream: true });
      stdout.write(text);
      if (result.length < RESULT_BYTES) result += text; // a character is at least a byte: enough to cut from
      await capture.room();
    }
    const rest = decoder.decode();
    stdout.write(rest);
    if (result.length < RESULT_BYTES) result += rest;
    const ok = response.status >= 200 && response.status < 300;
    return { state: ok ? 'succeeded' : 'failed', exitCode: null, summary: status, result: capture.mask(utf8Prefix(result, RESULT_BYTES)) };
  } catch (error) {
    stdout.end(); // what was read comes before the reason it stopped
    const end = stopped();
    if (end) return end;
    const summary = status ? `${target}: ${status}, then the response broke off: ${fetchProblem(error)}` : `${target} failed: ${fetchProblem(error)}`;
    capture.system(`${summary}\n`);
    return failed(summary);
  } finally {
    stdout.end();
    clearTimeout(timer);
  }
}
