/**
 * Publish/subscribe for subscriptions: Yoga's `createPubSub<Topics>()` interface
 * (`publish(topic, payload)` / `publish(topic, id, payload)`, `subscribe(topic)` /
 * `subscribe(topic, id)`) over one of two event targets:
 *
 * - memory: one instance (always with the embedded database, whose socket does not deliver NOTIFY);
 * - postgres: LISTEN/NOTIFY on one channel, so every instance on the database hears every event.
 *   `publish` delivers to the publishing instance's subscribers at once and sends the NOTIFY;
 *   the other instances dispatch what their LISTEN connection receives (each skips its own), so
 *   every subscriber sees an event exactly once.
 *
 * Payloads must be plain JSON, and small: publish `{ id, ... }` and let the resolver load the
 * object. They cross as JSON text on both backings (memory round-trips them too, so a mistake shows
 * up in development), so a Date arrives as an ISO string (the DateTime scalar accepts those) and
 * `undefined` fields vanish. Payloads over ~7000 bytes are stored in `pubsub_payloads` and the
 * notification carries a reference.
 *
 * Subscriptions are best-effort live streams: while an instance's LISTEN connection is down it
 * reconnects with backoff, and events published meanwhile do not reach its subscribers. Anything
 * that must not be missed is replayed from storage (runOutput replays stored chunks, then follows).
 */
import { randomUUID } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { createPubSub, type PubSubEventTarget } from 'graphql-yoga';
import type pg from 'pg';
import type { Logger } from 'pino';
import type { Db } from '../db/database';
import { deleteOldPayloads, findPayload, NotifyListener, NOTIFY_LIMIT_BYTES, notifyAll, storePayload } from '../db/notify';
import type { User } from '../db/user.repository';

export type UserChangeKind = 'CREATED' | 'UPDATED' | 'DELETED';

export interface Topics {
  [key: string]: [unknown];
  runUpdated: [import('../core/run.service').RunUpdatedMessage];
  [runOutput: `runOutput:${string}`]: [import('../core/run.service').RunOutputMessage]; // one topic per run id
  userChanged: [{ kind: UserChangeKind; user: User }];
  eventAdded: [{ id: string; objectType?: string | null }];
  checkUpdated: [{ id: string; kind: import('../core/check-state').CheckChangeKind; deleted: boolean }];
  hostUpdated: [{ id: string; deleted: boolean; created?: boolean }];
  scheduleUpdated: [{ id: string; deleted: boolean; created?: boolean }];
}

export type PubSub = ReturnType<typeof createPubSub<Topics>>;

export type PubSubBacking = 'memory' | 'postgres';

/** A pubsub and how to shut it down. */
export interface OpenPubSub {
  pubsub: PubSub;
  /**
   * Calls `listener` with each event of `topic`, synchronously and unbuffered (for the server's
   * own machinery, which must never fall behind the way a subscription's buffer can).
   */
  listen<T extends keyof Topics & string>(topic: T, listener: (payload: Topics[T][0]) => void): () => void;
  backing: PubSubBacking;
  /** Sends what is still queued, stops listening, clears timers. Call before closing the pool. */
  close(): Promise<void>;
}

/** The one NOTIFY channel every instance LISTENs on. */
export const PUBSUB_CHANNEL = 'runboard_events';
/** Larger notifications go by reference (a margin under PostgreSQL's 8000-byte limit). */
const INLINE_LIMIT_BYTES = NOTIFY_LIMIT_BYTES - 1000;
/** Stored payloads are read within moments; keep them a few minutes for slow instances. */
const KEEP_PAYLOADS_SECONDS = 5 * 60;
const SWEEP_EVERY_MS = 60_000;
/** Notifications per NOTIFY statement when a burst queues up. */
const BATCH = 100;

const toJson = (detail: unknown): string => JSON.stringify(detail ?? null);

/**
 * A listener that cannot take the whole process down: a subscriber that falls too far behind
 * (its buffer of pending events overflows) or fails loses that event, and is told of it in the
 * log, instead of the error escaping into EventTarget (which rethrows it as uncaught).
 */
const safeListeners = new WeakMap<object, EventListener>();

function safe(listener: EventListenerOrEventListenerObject | null, onError: (error: unknown) => void): EventListener | null {
  if (!listener) return null;
  let wrapped = safeListeners.get(listener);
  if (!wrapped) {
    wrapped = (event: Event) => {
      try {
        if (typeof listener === 'function') listener(event);
        else listener.handleEvent(event);
      } catch (error) {
        onError(error);
      }
    };
    safeListeners.set(listener, wrapped);
  }
  return wrapped;
}

const dropped = (log?: Logger) => (error: unknown) =>
  log?.warn({ err: error }, 'a subscriber could not take an event (too far behind?); it missed it');


type Target = PubSubEventTarget<Topics>;

/** In-memory, but payloads still round-trip through JSON so both backings behave alike. */
class MemoryEventTarget extends EventTarget {
  constructor() {
    super();
    // Every subscriber is a listener: many per topic is the normal case, not a leak.
    setMaxListeners(0, this);
  }

  override addEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: AddEventListenerOptions | boolean): void {
    super.addEventListener(type, safe(listener, dropped()), options);
  }

  override removeEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: EventListenerOptions | boolean): void {
    super.removeEventListener(type, listener && (safeListeners.get(listener) ?? listener), options);
  }

  override dispatchEvent(event: Event): boolean {
    const { type, detail } = event as CustomEvent<unknown>;
    return super.dispatchEvent(new CustomEvent(type, { detail: JSON.parse(toJson(detail)) }));
  }
}

export function createMemoryPubSub(): PubSub {
  return createPubSub<Topics>({ eventTarget: new MemoryEventTarget() as Target });
}

/**
 * One event on the wire: a sequence number (identical notifications in one transaction would
 * be merged), topic, payload or reference to a stored one.
 */
interface WireEvent {
  n: number;
  t: string;
  d?: unknown;
  ref?: string;
}

/**
 * A notification: the publishing instance and the events it carries, as many as fit, so a
 * burst of events (a fleet of check-ins) costs few notifications to send and to receive.
 */
interface Wire {
  o: string;
  b: WireEvent[];
}

/**
 * `dispatchEvent` (Yoga's publish) delivers to this instance's listeners at once and queues a
 * NOTIFY for the others; notifications the LISTEN connection receives from other instances are
 * dispatched to this instance's listeners, one at a time and in order (its own are skipped: they
 * were delivered when published, without a round trip through the database).
 */
class PostgresEventTarget extends EventTarget {
  private readonly origin = randomUUID();
  private seq = 0;
  /** Queued notifications, each with its payload already as JSON text. */
  private outbox: Array<{ n: number; t: string; json: string }> = [];
  private sending: Promise<void> | undefined;
  private receiving: Promise<void> = Promise.resolve();
  /** Listeners per topic, so a stored payload nobody here wants is not fetched. */
  private listening = new Map<string, number>();

  constructor(
    private readonly db: Db,
    private readonly log: Logger,
  ) {
    super();
    setMaxListeners(0, this); // many subscribers per topic is the normal case
  }

  override dispatchEvent(event: Event): boolean {
    const { type, detail } = event as CustomEvent<unknown>;
    // Serialized now, so later changes to the object do not leak in and a bad payload throws here.
    const json = toJson(detail);
    this.outbox.push({ n: ++this.seq, t: type, json });
    this.send();
    if (this.listening.has(type)) this.deliver(type, JSON.parse(json));
    return true;
  }

  override addEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: AddEventListenerOptions | boolean): void {
    this.listening.set(type, (this.listening.get(type) ?? 0) + 1);
    super.addEventListener(type, safe(listener, dropped(this.log)), options);
  }

  override removeEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: EventListenerOptions | boolean): void {
    const left = (this.listening.get(type) ?? 1) - 1;
    if (left > 0) this.listening.set(type, left);
    else this.listening.delete(type);
    super.removeEventListener(type, listener && (safeListeners.get(listener) ?? listener), options);
  }

  /** Drains the outbox, one batch per statement, in publish order. */
  private send(): void {
    if (this.sending) return;
    this.sending = (async () => {
      while (this.outbox.length > 0) {
        const batch = this.outbox.splice(0, BATCH);
        try {
          const events = await Promise.all(batch.map((wire) => this.encode(wire)));
          await notifyAll(this.db, PUBSUB_CHANNEL, this.pack(events));
        } catch (error) {
          this.log.warn({ err: error, topics: [...new Set(batch.map((w) => w.t))] }, 'could not publish events');
        }
      }
    })().finally(() => {
      this.sending = undefined;
      if (this.outbox.length > 0) this.send();
    });
  }

  /** One event as wire JSON: inline, or by reference when it would not fit a notification alone. */
  private async encode({ n, t, json }: { n: number; t: string; json: string }): Promise<string> {
    const text = `{"n":${n},"t":${JSON.stringify(t)},"d":${json}}`;
    // The limit is in bytes, not characters.
    if (Buffer.byteLength(text) + this.envelopeBytes <= INLINE_LIMIT_BYTES) return text;
    const ref = await storePayload(this.db, json);
    return JSON.stringify({ n, t, ref } satisfies WireEvent);
  }

  private get envelopeBytes(): number {
    return `{"o":"${this.origin}","b":[]}`.length;
  }

  /** Packs events, in order, into as few notifications as fit under the limit. */
  private pack(events: string[]): string[] {
    const messages: string[] = [];
    let current: string[] = [];
    let bytes = this.envelopeBytes;
    const flush = () => {
      if (current.length > 0) messages.push(`{"o":"${this.origin}","b":[${current.join(',')}]}`);
      current = [];
      bytes = this.envelopeBytes;
    };
    for (const event of events) {
      const size = Buffer.byteLength(event) + 1;
      if (bytes + size > INLINE_LIMIT_BYTES) flush();
      current.push(event);
      bytes += size;
    }
    flush();
    return messages;
  }

  /** Called by the LISTEN connection with each notification. */
  receive(text: string): void {
    this.receiving = this.receiving
      .then(async () => {
        // Its own notifications were delivered when published: known by their prefix, not parsed.
        if (text.startsWith(`{"o":"${this.origin}"`)) return;
        const wire = JSON.parse(text) as Wire & Partial<WireEvent>;
        // An instance of an earlier version sends one event a notification.
        const events = wire.b ?? (wire.t === undefined ? [] : [wire as WireEvent]);
        for (const event of events) {
          if (event.ref === undefined) {
            this.deliver(event.t, event.d ?? null);
            continue;
          }
          if (!this.listening.has(event.t)) continue;
          const detail = await findPayload(this.db, event.ref);
          if (detail === undefined) this.log.warn({ topic: event.t, ref: event.ref }, 'a stored event payload was gone before it was read');
          else this.deliver(event.t, detail);
        }
      })
      .catch((error: unknown) => this.log.warn({ err: error }, 'could not deliver an event'));
  }

  private deliver(topic: string, detail: unknown): void {
    super.dispatchEvent(new CustomEvent(topic, { detail }));
  }

  /** Waits until everything published so far is sent and everything received is delivered. */
  async settle(): Promise<void> {
    while (this.sending) await this.sending;
    await this.receiving;
  }
}

function listenOn<T>(target: EventTarget, topic: string, listener: (payload: T) => void): () => void {
  const handle = (event: Event) => listener((event as CustomEvent<T>).detail);
  target.addEventListener(topic, handle);
  return () => target.removeEventListener(topic, handle);
}

export interface PubSubOptions {
  backing: PubSubBacking;
  db: Db;
  /** Connection for the LISTEN client (postgres only): the same database as `db`. */
  connection?: pg.ClientConfig;
  log: Logger;
}

/** Opens the pubsub; with postgres, resolves once this instance is listening. */
export async function openPubSub(options: PubSubOptions): Promise<OpenPubSub> {
  if (options.backing === 'memory') {
    const target = new MemoryEventTarget();
    return {
      pubsub: createPubSub<Topics>({ eventTarget: target as Target }),
      listen: (topic, listener) => listenOn(target, topic, listener),
      backing: 'memory',
      close: async () => undefined,
    };
  }
  const { db, log } = options;
  const target = new PostgresEventTarget(db, log);
  const listener = new NotifyListener({
    connection: options.connection ?? {},
    channel: PUBSUB_CHANNEL,
    onNotification: (text) => target.receive(text),
    log,
  });
  await listener.start();
  // Bounded work on an unref'd timer: it never keeps the process alive.
  const sweep = setInterval(() => {
    deleteOldPayloads(db, KEEP_PAYLOADS_SECONDS).catch((error: unknown) => log.warn({ err: error }, 'could not delete old event payloads'));
  }, SWEEP_EVERY_MS);
  sweep.unref();
  return {
    pubsub: createPubSub<Topics>({ eventTarget: target as Target }),
    listen: (topic, listener) => listenOn(target, topic, listener),
    backing: 'postgres',
    async close() {
      clearInterval(sweep);
      await target.settle();
      await listener.close();
      await target.settle();
    },
  };
}
