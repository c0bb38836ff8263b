/**
 * Sloth CI apps (COMPAT.md "Sloth CI"). An app is a Runboard script made from a Sloth YAML
 * config: its `listen_point` is the script's listen point (a webhook at /<listen point>), its
 * `actions` are template steps run without a shell, `work_dir`, `exec_timeout`,
 * `stop_on_first_fail`, `params` and `provider` are the script's working directory, timeout,
 * stop-on-failure, parameter defaults and webhook provider; the YAML itself is kept as the
 * script's config source. Here: turning a config into a script, binding a config file, and
 * queuing builds from the API (`trigger`) and from webhooks (the provider's validator).
 */
import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { parse } from 'yaml';
import type { Db } from '../db/database';
import type { Run } from '../db/run.repository';
import { findScriptByListenPoint, listBoundScripts, type Script } from '../db/script.repository';
import type { ChangeDeps } from './audit';
import { ConflictError, NotFoundError, ValidationError } from './errors';
import { PARAMETER_VALUE_MAX, queueLocalRun, type Caller } from './run.service';
import { BODY_MAX_BYTES, createScript, NAME_MAX, updateScript, type ScriptInput } from './script.service';
import type { SecretBox } from './secrets';

/** The most parameters a trigger may give. */
export const TRIGGER_PARAMETERS_MAX = 100;
/**
 * Names a trigger may not set: they would change how programs start rather than what they do
 * (an operator may trigger a build, not choose its dynamic linker).
 */
const CONTROL_VARIABLES = /^(PATH|HOME|SHELL|IFS|ENV|BASH_ENV|CDPATH|NODE_OPTIONS|NODE_PATH|PYTHONPATH|PYTHONSTARTUP|PYTHONHOME|PERL5LIB|PERL5OPT|RUBYOPT|RUBYLIB|LD_.*|DYLD_.*|RUNBOARD_.*)$/i;

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** A problem with the config string as a whole (path `configString`) or with one of its keys. */
function invalid(message: string, key?: string): ValidationError {
  return new ValidationError(message, [{ path: key ? ['configString', key] : ['configString'], message }]);
}

/** The script name of an app: "sloth:<listen point>", shortened with a hash when too long. */
export function appScriptName(listenPoint: string): string {
  const name = `sloth:${listenPoint}`;
  if (name.length <= NAME_MAX) return name;
  return `sloth:${listenPoint.slice(0, NAME_MAX - 20)}~${createHash('sha256').update(listenPoint).digest('hex').slice(0, 12)}`;
}

const scalar = (value: unknown): value is string | number | boolean => ['string', 'number', 'boolean'].includes(typeof value);

/** Parses YAML into a plain value, or throws the "not a valid config" problem. */
function parseYaml(text: string): unknown {
  try {
    return parse(text, { maxAliasCount: 100, prettyErrors: false });
  } catch (error) {
    throw invalid(`The config is not valid YAML: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`);
  }
}

/** A Sloth app config (YAML text) as script input. Throws a ValidationError naming the problem. */
export function slothConfigInput(text: string): ScriptInput & { name: string; listenPoint: string } {
  if (text.trim() === '') throw invalid('The config is empty.');
  if (Buffer.byteLength(text) > BODY_MAX_BYTES) throw invalid('The config is larger than 1 MiB.');
  const config = parseYaml(text);
  if (!isObject(config)) throw invalid('The config must be a YAML mapping (key: value lines).');
  const listenPoint = config.listen_point;
  if (listenPoint === undefined || listenPoint === null || listenPoint === '') throw invalid("The config has no 'listen_point'.", 'listen_point');
  if (typeof listenPoint !== 'string' && typeof listenPoint !== 'number') throw invalid('listen_point must be a string.', 'listen_point');
  const lp = String(listenPoint);

  const actions = config.actions ?? [];
  if (!Array.isArray(actions) || !actions.every(scalar)) throw invalid('actions must be a list of commands.', 'actions');
  const workDir = config.work_dir;
  if (workDir !== undefined && workDir !== null && typeof workDir !== 'string') throw invalid('work_dir must be a path.', 'work_dir');
  const timeout = config.exec_timeout;
  if (timeout !== undefined && timeout !== null && (typeof timeout !== 'number' || !(timeout > 0) || !Number.isFinite(timeout))) {
    throw invalid('exec_timeout must be a number of seconds above 0.', 'exec_timeout');
  }
  const stop = config.stop_on_first_fail;
  if (stop !== undefined && stop !== null && typeof stop !== 'boolean') throw invalid('stop_on_first_fail must be true or false.', 'stop_on_first_fail');
  const params = config.params ?? {};
  if (!isObject(params) || !Object.values(params).every((v) => v === null || scalar(v))) throw invalid('params must be a mapping of names to values.', 'params');

  return {
    name: appScriptName(lp),
    description: `Sloth CI app at /${lp}`,
    listenPoint: lp,
    steps: actions.map((action) => ({ name: null, executable: String(action), args: [], body: null, template: true })),
    stopOnFirstFailure: stop === true,
    // Relative to the server's working directory, as Sloth CI ran its actions.
    workingDir: workDir ? path.resolve(workDir) : null,
    timeoutSeconds: typeof timeout === 'number' ? Math.ceil(timeout) : null,
    parameters: Object.entries(params).map(([name, value]) => ({ name, default: value === null ? '' : String(value) })),
    webhookProvider: config.provider ?? null,
    configSource: text,
  };
}

/** A JSON text of a value with object keys sorted: equal configs, equal texts. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => (isObject(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => a.localeCompare(b))) : v));
}

export async function findApp(db: Db, listenPoint: string): Promise<Script> {
  const script = await findScriptByListenPoint(db, listenPoint);
  if (!script) throw new NotFoundError(`There is no app at listen point "${listenPoint}".`);
  return script;
}

export async function createSlothApp(deps: ChangeDeps, secrets: SecretBox, configString: string): Promise<Script> {
  const input = slothConfigInput(configString);
  try {
    return await createScript(deps, secrets, input);
  } catch (error) {
    // The name comes from the listen point: a name taken is the listen point taken.
    if (error instanceof ConflictError) throw new ConflictError(`Listen point "${input.listenPoint}" is already taken.`);
    throw error;
  }
}

/**
 * Binds an app to a config file on this server: the file must hold the app's own config (the
 * same settings, however written). Throws NotFoundError for a missing file, ConflictError for a
 * different config.
 */
export async function bindSlothConfigFile(deps: ChangeDeps, secrets: SecretBox, listenPoint: string, file: string): Promise<Script> {
  if (!path.isAbsolute(file) || file.includes('\0')) throw new ValidationError(`The config file must be an absolute path, not "${file}".`, [{ path: ['configFile'], message: 'Absolute path.' }]);
  const script = await findApp(deps.db, listenPoint);
  let text: string;
  try {
    const info = await stat(file);
    if (!info.isFile()) throw new ValidationError(`${file} is not a file.`, [{ path: ['configFile'], message: 'Not a file.' }]);
    if (info.size > BODY_MAX_BYTES) throw new ValidationError(`${file} is larger than 1 MiB.`, [{ path: ['configFile'], message: 'Too large.' }]);
    text = await readFile(file, 'utf8');
  } catch (error) {
    if (error instanceof ValidationError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new NotFoundError(`File ${file} not found`);
    throw new ValidationError(`Cannot read ${file}: ${code ?? String(error)}`, [{ path: ['configFile'], message: 'Unreadable.' }]);
  }
  let same = false;
  try {
    same = script.configSource !== null && canonical(parse(text)) === canonical(parse(script.configSource));
  } catch {
    same = false;
  }
  if (!same) throw new ConflictError('Config mismatch');
  return updateScript(deps, secrets, script.id, { configFile: file });
}

/** Checks the names and values a trigger gives. */
function triggerParameters(given: Record<string, string>): Record<string, string> {
  const entries = Object.entries(given);
  const bad = (message: string) => new ValidationError(message, [{ path: ['parameters'], message }]);
  if (entries.length > TRIGGER_PARAMETERS_MAX) throw bad(`At most ${TRIGGER_PARAMETERS_MAX} parameters.`);
  for (const [name, value] of entries) {
    if (name === '' || name.length > 256 || name.includes('=') || name.includes('\0')) throw bad(`"${name.slice(0, 60)}" cannot be a parameter name.`);
    if (CONTROL_VARIABLES.test(name)) throw bad(`Parameter ${name} would change how programs start; it cannot be set by a trigger.`);
    if (typeof value !== 'string' || value.length > PARAMETER_VALUE_MAX || value.includes('\0')) {
      throw bad(`Parameter ${name}: a text of at most ${PARAMETER_VALUE_MAX} characters without NUL.`);
    }
  }
  return given;
}

/** Queues a build of the app with `parameters` over its own (Sloth's `trigger`). */
export async function triggerListenPoint(deps: ChangeDeps, caller: Caller, listenPoint: string, parameters: Record<string, string>): Promise<Run> {
  const checked = triggerParameters(parameters);
  const script = await findApp(deps.db, listenPoint);
  return queueLocalRun(deps, script, {
    trigger: caller.viaApiKey ? 'api' : 'manual',
    triggeredBy: caller.username,
    userId: caller.userId,
    parameters: checked,
  });
}

/** A webhook call as the validators see it. */
export interface WebhookCall {
  method: string;
  /** The query string's and the form body's fields (the body's win). */
  fields: Record<string, string>;
}

/** What a provider's validator makes of a call: the parameters of the build, or why it is refused. */
type Verdict = { parameters: Record<string, string> } | { refused: string };

function payloadOf(call: WebhookCall): Record<string, unknown> | string {
  if (call.method !== 'POST') return `Payload validation failed: wrong method, POST expected, got ${call.method}.`;
  const text = call.fields.payload;
  if (text === undefined) return 'Payload validation failed: no "payload" field.';
  try {
    const payload: unknown = JSON.parse(text);
    return isObject(payload) ? payload : 'Payload validation failed: the payload is not a JSON object.';
  } catch {
    return 'Payload validation failed: the payload is not JSON.';
  }
}

const text = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);

function repoVerdict(settings: Record<string, unknown>, repo: string | undefined, branch: string | undefined): Verdict {
  if (!repo || branch === undefined) return { refused: 'Payload validation failed: the payload has no repository or branch.' };
  if (repo !== settings.repo) return { refused: `Payload validation failed: repo mismatch. Repo: ${repo}` };
  const branches = settings.branches;
  if (Array.isArray(branches) && !branches.includes(branch)) return { refused: `Payload validation failed: branch ${branch} is not watched.` };
  return { parameters: { branch } };
}

/** The providers' validators (Sloth CI's github, bitbucket and dummy). */
export function validateWebhook(provider: Record<string, unknown> | null, call: WebhookCall): Verdict {
  // Anyone may call a webhook: without a provider to check the call against, none is let in.
  if (!provider) return { refused: 'No provider set, declining all payloads' };
  const [kind, rawSettings] = Object.entries(provider)[0] ?? [];
  const settings = isObject(rawSettings) ? rawSettings : {};
  if (kind === 'dummy') {
    if (call.method !== 'GET') return { refused: `Payload validation failed: wrong method, GET expected, got ${call.method}.` };
    const message = call.fields.message;
    return message !== undefined && message === settings.message ? { parameters: { message } } : { refused: `Payload validation failed. Message: ${message ?? ''}` };
  }
  const payload = payloadOf(call);
  if (typeof payload === 'string') return { refused: payload };
  const repository = isObject(payload.repository) ? payload.repository : {};
  if (kind === 'github') {
    const owner = isObject(repository.owner) ? (text(repository.owner.name) ?? text(repository.owner.login)) : undefined;
    const name = text(repository.name);
    return repoVerdict(settings, owner && name ? `${owner}/${name}` : text(repository.full_name), text(payload.ref)?.split('/').pop());
  }
  if (kind === 'bitbucket') {
    const owner = text(repository.owner) ?? (isObject(repository.owner) ? text(repository.owner.username) : undefined);
    const slug = text(repository.slug);
    const commits = Array.isArray(payload.commits) ? payload.commits : [];
    const last: unknown = commits[commits.length - 1];
    return repoVerdict(settings, owner && slug ? `${owner}/${slug}` : undefined, isObject(last) ? text(last.branch) : undefined);
  }
  return { refused: `No validator for provider "${String(kind)}".` };
}

/** A webhook call at an app's listen point: its provider's validator decides, then a build is queued. */
export async function deliverWebhook(deps: ChangeDeps, listenPoint: string, call: WebhookCall): Promise<Run> {
  const script = await findApp(deps.db, listenPoint);
  const verdict = validateWebhook(script.webhookProvider, call);
  if ('refused' in verdict) throw new ValidationError(verdict.refused, [{ path: ['input'], message: verdict.refused }]);
  const provider = Object.keys(script.webhookProvider ?? {})[0] ?? 'none';
  return queueLocalRun(deps, script, { trigger: 'webhook', triggeredBy: `webhook (${provider})`, userId: null, parameters: verdict.parameters });
}

/** What `reloadSlothApps` did with one bound app. */
export interface Reload {
  listenPoint: string;
  /** `unchanged`, `reloaded`, or why the file was not used. */
  outcome: string;
}

/**
 * Re-reads the config file of every bound app (Sloth CI's restart): an app whose file now holds
 * another config is updated from it. A file that is gone, unreadable, invalid, or moves the app
 * to another listen point is left alone and said so.
 */
export async function reloadSlothApps(deps: ChangeDeps, secrets: SecretBox): Promise<Reload[]> {
  const reloads: Reload[] = [];
  for (const script of await listBoundScripts(deps.db)) {
    const listenPoint = script.listenPoint ?? script.name;
    const file = script.configFile!;
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      reloads.push({ listenPoint, outcome: `not reloaded: cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? String(error)})` });
      continue;
    }
    if (text === script.configSource) {
      reloads.push({ listenPoint, outcome: 'unchanged' });
      continue;
    }
    try {
      const { name: _name, ...input } = slothConfigInput(text);
      if (input.listenPoint !== script.listenPoint) {
        reloads.push({ listenPoint, outcome: `not reloaded: ${file} is for listen point "${input.listenPoint}"` });
        continue;
      }
      await updateScript(deps, secrets, script.id, input);
      reloads.push({ listenPoint, outcome: 'reloaded' });
    } catch (error) {
      reloads.push({ listenPoint, outcome: `not reloaded: ${error instanceof Error ? error.message : String(error)}` });
    }
  }
  return reloads;
}
