/**
 * The key that encrypts secrets at rest. RUNBOARD_SECRET when set; otherwise, with the embedded
 * database only, one generated on first start and kept (mode 0600) in the data dir. With an
 * external database every instance must share the key, so it has to be configured.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ConfigError } from './config';

export function resolveSecretKey(options: { secret: string | undefined; dataDir: string; embedded: boolean }): string {
  if (options.secret) return options.secret;
  if (!options.embedded) {
    throw new ConfigError([
      'RUNBOARD_SECRET: set it when DATABASE_URL is set, to the same value on every instance (for example: openssl rand -base64 48)',
    ]);
  }
  fs.mkdirSync(options.dataDir, { recursive: true, mode: 0o700 });
  const file = path.join(options.dataDir, 'secret.key');
  if (fs.existsSync(file)) return fs.readFileSync(file, 'utf8').trim();
  const secret = randomBytes(48).toString('base64');
  fs.writeFileSync(file, `${secret}\n`, { mode: 0o600, flag: 'wx' });
  return secret;
}
