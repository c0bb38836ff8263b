/**
 * Runboard's configuration: the environment, parsed once with a schema.
 *
 * Nothing else in the code base reads `process.env` for settings. Every setting is listed in
 * `.env.example` and in the README's configuration table; keep the three in step.
 */
import path from 'node:path';
import { z } from 'zod';

/** Parses a duration such as `90`, `45s`, `30m`, `1h` or `2d` into seconds. */
export function parseDuration(value: string): number | undefined {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/i.exec(value);
  if (!match) return undefined;
  const amount = Number(match[1]);
  const unit = (match[2] ?? 's').toLowerCase();
  const factor = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400 }[unit] ?? 1;
  return amount * factor;
}

const duration = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .transform((value, ctx) => {
      const seconds = parseDuration(value);
      if (seconds === undefined || seconds <= 0) {
        ctx.addIssue({
          code: 'custom',
          message: `"${value}" is not a duration; write a number of seconds or e.g. 45s, 30m, 1h, 2d`,
        });
        return z.NEVER;
      }
      return seconds;
    });

const flag = (fallback: boolean) =>
  z
    .enum(['true', 'false', '1', '0', 'yes', 'no'], {
      error: () => 'write true or false',
    })
    .optional()
    .transform((value) => (value === undefined ? fallback : ['true', '1', 'yes'].includes(value)));

const emptyAsUndefined = (value: unknown) => (value === '' ? undefined : value);

const envSchema = z.object({
  /** TCP port of the single HTTP/WebSocket listener. Default 3000. */
  PORT: z.coerce
    .number({ error: () => 'write a port number from 0 to 65535' })
    .int('write a whole port number')
    .min(0, 'write a port number from 0 to 65535')
    .max(65535, 'write a port number from 0 to 65535')
    .default(3000),
  /** Address to listen on. Default: all interfaces. */
  HOST: z.preprocess(emptyAsUndefined, z.string().optional()),
  /** PostgreSQL connection string. Unset: an embedded PostgreSQL (PGlite) in RUNBOARD_DATA_DIR. */
  DATABASE_URL: z.preprocess(
    emptyAsUndefined,
    z
      .string()
      .refine(
        (value) => /^postgres(ql)?:\/\//.test(value),
        'write a postgres:// or postgresql:// URL, or leave it unset for the embedded database',
      )
      .optional(),
  ),
  /** Where the embedded database and generated secret live. Default ./data. */
  RUNBOARD_DATA_DIR: z.preprocess(emptyAsUndefined, z.string().default('./data')),
  /** Username of the admin created on first start when there are no users. Default admin. */
  RUNBOARD_ADMIN_USERNAME: z.preprocess(
    emptyAsUndefined,
    z
      .string()
      .regex(/^[a-zA-Z0-9][a-zA-Z0-9._-]{0,63}$/, 'use 1–64 letters, digits, dots, dashes or underscores')
      .default('admin'),
  ),
  /** Password of that admin. Unset: a strong one is generated and printed once. */
  RUNBOARD_ADMIN_PASSWORD: z.preprocess(
    emptyAsUndefined,
    z.string().min(12, 'use at least 12 characters').optional(),
  ),
  /** Key that encrypts secrets at rest. Required with DATABASE_URL; generated in the data dir otherwise. */
  RUNBOARD_SECRET: z.preprocess(
    emptyAsUndefined,
    z.string().min(32, 'use at least 32 characters (for example: openssl rand -base64 48)').optional(),
  ),
  /** A session ends this long after its last request. Default 1h. */
  RUNBOARD_SESSION_IDLE: duration('1h'),
  /** Trust X-Forwarded-For / X-Forwarded-Proto from a reverse proxy. Default false. */
  RUNBOARD_TRUST_PROXY: flag(false),
  /** Largest accepted request body. Default 24 MiB: a 16 MiB attachment, base64-encoded, fits. */
  RUNBOARD_MAX_BODY_BYTES: z.coerce
    .number({ error: () => 'write a number of bytes' })
    .int()
    .min(1024, 'use at least 1024 bytes')
    .default(24 * 1024 * 1024),
  /** Failed sign-ins allowed per username within 15 minutes (five times as many per client address). Default 10. */
  RUNBOARD_LOGIN_MAX_FAILURES: z.coerce
    .number({ error: () => 'write a whole number' })
    .int()
    .min(1, 'allow at least 1 failure')
    .default(10),
  /** Log level: fatal, error, warn, info, debug, trace or silent. Default info. */
  RUNBOARD_LOG_LEVEL: z
    .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], {
      error: () => 'write one of fatal, error, warn, info, debug, trace, silent',
    })
    .default('info'),
  /** Pubsub backing: auto (postgres with DATABASE_URL, memory with the embedded database), memory or postgres. Default auto. */
  RUNBOARD_PUBSUB: z
    .enum(['auto', 'memory', 'postgres'], { error: () => 'write auto, memory or postgres' })
    .default('auto'),
  /** Serve the web console (false: API only). Default true. */
  RUNBOARD_CONSOLE: flag(true),
  /** Execute runs and fire schedules in this instance (false: API only). Default true. */
  RUNBOARD_EXECUTE: flag(true),
  /** Runs this instance executes at once; more wait, queued. Default 64. */
  RUNBOARD_MAX_PARALLEL_RUNS: z.coerce
    .number({ error: () => 'write a whole number from 1 to 10000' })
    .int({ error: 'write a whole number from 1 to 10000' })
    .min(1, { error: 'write a whole number from 1 to 10000' })
    .max(10_000, { error: 'write a whole number from 1 to 10000' })
    .default(64),
  /** Output kept per run, in bytes; the rest is dropped after a marker. Default 16777216 (16 MiB). */
  RUNBOARD_OUTPUT_CAP_BYTES: z.coerce
    .number({ error: () => 'write a number of bytes from 1024 to 1073741824' })
    .int({ error: 'write a number of bytes from 1024 to 1073741824' })
    .min(1024, { error: 'write a number of bytes from 1024 to 1073741824' })
    .max(1024 * 1024 * 1024, { error: 'write a number of bytes from 1024 to 1073741824' })
    .default(16 * 1024 * 1024),
  /** How often a run's output is stored and sent (at the latest; 64 KiB sends at once). Default 25ms. */
  RUNBOARD_OUTPUT_FLUSH: duration('25ms'),
  /** Between SIGTERM and SIGKILL when a run times out or is cancelled. Default 5s. */
  RUNBOARD_KILL_GRACE: duration('5s'),
  /** An instance silent this long is gone: its running runs are lost (and retried per policy). Default 30s. */
  RUNBOARD_INSTANCE_TIMEOUT: duration('30s'),
  /** An agent's host silent this long is offline: its running runs are lost unless it comes back and reports them. Default 60s. */
  RUNBOARD_HOST_TIMEOUT: duration('60s'),
  /** On shutdown, how long running runs may finish before they are stopped (and retried elsewhere). Default 10s. */
  RUNBOARD_SHUTDOWN_GRACE: duration('10s'),
  /** How often the alerter looks for new events and due deliveries when nothing woke it. Default 1s. */
  RUNBOARD_ALERT_POLL: duration('1s'),
  /** Attempts to deliver an alert before it is recorded as failed. Default 5. */
  RUNBOARD_ALERT_ATTEMPTS: z.coerce
    .number({ error: () => 'write a whole number from 1 to 100' })
    .int({ error: 'write a whole number from 1 to 100' })
    .min(1, { error: 'write a whole number from 1 to 100' })
    .max(100, { error: 'write a whole number from 1 to 100' })
    .default(5),
  /** Wait before the first retry of a failed delivery; each next wait doubles. Default 30s. */
  RUNBOARD_ALERT_RETRY_DELAY: duration('30s'),
  /** How long one delivery attempt may take (webhook answer, SMTP session, command run). Default 10s. */
  RUNBOARD_ALERT_TIMEOUT: duration('10s'),
  /** development or production; `npm run dev` sets development. */
  NODE_ENV: z.enum(['development', 'production', 'test']).default('production'),
});

/** Every environment variable Runboard reads (a test checks .env.example and the README list them). */
export const SETTING_NAMES = Object.keys(envSchema.shape);

export interface Config {
  port: number;
  host: string | undefined;
  databaseUrl: string | undefined;
  dataDir: string;
  admin: { username: string; password: string | undefined };
  secret: string | undefined;
  sessionIdleSeconds: number;
  trustProxy: boolean;
  maxBodyBytes: number;
  loginMaxFailures: number;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** How subscriptions reach every instance; see `pubsubBacking`. */
  pubsub: 'auto' | 'memory' | 'postgres';
  console: boolean;
  dev: boolean;
  execution: ExecutionConfig;
  alerts: AlertConfig;
}

/** How this instance evaluates and delivers alerts (see the README's "Alerts and notifications"). */
export interface AlertConfig {
  pollMs: number;
  maxAttempts: number;
  retryDelayMs: number;
  timeoutMs: number;
}

/** How this instance executes runs (see the README's "Running scripts"). */
export interface ExecutionConfig {
  enabled: boolean;
  maxParallelRuns: number;
  outputCapBytes: number;
  outputFlushMs: number;
  killGraceMs: number;
  instanceTimeoutMs: number;
  /** An agent silent this long is offline (its host's running runs become lost). */
  hostTimeoutMs: number;
  shutdownGraceMs: number;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Runboard cannot start: its configuration is invalid.\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Parses an environment into a Config, or throws a ConfigError naming every bad variable. */
export function parseConfig(env: Record<string, string | undefined>): Config {
  const result = envSchema.safeParse(env);
  if (!result.success) {
    throw new ConfigError(
      result.error.issues.map((issue) => {
        const name = String(issue.path[0] ?? 'environment');
        const given = env[name];
        // Never echo a secret back, not even a wrong one.
        const shown = given === undefined || /SECRET|PASSWORD/.test(name) ? '' : `=${JSON.stringify(given)}`;
        return `${name}${shown}: ${issue.message}`;
      }),
    );
  }
  const e = result.data;
  return {
    port: e.PORT,
    host: e.HOST,
    databaseUrl: e.DATABASE_URL,
    dataDir: path.resolve(e.RUNBOARD_DATA_DIR),
    admin: { username: e.RUNBOARD_ADMIN_USERNAME, password: e.RUNBOARD_ADMIN_PASSWORD },
    secret: e.RUNBOARD_SECRET,
    sessionIdleSeconds: e.RUNBOARD_SESSION_IDLE,
    trustProxy: e.RUNBOARD_TRUST_PROXY,
    maxBodyBytes: e.RUNBOARD_MAX_BODY_BYTES,
    loginMaxFailures: e.RUNBOARD_LOGIN_MAX_FAILURES,
    logLevel: e.RUNBOARD_LOG_LEVEL,
    pubsub: e.RUNBOARD_PUBSUB,
    console: e.RUNBOARD_CONSOLE,
    dev: e.NODE_ENV === 'development',
    execution: {
      enabled: e.RUNBOARD_EXECUTE,
      maxParallelRuns: e.RUNBOARD_MAX_PARALLEL_RUNS,
      outputCapBytes: e.RUNBOARD_OUTPUT_CAP_BYTES,
      outputFlushMs: Math.round(e.RUNBOARD_OUTPUT_FLUSH * 1000),
      killGraceMs: Math.round(e.RUNBOARD_KILL_GRACE * 1000),
      instanceTimeoutMs: Math.round(e.RUNBOARD_INSTANCE_TIMEOUT * 1000),
      hostTimeoutMs: Math.round(e.RUNBOARD_HOST_TIMEOUT * 1000),
      shutdownGraceMs: Math.round(e.RUNBOARD_SHUTDOWN_GRACE * 1000),
    },
    alerts: {
      pollMs: Math.round(e.RUNBOARD_ALERT_POLL * 1000),
      maxAttempts: e.RUNBOARD_ALERT_ATTEMPTS,
      retryDelayMs: Math.round(e.RUNBOARD_ALERT_RETRY_DELAY * 1000),
      timeoutMs: Math.round(e.RUNBOARD_ALERT_TIMEOUT * 1000),
    },
  };
}

/**
 * The pubsub backing to use: `auto` means postgres (LISTEN/NOTIFY, so several instances share
 * events) with DATABASE_URL and memory with the embedded database, where NOTIFY cannot work (its
 * socket does not deliver notifications, and it serves one process anyway).
 */
export function pubsubBacking(config: Pick<Config, 'pubsub' | 'databaseUrl'>): 'memory' | 'postgres' {
  if (config.pubsub === 'postgres' && !config.databaseUrl) {
    throw new ConfigError([
      'RUNBOARD_PUBSUB="postgres": needs DATABASE_URL; the embedded database cannot deliver LISTEN/NOTIFY (use auto or memory)',
    ]);
  }
  if (config.pubsub === 'auto') return config.databaseUrl ? 'postgres' : 'memory';
  return config.pubsub;
}

let loaded: Config | undefined;

/** The process's configuration, parsed from `process.env` on first use. */
export function loadConfig(): Config {
  loaded ??= parseConfig(process.env);
  return loaded;
}
