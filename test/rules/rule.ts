/** Who may use each root field: one file per domain, gathered by test/roles.test.ts. */
export type Level = 'anonymous' | 'viewer' | 'operator' | 'admin';

export interface Rule {
  minimum: Level;
  /** An operation that uses the field harmlessly (it may fail with a typed error, never a refusal). */
  operation: string;
}

export type Rules = Record<string, Rule>;
