/**
 * Agent self-registration (Otto's `PUT /api/register`, COMPAT.md): a host that knows the server's
 * registration pre-shared key creates its own agent host and gets its agent key. No session: the
 * key is the credential. Refusals, in the order Otto checked them: registration disabled
 * (NotFoundError, Otto's 404), a wrong key (ForbiddenError, 403, and an audit event
 * `host.register_refused`, Otto's HostRegisterIncorrectPSK), an address or name already in use
 * (ConflictError, 400). The host joins the group of the first registration rule its uname or
 * hostname matches, else the default group.
 */
import type { Db } from '../db/database';
import { getOptions } from '../db/options.repository';
import type { Host } from '../db/host.repository';
import { audited, type ChangeDeps } from './audit';
import { ForbiddenError, NotFoundError } from './errors';
import { createHost, throwIfAny } from './host.service';
import { checkRegistrationPsk, registrationGroupFor } from './options.service';
import type { SecretBox } from './secrets';

export interface RegistrationInput {
  psk: string;
  hostname: string;
  uname: string;
  /** How the server may know it; default none. */
  address?: string | null;
  port?: number | null;
}

const FIELD_MAX = 1024;

function inputProblems(input: RegistrationInput) {
  const problems = [];
  for (const field of ['psk', 'hostname', 'uname'] as const) {
    const value = input[field];
    if (!value.trim()) problems.push({ path: ['input', field], message: `Give the ${field}.` });
    else if (value.length > FIELD_MAX || value.includes('\0')) problems.push({ path: ['input', field], message: `The ${field} is at most ${FIELD_MAX} characters, without NUL.` });
  }
  return problems;
}

export async function registerHost(deps: ChangeDeps, secrets: SecretBox, input: RegistrationInput): Promise<{ host: Host; agentKey: string }> {
  throwIfAny(inputProblems(input));
  const db: Db = deps.db;
  const options = await getOptions(db);
  if (!options.registration.enabled) throw new NotFoundError('Host registration is disabled on this server.');
  if (!(await checkRegistrationPsk(db, secrets, input.psk))) {
    // Recorded (and committed) before refusing: a wrong key is worth knowing about.
    await audited(deps, async (_trx, record) => {
      record({
        action: 'host.register_refused',
        objectType: 'Host',
        objectId: null,
        objectName: input.hostname.trim().slice(0, 140),
        summary: `Refused to register host "${input.hostname.trim().slice(0, 140)}": wrong registration key`,
        details: { hostname: input.hostname.slice(0, 255), address: input.address?.slice(0, 255) ?? null },
      });
    });
    throw new ForbiddenError('The registration key is not right.');
  }
  const groupId = await registrationGroupFor(db, { uname: input.uname, hostname: input.hostname });
  return createHost(deps, secrets, {
    name: input.hostname.trim(),
    description: `Registered itself (${input.uname.slice(0, 200)}).`,
    address: input.address ?? null,
    port: input.port ?? null,
    groupIds: groupId ? [groupId] : [],
  });
}
