/** Who may use each root field: one file per domain, gathered by test/roles.test.ts. */
export type Level = 'anonymous' | 'viewer' | 'operator' | 'admin';

export interface Rule {
  /** `agent`: only a host's agent (its host key) may use it, and no person of any role. */
  minimum: Level | 'agent';
  /** An operation that uses the field harmlessly (it may fail with a typed error, never a refusal). */
  operation: string;
}

export type Rules = Record<string, Rule>;
