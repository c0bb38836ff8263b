/** LIKE patterns from user text: `%`, `_` and `\` in the text match themselves. */
const escape = (text: string) => text.replace(/[%_\\]/g, '\\$&');

/** Matches values containing `text`. */
export const containing = (text: string) => `%${escape(text)}%`;

/** Matches values starting with `text`. */
export const startingWith = (text: string) => `${escape(text)}%`;
