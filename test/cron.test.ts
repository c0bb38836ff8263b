/** Cron math (core/cron.ts): fields, seconds, timezones and daylight-saving changes, messages. */
import { describe, expect, it } from 'vitest';
import { canonicalTimezone, checkCron, checkTimezone, isTimezone, nextOccurrence, nextOccurrences, previousOccurrence } from '../core/cron';
import { ValidationError } from '../core/errors';

const iso = (dates: Date[]) => dates.map((d) => d.toISOString());

/** The ValidationError `fn` throws. */
function refusal(fn: () => unknown): ValidationError {
  try {
    fn();
  } catch (error) {
    if (error instanceof ValidationError) return error;
    throw error;
  }
  throw new Error('expected a ValidationError');
}

describe('cron', () => {
  it('reads 5 fields in a timezone, across both daylight-saving changes', () => {
    // Paris springs forward on 29 March 2026 and falls back on 25 October 2026.
    expect(iso(nextOccurrences('0 9 * * *', 'Europe/Paris', new Date('2026-03-28T00:00:00Z'), 2))).toEqual([
      '2026-03-28T08:00:00.000Z',
      '2026-03-29T07:00:00.000Z',
    ]);
    expect(iso(nextOccurrences('0 9 * * *', 'Europe/Paris', new Date('2026-10-24T00:00:00Z'), 2))).toEqual([
      '2026-10-24T07:00:00.000Z',
      '2026-10-25T08:00:00.000Z',
    ]);
    // 02:30 does not exist on 29 March (it fires once that day, after the gap) and happens twice on 25 October (it fires once).
    expect(iso(nextOccurrences('30 2 * * *', 'Europe/Paris', new Date('2026-03-28T12:00:00Z'), 2))).toEqual([
      '2026-03-29T01:30:00.000Z',
      '2026-03-30T00:30:00.000Z',
    ]);
    expect(iso(nextOccurrences('30 2 * * *', 'Europe/Paris', new Date('2026-10-24T12:00:00Z'), 2))).toEqual([
      '2026-10-25T00:30:00.000Z',
      '2026-10-26T01:30:00.000Z',
    ]);
  });

  it('reads 6 fields with seconds first, aliases, and names of days', () => {
    expect(iso(nextOccurrences('15,45 * * * * *', 'UTC', new Date('2026-01-01T00:00:00Z'), 3))).toEqual([
      '2026-01-01T00:00:15.000Z',
      '2026-01-01T00:00:45.000Z',
      '2026-01-01T00:01:15.000Z',
    ]);
    expect(nextOccurrence('@daily', 'UTC', new Date('2026-01-01T10:00:00Z'))?.toISOString()).toBe('2026-01-02T00:00:00.000Z');
    // 1 January 2026 is a Thursday.
    expect(nextOccurrence('0 9 * * thu', 'UTC', new Date('2026-01-01T00:00:00Z'))?.toISOString()).toBe('2026-01-01T09:00:00.000Z');
  });

  it('finds the occurrence at or before a moment', () => {
    expect(previousOccurrence('0 9 * * *', 'UTC', new Date('2026-01-01T09:00:00Z'))?.toISOString()).toBe('2026-01-01T09:00:00.000Z');
    expect(previousOccurrence('0 9 * * *', 'UTC', new Date('2026-01-01T08:59:59Z'))?.toISOString()).toBe('2025-12-31T09:00:00.000Z');
  });

  it('explains what is wrong, naming the field', () => {
    expect(refusal(() => checkCron('61 * * * *')).message).toBe(
      '"61 * * * *" is not a valid cron expression: minute "61": Constraint error, got value 61 expected range 0-59.',
    );
    expect(refusal(() => checkCron('0 0 * * 8')).message).toMatch(/day of week "8"/);
    expect(refusal(() => checkCron('60 0 0 * * *')).message).toMatch(/second "60"/);
    expect(refusal(() => checkCron('*/0 * * * *')).message).toMatch(/minute "\*\/0": .*every 0 time\.$/);
    expect(refusal(() => checkCron('0 0 30 2 *')).message).toMatch(/never falls in the months given/);
    expect(refusal(() => checkCron('0 0 0 * * * *')).message).toMatch(/write 5 fields/);
    expect(refusal(() => checkCron('@often')).message).toMatch(/is not a cron alias: use @yearly/);
    expect(refusal(() => checkCron('H 9 * * *')).message).toMatch(/uses H \(a hashed value\)/);
    const error = refusal(() => checkCron('x * * * *', 'UTC', 'input.when.cron'));
    expect(error.fields).toEqual([{ path: ['input', 'when', 'cron'], message: error.message }]);
  });

  it('knows IANA zone names, spells them canonically, and refuses offsets', () => {
    expect(canonicalTimezone('europe/paris')).toBe('Europe/Paris');
    expect(canonicalTimezone('UTC')).toBe('UTC');
    expect(isTimezone('Mars/Olympus')).toBe(false);
    expect(isTimezone('+02:00')).toBe(false);
    expect(refusal(() => checkTimezone('Nowhere', 'input.timezone')).fields[0]?.path).toEqual(['input', 'timezone']);
  });
});
