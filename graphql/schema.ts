/** Gathers the type files and builds the schema. */
import { lexicographicSortSchema } from 'graphql';
import { builder } from './builder';
import './root';
import './errors';
import './user';
import './api-key';

export const schema = lexicographicSortSchema(builder.toSchema());
