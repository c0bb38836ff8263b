/**
 * Server options: validating and applying a partial update (network settings, anonymous
 * check-in networks, host registration and its rules, the global environment), and the two
 * questions agent registration asks: is this the pre-shared key, and which group does a new
 * host join.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { BlockList, isIP } from 'node:net';
import type { Db } from '../db/database';
import { listEnvVars } from '../db/env-var.repository';
import { findGroupsByIds } from '../db/group.repository';
import {
  getOptions,
  listRegistrationRules,
  lockOptions,
  replaceRegistrationRules,
  sealedRegistrationPsk,
  updateOptionsRow,
  type NewRegistrationRule,
  type OptionsRowPatch,
  type RegistrationProperty,
  type RegistrationRule,
  type ServerOptions,
} from '../db/options.repository';
import { audited, diff, type ChangeDeps } from './audit';
import { envProblems, envSummary, saveEnvironment, type EnvVarInput } from './environment';
import { NotFoundError, ValidationError, type FieldProblem } from './errors';
import type { SecretBox } from './secrets';
import { FOREIGN_KEY_VIOLATION, pgError } from '../db/postgres-error';

export const MAX_URL_LENGTH = 2048;
export const MAX_PSK_LENGTH = 1024;
export const MAX_PATTERN_LENGTH = 500;
export const MAX_RULES = 100;
export const MAX_NETWORKS = 100;
/** Bounds of the timing settings, in seconds (a day is far beyond any sane heartbeat). */
export const MAX_SECONDS = 86_400;

export interface RegistrationPatch {
  enabled?: boolean | null;
  /** Write-only. Omitted or null keeps the stored key; an empty string clears it. */
  psk?: string | null;
  /** A group's UUID, or null for none. */
  defaultGroupId?: string | null;
  /** Replaces every rule, in the order they are tried. */
  rules?: readonly NewRegistrationRule[] | null;
}

/** Only the fields given change; null clears the nullable ones and is ignored for the others. */
export interface OptionsPatch {
  serverUrl?: string | null;
  forceIpVersion?: number | null;
  networkTimeoutSeconds?: number | null;
  heartbeatSeconds?: number | null;
  hostOfflineAfterSeconds?: number | null;
  includePskEnv?: boolean | null;
  anonymousCheckinNetworks?: readonly string[] | null;
  registration?: RegistrationPatch | null;
  globalEnvironment?: readonly EnvVarInput[] | null;
}

const problem = (path: string[], message: string): FieldProblem => ({ path: ['input', ...path], message });

function fail(problems: FieldProblem[]): void {
  if (problems.length) throw new ValidationError(problems.map((p) => p.message).join(' '), problems);
}

function urlProblems(value: string | null | undefined): FieldProblem[] {
  if (!value) return [];
  const example = 'e.g. https://runboard.example.com';
  if (value.length > MAX_URL_LENGTH) return [problem(['serverUrl'], `The server URL is at most ${MAX_URL_LENGTH} characters.`)];
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:') || !url.hostname) {
    return [problem(['serverUrl'], `The server URL "${value.slice(0, 80)}" must be an absolute URL starting with http:// or https://, ${example}.`)];
  }
  return [];
}

function secondsProblems(field: string, label: string, value: number | null | undefined): FieldProblem[] {
  if (value === undefined || value === null || (Number.isInteger(value) && value >= 1 && value <= MAX_SECONDS)) return [];
  return [problem([field], `${label} must be a whole number of seconds from 1 to ${MAX_SECONDS}.`)];
}

/** A network in CIDR form (a bare address is taken as one host), normalized, or undefined if it is not one. */
export function parseCidr(text: string): { address: string; prefix: number; family: 'ipv4' | 'ipv6'; cidr: string } | undefined {
  const [address = '', prefixText, extra] = text.trim().toLowerCase().split('/');
  const version = isIP(address);
  if (!version || extra !== undefined) return undefined;
  const max = version === 4 ? 32 : 128;
  const prefix = prefixText === undefined ? max : /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : NaN;
  if (!(prefix >= 0 && prefix <= max)) return undefined;
  return { address, prefix, family: version === 4 ? 'ipv4' : 'ipv6', cidr: `${address}/${prefix}` };
}

function networkProblems(networks: readonly string[] | null | undefined): FieldProblem[] {
  if (!networks) return [];
  const problems: FieldProblem[] = [];
  if (networks.length > MAX_NETWORKS) problems.push(problem(['anonymousCheckinNetworks'], `At most ${MAX_NETWORKS} networks.`));
  networks.forEach((network, i) => {
    if (!parseCidr(network)) {
      problems.push(
        problem(
          ['anonymousCheckinNetworks', String(i)],
          `"${network.slice(0, 80)}" is not a network: write an IPv4 or IPv6 address with an optional prefix length, e.g. 10.0.0.0/8 or fd00::/8.`,
        ),
      );
    }
  });
  return problems;
}

/** Whether `ip` (as a request reports it; IPv4-mapped IPv6 included) lies in one of `networks`. */
export function networksInclude(networks: readonly string[], ip: string): boolean {
  const list = new BlockList();
  for (const network of networks) {
    const parsed = parseCidr(network);
    if (parsed) list.addSubnet(parsed.address, parsed.prefix, parsed.family);
  }
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip)?.[1];
  const address = mapped ?? ip;
  const version = isIP(address);
  return version !== 0 && list.check(address, version === 4 ? 'ipv4' : 'ipv6');
}

function registrationProblems(registration: RegistrationPatch | null | undefined): FieldProblem[] {
  if (!registration) return [];
  const problems: FieldProblem[] = [];
  const psk = registration.psk;
  if (psk) {
    if (psk.length > MAX_PSK_LENGTH) problems.push(problem(['registration', 'psk'], `The registration key is at most ${MAX_PSK_LENGTH} characters.`));
    if (psk.includes('\0')) problems.push(problem(['registration', 'psk'], 'The registration key cannot contain a NUL character.'));
  }
  const rules = registration.rules ?? [];
  if (rules.length > MAX_RULES) problems.push(problem(['registration', 'rules'], `At most ${MAX_RULES} registration rules.`));
  rules.forEach((rule, i) => {
    const path = ['registration', 'rules', String(i), 'pattern'];
    const label = `Rule ${i + 1}`;
    if (rule.pattern.length === 0) problems.push(problem(path, `${label}: give a pattern.`));
    else if (rule.pattern.length > MAX_PATTERN_LENGTH) problems.push(problem(path, `${label}: a pattern is at most ${MAX_PATTERN_LENGTH} characters.`));
    else if (rule.pattern.includes('\0')) problems.push(problem(path, `${label}: a pattern cannot contain a NUL character.`));
    else {
      try {
        new RegExp(rule.pattern);
      } catch (error) {
        problems.push(problem(path, `${label}: "${rule.pattern.slice(0, 80)}" is not a regular expression (${(error as Error).message}).`));
      }
    }
  });
  return problems;
}

function patchProblems(patch: OptionsPatch): FieldProblem[] {
  return [
    ...urlProblems(patch.serverUrl),
    ...(patch.forceIpVersion === undefined || patch.forceIpVersion === null || patch.forceIpVersion === 4 || patch.forceIpVersion === 6
      ? []
      : [problem(['forceIpVersion'], 'The forced IP version is 4, 6, or null for either.')]),
    ...secondsProblems('networkTimeoutSeconds', 'The network timeout', patch.networkTimeoutSeconds),
    ...secondsProblems('heartbeatSeconds', 'The heartbeat interval', patch.heartbeatSeconds),
    ...secondsProblems('hostOfflineAfterSeconds', 'The offline delay', patch.hostOfflineAfterSeconds),
    ...networkProblems(patch.anonymousCheckinNetworks),
    ...registrationProblems(patch.registration),
    ...(patch.globalEnvironment ? envProblems(patch.globalEnvironment, ['input', 'globalEnvironment']) : []),
  ];
}

/** Every group the patch names must exist; the message says which one is missing and where. */
async function checkGroupsExist(db: Db, registration: RegistrationPatch | null | undefined): Promise<void> {
  if (!registration) return;
  const named: { id: string; where: string }[] = [];
  if (registration.defaultGroupId) named.push({ id: registration.defaultGroupId, where: 'the default registration group' });
  registration.rules?.forEach((rule, i) => named.push({ id: rule.groupId, where: `the group of registration rule ${i + 1}` }));
  if (named.length === 0) return;
  const found = new Set((await findGroupsByIds(db, [...new Set(named.map((n) => n.id))])).map((g) => g.id));
  const missing = named.find((n) => !found.has(n.id));
  if (missing) throw new NotFoundError(`There is no group with id "${missing.id}" (${missing.where}).`);
}

/** An audit-safe summary of the options: never the key, never a secret value. */
function summarize(options: ServerOptions, rules: readonly NewRegistrationRule[], env: readonly EnvVarInput[]) {
  return {
    serverUrl: options.serverUrl,
    forceIpVersion: options.forceIpVersion,
    networkTimeoutSeconds: options.networkTimeoutSeconds,
    heartbeatSeconds: options.heartbeatSeconds,
    hostOfflineAfterSeconds: options.hostOfflineAfterSeconds,
    includePskEnv: options.includePskEnv,
    anonymousCheckinNetworks: options.anonymousCheckinNetworks,
    registrationEnabled: options.registration.enabled,
    registrationPskSet: options.registration.pskSet,
    registrationDefaultGroupId: options.registration.defaultGroupId,
    registrationRules: rules.map((r) => ({ property: r.property, pattern: r.pattern, groupId: r.groupId })),
    globalEnvironment: envSummary(env),
  };
}

/** Applies a partial update of the options, audited as `options.updated`. */
export async function updateOptions(deps: ChangeDeps, secrets: SecretBox, patch: OptionsPatch): Promise<void> {
  fail(patchProblems(patch));
  const networks = patch.anonymousCheckinNetworks?.map((n) => parseCidr(n)!.cidr);
  try {
    await applyPatch(deps, secrets, patch, networks);
  } catch (error) {
    // A group deleted between the check and the write.
    if (pgError(error).code === FOREIGN_KEY_VIOLATION) {
      throw new NotFoundError('A group named in the registration settings no longer exists: reload the groups and try again.');
    }
    throw error;
  }
}

async function applyPatch(deps: ChangeDeps, secrets: SecretBox, patch: OptionsPatch, networks: string[] | undefined): Promise<void> {
  const registration = patch.registration ?? undefined;
  await audited(deps, async (trx, record) => {
    const before = await lockOptions(trx);
    const rulesBefore = await listRegistrationRules(trx);
    const envBefore = await listEnvVars(trx, { kind: 'global' });
    await checkGroupsExist(trx, registration);

    const row: OptionsRowPatch = {
      serverUrl: patch.serverUrl === undefined ? undefined : patch.serverUrl || null,
      forceIpVersion: patch.forceIpVersion === undefined ? undefined : (patch.forceIpVersion as 4 | 6 | null),
      networkTimeoutSeconds: patch.networkTimeoutSeconds ?? undefined,
      heartbeatSeconds: patch.heartbeatSeconds ?? undefined,
      hostOfflineAfterSeconds: patch.hostOfflineAfterSeconds ?? undefined,
      includePskEnv: patch.includePskEnv ?? undefined,
      anonymousCheckinNetworks: networks ? [...new Set(networks)] : undefined,
      registrationEnabled: registration?.enabled ?? undefined,
      registrationPskSealed: sealPsk(secrets, registration?.psk),
      registrationDefaultGroupId: registration?.defaultGroupId,
    };
    checkCombination(before, row);
    await updateOptionsRow(trx, row);
    if (registration?.rules) await replaceRegistrationRules(trx, registration.rules);
    if (patch.globalEnvironment) await saveEnvironment(trx, secrets, { kind: 'global' }, patch.globalEnvironment, ['input', 'globalEnvironment']);

    const after = await lockOptions(trx);
    const changes = diff(
      summarize(before, rulesBefore, envBefore.map((v) => ({ key: v.key, secret: v.secret }))),
      summarize(after, registration?.rules ?? rulesBefore, patch.globalEnvironment ?? envBefore.map((v) => ({ key: v.key, secret: v.secret }))),
    );
    const changed = Object.keys(changes.after);
    // A replaced key or secret value does not show in the summaries: say that it changed, not what to.
    const pskReplaced = typeof registration?.psk === 'string' && registration.psk !== '' && before.registration.pskSet;
    const secretsGiven = (patch.globalEnvironment ?? []).filter((v) => v.secret && v.value !== undefined && v.value !== null).map((v) => v.key);
    record({
      action: 'options.updated',
      objectType: 'Options',
      objectName: 'options',
      summary: changed.length || pskReplaced ? `Updated server options: ${[...changed, ...(pskReplaced ? ['registrationPsk'] : [])].join(', ')}` : 'Saved server options (nothing changed)',
      details: { ...changes, ...(pskReplaced && { registrationPskReplaced: true }), ...(secretsGiven.length && { secretValuesSet: secretsGiven }) },
    });
  });
}

/** The key to store: undefined keeps the stored one, null clears it. */
function sealPsk(secrets: SecretBox, psk: string | null | undefined): Buffer | null | undefined {
  if (psk === undefined || psk === null) return undefined;
  return psk === '' ? null : secrets.seal(psk);
}

/** Rules that span fields: checked on the options as they will be after the update. */
function checkCombination(before: ServerOptions, row: OptionsRowPatch): void {
  const heartbeat = row.heartbeatSeconds ?? before.heartbeatSeconds;
  const offline = row.hostOfflineAfterSeconds ?? before.hostOfflineAfterSeconds;
  const problems: FieldProblem[] = [];
  if (offline <= heartbeat) {
    problems.push(
      problem(
        [row.hostOfflineAfterSeconds !== undefined ? 'hostOfflineAfterSeconds' : 'heartbeatSeconds'],
        `A host is marked offline after ${offline} s without a heartbeat, so heartbeats must come more often than that (now every ${heartbeat} s).`,
      ),
    );
  }
  const enabled = row.registrationEnabled ?? before.registration.enabled;
  const pskSet = row.registrationPskSealed === undefined ? before.registration.pskSet : row.registrationPskSealed !== null;
  if (enabled && !pskSet) {
    problems.push(problem(['registration', 'psk'], 'Host registration needs a pre-shared key: set registration.psk, or leave registration disabled.'));
  }
  fail(problems);
}

/** Whether `psk` is the registration key (false when none is set). Constant-time. */
export async function checkRegistrationPsk(db: Db, secrets: SecretBox, psk: string): Promise<boolean> {
  const sealed = await sealedRegistrationPsk(db);
  if (!sealed) return false;
  // Hashing first gives equal lengths, so the comparison leaks neither content nor length.
  const digest = (value: string) => createHash('sha256').update(value, 'utf8').digest();
  return timingSafeEqual(digest(secrets.open(sealed)), digest(psk));
}

/** Longest property value a rule is tested against (an agent reports these; keep matching cheap). */
const MAX_PROPERTY_LENGTH = 1024;

/** The group a registering host joins: that of the first rule that matches, else the default (or none). */
export async function registrationGroupFor(db: Db, host: { uname: string; hostname: string }): Promise<string | null> {
  const rules: RegistrationRule[] = await listRegistrationRules(db);
  const values: Record<RegistrationProperty, string> = {
    uname: host.uname.slice(0, MAX_PROPERTY_LENGTH),
    hostname: host.hostname.slice(0, MAX_PROPERTY_LENGTH),
  };
  for (const rule of rules) {
    if (new RegExp(rule.pattern).test(values[rule.property])) return rule.groupId;
  }
  return (await getOptions(db)).registration.defaultGroupId;
}
