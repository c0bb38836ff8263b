/**
 * The audit events of a check's state flips — a contract: alerting reads them from the `events`
 * table. One event per flip, written in the transaction that flips the state (a ping's, an
 * update's, or the sweeper's):
 *
 * | action       | when                                                              |
 * |--------------|-------------------------------------------------------------------|
 * | `check.late` | past its expected time, within the grace period (the sweeper)     |
 * | `check.down` | a failing ping, or nothing by its due time (the sweeper)          |
 * | `check.up`   | a successful ping (or new timing) brought a new, late or down check up |
 *
 * object_type `'Check'`, object_id the check's id, object_name its name, details exactly
 * `{ "from": <old state>, "to": <new state> }` (states: new, up, late, down, paused). Moves to
 * `paused` and `new` are not flips: they are `check.paused` and `check.resumed`.
 */
import type { CheckState } from '../db/schema';
import type { Change } from './audit';

export type CheckFlipAction = 'check.late' | 'check.down' | 'check.up';

export const CHECK_FLIP_ACTIONS: readonly CheckFlipAction[] = ['check.late', 'check.down', 'check.up'];

/** The action a move from `from` to `to` is recorded as; null when it is not a flip. */
export function flipAction(from: CheckState, to: CheckState): CheckFlipAction | null {
  if (from === to) return null;
  if (to === 'late') return 'check.late';
  if (to === 'down') return 'check.down';
  if (to === 'up') return 'check.up';
  return null;
}

/** How people read a check's name in summaries. */
export const checkLabel = (check: { name: string; server: string }) => (check.server ? `"${check.name}" on "${check.server}"` : `"${check.name}"`);

const SAYS: Record<CheckFlipAction, string> = {
  'check.late': 'is late',
  'check.down': 'is down',
  'check.up': 'is up',
};

/** The audit change of a flip of `check` from `from` to `to`; null when it is not a flip. */
export function flipChange(check: { id: string; name: string; server: string }, from: CheckState, to: CheckState): Change | null {
  const action = flipAction(from, to);
  if (!action) return null;
  return {
    action,
    objectType: 'Check',
    objectId: check.id,
    objectName: check.name,
    summary: `Check ${checkLabel(check)} ${SAYS[action]} (was ${from})`,
    details: { from, to },
  };
}
