/**
 * Turns claimed runs into execution plans: the script (body, steps or built-in job), the merged
 * environment with secrets opened, the attachments' bytes, the limits. One batch of runs costs one
 * query, whatever its size.
 */
import type { Db } from '../db/database';
import { loadExecutionInput } from '../db/execution-input.repository';
import type { Run } from '../db/run.repository';
import type { Script } from '../db/script.repository';
import { mergeEnvironment, serverVariables } from '../core/run-environment';
import type { SecretBox } from '../core/secrets';
import { BUILTIN_JOBS, builtinJobOf, JOB_CLASS_ALIASES } from '../core/job-class';
import type { ExecutionPlan, PlannedAttachment } from './execution';

/** A plan, or why the run cannot start (it fails with that summary). */
export type Prepared = { plan: ExecutionPlan; script: Script } | { error: string };

export async function preparePlans(db: Db, secrets: SecretBox, runs: readonly Run[]): Promise<Map<string, Prepared>> {
  const result = new Map<string, Prepared>();
  const scriptIds = [...new Set(runs.flatMap((run) => (run.scriptId ? [run.scriptId] : [])))];
  const hostIds = [...new Set(runs.flatMap((run) => (run.hostId ? [run.hostId] : [])))];
  const input = await loadExecutionInput(db, scriptIds, hostIds);
  const scriptById = new Map(input.scripts.map((script) => [script.id, script]));

  for (const run of runs) {
    const script = run.scriptId ? scriptById.get(run.scriptId) : undefined;
    if (!script) {
      result.set(run.id, { error: `the script "${run.scriptName}" was deleted before the run could start` });
      continue;
    }
    let environment: { env: Record<string, string>; secrets: string[] };
    try {
      environment = mergeEnvironment(
        {
          server: serverVariables(run, input.serverUrl),
          vars: input.vars,
          scriptId: script.id,
          groupIds: (run.hostId && input.groupsOfHost.get(run.hostId)) || [],
          hostId: run.hostId,
          parameters: run.parameters,
        },
        secrets,
      );
    } catch (error) {
      result.set(run.id, { error: `a secret variable cannot be opened: ${error instanceof Error ? error.message : String(error)}` });
      continue;
    }
    const attachments: PlannedAttachment[] = input.attachmentsOfScript.get(script.id) ?? [];
    const common = {
      runId: run.id,
      env: environment.env,
      secrets: environment.secrets,
      workingDir: script.workingDir,
      runAsUid: script.runAsUid,
      runAsGid: script.runAsGid,
      timeoutMs: script.timeoutSeconds ? script.timeoutSeconds * 1000 : null,
      attachments,
    };
    const jobClass = script.jobClass?.trim() || null;
    if (jobClass === null) {
      result.set(run.id, {
        script,
        plan: { ...common, kind: 'script', executable: script.executable, body: script.body, steps: script.steps, stopOnFirstFailure: script.stopOnFirstFailure, parameters: run.parameters },
      });
    } else if (builtinJobOf(jobClass) !== undefined) {
      const kind = builtinJobOf(jobClass)!; // the job itself, or the built-in an ndscheduler class names
      if (kind === 'command' && !script.jobArgs.every((arg) => typeof arg === 'string' || typeof arg === 'number')) {
        result.set(run.id, { error: 'a command job takes strings: the program, then its arguments' });
        continue;
      }
      const args = kind === 'command' ? script.jobArgs.map(String) : script.jobArgs;
      result.set(run.id, { script, plan: { ...common, kind, args } as ExecutionPlan });
    } else {
      result.set(run.id, { error: `unknown job class "${jobClass}" (built-in job classes: ${[...BUILTIN_JOBS, ...Object.keys(JOB_CLASS_ALIASES)].join(', ')})` });
    }
  }
  return result;
}
