/**
 * Job classes: what a script with a `jobClass` runs instead of its body. The built-in jobs are
 * run by jobs/builtin-jobs.ts; ndscheduler's classes are aliases of them.
 */

/** The built-in job types (a script's `jobClass`); a script without one runs its body or steps. */
export type BuiltinJob = 'command' | 'http' | 'noop';
export const BUILTIN_JOBS: readonly BuiltinJob[] = ['command', 'http', 'noop'];

/**
 * ndscheduler's job classes (its REST dialect stores them as a script's `jobClass`), each run by
 * the built-in job that behaves as it did: ShellJob runs its arguments as a command (no shell),
 * CurlJob requests a URL with a method, the sample AwesomeJob returns its arguments.
 */
export const JOB_CLASS_ALIASES: Readonly<Record<string, BuiltinJob>> = {
  'simple_scheduler.jobs.shell_job.ShellJob': 'command',
  'simple_scheduler.jobs.curl_job.CurlJob': 'http',
  'simple_scheduler.jobs.sample_job.AwesomeJob': 'noop',
};

/** The built-in job a job class names (itself, or an ndscheduler alias); undefined for none. */
export function builtinJobOf(jobClass: string): BuiltinJob | undefined {
  if ((BUILTIN_JOBS as readonly string[]).includes(jobClass)) return jobClass as BuiltinJob;
  return Object.hasOwn(JOB_CLASS_ALIASES, jobClass) ? JOB_CLASS_ALIASES[jobClass] : undefined;
}
