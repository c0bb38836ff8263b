/**
 * Two Runboard instances on one PostgreSQL, both alerting: every event is alerted exactly once
 * (one delivery per rule, event and channel; the receiver hears each once), in order (the
 * failure/recovery state machine alternates correctly), whichever instance wrote the event.
 * Needs a real PostgreSQL: skipped on the embedded database.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createChannel, createRule, deliveries, finishRun, insertScript, TEST_ALERTS, until, webhookReceiver } from './support/alerts';
import { createTestDatabase, executing, needsSharedDatabase, startTestServer, type TestDatabase, type TestServer } from './support/server';

describe('alerts across instances', () => {
  const skip = needsSharedDatabase();
  let database: TestDatabase;
  let a: TestServer;
  let b: TestServer;
  let receiver: Awaited<ReturnType<typeof webhookReceiver>>;

  beforeAll(async () => {
    if (skip) return;
    database = await createTestDatabase();
    a = await startTestServer({ ...executing(), alerts: TEST_ALERTS }, database);
    b = await startTestServer({ ...executing(), alerts: TEST_ALERTS }, database);
    receiver = await webhookReceiver();
  });
  afterAll(async () => {
    await a?.stop();
    await b?.stop();
    await receiver?.close();
    await database?.drop();
  });

  it.skipIf(skip)('alert each event exactly once, in order, whichever instance wrote it', async () => {
    const channelId = await createChannel(a, { name: 'shared', webhook: { url: `${receiver.url}/hook` } });
    await createRule(a, { name: 'everything', channelIds: [channelId] });
    const scripts = await Promise.all(['alpha', 'beta', 'gamma'].map(async (name) => ({ name, id: await insertScript(a.app.db, name) })));
    // Per script: failed, succeeded, failed, succeeded… written through both instances at once.
    const rounds = 8;
    const written = await Promise.all(
      scripts.map(async (script, i) => {
        const ids: string[] = [];
        for (let n = 0; n < rounds; n++) {
          const through = (n + i) % 2 === 0 ? a : b;
          ids.push((await finishRun(through, script, n % 2 === 0 ? 'failed' : 'succeeded')).id);
        }
        return ids;
      }),
    );
    const expected = scripts.length * rounds;
    const found = await until(`${expected} delivered alerts`, async () => {
      const all = await deliveries(a);
      return all.length >= expected && all.every((d) => d.state === 'DELIVERED') ? all : undefined;
    }, 30_000);
    // Nothing more arrives later (a second instance repeating a batch would add some).
    await new Promise((resolve) => setTimeout(resolve, 10 * TEST_ALERTS.pollMs));
    expect(await deliveries(b)).toHaveLength(expected);
    expect(found).toHaveLength(expected);
    const eventIds = receiver.received.map((r) => r.body.event.id);
    expect(eventIds).toHaveLength(expected);
    expect(new Set(eventIds).size).toBe(expected);
    expect(new Set(eventIds)).toEqual(new Set(written.flat()));
    for (const script of scripts) {
      const kinds = found.filter((d) => d.subjectName === script.name);
      // Evaluated in the order written: failure, recovery, failure, recovery…
      const byEvent = new Map(kinds.map((d) => [d.payload.event.id as string, d.kind]));
      expect(written[scripts.indexOf(script)]!.map((id) => byEvent.get(id))).toEqual(Array.from({ length: rounds }, (_, n) => (n % 2 === 0 ? 'FAILURE' : 'RECOVERY')));
    }
  });
});
