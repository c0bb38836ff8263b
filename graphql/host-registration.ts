/**
 * `registerHost`: agent self-registration with the server's registration pre-shared key, no
 * session (core/host-registration.service.ts). `runboard agent --register` calls it; the REST
 * dialect's `PUT /api/register` can map onto it (its 404 / 403 / 400 are NotFoundError, the
 * FORBIDDEN error and ConflictError). Wrong keys count against the client address's throttle.
 */
import { ConflictError, ForbiddenError, NotFoundError, ValidationError } from '../core/errors';
import { registerHost } from '../core/host-registration.service';
import { throttleKeys } from '../core/login-throttle';
import { builder } from './builder';
import { changeDeps } from './change';
import { outcome } from './errors';
import { HostAgentKeyRef, publishHost } from './host';

const RegisterHostInput = builder.inputType('RegisterHostInput', {
  description: 'A host registering itself (Otto agents: `PUT /api/register`).',
  fields: (t) => ({
    psk: t.string({ required: true, description: "The server's registration pre-shared key (options.registration)." }),
    hostname: t.string({ required: true, description: 'Its hostname; the new host is named after it.' }),
    uname: t.string({ required: true, description: 'Its `uname -a`; registration rules may match it.' }),
    address: t.string({ description: 'The address the server may know it by (unique). Default none.' }),
    port: t.int({ description: 'The port that goes with the address. Default none.' }),
  }),
});

builder.mutationFields((t) => ({
  registerHost: t.field({
    type: HostAgentKeyRef,
    skipTypeScopes: true,
    description:
      'Registers the calling machine as an agent host and issues its agent key (shown only in this answer). Needs no session: the registration key is the credential. ' +
      'Refused while registration is disabled (NotFoundError), with a wrong key (a FORBIDDEN error, audited), or for an address or name in use (ConflictError).',
    errors: outcome('the new host and its agent key', [ValidationError, NotFoundError, ConflictError]),
    args: { input: t.arg({ type: RegisterHostInput, required: true, description: 'The registering host.' }) },
    resolve: async (_root, { input }, ctx) => {
      const ip = [throttleKeys.ip(ctx.ip)];
      ctx.app.throttle.check(ip);
      try {
        const registered = await registerHost(changeDeps(ctx), ctx.app.secrets, input);
        publishHost(ctx, registered.host.id, { created: true });
        return registered;
      } catch (error) {
        if (error instanceof ForbiddenError) ctx.app.throttle.fail(ip);
        throw error;
      }
    },
  }),
}));
