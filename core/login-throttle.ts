/**
 * Slows down password guessing: after `maxFailures` failed attempts within the window for one
 * username, or five times as many from one client address (many people may share an address
 * behind NAT), further attempts are refused until the window passes.
 *
 * Kept in memory, per instance: behind a load balancer each instance counts on its own, which
 * at most multiplies the allowance by the number of instances.
 */
import { RateLimitedError } from './errors';

const WINDOW_MS = 15 * 60 * 1000;
const MAX_ENTRIES = 100_000;
const IP_FACTOR = 5;

interface Entry {
  failures: number;
  windowStart: number;
}

export class LoginThrottle {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly maxFailures: number) {}

  private limit(key: string): number {
    return key.startsWith('ip:') ? this.maxFailures * IP_FACTOR : this.maxFailures;
  }

  private live(key: string, now: number): Entry | undefined {
    const entry = this.entries.get(key);
    if (entry && now - entry.windowStart >= WINDOW_MS) {
      this.entries.delete(key);
      return undefined;
    }
    return entry;
  }

  /** Throws RateLimitedError when any of the keys is over its allowance. */
  check(keys: string[], now = Date.now()): void {
    for (const key of keys) {
      const entry = this.live(key, now);
      if (entry && entry.failures >= this.limit(key)) {
        const retryAfterSeconds = Math.ceil((entry.windowStart + WINDOW_MS - now) / 1000);
        throw new RateLimitedError(
          `Too many failed sign-in attempts. Try again in ${Math.ceil(retryAfterSeconds / 60)} minute(s).`,
          retryAfterSeconds,
        );
      }
    }
  }

  fail(keys: string[], now = Date.now()): void {
    if (this.entries.size > MAX_ENTRIES) this.prune(now);
    for (const key of keys) {
      const entry = this.live(key, now);
      if (entry) entry.failures++;
      else this.entries.set(key, { failures: 1, windowStart: now });
    }
  }

  succeed(keys: string[]): void {
    for (const key of keys) this.entries.delete(key);
  }

  private prune(now: number): void {
    for (const key of [...this.entries.keys()]) this.live(key, now);
  }
}

export const throttleKeys = {
  username: (username: string) => `user:${username.toLowerCase()}`,
  ip: (ip: string) => `ip:${ip}`,
};
