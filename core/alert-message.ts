/**
 * What an alert says: one line of text for people (Slack's `text`, an email subject, a command's
 * RUNBOARD_ALERT_TEXT) and the JSON payload every channel sends. Built when the delivery is
 * recorded, so every retry sends exactly the same alert.
 */
import type { AlertableEvent } from '../db/alerter.repository';
import type { AlertKind, SubjectType } from '../db/notification-tables';

export interface AlertFacts {
  kind: AlertKind;
  rule: { id: string; name: string } | null;
  subject: { type: SubjectType; id: string; name: string } | null;
  event: Pick<AlertableEvent, 'id' | 'at' | 'action' | 'objectType' | 'objectId' | 'objectName' | 'summary' | 'details'> | null;
  consecutiveFailures?: number;
  /** 1, 2, … for reminders. */
  reminder?: number;
  /** When the failure being reminded of was first alerted. */
  since?: Date | null;
  slow?: { durationSeconds: number; thresholdSeconds: number; p95Seconds: number; factor: number };
  /** For test alerts: the channel being tested. */
  channelName?: string;
}

const seconds = (value: number) => (value < 10 ? value.toFixed(1) : String(Math.round(value)));

function what(facts: AlertFacts): string {
  const name = facts.subject?.name ?? facts.event?.objectName ?? 'unknown';
  if (facts.subject?.type === 'check') return `check "${name}"`;
  if (facts.subject?.type === 'schedule') return `schedule "${name}"`;
  return `"${name}"`;
}

function runDetail(facts: AlertFacts): string {
  const details = facts.event?.details ?? {};
  const host = typeof details.host === 'string' ? ` on "${details.host}"` : '';
  const exit = typeof details.exitCode === 'number' ? ` (exit ${details.exitCode})` : '';
  const state = typeof details.state === 'string' ? details.state.replace('_', ' ') : 'failed';
  return `${state}${host}${exit}`;
}

/** The one line for people. */
export function alertText(facts: AlertFacts): string {
  const subject = what(facts);
  const isCheck = facts.subject?.type === 'check';
  switch (facts.kind) {
    case 'failure': {
      const streak = (facts.consecutiveFailures ?? 1) > 1 ? `, ${facts.consecutiveFailures} failures in a row` : '';
      return isCheck ? `Runboard: ${subject} is down${streak}` : `Runboard: ${subject} ${runDetail(facts)}${streak}`;
    }
    case 'recovery':
      return isCheck ? `Runboard: ${subject} is up again` : `Runboard: ${subject} recovered: ${runDetail(facts)}`;
    case 'late':
      return `Runboard: ${subject} is late: no ping by its expected time`;
    case 'slow': {
      const s = facts.slow!;
      return `Runboard: ${subject} took ${seconds(s.durationSeconds)} s, more than ${s.factor}× its usual ${seconds(s.p95Seconds)} s (p95 of recent successful runs)`;
    }
    case 'reminder': {
      const since = facts.since ? ` since ${facts.since.toISOString()}` : '';
      return `Runboard reminder: ${subject} is still ${isCheck ? 'not up' : 'failing'}${since}`;
    }
    case 'test':
      return `Runboard: a test alert through channel "${facts.channelName ?? ''}". If you can read this, the channel works.`;
  }
}

/** The JSON every channel sends (webhooks POST it; commands read it on stdin). */
export function alertPayload(facts: AlertFacts): Record<string, unknown> {
  return {
    text: alertText(facts),
    kind: facts.kind,
    test: facts.kind === 'test',
    rule: facts.rule,
    subject: facts.subject,
    event: facts.event && {
      id: facts.event.id,
      at: facts.event.at instanceof Date ? facts.event.at.toISOString() : facts.event.at,
      action: facts.event.action,
      objectType: facts.event.objectType,
      objectId: facts.event.objectId,
      objectName: facts.event.objectName,
      summary: facts.event.summary,
      details: facts.event.details,
    },
    consecutiveFailures: facts.consecutiveFailures ?? null,
    reminder: facts.reminder ?? 0,
    ...(facts.slow && { slow: facts.slow }),
  };
}
