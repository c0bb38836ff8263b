/**
 * The admin option that admits anonymous check-in writes (Scripto create/update, VirtShell task
 * create/update) from listed networks. The list is read at most once a second per instance, so
 * a burst of anonymous check-ins costs no extra query each.
 */
import { networksInclude } from '../../core/options.service';
import { getOptions } from '../../db/options.repository';
import type { Context } from '../context';
import type { GraphQLRunner } from './operation';

const TTL_MS = 1_000;
const cache = new WeakMap<object, { at: number; networks: Promise<readonly string[]> }>();

/** Whether a caller without credentials at `ip` may write check-ins. */
export async function anonymousCheckinAllowed(_graphql: GraphQLRunner, context: Context, ip: string): Promise<boolean> {
  const { db } = context.app;
  let entry = cache.get(db);
  if (!entry || Date.now() - entry.at > TTL_MS) {
    entry = { at: Date.now(), networks: getOptions(db).then((options) => options.anonymousCheckinNetworks) };
    entry.networks.catch(() => cache.delete(db));
    cache.set(db, entry);
  }
  const networks = await entry.networks;
  return networks.length > 0 && networksInclude(networks, ip);
}
