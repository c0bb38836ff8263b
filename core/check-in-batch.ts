/**
 * Check-ins in batches. A fleet of scripts reporting at once (Scripto's client, one PUT per run)
 * would otherwise cost a transaction each — lock, insert, update, commit. Reports that change
 * nothing but the outcome are gathered while a batch is being written and written together:
 * one locking read of every check in the batch (in number order, so batches never deadlock),
 * one insert of every ping, one update of every check, one commit. Each report is applied in
 * arrival order with the same rules as a single one (core/check-state.ts), and each caller gets
 * its own answer: the check as its report left it, or its own error.
 *
 * Reports that would change a check's name, server or period, and any batch that fails as a
 * whole, take the single path (`checkIn`) instead, so one bad report never sinks the others.
 */
import { lockChecksByNumbers, updateCheckStatuses, type Check } from '../db/check.repository';
import type { Db } from '../db/database';
import { insertEvents, type AuditEvent, type NewEvent } from '../db/event.repository';
import { insertPings, type NewPing } from '../db/ping.repository';
import { toNewEvent, type ChangeDeps } from './audit';
import { flipChange } from './check-flip';
import { checkIn, MAX_PING_SKEW_MS, type CheckInInput } from './check.service';
import { applyPing, lateAt } from './check-state';
import { NotFoundError } from './errors';

/** The most reports one batch writes. */
const MAX_BATCH = 200;
/** Batches in flight at once (each holds one pooled connection). */
const MAX_IN_FLIGHT = 4;

interface Pending {
  deps: ChangeDeps;
  input: CheckInInput & { number: number };
  at: Date;
  resolve(check: Check): void;
  reject(error: unknown): void;
}

class CheckInBatcher {
  #queue: Pending[] = [];
  #inFlight = 0;

  constructor(private readonly db: Db) {}

  submit(deps: ChangeDeps, input: CheckInInput & { number: number }, at: Date): Promise<Check> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ deps, input, at, resolve, reject });
      this.#pump();
    });
  }

  #pump(): void {
    while (this.#inFlight < MAX_IN_FLIGHT && this.#queue.length > 0) {
      const batch = this.#queue.splice(0, MAX_BATCH);
      this.#inFlight++;
      void this.#write(batch).finally(() => {
        this.#inFlight--;
        this.#pump();
      });
    }
  }

  async #write(batch: Pending[]): Promise<void> {
    const single: Pending[] = [];
    let written: Array<{ item: Pending; check: Check; events: NewEvent[] }>;
    let events: AuditEvent[];
    try {
      [written, events] = await this.db.transaction().execute(async (trx) => {
        const numbers = [...new Set(batch.map((item) => item.input.number))].sort((a, b) => a - b);
        const current = new Map((await lockChecksByNumbers(trx, numbers)).map((check) => [check.number, check]));
        const pings: NewPing[] = [];
        const done: Array<{ item: Pending; check: Check; events: NewEvent[] }> = [];
        for (const item of batch) {
          const check = current.get(item.input.number);
          if (!check) {
            item.reject(new NotFoundError(`There is no check number ${item.input.number}.`));
            continue;
          }
          if (changesConfig(check, item.input)) {
            single.push(item);
            continue;
          }
          const kind = (item.input.success ?? check.lastSuccess ?? true) ? ('success' as const) : ('fail' as const);
          const effect = applyPing(check, { kind, exitCode: null, at: item.at, runKey: null }, check.lastStartAt);
          pings.push({
            checkId: check.id,
            kind,
            exitCode: null,
            body: null,
            bodyTruncated: false,
            runKey: null,
            durationMs: effect.durationMs,
            source: item.input.source ?? 'graphql',
            remoteAddr: clip(item.input.remoteAddr, 100),
            userAgent: clip(item.input.userAgent, 1000),
            receivedAt: item.at,
          });
          const after: Check = { ...check, ...effect.status, lateAt: lateAt(check, effect.status) };
          const flip = flipChange(after, check.state, after.state);
          done.push({ item, check: after, events: flip ? [toNewEvent(item.deps.actor, flip)] : [] });
          current.set(check.number, after);
        }
        await insertPings(trx, pings);
        // The last state of each check is what its row keeps.
        await updateCheckStatuses(trx, [...new Map(done.map(({ check }) => [check.id, check])).values()]);
        const saved = await insertEvents(trx, done.flatMap((entry) => entry.events));
        return [done, saved] as const;
      });
    } catch {
      // Written one by one instead: each report gets its own outcome (and its own error).
      for (const item of batch) this.#single(item);
      return;
    }
    let next = 0;
    for (const entry of written) {
      for (let i = 0; i < entry.events.length; i++) entry.item.deps.onEvent?.(events[next++]!);
      entry.item.resolve(entry.check);
    }
    for (const item of single) this.#single(item);
  }

  #single(item: Pending): void {
    checkIn(item.deps, { ...item.input, at: item.at }).then(item.resolve, item.reject);
  }
}

const clip = (value: string | null | undefined, max: number) => (value ? value.replaceAll('\0', '').slice(0, max) : null);

/** Whether a report names a name, server or period other than the check's. */
function changesConfig(check: Check, input: CheckInInput): boolean {
  if (input.name != null && input.name.trim() !== check.name) return true;
  if (input.server != null && input.server.trim() !== check.server) return true;
  if (input.periodSeconds != null && (check.kind !== 'period' || input.periodSeconds !== check.periodSeconds)) return true;
  return false;
}

const batchers = new WeakMap<Db, CheckInBatcher>();

/**
 * A check-in, batched with the others arriving meanwhile when it only reports an outcome for an
 * existing check; otherwise (a new check, a change of name, server or period) written alone.
 */
export function submitCheckIn(deps: ChangeDeps, input: CheckInInput): Promise<Check> {
  if (input.number == null || (input.success == null && input.at == null)) return checkIn(deps, input);
  const now = new Date();
  if (input.at && input.at.getTime() > now.getTime() + MAX_PING_SKEW_MS) return checkIn(deps, input);
  if (input.name != null && !input.name.trim()) return checkIn(deps, input);
  let batcher = batchers.get(deps.db);
  if (!batcher) batchers.set(deps.db, (batcher = new CheckInBatcher(deps.db)));
  return batcher.submit(deps, { ...input, number: input.number }, input.at ?? now);
}

