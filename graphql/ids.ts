/**
 * Global ids: every object is addressed as base64("<Type>:<uuid>") (Relay's convention, made by
 * the relay plugin). Arguments accept a global id of the right type or, for scripts and curl
 * users, the bare UUID.
 */
import { decodeGlobalID, encodeGlobalID } from '@pothos/plugin-relay';
import { ValidationError } from '../core/errors';
import { isUuid } from '../core/ids';

export { encodeGlobalID };

/**
 * The UUID inside `value`, which must be a global id of `typename` or a bare UUID. Anything else
 * is a ValidationError naming `field`.
 */
export function decodeId(typename: string, value: string | number, field = 'id'): string {
  const text = String(value);
  if (isUuid(text)) return text.toLowerCase();
  let decoded: { typename: string; id: string } | undefined;
  try {
    decoded = decodeGlobalID(text);
  } catch {
    decoded = undefined;
  }
  if (!decoded || !isUuid(decoded.id)) {
    throw new ValidationError(`${field}: "${text.slice(0, 80)}" is not an id. Use the \`id\` of a ${typename}.`, [
      { path: [field], message: `Not a ${typename} id.` },
    ]);
  }
  if (decoded.typename !== typename) {
    throw new ValidationError(`${field}: that id belongs to a ${decoded.typename}, not a ${typename}.`, [
      { path: [field], message: `Not a ${typename} id.` },
    ]);
  }
  return decoded.id.toLowerCase();
}

/** decodeId for a list, de-duplicated in order. */
export function decodeIds(typename: string, values: readonly (string | number)[], field: string): string[] {
  return [...new Set(values.map((value) => decodeId(typename, value, field)))];
}

/** The UUID inside a global id of any type (or a bare UUID). */
export function decodeAnyId(value: string | number, field = 'id'): string {
  const text = String(value);
  if (isUuid(text)) return text.toLowerCase();
  try {
    const decoded = decodeGlobalID(text);
    if (isUuid(decoded.id)) return decoded.id.toLowerCase();
  } catch {
    // reported below
  }
  throw new ValidationError(`${field}: "${text.slice(0, 80)}" is not an id.`, [{ path: [field], message: 'Not an id.' }]);
}
