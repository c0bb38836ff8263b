/** The agent's reconnection backoff: exponential, jittered, capped. */
import { describe, expect, it } from 'vitest';
import { backoffMs } from '../agent/agent-connection';

describe('agent reconnection backoff', () => {
  it('doubles from 0.5 s to a 30 s cap, each wait 50–150 % of that', () => {
    expect([0, 1, 2, 3].map((attempt) => backoffMs(attempt, () => 0.5))).toEqual([500, 1000, 2000, 4000]);
    expect(backoffMs(0, () => 0)).toBe(250);
    expect(backoffMs(0, () => 0.999999)).toBe(750);
    expect(backoffMs(10, () => 0.5)).toBe(30_000);
    expect(backoffMs(1_000, () => 0.999999)).toBe(45_000);
  });
});
