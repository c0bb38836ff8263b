import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { MIGRATIONS } from '../db/migrate';
import { printedSchema, SCHEMA_FILE } from '../graphql/print-schema';
import { parseConfig, parseDuration, SETTING_NAMES } from '../core/config';

describe('the committed schema and migrations', () => {
  it('schema.graphql matches the code (run `npm run schema` after changing the schema)', () => {
    expect(fs.readFileSync(SCHEMA_FILE, 'utf8')).toBe(printedSchema());
  });

  it('every migration file is listed in db/migrate.ts, in order', () => {
    const files = fs
      .readdirSync(path.join(import.meta.dirname, '..', 'db', 'migrations'))
      .filter((f) => f.endsWith('.ts'))
      .map((f) => f.replace(/\.ts$/, ''))
      .sort();
    expect(Object.keys(MIGRATIONS)).toEqual(files);
  });
});

describe('configuration parsing', () => {
  it('applies the documented defaults', () => {
    const config = parseConfig({});
    expect(config).toMatchObject({
      port: 3000,
      host: undefined,
      databaseUrl: undefined,
      admin: { username: 'admin', password: undefined },
      sessionIdleSeconds: 3600,
      trustProxy: false,
      maxBodyBytes: 1048576,
      loginMaxFailures: 10,
      logLevel: 'info',
      console: true,
      dev: false,
    });
    expect(config.dataDir).toBe(path.resolve('data'));
  });

  it('reads durations and flags the way people write them', () => {
    expect(parseDuration('90')).toBe(90);
    expect(parseDuration('30m')).toBe(1800);
    expect(parseDuration('2d')).toBe(172800);
    expect(parseDuration('1 h')).toBe(3600);
    expect(parseDuration('soon')).toBeUndefined();
    expect(parseConfig({ RUNBOARD_TRUST_PROXY: 'yes', RUNBOARD_CONSOLE: '0' })).toMatchObject({ trustProxy: true, console: false });
  });

  it('treats empty variables as unset and refuses weak secrets', () => {
    expect(parseConfig({ DATABASE_URL: '', RUNBOARD_SECRET: '' })).toMatchObject({ databaseUrl: undefined, secret: undefined });
    expect(() => parseConfig({ RUNBOARD_SECRET: 'short', RUNBOARD_ADMIN_PASSWORD: 'tiny' })).toThrow(
      /RUNBOARD_ADMIN_PASSWORD: use at least 12 characters[\s\S]*RUNBOARD_SECRET: use at least 32 characters/,
    );
    expect(() => parseConfig({ RUNBOARD_SECRET: 'short' })).not.toThrow(/short/);
  });
});

describe('documentation of settings', () => {
  const root = path.join(import.meta.dirname, '..');
  it('.env.example and the README list every setting, and nothing else', () => {
    const example = fs.readFileSync(path.join(root, '.env.example'), 'utf8');
    const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
    const inExample = [...example.matchAll(/^([A-Z_]+)=/gm)].map((m) => m[1]);
    expect(inExample.sort()).toEqual([...SETTING_NAMES].sort());
    for (const name of SETTING_NAMES) expect(readme, `README mentions ${name}`).toContain(`| \`${name}\` |`);
  });
});
