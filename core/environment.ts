/**
 * Environment variables: validating a set, keeping secret values across edits (a secret is
 * write-only, so a client re-sends it without a value to keep it), and sealing new secrets.
 */
import { replaceEnvVars, sealedSecrets, type EnvOwner, type NewEnvVar } from '../db/env-var.repository';
import type { Db } from '../db/database';
import { ValidationError, type FieldProblem } from './errors';
import type { SecretBox } from './secrets';

export const ENV_KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;
export const ENV_MAX_VARS = 500;
export const ENV_MAX_VALUE_BYTES = 64 * 1024;
/** Keys Runboard sets itself on every run. */
export const RESERVED_PREFIX = 'RUNBOARD_';

export interface EnvVarInput {
  key: string;
  /** Required for a plain variable and for a new secret; omit to keep a secret's stored value. */
  value?: string | null;
  secret?: boolean | null;
}

/** Problems with a set of variables, with paths under `field`. */
export function envProblems(vars: readonly EnvVarInput[], field: string[]): FieldProblem[] {
  const problems: FieldProblem[] = [];
  if (vars.length > ENV_MAX_VARS) problems.push({ path: field, message: `At most ${ENV_MAX_VARS} variables.` });
  const seen = new Set<string>();
  vars.forEach((v, i) => {
    const path = [...field, String(i)];
    if (!ENV_KEY.test(v.key) || v.key.length > 256) {
      problems.push({ path: [...path, 'key'], message: `"${v.key.slice(0, 60)}" is not a variable name: use letters, digits and _, not starting with a digit.` });
    } else if (v.key.toUpperCase().startsWith(RESERVED_PREFIX)) {
      problems.push({ path: [...path, 'key'], message: `${v.key}: names starting with ${RESERVED_PREFIX} are set by Runboard itself.` });
    }
    if (seen.has(v.key)) problems.push({ path: [...path, 'key'], message: `${v.key} is given twice.` });
    seen.add(v.key);
    if (v.value !== undefined && v.value !== null) {
      if (Buffer.byteLength(v.value) > ENV_MAX_VALUE_BYTES) problems.push({ path: [...path, 'value'], message: `${v.key}: a value is at most 64 KiB.` });
      if (v.value.includes('\0')) problems.push({ path: [...path, 'value'], message: `${v.key}: a value cannot contain a NUL character.` });
    } else if (!v.secret) {
      problems.push({ path: [...path, 'value'], message: `${v.key}: give a value.` });
    }
  });
  return problems;
}

/**
 * Replaces an owner's variables. A secret given without a value keeps the value it had under
 * that key; if it had none, that is a validation error. Call inside the change's transaction.
 */
export async function saveEnvironment(
  db: Db,
  secrets: SecretBox,
  owner: EnvOwner,
  vars: readonly EnvVarInput[],
  field: string[],
): Promise<void> {
  const problems = envProblems(vars, field);
  if (problems.length) throw new ValidationError(problems.map((p) => p.message).join(' '), problems);
  const stored = await sealedSecrets(db, owner);
  const rows: NewEnvVar[] = vars.map((v, i) => {
    if (!v.secret) return { key: v.key, secret: false, value: v.value! };
    if (v.value !== undefined && v.value !== null) return { key: v.key, secret: true, sealed: secrets.seal(v.value) };
    const kept = stored.get(v.key);
    if (!kept) {
      const message = `${v.key}: a new secret needs a value.`;
      throw new ValidationError(message, [{ path: [...field, String(i), 'value'], message }]);
    }
    return { key: v.key, secret: true, sealed: kept };
  });
  await replaceEnvVars(db, owner, rows);
}

/** An audit-safe summary of a set of variables: names only, secrets marked. */
export function envSummary(vars: readonly EnvVarInput[]): string[] {
  return vars.map((v) => (v.secret ? `${v.key} (secret)` : v.key));
}
