/** What a mutation hands a core service: the database, the actor, and the event feed. */
import { actorOf, type ChangeDeps } from '../core/audit';
import type { Context } from './context';
import { runNotifier } from './run-output';

export function changeDeps(ctx: Context): ChangeDeps {
  return {
    db: ctx.app.db,
    actor: actorOf(ctx.viewer, ctx.ip),
    onEvent: (event) => ctx.app.pubsub.publish('eventAdded', { id: event.id, objectType: event.objectType }),
    onRunsDeleted: (runs) => {
      const notify = runNotifier(ctx.app.pubsub);
      for (const run of runs) notify.runUpdated(run, true);
    },
  };
}
