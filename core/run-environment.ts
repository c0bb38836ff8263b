/**
 * The environment a run gets, merged in the order COMPAT.md gives, later wins:
 *
 *   server → global → script → each of the host's groups (by name) → host → run parameters
 *
 * "Server" variables are not the server's whole environment (that holds DATABASE_URL and
 * RUNBOARD_SECRET): only the basics a program expects (PATH, HOME, locale, …) and RUNBOARD_*
 * facts about the run. Secret values are opened here and listed, so the executor can mask them.
 */
import type { ExecutionEnvVar } from '../db/env-var.repository';
import type { Run } from '../db/run.repository';
import type { SecretBox } from './secrets';

/** Variables passed through from the server's own environment, when set. */
const PASSED_THROUGH = ['PATH', 'HOME', 'USER', 'LOGNAME', 'SHELL', 'LANG', 'LANGUAGE', 'TZ', 'TMPDIR', 'TERM'];

/** The passed-through variables of an environment (read once: process.env is slow to walk). */
function passedThrough(from: NodeJS.ProcessEnv): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(from)) {
    if (value !== undefined && (PASSED_THROUGH.includes(key) || key.startsWith('LC_'))) env[key] = value;
  }
  env.PATH ??= '/usr/local/bin:/usr/bin:/bin';
  return env;
}

let fromProcess: Record<string, string> | undefined;

export function serverVariables(run: Run, serverUrl: string | null, from?: NodeJS.ProcessEnv): Record<string, string> {
  const env = { ...(from ? passedThrough(from) : (fromProcess ??= passedThrough(process.env))) };
  Object.assign(env, {
    RUNBOARD_RUN_ID: run.id,
    RUNBOARD_SCRIPT: run.scriptName,
    RUNBOARD_HOST: run.hostName ?? '',
    RUNBOARD_TRIGGER: run.trigger,
    RUNBOARD_ATTEMPT: String(run.attempt),
    ...(run.scheduledFor && { RUNBOARD_SCHEDULED_FOR: run.scheduledFor.toISOString() }),
    ...(serverUrl && { RUNBOARD_SERVER_URL: serverUrl }),
  });
  return env;
}

export interface MergeInput {
  server: Record<string, string>;
  vars: readonly ExecutionEnvVar[];
  scriptId: string | null;
  /** The host's groups, in the order they apply. */
  groupIds: readonly string[];
  hostId: string | null;
  parameters: Record<string, string>;
}

/** The merged environment and the secret values in it. */
export function mergeEnvironment(input: MergeInput, secrets: SecretBox): { env: Record<string, string>; secrets: string[] } {
  const env = { ...input.server };
  const secretValues = new Set<string>();
  const apply = (vars: readonly ExecutionEnvVar[]) => {
    for (const v of vars) {
      const value = v.sealed ? secrets.open(v.sealed) : (v.value ?? '');
      if (v.sealed && value !== '') secretValues.add(value);
      env[v.key] = value;
    }
  };
  const of = (kind: string, id: string | null) => input.vars.filter((v) => v.owner.kind === kind && 'id' in v.owner && v.owner.id === id);
  apply(input.vars.filter((v) => v.owner.kind === 'global'));
  apply(of('script', input.scriptId));
  for (const groupId of input.groupIds) apply(of('group', groupId));
  apply(of('host', input.hostId));
  for (const [key, value] of Object.entries(input.parameters)) {
    // A name the environment cannot hold is still available to templates, just not here.
    if (key !== '' && !key.includes('=') && !key.includes('\0')) env[key] = value;
  }
  return { env, secrets: [...secretValues] };
}
