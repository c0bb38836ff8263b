/**
 * Environment variables as GraphQL sees them: secrets are write-only (their value is never
 * returned, only that there is one), and the global set is in `options`.
 */
import { MASK } from '../core/secrets';
import { listEnvVarsOfOwners, type EnvVar } from '../db/env-var.repository';
import { builder } from './builder';
import type { Context } from './context';

export const EnvVarRef = builder.objectRef<EnvVar>('EnvVar').implement({
  description: 'An environment variable given to runs. A secret is stored encrypted and its value is never shown again.',
  fields: (t) => ({
    key: t.exposeString('key', { description: 'The variable name.' }),
    value: t.string({
      nullable: true,
      description: 'The value; null for a secret.',
      resolve: (v) => v.value,
    }),
    secret: t.exposeBoolean('secret', { description: 'Whether the value is secret: write-only, encrypted at rest, masked in output.' }),
    displayValue: t.string({
      description: `The value, or ${MASK} for a secret: what to show a person.`,
      resolve: (v) => (v.secret ? MASK : (v.value ?? '')),
    }),
  }),
});

export const EnvVarInput = builder.inputType('EnvVarInput', {
  description:
    'An environment variable. To keep a secret unchanged, send it with `secret: true` and no value; to change it, send the new value.',
  fields: (t) => ({
    key: t.string({ required: true, description: 'Letters, digits and _, not starting with a digit; not starting with RUNBOARD_.' }),
    value: t.string({ description: 'The value (at most 64 KiB). Required unless keeping a secret.' }),
    secret: t.boolean({ defaultValue: false, description: 'Store encrypted and never show the value again.' }),
  }),
});

/** A DataLoader `load` for the variables of owners of one kind (use with `t.loadableGroup`). */
export function loadEnvVars(kind: 'script' | 'group' | 'host') {
  return (ids: string[], ctx: Context) => listEnvVarsOfOwners(ctx.app.db, kind, ids);
}

/** `group` for `t.loadableGroup` over variables. */
export const envVarOwner = (v: EnvVar) => v.ownerId!;
