/**
 * Prints the schema to schema.graphql (`npm run schema`), or with `--check` fails when the
 * committed file differs from the code (`npm run schema:check`, run by CI).
 */
import { printSchema } from 'graphql';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { schema } from './schema';

export const SCHEMA_FILE = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'schema.graphql');

export function printedSchema(): string {
  return `${printSchema(schema)}\n`;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const printed = printedSchema();
  if (process.argv.includes('--check')) {
    const committed = fs.existsSync(SCHEMA_FILE) ? fs.readFileSync(SCHEMA_FILE, 'utf8') : '';
    if (committed !== printed) {
      console.error('schema.graphql is out of date: run `npm run schema` and commit it.');
      process.exit(1);
    }
    console.log('schema.graphql is current.');
  } else {
    fs.writeFileSync(SCHEMA_FILE, printed);
    console.log(`Wrote ${path.relative(process.cwd(), SCHEMA_FILE)}.`);
  }
}
