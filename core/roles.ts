/**
 * Roles, from least to most powerful. A role includes everything the roles before it may do:
 * - `viewer` reads everything that is not a secret;
 * - `operator` also runs, cancels and edits scripts, schedules, hosts and checks;
 * - `admin` also manages users, options and registration.
 */
export const ROLES = ['viewer', 'operator', 'admin'] as const;
export type Role = (typeof ROLES)[number];

export function isRole(value: string): value is Role {
  return (ROLES as readonly string[]).includes(value);
}

/** True when `role` may do what `required` may do. */
export function roleAllows(role: Role, required: Role): boolean {
  return ROLES.indexOf(role) >= ROLES.indexOf(required);
}

/** The weaker of two roles: an API key never grants more than its ceiling or its owner. */
export function weakerRole(a: Role, b: Role): Role {
  return ROLES.indexOf(a) <= ROLES.indexOf(b) ? a : b;
}
