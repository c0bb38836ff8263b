/** What a mutation (or another of our own transports) hands a core service: the database, the actor, and the event feed. */
import { forgetVerifiedKeys } from '../core/auth.service';
import { actorOf, type Actor, type ChangeDeps } from '../core/audit';
import type { App, Context } from './context';
import { runNotifier } from './run-output';

export function changeDeps(ctx: Context): ChangeDeps {
  return appChangeDeps(ctx.app, actorOf(ctx.viewer, ctx.ip));
}

/** The same for a caller outside GraphQL (the ping URL), as `actor`. */
export function appChangeDeps(app: App, actor: Actor): ChangeDeps {
  return {
    db: app.db,
    actor,
    onEvent: (event) => {
      // Keys verified a moment ago are checked again at once on this instance (others hear the event).
      if (event.objectType === 'ApiKey' || event.objectType === 'User') forgetVerifiedKeys();
      app.pubsub.publish('eventAdded', { id: event.id, objectType: event.objectType });
    },
    onRunsDeleted: (runs) => {
      const notify = runNotifier(app.pubsub);
      for (const run of runs) notify.runUpdated(run, true);
    },
  };
}
