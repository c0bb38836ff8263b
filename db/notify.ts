/**
 * PostgreSQL LISTEN/NOTIFY, the SQL side of the pubsub: sending notifications through the pool,
 * storing payloads too large for a notification, and one dedicated connection that LISTENs.
 *
 * A notification is delivered only to sessions listening when it commits: while the listening
 * connection is down (between a drop and its reconnect) notifications are lost, not queued.
 */
import { sql } from 'kysely';
import pg from 'pg';
import type { Logger } from 'pino';
import type { Db } from './database';

/** PostgreSQL refuses NOTIFY payloads of 8000 bytes or more. */
export const NOTIFY_LIMIT_BYTES = 8000;

/** Sends each message on `channel`, in order, in one statement (so one transaction). */
export async function notifyAll(db: Db, channel: string, messages: readonly string[]): Promise<void> {
  if (messages.length === 0) return;
  // A function scan over an array yields its elements in order; no sort can reorder the calls.
  await sql`select pg_notify(${channel}, m) from unnest(${messages}::text[]) as m`.execute(db);
}

/** Stores a payload too large to notify; returns its id. */
export async function storePayload(db: Db, json: string): Promise<string> {
  const { rows } = await sql<{ id: string }>`insert into pubsub_payloads (payload) values (${json}::json) returning id`.execute(db);
  return rows[0]!.id;
}

/** A stored payload, or undefined when it has been deleted already. */
export async function findPayload(db: Db, id: string): Promise<unknown> {
  const { rows } = await sql<{ payload: unknown }>`select payload from pubsub_payloads where id = ${id}`.execute(db);
  return rows[0]?.payload;
}

/** Deletes up to `limit` stored payloads older than `olderThanSeconds`; returns how many. */
export async function deleteOldPayloads(db: Db, olderThanSeconds: number, limit = 1000): Promise<number> {
  const result = await sql`
    delete from pubsub_payloads where id in (
      select id from pubsub_payloads where created_at < now() - make_interval(secs => ${olderThanSeconds}) order by id limit ${limit}
    )`.execute(db);
  return Number(result.numAffectedRows ?? 0);
}

export interface ListenerOptions {
  /** How to connect (the same server and database as the pool). */
  connection: pg.ClientConfig;
  channel: string;
  /** Called with each notification's payload, in the order PostgreSQL delivers them. */
  onNotification: (payload: string) => void;
  log: Logger;
  /** First delay before reconnecting; doubles up to `maxDelayMs`. Default 100 ms. */
  minDelayMs?: number;
  /** Default 10 s. */
  maxDelayMs?: number;
}

/** `application_name` of the listening connection (so operators can see it in pg_stat_activity). */
export const LISTENER_APPLICATION_NAME = 'runboard-pubsub';

/**
 * One dedicated connection that LISTENs on a channel (a pooled connection cannot: LISTEN belongs
 * to the session). If it drops, it reconnects with exponential backoff until closed.
 */
export class NotifyListener {
  private client: pg.Client | undefined;
  private connecting: Promise<void> | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private delayMs: number;
  private closed = false;

  constructor(private readonly options: ListenerOptions) {
    this.delayMs = options.minDelayMs ?? 100;
  }

  /** Connects and LISTENs; throws when the first attempt fails (so start-up fails clearly). */
  start(): Promise<void> {
    this.connecting = this.connect().finally(() => (this.connecting = undefined));
    return this.connecting;
  }

  private async connect(): Promise<void> {
    const { channel, log } = this.options;
    const client = new pg.Client({ ...this.options.connection, application_name: LISTENER_APPLICATION_NAME, keepAlive: true });
    // Without an 'error' listener a dropped connection would crash the process; 'end' follows it.
    client.on('error', (error) => log.warn({ err: error }, 'the pubsub LISTEN connection failed'));
    client.on('notification', (message) => {
      if (message.channel === channel && message.payload !== undefined) this.options.onNotification(message.payload);
    });
    client.on('end', () => {
      if (this.client !== client) return;
      this.client = undefined;
      if (!this.closed) {
        log.warn('the pubsub LISTEN connection dropped; reconnecting (events until then are lost)');
        this.retryLater();
      }
    });
    try {
      await client.connect();
      await client.query(`listen ${client.escapeIdentifier(channel)}`);
    } catch (error) {
      await client.end().catch(() => undefined);
      throw error;
    }
    if (this.closed) {
      await client.end().catch(() => undefined);
      return;
    }
    this.client = client;
    this.delayMs = this.options.minDelayMs ?? 100;
  }

  private retryLater(): void {
    if (this.closed || this.retryTimer) return;
    const delay = this.delayMs;
    this.delayMs = Math.min(this.delayMs * 2, this.options.maxDelayMs ?? 10_000);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.connecting = this.connect()
        .then(() => {
          if (this.client) this.options.log.info('the pubsub LISTEN connection is back');
        })
        .catch((error: unknown) => {
          this.options.log.warn({ err: error, retryInMs: this.delayMs }, 'could not reconnect the pubsub LISTEN connection');
          this.retryLater();
        })
        .finally(() => (this.connecting = undefined));
    }, delay);
    this.retryTimer.unref();
  }

  /** UNLISTENs and ends the connection; no reconnects after this. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    await this.connecting?.catch(() => undefined);
    const client = this.client;
    this.client = undefined;
    if (!client) return;
    await client.query('unlisten *').catch(() => undefined);
    await client.end().catch(() => undefined);
  }
}
