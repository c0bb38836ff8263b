/**
 * The alerter: reads the audit log in order, turns the events that matter into deliveries, sends
 * reminders while things stay broken, and sends what is due, retrying with backoff.
 *
 * Across instances on one database each event is alerted once: an instance evaluates a batch of
 * events while holding the cursor row (`FOR UPDATE SKIP LOCKED`: the others skip the pass), and
 * writes the deliveries, the rule states and the advanced cursor in that one transaction, so a
 * crash mid-batch leaves the batch to be evaluated again from scratch. Deliveries are unique on
 * (rule, event, channel, kind, reminder) besides. Sending is claimed per delivery with SKIP
 * LOCKED and a lease; a send is at least once (an instance dying after the receiver accepted but
 * before it recorded that sends again after the lease).
 *
 * It wakes when this instance writes events (`wake()`) and polls every `pollMs` for the rest.
 */
import type { Logger } from 'pino';
import { evaluate, freshState, outcomeOf, retryDelayMs, rulesFor, silenceFor, slowThreshold, subjectsOf, type Subject } from '../core/alert-evaluation';
import { alertPayload, alertText, type AlertFacts } from '../core/alert-message';
import type { AlertConfig } from '../core/config';
import { openSecrets } from '../core/notification-channel.service';
import type { SecretBox } from '../core/secrets';
import { claimDueDeliveries, insertDeliveries, markAttemptFailed, markDelivered, type Delivery, type NewDelivery } from '../db/alert-delivery.repository';
import { findRulesByIds, listEnabledRules, type AlertRule } from '../db/alert-rule.repository';
import {
  findStates,
  horizon,
  isAfter,
  lockCursor,
  lockStatesDueForReminder,
  readEventsAfter,
  recentDurationP95,
  saveCursor,
  saveStates,
  stateKey,
  subjectNames,
  type AlertableEvent,
  type AlertState,
} from '../db/alerter.repository';
import type { Db } from '../db/database';
import { findChannelsByIds, findChannelsForSending, type NotificationChannel } from '../db/notification-channel.repository';
import { listSilencesOverlapping, type Silence } from '../db/silence.repository';
import { sendThrough } from './channels/channel-transport';
import { reasonOf } from './channels/delivery-error';

/** Events evaluated per transaction. */
const EVENT_BATCH = 500;
/** Deliveries sent at once. */
const SEND_BATCH = 20;
const REMINDER_BATCH = 200;
/** Pause between a pass and the next one that events written during it asked for. */
const AGAIN_AFTER_MS = 20;

export interface AlerterDeps {
  db: Db;
  secrets: SecretBox;
  log: Logger;
  config: AlertConfig;
}

export class Alerter {
  readonly #deps: AlerterDeps;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #again = false;
  #soon: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(deps: AlerterDeps) {
    this.#deps = deps;
  }

  start(): void {
    this.#timer = setInterval(() => this.wake(), this.#deps.config.pollMs);
    this.#timer.unref();
    this.wake();
  }

  /** Look now: events were written, or deliveries queued. Passes never overlap in one instance. */
  wake(): void {
    if (this.#stopped) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    if (this.#soon) return;
    this.#running = this.#pass().finally(() => {
      this.#running = undefined;
      if (this.#again) {
        this.#again = false;
        // Events written during a pass wake the next one shortly after, not at once: under a
        // burst (each finished run writes an event) passes then take a share of the database,
        // not all of it.
        this.#soon = setTimeout(() => {
          this.#soon = undefined;
          this.wake();
        }, AGAIN_AFTER_MS);
        this.#soon.unref();
      }
    });
  }

  /** Sends one pending delivery now (a test alert), if no other instance has taken it. */
  async deliverNow(id: string): Promise<void> {
    const claimed = await claimDueDeliveries(this.#deps.db, { ids: [id], limit: 1, leaseMs: this.#leaseMs() });
    await this.#send(claimed);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#timer);
    clearTimeout(this.#soon);
    await this.#running;
  }

  #leaseMs(): number {
    return this.#deps.config.timeoutMs + 30_000;
  }

  async #pass(): Promise<void> {
    try {
      while (!this.#stopped && (await this.#evaluateBatch()));
      if (!this.#stopped) await this.#remind();
      while (!this.#stopped && (await this.#sendDue()));
    } catch (error) {
      this.#deps.log.error({ err: error }, 'the alerter failed; it tries again on its next pass');
    }
  }

  /** One batch of events → deliveries, in one transaction. True when there may be more. */
  async #evaluateBatch(): Promise<boolean> {
    return this.#deps.db.transaction().execute(async (trx) => {
      const cursor = await lockCursor(trx);
      if (!cursor) return false;
      const rules = await listEnabledRules(trx);
      if (rules.length === 0) {
        // Nothing can alert: skip to the horizon without reading what passed (the common case
        // under load with no rules, e.g. a drain of thousands of runs a second).
        const next = { txid: await horizon(trx), seq: '0' };
        if (isAfter(next, cursor)) await saveCursor(trx, next);
        return false;
      }
      const { events, next } = await readEventsAfter(trx, cursor, EVENT_BATCH);
      if (events.length > 0) await this.#evaluateEvents(trx, events, rules);
      if (isAfter(next, cursor)) await saveCursor(trx, next);
      return events.length === EVENT_BATCH;
    });
  }

  async #evaluateEvents(trx: Db, events: AlertableEvent[], rules: AlertRule[]): Promise<void> {
    const work = events.flatMap((event) => {
      const outcome = outcomeOf(event);
      const subjects = subjectsOf(event);
      return outcome ? [{ event, outcome, subjects, matches: rulesFor(rules, subjects) }] : [];
    });
    const keys = work.flatMap((w) => w.matches.map((m) => ({ ruleId: m.rule.id, subjectType: m.subject.type, subjectId: m.subject.id })));
    if (keys.length === 0) return;
    const states = new Map((await findStates(trx, keys)).map((s) => [stateKey(s), s]));
    const names = await subjectNames(trx, keys.map((k) => ({ type: k.subjectType, id: k.subjectId })));
    const channels = await this.#enabledChannels(trx, rules);
    const silences = await listSilencesOverlapping(trx, new Date(Math.min(...events.map((e) => e.at.getTime()))), new Date());
    const deliveries: NewDelivery[] = [];
    const changed = new Map<string, AlertState>();

    for (const { event, outcome, subjects, matches } of work) {
      let p95: number | null | undefined;
      for (const { rule, subject } of matches) {
        const key = stateKey({ ruleId: rule.id, subjectType: subject.type, subjectId: subject.id });
        const name = names.get(`${subject.type}/${subject.id}`) ?? event.objectName ?? subject.id;
        const state = states.get(key) ?? freshState(rule.id, subject, name);
        let slow: AlertFacts['slow'];
        const duration = event.run?.durationSeconds ?? null;
        if (outcome === 'success' && rule.onSlow && event.run?.scriptId && duration !== null) {
          p95 ??= await recentDurationP95(trx, event.run.scriptId, event.objectId!);
          const threshold = slowThreshold(p95, rule.slowFactor);
          if (threshold !== null && duration > threshold) slow = { durationSeconds: duration, thresholdSeconds: threshold, p95Seconds: p95!, factor: rule.slowFactor };
        }
        const result = evaluate(rule, { ...state, subjectName: name }, outcome, event.id, event.at, slow !== undefined);
        for (const kind of result.alerts) {
          const facts: AlertFacts = {
            kind,
            rule: { id: rule.id, name: rule.name },
            subject: { type: subject.type, id: subject.id, name },
            event,
            consecutiveFailures: result.state.consecutiveFailures,
            ...(kind === 'slow' && { slow }),
          };
          const payload = alertPayload(facts);
          if (kind === 'failure' || kind === 'late') result.state.alertPayload = payload;
          deliveries.push(...this.#fanOut(rule, channels, silenceFor(silences, rule.id, subjects, event.at), { ...facts, eventId: event.id, reminder: 0, payload }));
        }
        states.set(key, result.state);
        changed.set(key, result.state);
      }
    }
    await saveStates(trx, [...changed.values()]);
    await insertDeliveries(trx, deliveries);
  }

  /** One delivery per enabled channel of the rule, silenced when a silence covers the alert. */
  #fanOut(
    rule: AlertRule,
    channels: Map<string, NotificationChannel>,
    silence: Silence | undefined,
    alert: AlertFacts & { eventId: string | null; reminder: number; payload: Record<string, unknown> },
  ): NewDelivery[] {
    return rule.channelIds.flatMap((channelId) => {
      const channel = channels.get(channelId);
      if (!channel) return [];
      return [
        {
          ruleId: rule.id,
          ruleName: rule.name,
          channelId,
          channelName: channel.name,
          eventId: alert.eventId,
          reminder: alert.reminder,
          kind: alert.kind,
          subjectType: alert.subject?.type ?? null,
          subjectId: alert.subject?.id ?? null,
          subjectName: alert.subject?.name ?? null,
          text: String(alert.payload.text),
          payload: alert.payload,
          silencedBy: silence?.id ?? null,
        },
      ];
    });
  }

  async #enabledChannels(db: Db, rules: readonly AlertRule[]): Promise<Map<string, NotificationChannel>> {
    const channels = await findChannelsByIds(db, [...new Set(rules.flatMap((r) => r.channelIds))]);
    return new Map(channels.filter((c) => c.enabled).map((c) => [c.id, c]));
  }

  /** Reminders for states still alerting past their rule's interval. */
  async #remind(): Promise<void> {
    await this.#deps.db.transaction().execute(async (trx) => {
      const due = await lockStatesDueForReminder(trx, REMINDER_BATCH);
      if (due.length === 0) return;
      const rules = new Map((await findRulesByIds(trx, [...new Set(due.map((s) => s.ruleId))])).map((r) => [r.id, r]));
      const channels = await this.#enabledChannels(trx, [...rules.values()]);
      const now = new Date();
      const silences = await listSilencesOverlapping(trx, now, now);
      const deliveries: NewDelivery[] = [];
      const updated: AlertState[] = [];
      for (const state of due) {
        const rule = rules.get(state.ruleId);
        if (!rule) continue;
        const reminder = state.remindersSent + 1;
        const subject: Subject & { name: string } = { type: state.subjectType, id: state.subjectId, name: state.subjectName };
        const original = (state.alertPayload ?? {}) as { event?: { at?: string } };
        const since = original.event?.at ? new Date(original.event.at) : null;
        const text = alertText({ kind: 'reminder', rule, subject, event: null, since });
        const payload = { ...(state.alertPayload ?? {}), text, kind: 'reminder', reminder };
        deliveries.push(...this.#fanOut(rule, channels, silenceFor(silences, rule.id, [subject], now), { kind: 'reminder', rule, subject, event: null, eventId: state.alertEventId, reminder, payload }));
        updated.push({ ...state, remindersSent: reminder, lastNotifiedAt: now });
      }
      await saveStates(trx, updated);
      await insertDeliveries(trx, deliveries);
    });
  }

  /** Sends one batch of due deliveries. True when the batch was full (there may be more). */
  async #sendDue(): Promise<boolean> {
    const claimed = await claimDueDeliveries(this.#deps.db, { limit: SEND_BATCH, leaseMs: this.#leaseMs() });
    await this.#send(claimed);
    return claimed.length === SEND_BATCH;
  }

  async #send(deliveries: Delivery[]): Promise<void> {
    if (deliveries.length === 0) return;
    const { db, config, secrets, log } = this.#deps;
    const channels = new Map((await findChannelsForSending(db, deliveries.flatMap((d) => d.channelId ?? []))).map((c) => [c.channel.id, c]));
    await Promise.all(
      deliveries.map(async (delivery) => {
        try {
          const found = delivery.channelId ? channels.get(delivery.channelId) : undefined;
          if (!found) throw new Error('The channel was deleted.');
          if (!found.channel.enabled && delivery.kind !== 'test') throw new Error('The channel was disabled before this could be sent.');
          await sendThrough(found.channel, openSecrets(secrets, found.secretsSealed), delivery, config.timeoutMs);
          await markDelivered(db, delivery.id);
        } catch (error) {
          const reason = reasonOf(error);
          const last = delivery.attempts >= config.maxAttempts || delivery.kind === 'test';
          log.warn({ delivery: delivery.id, channel: delivery.channelName, attempt: delivery.attempts, reason }, last ? 'an alert could not be delivered' : 'an alert delivery failed; it will be retried');
          await markAttemptFailed(db, delivery.id, reason, last ? null : retryDelayMs(delivery.attempts, config.retryDelayMs)).catch((err: unknown) =>
            log.error({ err, delivery: delivery.id }, 'could not record a failed alert delivery'),
          );
        }
      }),
    );
  }
}
